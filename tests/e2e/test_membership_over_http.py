"""After acceptance, over HTTP on a local stack of its own: two training partners, each created with its own secret
by the operator's command, sell trainings to four members; purchases confirmed with the member's code, repeated,
raced, cancelled and refunded, completed and reviewed; signed requests replayed, stale, wrong or about another
partner's purchase refused; a member revoked by an admin, another on day 30 by the schedule, the balance returned,
and the places freed added to the next waves' quotas, whose draws verify. The partners sell from their catalogues
(each course at the price listed), sign on the stack's programme clock, and report a completion once the clock has
moved past the course's minimum hours; members whose tokens expire on the way sign in again. The tests share one
draw, so each takes members of its own; the clock-moving test comes last."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.after_acceptance import Tokens, ledger_totals
from devstack.partners import PartnerClient
from devstack.population import PopulationGenerator, registry_row
from devstack.stack import EmbeddedStack
from tests.e2e.conftest import Api, stack_of_small_waves
from tests.e2e.test_waves_over_http import enrol, join_all, run_week

QUOTA = 4
BALANCE = 1_000_000  # the default grant (functions.domain.rules.TRAINING_BALANCE), as each member's status shows
MINIMUM_HOURS = 2  # every test course's, as listed


@pytest.fixture(scope="module")
def member_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStack]:
    yield from stack_of_small_waves(tmp_path_factory, "members", QUOTA)


@pytest.fixture(scope="module")
def member_api(member_stack: EmbeddedStack) -> Api:
    return Api(member_stack)


@pytest.fixture(scope="module")
def tokens(member_stack: EmbeddedStack) -> Tokens:
    """The members' access tokens, renewed by signing in again once 30 programme days have passed."""
    return Tokens(member_stack, requests.Session(), member_stack.outbox_reader)


@pytest.fixture(scope="module")
def members(
    member_api: Api, member_stack: EmbeddedStack, tokens: Tokens, tmp_path_factory: pytest.TempPathFactory
) -> list[Any]:
    """Wave 1's four members (of five who joined: one is carried over), each with its card and token."""
    people = PopulationGenerator(seed=1010).people(5)
    member_api.add_to_registry([registry_row(p) for p in people])
    with ThreadPoolExecutor(max_workers=5) as pool:
        applicants = list(pool.map(lambda p: enrol(member_api, p), people))
    for person, applicant in zip(people, applicants, strict=True):
        tokens.keep(applicant["applicant_id"], applicant["access_token"], person.email)
    join_all(member_api, applicants, 1)
    run_week(member_api, member_stack, tmp_path_factory.mktemp("wave-1"))
    seen = [member_api.applicant(a["applicant_id"], a["access_token"]).json() for a in applicants]
    accepted = [
        {**applicant, "card_number": status["card_number"]}
        for applicant, status in zip(applicants, seen, strict=True)
        if status["status"] == "ACCEPTED"
    ]
    assert len(accepted) == QUOTA
    return accepted


@pytest.fixture(scope="module")
def partners(member_stack: EmbeddedStack) -> list[PartnerClient]:
    return [
        PartnerClient(
            member_stack.api_url,
            partner_id,
            member_stack.partner_secret(partner_id, name),
            now=member_stack.programme_seconds,
        )
        for partner_id, name in (("e2e-pasar", "Pasar Uji"), ("e2e-sekolah", "Sekolah Uji"))
    ]


def membership(tokens: Tokens, member: dict[str, Any]) -> dict[str, Any]:
    applicant_id = member["applicant_id"]
    status: dict[str, Any] = tokens.request(applicant_id, "GET", f"/applicants/{applicant_id}").json()
    return dict(status["membership"])


def listed(partner: PartnerClient, course: str, title: str, price: int) -> str:
    """The course at this price in the partner's catalogue (listed again, the same, if it was): its id."""
    course_id = f"{course}-rp{price}"  # never six digits on their own, as a code sent
    answer = partner.list_course(course_id, title, price, MINIMUM_HOURS)
    assert answer.status_code == 200, answer.text
    return course_id


def requested(partner: PartnerClient, member: dict[str, Any], price: int, ref: str) -> str:
    course_id = listed(partner, "excel", "Microsoft Excel untuk Kantor", price)
    answer = partner.request_purchase(member["card_number"], course_id, "Microsoft Excel untuk Kantor", price, ref)
    assert answer.status_code == 201, answer.text
    purchase_id: str = answer.json()["purchase_id"]
    return purchase_id


def bought(api: Api, partner: PartnerClient, member: dict[str, Any], price: int, ref: str) -> str:
    """A purchase requested, and confirmed with the code the member reads from the outbox."""
    purchase_id = requested(partner, member, price, ref)
    confirmed = partner.confirm(purchase_id, api.stack.outbox_reader.wait_for_purchase_code(purchase_id, 60))
    assert confirmed.status_code == 200, confirmed.text
    return purchase_id


def review(tokens: Tokens, member: dict[str, Any], purchase_id: str, rating: int) -> requests.Response:
    body = {"purchase_id": purchase_id, "rating": rating, "comment": "Materinya jelas."}
    return tokens.request(member["applicant_id"], "POST", f"/applicants/{member['applicant_id']}/reviews", json=body)


def test_a_purchase_is_confirmed_with_the_members_code_and_a_repeat_gets_the_same_answer(
    member_api: Api, tokens: Tokens, members: list[dict[str, Any]], partners: list[PartnerClient]
) -> None:
    member, partner = members[0], partners[0]
    assert membership(tokens, member)["balance"] == BALANCE

    # Given a purchase requested, and the same request again (a retry: the same purchase_ref)
    course_id = listed(partner, "barista", "Menjadi Barista", 300_000)
    first = partner.request_purchase(member["card_number"], course_id, "Menjadi Barista", 300_000, "order-1")
    again = partner.request_purchase(member["card_number"], course_id, "Menjadi Barista", 300_000, "order-1")
    assert first.status_code == again.status_code == 201, first.text
    assert again.json() == first.json()
    assert first.json()["status"] == "AWAITING_CONFIRMATION"
    purchase_id = first.json()["purchase_id"]

    # Then the member is sent one code by email and by SMS
    code = member_api.stack.outbox_reader.wait_for_purchase_code(purchase_id, 60)
    told = member_api.stack.outbox_reader.wait_for_messages("purchase_code", 2, purchase_id=purchase_id)
    assert sorted(m["channel"] for m in told) == ["email", "sms"]
    assert {m["code"] for m in told} == {code}

    # When the partner gives a wrong code, then the right one, then the right one again
    wrong = partner.confirm(purchase_id, "000000" if code != "000000" else "111111")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (400, "WRONG_CODE")
    confirmed = partner.confirm(purchase_id, code)
    repeated = partner.confirm(purchase_id, code)

    # Then the balance is debited once and both answers are the same, with a voucher
    assert confirmed.status_code == repeated.status_code == 200, confirmed.text
    assert repeated.json() == confirmed.json()
    assert confirmed.json()["status"] == "CONFIRMED"
    assert confirmed.json()["voucher_code"]
    assert confirmed.json()["balance_after"] == BALANCE - 300_000
    seen = membership(tokens, member)
    assert seen["balance"] == BALANCE - 300_000
    assert [(p["price"], p["status"]) for p in seen["purchases"]] == [(300_000, "CONFIRMED")]


def test_racing_purchases_that_together_overdraw_the_balance_one_is_refused(
    member_api: Api, tokens: Tokens, members: list[dict[str, Any]], partners: list[PartnerClient]
) -> None:
    # Given two purchases of Rp600,000 on one card of Rp1,000,000, each with its code
    member, partner = members[1], partners[0]
    purchases = [requested(partner, member, 600_000, f"race-{n}") for n in range(2)]
    codes = [member_api.stack.outbox_reader.wait_for_purchase_code(p, 60) for p in purchases]

    # When both are confirmed at once
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(partner.confirm, purchases, codes))

    # Then one is taken and the other refused, and the balance never went below zero
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    assert membership(tokens, member)["balance"] == BALANCE - 600_000


def test_a_cancel_refunds_before_completion_and_a_completed_training_is_reviewed_once(
    member_api: Api, tokens: Tokens, members: list[dict[str, Any]], partners: list[PartnerClient]
) -> None:
    member, partner = members[0], partners[1]
    before = membership(tokens, member)["balance"]
    kept = bought(member_api, partner, member, 100_000, "keep-1")
    dropped = bought(member_api, partner, member, 200_000, "drop-1")
    assert membership(tokens, member)["balance"] == before - 300_000

    # When one is cancelled before completion: its price comes back
    assert partner.cancel(dropped).status_code == 200
    assert membership(tokens, member)["balance"] == before - 100_000

    # A review before completion is refused, and so is a completion before the course's minimum hours have passed
    assert review(tokens, member, kept, 5).status_code == 409
    stack = member_api.stack
    too_early = partner.report_completion(kept, stack.programme_now().isoformat(), "CERT-E2E-1")
    assert (too_early.status_code, too_early.json()["error"]["code"]) == (409, "TOO_EARLY"), too_early.text

    # Once they have on the programme's clock, the partner reports completion, twice (the same again changes nothing)
    stack.advance_clock(stack.programme_now() + dt.timedelta(hours=MINIMUM_HOURS, minutes=1))
    completed_at = stack.programme_now().replace(microsecond=0).isoformat()
    first = partner.report_completion(kept, completed_at, "CERT-E2E-1")
    again = partner.report_completion(kept, completed_at, "CERT-E2E-1")
    assert first.status_code == again.status_code == 200, first.text

    # Then it can no longer be cancelled, the member reviews it once, and a cancelled one cannot be completed
    assert partner.cancel(kept).status_code == 409
    assert review(tokens, member, kept, 5).status_code == 201
    assert review(tokens, member, kept, 4).status_code == 409
    assert partner.report_completion(dropped, completed_at, "CERT-E2E-2").status_code == 409
    seen = {p["purchase_id"]: p for p in membership(tokens, member)["purchases"]}
    assert seen[dropped]["status"] == "CANCELLED"
    assert seen[kept]["status"] == "COMPLETED" and seen[kept]["completed_at"]


def test_replayed_stale_wrong_and_unknown_signatures_get_one_401_and_another_partners_purchase_is_a_404(
    member_api: Api, tokens: Tokens, members: list[dict[str, Any]], partners: list[PartnerClient]
) -> None:
    owner, other = partners
    base = member_api.base_url
    unknown_path = "/partners/purchases/00000000000000000000000000000000/cancel"
    body = b"{}"

    def send(headers: dict[str, str], path: str = unknown_path) -> requests.Response:
        return requests.post(f"{base}{path}", data=body, headers=headers, timeout=30)

    # A well-signed request about no purchase is a 404; the very same request again is a replay
    signed = owner.fresh_headers("POST", unknown_path, body)
    assert send(signed).status_code == 404
    replayed = send(signed)
    stale = send(owner.signed_headers("POST", unknown_path, body, timestamp=int(owner.now()) - 301))
    wrong = send({**owner.signed_headers("POST", unknown_path, body), "X-Signature": "0" * 64})
    nobody = PartnerClient(base, "e2e-nobody", "ab" * 32, now=owner.now)
    stranger = nobody.signed_headers("POST", unknown_path, body)
    refusals = [replayed, stale, wrong, send(stranger)]
    assert {r.status_code for r in refusals} == {401}
    assert len({r.text for r in refusals}) == 1  # the same answer whatever the reason

    # Another partner's purchase is answered as an unknown one, and stays as it was
    purchase_id = bought(member_api, owner, members[1], 50_000, "mine-1")
    unknown = other.cancel("0" * 32)
    for answer in (
        other.cancel(purchase_id),
        other.confirm(purchase_id, "123456"),
        other.report_completion(purchase_id, member_api.stack.programme_now().isoformat(), "CERT-X"),
    ):
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"]["code"] == unknown.json()["error"]["code"]
    mine = {p["purchase_id"]: p for p in membership(tokens, members[1])["purchases"]}
    assert mine[purchase_id]["status"] == "CONFIRMED"


def manifest_of(folder: Path, wave: int) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((folder / f"manifest-{wave}.json").read_text())
    return document


def test_revocations_by_an_admin_and_on_day_30_return_the_balance_and_refill_the_next_waves(
    member_api: Api,
    member_stack: EmbeddedStack,
    tokens: Tokens,
    members: list[dict[str, Any]],
    partners: list[PartnerClient],
    tmp_path: Path,
) -> None:
    idle, fraud = members[2], members[3]
    bought(member_api, partners[1], fraud, 250_000, "fraud-1")

    # When an admin revokes a member (wave 2 is open)
    token = member_stack.admin_token("e2e-revoker@kemnaker.go.id")
    revoked = requests.post(
        f"{member_api.base_url}/admin/memberships/{fraud['card_number']}/revoke",
        json={"reason": "kartu dijual"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert revoked.status_code == 200, revoked.text
    seen = membership(tokens, fraud)
    assert (seen["state"], seen["balance"]) == ("REVOKED", 0)
    course_id = listed(partners[0], "excel", "Excel", 10_000)
    refused = partners[0].request_purchase(fraud["card_number"], course_id, "Excel", 10_000, "after-revoked")
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "MEMBERSHIP_REVOKED")

    # And the clock moves week by week to the day after the first members' deadline
    deadline = dt.datetime.fromisoformat(membership(tokens, idle)["first_purchase_deadline"])
    sweep_at = deadline + dt.timedelta(days=1)
    drawn = []
    while next_publication(member_api) <= sweep_at:
        drawn.append(run_week(member_api, member_stack, tmp_path)["wave"])
    member_stack.advance_clock(sweep_at)
    member_stack.wait_until_idle(timeout_seconds=120)

    # Then the member who bought nothing is revoked, its balance returned; those who bought stay (each reads its
    # status signed in again: 30 programme days have passed since its token was issued)
    seen = membership(tokens, idle)
    assert (seen["state"], seen["reason"], seen["balance"]) == ("REVOKED", "NO_PURCHASE_IN_TIME", 0)
    assert {membership(tokens, m)["state"] for m in members[:2]} == {"ACTIVE"}
    told = {m["applicant_id"] for m in member_stack.outbox("membership_revoked")}
    assert {idle["applicant_id"], fraud["applicant_id"]} <= told

    # And the admin's revocation raised wave 2's quota; the schedule's raises the open wave's, drawn next
    drawn.append(run_week(member_api, member_stack, tmp_path)["wave"])
    refilled = {n: manifest_of(tmp_path, n) for n in drawn}
    assert (refilled[2]["base_quota"], refilled[2]["refill"], refilled[2]["quota"]) == (QUOTA, 1, QUOTA + 1)
    # The schedule revoked the idle member while the last drawn wave was open (and perhaps wave 2's own member, whose
    # 30 days may end by then as the clock moves: its revocation counts in whichever wave is open)
    last = refilled[drawn[-1]]
    assert last["base_quota"] == QUOTA and last["refill"] >= 1 and last["quota"] == QUOTA + last["refill"]

    # And the ledger's identity holds, with both balances returned
    ledger = requests.get(
        f"{member_api.base_url}/admin/ledger", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ).json()
    assert ledger["identity"]["holds"] is True
    # Every member the schedule revoked had bought nothing (the whole balance back; by then that may include
    # the member wave 2 accepted, whose own 30 days ran out while the clock moved), the admin's returned the rest
    stats = requests.get(
        f"{member_api.base_url}/admin/stats", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ).json()
    revoked_count = next(stage["count"] for stage in stats["funnel"] if stage["stage"] == "revoked")
    assert revoked_count >= 2
    assert ledger_totals(ledger)["RETURN"] == (revoked_count - 1) * BALANCE + (BALANCE - 250_000)


def next_publication(api: Api) -> dt.datetime:
    return dt.datetime.fromisoformat(api.http.get(f"{api.base_url}/waves/current", timeout=10).json()["publish_at"])
