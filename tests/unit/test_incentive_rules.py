"""When incentives fall due, why a member is held, and what the reconciliation calls a difference (pure domain)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from functions.domain.eligibility import DeclaredPerson, EligibilityRules, RegistryPerson
from functions.domain.incentives import (
    Difference,
    DifferenceKind,
    Earned,
    IncentiveRules,
    IncentiveStanding,
    PaidLine,
    PayoutAccount,
    PayoutAccountStatus,
    PinnedAccount,
    first_reviewed_completion,
    next_due,
    paid_day,
    reconcile,
    screening,
    still_pinned,
    wib_day_bounds,
)
from functions.domain.membership import MembershipState
from functions.domain.payments import StatementLine

RULES = IncentiveRules(amount=600_000, count=4, interval=dt.timedelta(days=30))
T0 = dt.datetime(2020, 5, 1, 2, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def test_the_first_falls_due_only_once_completed_reviewed_and_verified_at_the_latest_of_them() -> None:
    assert next_due(Earned(None, T0), 0, None, RULES) is None
    assert next_due(Earned(T0, None), 0, None, RULES) is None
    assert next_due(Earned(T0, T0 + 3 * DAY), 0, None, RULES) == (1, T0 + 3 * DAY)
    assert next_due(Earned(T0 + 5 * DAY, T0), 0, None, RULES) == (1, T0 + 5 * DAY)
    # A review comes after the completion: the first training counts from the later of the two
    assert first_reviewed_completion(T0, T0 + 2 * DAY) == T0 + 2 * DAY
    assert first_reviewed_completion(T0, None) is None


def test_each_next_falls_due_thirty_days_after_the_previous_and_four_in_all() -> None:
    earned = Earned(T0, T0)
    assert next_due(earned, 1, T0, RULES) == (2, T0 + 30 * DAY)
    assert next_due(earned, 3, T0 + 60 * DAY, RULES) == (4, T0 + 90 * DAY)
    assert next_due(earned, 4, T0 + 90 * DAY, RULES) is None


@pytest.mark.parametrize(
    ("state", "in_flight", "now", "expected"),
    [
        (MembershipState.ACTIVE, None, T0, (1, T0)),
        (MembershipState.ACTIVE, None, T0 - dt.timedelta(seconds=1), None),  # not yet
        (MembershipState.ACTIVE, "m-incentive-1", T0 + DAY, None),  # one payment at a time
        (MembershipState.REVOKED, None, T0 + DAY, None),
    ],
)
def test_a_member_is_due_only_when_active_with_nothing_in_flight(
    state: MembershipState, in_flight: str | None, now: dt.datetime, expected: tuple[int, dt.datetime] | None
) -> None:
    member = IncentiveStanding("m", state, Earned(T0, T0), 0, None, in_flight)
    assert member.due(now, RULES) == expected


ELIGIBILITY = EligibilityRules(18, 64, frozenset({"ASN", "TNI"}), frozenset({"laid_off"}))
DECLARED = DeclaredPerson("3171015708950001", "3171010101010001", "Siti Aminah", dt.date(1995, 8, 17))
REGISTERED = RegistryPerson(
    DECLARED.nik, DECLARED.kk_number, "SITI  AMINAH", DECLARED.birth_date, "F", "PRIVATE", False, False, False
)
TODAY = dt.date(2020, 6, 1)


@pytest.mark.parametrize(
    ("now_registered", "reason"),
    [
        ({}, None),
        ({"occupation": "ASN"}, "BARRED_OCCUPATION"),
        ({"student": True}, "STUDENT"),
        ({"past_recipient": True}, "PAST_RECIPIENT"),
        ({"full_name": "Someone Else"}, "MISMATCH"),
        # Age is judged when eligibility is decided: turning 65 while being paid holds nothing
        ({"birth_date": dt.date(1955, 1, 1)}, None),
    ],
)
def test_screening_holds_a_member_now_barred_or_flagged(now_registered: dict[str, Any], reason: str | None) -> None:
    registered = dataclasses.replace(REGISTERED, **now_registered)
    declared = dataclasses.replace(DECLARED, birth_date=registered.birth_date)
    assert screening(declared, registered, "laid_off", TODAY, ELIGIBILITY) == reason


def test_screening_holds_a_member_no_longer_found() -> None:
    assert screening(DECLARED, None, "laid_off", TODAY, ELIGIBILITY) == "NOT_FOUND"


def test_a_payment_belongs_to_the_wib_day_it_was_paid_on() -> None:
    assert paid_day(dt.datetime(2020, 5, 1, 16, 59, tzinfo=dt.UTC)) == "2020-05-01"
    assert paid_day(dt.datetime(2020, 5, 1, 17, 0, tzinfo=dt.UTC)) == "2020-05-02"  # midnight in Jakarta
    start, end = wib_day_bounds(dt.date(2020, 5, 2))
    assert (start, end) == (dt.datetime(2020, 5, 1, 17, tzinfo=dt.UTC), dt.datetime(2020, 5, 2, 17, tzinfo=dt.UTC))


def _line(key: str, amount: int) -> StatementLine:
    return StatementLine(key, "OVO", "081234567890", amount, T0)


def _ours(**amounts: int) -> dict[str, PaidLine]:
    return {key: PaidLine(amount, "hash-of-OVO:081234567890") for key, amount in amounts.items()}


def _hashed(line: StatementLine) -> str:
    return f"hash-of-{line.provider}:{line.account_number}"


def test_reconciliation_lists_every_difference_by_payment_id() -> None:
    statement = [_line("a", 600_000), _line("b", 600_000), _line("c", 500_000)]
    assert reconcile(statement, _ours(a=600_000, b=600_000, c=500_000), _hashed) == []
    assert reconcile(statement, _ours(a=600_000, c=600_000, d=600_000), _hashed) == [
        Difference("b", DifferenceKind.PAID_THERE_NOT_HERE, None, 600_000),
        Difference("c", DifferenceKind.AMOUNT_DIFFERS, 600_000, 500_000),
        Difference("d", DifferenceKind.PAID_HERE_NOT_THERE, 600_000, None),
    ]
    # A key the provider paid twice (it never should) shows as an amount that differs
    assert reconcile([_line("a", 600_000), _line("a", 600_000)], _ours(a=600_000), _hashed) == [
        Difference("a", DifferenceKind.AMOUNT_DIFFERS, 600_000, 1_200_000)
    ]


def test_reconciliation_compares_the_account_paid_with_the_one_pinned() -> None:
    # The right amount to the right id, but into another account than the verified one the payment was pinned to
    elsewhere = StatementLine("a", "OVO", "089999999999", 600_000, T0)
    assert reconcile([elsewhere, _line("b", 600_000)], _ours(a=600_000, b=600_000), _hashed) == [
        Difference("a", DifferenceKind.ACCOUNT_DIFFERS, 600_000, 600_000)
    ]


def _account(check_id: str, status: PayoutAccountStatus) -> PayoutAccount:
    return PayoutAccount("OVO", "sealed", "7890", status, None, check_id, T0, account_hash=f"hash-{check_id}")


def test_a_payment_goes_only_to_the_verified_account_it_was_pinned_to() -> None:
    pinned = PinnedAccount("check-1", "hash-check-1")
    assert still_pinned(pinned, _account("check-1", PayoutAccountStatus.VERIFIED))
    # changed since (another check, pending or verified), no longer verified, no account, or no pin: not sent
    assert not still_pinned(pinned, _account("check-2", PayoutAccountStatus.PENDING))
    assert not still_pinned(pinned, _account("check-2", PayoutAccountStatus.VERIFIED))
    assert not still_pinned(pinned, _account("check-1", PayoutAccountStatus.REJECTED))
    assert not still_pinned(pinned, None)
    assert not still_pinned(None, _account("check-1", PayoutAccountStatus.VERIFIED))
    # only a verified account can be pinned
    assert _account("check-1", PayoutAccountStatus.PENDING).pinned is None
    assert _account("check-1", PayoutAccountStatus.VERIFIED).pinned == pinned
