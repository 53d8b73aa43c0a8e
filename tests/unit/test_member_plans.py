"""What synthetic members do with their cards (devstack.population.plan_member), and how a synthetic partner signs
its requests (devstack.partners): the main job's side of the partner API, checked against the server's check."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devstack.after_acceptance import Member, expected_after_acceptance, expected_ledger
from devstack.partners import PartnerClient
from devstack.population import PRICE_STEP, MemberPlan, MemberShares, Training, plan_member
from functions.domain.partners import PartnerRejected, Rejection, SignedRequest
from functions.domain.payments import AccountRejection

BALANCE = 1_000_000
SECRET = "ab" * 32


@given(seed=st.integers(0, 10**6), member=st.integers(0, 10**6), balance=st.integers(10_000, 10_000_000))
def test_a_plan_never_spends_more_than_the_balance_and_follows_the_order_of_things(
    seed: int, member: int, balance: int
) -> None:
    plan = plan_member(seed, member, balance, partners=3)

    assert plan.partner in range(3)
    assert plan.spent() <= balance
    assert all(t.price > 0 and t.price % PRICE_STEP == 0 for t in plan.trainings)
    # A cancelled training is neither completed nor reviewed; a review follows a completion.
    assert all(not (t.cancelled and t.completed) for t in plan.trainings)
    assert all(t.completed for t in plan.trainings if t.rating is not None)
    assert all(t.rating in range(1, 6) for t in plan.trainings if t.rating is not None)
    # Only the first training may be cancelled, and at most two are kept.
    assert all(not t.cancelled for t in plan.trainings[1:])
    assert sum(t.kept for t in plan.trainings) <= 2


def test_the_same_seed_gives_the_same_members_and_another_seed_other_ones() -> None:
    first = [plan_member(2020, i, BALANCE, 3) for i in range(200)]

    assert first == [plan_member(2020, i, BALANCE, 3) for i in range(200)]
    assert first != [plan_member(2021, i, BALANCE, 3) for i in range(200)]


def test_over_many_members_each_behaviour_has_about_its_share() -> None:
    # Given the default shares, when 4,000 members are planned
    shares = MemberShares()
    plans = [plan_member(7, i, BALANCE, 3) for i in range(4000)]
    count = len(plans)

    def share(chosen: list[MemberPlan]) -> float:
        return len(chosen) / count

    # Then most buy, some never do, some cancel, most buyers complete and most completers review
    never = [p for p in plans if not p.purchased]
    cancelled = [p for p in plans if p.trainings and p.trainings[0].cancelled]
    revoked = [p for p in plans if not p.keeps_a_training]
    completers = [p for p in plans if p.completed]
    assert share(never) == pytest.approx(shares.never_buys, abs=0.02)
    assert share(cancelled) == pytest.approx((1 - shares.never_buys) * shares.cancels_first, abs=0.02)
    assert share(revoked) == pytest.approx(
        shares.never_buys + (1 - shares.never_buys) * shares.cancels_first * (1 - shares.buys_again_after_cancel),
        abs=0.02,
    )
    assert len(completers) / sum(p.keeps_a_training for p in plans) > 0.8
    assert sum(p.reviewed for p in completers) / len(completers) > 0.75
    assert any(sum(t.kept for t in p.trainings) == 2 for p in plans)  # some buy two trainings
    assert len({t.price for p in plans for t in p.trainings}) > 100  # prices vary


def member(index: int, wave: int, *trainings: Training) -> Member:
    return Member(
        index=index,
        applicant_id=f"{index:032x}",
        card_number=f"{index:016d}",
        wave=wave,
        balance=BALANCE,
        first_purchase_deadline=dt.datetime(2020, 5, 10, tzinfo=dt.UTC),
        plan=MemberPlan(partner=0, trainings=trainings),
    )


def test_what_the_plans_imply_for_the_funnel_and_the_ledger() -> None:
    # Given: one who never buys, one who cancels and buys nothing else, one who completes and reviews two,
    # one of the next wave who never buys (not due yet, so not swept), and one an admin revokes
    nothing = member(1, 1)
    cancels = member(2, 1, Training("c", "C", 300_000, cancelled=True))
    keen = member(3, 1, Training("a", "A", 400_000, completed=True, rating=5), Training("b", "B", 100_000))
    later = member(4, 2)
    fraud = member(5, 1, Training("d", "D", 250_000))
    members = [nothing, cancels, keen, later, fraud]

    assert expected_after_acceptance(members, swept=[nothing, cancels], admin_revoked=fraud) == {
        "activated": 5,
        "purchased": 3,
        "completed": 1,
        "reviewed": 1,
        "revoked": 3,
    }
    assert expected_ledger(members, [nothing, cancels, fraud]) == {
        "GRANT": 5 * BALANCE,
        "PURCHASE": 300_000 + 400_000 + 100_000 + 250_000,
        "REFUND": 300_000,
        "RETURN": BALANCE + BALANCE + (BALANCE - 250_000),
    }


def test_payout_plans_are_reproducible_and_in_their_shares() -> None:
    shares = MemberShares()
    plans = [plan_member(2020, i, BALANCE, 3) for i in range(4000)]
    assert plans == [plan_member(2020, i, BALANCE, 3) for i in range(4000)]
    earners = [p for p in plans if p.earns_incentives]
    refused = Counter(p.first_account_refused for p in earners)
    assert refused[AccountRejection.NAME_MISMATCH] / len(earners) == pytest.approx(shares.name_mismatch, abs=0.02)
    assert refused[AccountRejection.NOT_KYC] / len(earners) == pytest.approx(shares.not_kyc, abs=0.02)
    barred = [p.becomes_barred for p in earners if p.becomes_barred]
    assert len(barred) / len(earners) == pytest.approx(shares.becomes_barred, abs=0.02)
    assert {"occupation": "ASN"} in barred and {"student": True} in barred


def checked(
    headers: dict[str, str], path: str, body: bytes, secret: str = SECRET, now: dt.datetime | None = None
) -> None:
    """The server's own check of a partner's request (functions.domain.partners), against `secret`, at `now`."""
    request = SignedRequest.of({k.lower(): v for k, v in headers.items()}, "POST", path, body)
    request.check_fresh(now or dt.datetime.now(dt.UTC), dt.timedelta(seconds=300))
    request.check_signature(secret)


def test_the_partner_client_signs_as_the_server_checks() -> None:
    client = PartnerClient("http://127.0.0.1:1", "pasar-kursus", SECRET)
    body = b'{"code": "123456"}'
    path = "/partners/purchases/abc/confirm"

    checked(client.fresh_headers("POST", path, body), path, body)
    with pytest.raises(PartnerRejected) as wrong:
        checked(client.signed_headers("POST", path, body), path, body, secret="cd" * 32)
    assert wrong.value.why is Rejection.BAD_SIGNATURE
    with pytest.raises(PartnerRejected) as stale:
        checked(client.signed_headers("POST", path, body, timestamp=int(time.time()) - 301), path, body)
    assert stale.value.why is Rejection.STALE


def test_a_repeat_within_one_second_is_signed_in_the_next_so_it_is_no_replay() -> None:
    # Given a request just signed; when the identical request is signed again at once
    client = PartnerClient("http://127.0.0.1:1", "pasar-kursus", SECRET)
    body, path = b"{}", "/partners/purchases/abc/cancel"
    first = client.fresh_headers("POST", path, body)
    again = client.fresh_headers("POST", path, body)

    # Then it carries a later timestamp and another signature, which the server's check takes
    assert int(again["X-Timestamp"]) > int(first["X-Timestamp"])
    assert again["X-Signature"] != first["X-Signature"]
    checked(again, path, body)


def test_on_the_local_stack_a_partner_signs_on_the_programme_clock() -> None:
    # Given the stack's programme time 40 days ahead of real time, as the server reads it
    ahead = dt.timedelta(days=40)
    on_programme_time = lambda: time.time() + ahead.total_seconds()  # noqa: E731 - the stack's programme_seconds
    client = PartnerClient("http://127.0.0.1:1", "pasar-kursus", SECRET, now=on_programme_time)
    body, path = b"{}", "/partners/purchases/abc/cancel"

    headers = client.fresh_headers("POST", path, body)

    # Then the server's check on programme time takes it; on real time it would be far outside the window
    checked(headers, path, body, now=dt.datetime.now(dt.UTC) + ahead)
    with pytest.raises(PartnerRejected):
        checked(headers, path, body)
