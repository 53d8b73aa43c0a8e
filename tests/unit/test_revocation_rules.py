"""The revocation's rules, without AWS: the daily schedule's cron comes from the rules, a membership is due only
past its deadline with no live purchase, and a wave's sweep only once every member's deadline has passed."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from functions.domain import notices, rules
from functions.domain.calendar import JAKARTA, daily_cron_utc
from functions.domain.membership import (
    LedgerTotals,
    Membership,
    MembershipReason,
    MembershipState,
    first_purchase_deadline,
    revocation_sweep_due,
)
from functions.schedules import REVOCATION_CRON

ACCEPTED = dt.datetime(2020, 4, 17, 3, 0, tzinfo=dt.UTC)  # Friday 10:00 WIB, wave 1's publication in 2020


def membership(**changes: object) -> Membership:
    fields: dict[str, object] = {
        "applicant_id": "ab" * 16,
        "card_number": "7000000000000000",
        "wave": 1,
        "state": MembershipState.ACTIVE,
        "reason": None,
        "totals": LedgerTotals(granted=rules.TRAINING_BALANCE, balance=rules.TRAINING_BALANCE),
        "accepted_at": ACCEPTED,
        "first_purchase_deadline": first_purchase_deadline(ACCEPTED, rules.FIRST_PURCHASE_DAYS),
    }
    return Membership(**{**fields, **changes})  # type: ignore[arg-type]


def test_the_daily_cron_is_00_05_wib_in_utc_from_the_rules() -> None:
    assert rules.REVOCATION_TIME == "00:05"
    assert daily_cron_utc(rules.REVOCATION_TIME) == (5, 17)  # the evening before, in UTC
    assert REVOCATION_CRON.to_string() == "cron(5 17 * * ? *)"
    assert daily_cron_utc("09:30") == (30, 2)
    with pytest.raises(ValueError, match="WIB time"):
        daily_cron_utc("25:00")


def test_a_membership_is_due_only_past_its_deadline_with_no_live_purchase() -> None:
    deadline = first_purchase_deadline(ACCEPTED, rules.FIRST_PURCHASE_DAYS)
    assert deadline - ACCEPTED == dt.timedelta(days=30)
    member = membership()
    assert not member.due_for_revocation(deadline - dt.timedelta(seconds=1))
    assert member.due_for_revocation(deadline)
    assert not membership(live_purchases=1).due_for_revocation(deadline + dt.timedelta(days=5))
    revoked = membership(state=MembershipState.REVOKED, reason=MembershipReason.FRAUD)
    assert not revoked.due_for_revocation(deadline + dt.timedelta(days=5))


def test_a_wave_is_swept_once_all_its_members_deadlines_have_passed() -> None:
    published = ACCEPTED + dt.timedelta(minutes=20)  # the last chunk's acceptances, then PUBLISHED
    days = rules.FIRST_PURCHASE_DAYS
    # The 00:05 WIB run after the thirtieth day: 30 days after Friday 10:20 WIB is a Sunday, swept on Monday 00:05
    sunday_run = dt.datetime(2020, 5, 17, 0, 5, tzinfo=JAKARTA)
    monday_run = dt.datetime(2020, 5, 18, 0, 5, tzinfo=JAKARTA)
    assert not revocation_sweep_due(published, days, sunday_run)
    assert revocation_sweep_due(published, days, monday_run)


def revoked_text(reason: MembershipReason, first_purchase_days: int) -> notices.Rendered:
    notice = notices.MembershipRevoked(applicant_id="a" * 32, reason=reason)
    return notice.render(SimpleNamespace(first_purchase_days=first_purchase_days))


def test_the_revocation_notice_gives_the_reason_and_no_card_number() -> None:
    overdue = revoked_text(MembershipReason.NO_PURCHASE_IN_TIME, 30)
    assert "30 hari" in overdue.text and "dikembalikan" in overdue.text
    fraud = revoked_text(MembershipReason.FRAUD, 30)
    assert "pelanggaran" in fraud.text and "30 hari" not in fraud.text
    assert not any(char.isdigit() for char in fraud.text + fraud.subject)
