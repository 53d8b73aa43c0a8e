"""Purchases with the member's consent, on moto through the app's routes: the partner's catalogue, request at the
listed price, the code by email and SMS naming the partner, the card's limits, confirm, repeats, racing
confirmations, wrong codes, expiry, cancel and refund (to a revoked member: returned), completion after the
course's minimum hours with a certificate used once, review, another partner's purchase, the member's view and the
admin ledger."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from functions import clock
from functions.adapters.notifier import Notification
from functions.app import app
from functions.domain.lifecycle import FunnelStage
from functions.domain.membership import LedgerKind, MembershipReason, PurchaseStatus
from functions.services import admin, notifications, partner_auth, purchases
from functions.settings import settings
from functions.store import funnel, members, revocations
from functions.store import purchases as purchase_store
from tests.helpers import reset_app_state
from tests.integration.conftest import run_consumers
from tests.integration.members import JSON, Member, PartnerClient, accepted_members, outbox_purchase_code

PRICE = 400_000
HOURS = 8  # the catalogue courses' minimum hours here


@pytest.fixture
def client(aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("PRAKERJA_NOTIFIER", "outbox")
    monkeypatch.setenv("PRAKERJA_OUTBOX", str(tmp_path / "outbox.jsonl"))
    reset_app_state()
    with Client(app) as test_client:
        yield test_client


@pytest.fixture
def partner(client: Any) -> PartnerClient:
    return PartnerClient(client, "skill-academy", partner_auth.create_or_rotate("skill-academy", "Skill Academy"))


@pytest.fixture
def member(client: Any) -> Member:
    return accepted_members(1)[0]


def course_at(price: int) -> str:
    """The id of the catalogue's course at `price` (each test's partner lists what it sells)."""
    return f"excel-{price}"


def purchase_body(member: Member, ref: str = "order-1", price: int = PRICE) -> dict[str, Any]:
    return {"card_number": member.card_number, "course_id": course_at(price), "price": price, "purchase_ref": ref}


def requested(partner: PartnerClient, member: Member, ref: str = "order-1", price: int = PRICE) -> str:
    partner.list_course(course_at(price), price, HOURS)
    answer = partner.post("/partners/purchases", purchase_body(member, ref, price))
    assert answer.status_code == 201, answer.json_body
    assert answer.json_body["status"] == PurchaseStatus.AWAITING_CONFIRMATION
    return str(answer.json_body["purchase_id"])


def code_of(purchase_id: str) -> str:
    run_consumers("email_code_consumer")
    sent = outbox_purchase_code(purchase_id)
    assert sorted(line["channel"] for line in sent) == ["email", "sms"]
    return str(sent[0]["code"])


def confirm(partner: PartnerClient, purchase_id: str, code: str) -> Any:
    return partner.post(f"/partners/purchases/{purchase_id}/confirm", {"code": code})


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def hours_later(monkeypatch: pytest.MonkeyPatch, hours: float) -> dt.datetime:
    """Moves the app's clock (and so the partners' signatures) `hours` on; the new now."""
    later = clock.now() + dt.timedelta(hours=hours)
    monkeypatch.setattr(clock, "now", lambda: later)
    return later


def completion(purchase_id: str, certificate_id: str = "CERT-001") -> dict[str, Any]:
    return {"purchase_id": purchase_id, "completed_at": clock.now().isoformat(), "certificate_id": certificate_id}


def test_a_purchase_confirmed_with_the_members_code_debits_the_balance_once(
    partner: PartnerClient, member: Member
) -> None:
    balance = settings().training_balance
    # Given a partner's purchase request, and the same request again
    purchase_id = requested(partner, member)
    assert requested(partner, member) == purchase_id
    # Then the member got one code, by email and by SMS, the same code on both
    code = code_of(purchase_id)
    assert {line["code"] for line in outbox_purchase_code(purchase_id)} == {code}
    stored = purchase_store.find(purchase_id)
    assert stored is not None and stored.code_sealed is None and code not in stored.code_hash
    # When the partner confirms with it, and again
    first = confirm(partner, purchase_id, code)
    again = confirm(partner, purchase_id, code)
    # Then the balance is debited once, with a voucher, and the repeat is the same answer
    assert first.status_code == 200 and again.status_code == 200
    assert first.json_body == again.json_body
    assert first.json_body["status"] == "CONFIRMED" and first.json_body["balance_after"] == balance - PRICE
    assert len(first.json_body["voucher_code"]) == 16
    found = members.find(member.applicant_id)
    assert found is not None and found.balance == balance - PRICE and found.totals.purchased == PRICE
    assert found.live_purchases == 1 and found.totals.identity_holds()
    kinds = [kind for _, kind, _, _ in members.entries(member.applicant_id)]
    assert kinds == [LedgerKind.GRANT, LedgerKind.PURCHASE]
    assert funnel.funnel_totals([FunnelStage.PURCHASED]) == {FunnelStage.PURCHASED: 1}


def test_the_same_purchase_ref_for_another_purchase_is_refused(partner: PartnerClient, member: Member) -> None:
    requested(partner, member, "order-9")
    answer = partner.post("/partners/purchases", purchase_body(member, "order-9", price=PRICE + 1))
    assert answer.status_code == 409 and answer.json_body["error"]["field"] == "purchase_ref"


def test_requests_the_card_cannot_pay_for_are_refused(partner: PartnerClient, member: Member) -> None:
    unknown = {**purchase_body(member), "card_number": "7" + "0" * 15}
    answer = partner.post("/partners/purchases", unknown)
    assert (answer.status_code, answer.json_body["error"]["code"]) == (404, "CARD_NOT_FOUND")
    # What a first purchase left does not cover a second at the whole balance
    first = requested(partner, member)
    assert confirm(partner, first, code_of(first)).status_code == 200
    whole = settings().training_balance
    partner.list_course(course_at(whole), whole, HOURS)
    over = partner.post("/partners/purchases", purchase_body(member, "order-2", price=whole))
    assert (over.status_code, over.json_body["error"]) == (
        409,
        {"code": "INSUFFICIENT_BALANCE", "message": "the training balance does not cover the price", "field": "price"},
    )


@pytest.fixture
def atomic_transactions(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB applies each transaction atomically; moto in-process checks and writes from every thread at once
    (the local stack's server serialises its DynamoDB calls for the same reason)."""
    from moto.dynamodb.models import DynamoDBBackend

    unguarded = DynamoDBBackend.transact_write_items
    lock = threading.Lock()

    def atomic(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        with lock:
            unguarded(self, transact_items)

    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", atomic)


@pytest.mark.usefixtures("atomic_transactions")
def test_racing_confirmations_that_together_overdraw_let_exactly_one_through(
    partner: PartnerClient, member: Member
) -> None:
    balance = settings().training_balance
    price = balance * 3 // 5
    # Given three requests, each within the balance, together over it, each with the member's code
    ids = [requested(partner, member, f"race-{n}", price) for n in range(3)]
    codes = {purchase_id: code_of(purchase_id) for purchase_id in ids}
    # When they are confirmed at the same moment (the service, as the route would call it)
    answers: dict[str, Any] = {}

    def confirming(purchase_id: str) -> None:
        body = json.dumps({"code": codes[purchase_id]}).encode()
        try:
            answers[purchase_id] = purchases.confirm(purchase_id, body, partner.partner_id)
        except Exception as refusal:
            answers[purchase_id] = refusal

    threads = [threading.Thread(target=confirming, args=(purchase_id,)) for purchase_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then one is confirmed and the others find the balance short; the balance never went below zero
    confirmed = [a for a in answers.values() if isinstance(a, dict)]
    refused = [a for a in answers.values() if not isinstance(a, dict)]
    assert len(confirmed) == 1 and confirmed[0]["balance_after"] == balance - price
    assert {getattr(r, "code", r) for r in refused} == {"INSUFFICIENT_BALANCE"}
    found = members.find(member.applicant_id)
    assert found is not None and found.balance == balance - price and found.totals.identity_holds()


def test_wrong_codes_then_429_and_an_expired_code_is_409(
    partner: PartnerClient, member: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    purchase_id = requested(partner, member)
    code = code_of(purchase_id)
    for _ in range(settings().purchase_code_max_wrong_tries):
        answer = confirm(partner, purchase_id, wrong(code))
        assert (answer.status_code, answer.json_body["error"]["code"]) == (400, "WRONG_CODE")
    locked = confirm(partner, purchase_id, code)  # right, but after five wrong ones
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    # Another purchase's code expires unused
    later = requested(partner, member, "order-2")
    code = code_of(later)
    expiry = clock.now() + dt.timedelta(seconds=settings().purchase_code_ttl_seconds)
    monkeypatch.setattr(clock, "now", lambda: expiry)
    expired = confirm(partner, later, code)
    assert (expired.status_code, expired.json_body["error"]["code"]) == (409, "PURCHASE_EXPIRED")
    found = members.find(member.applicant_id)
    assert found is not None and found.balance == settings().training_balance


def test_cancel_refunds_a_confirmed_purchase_and_completion_ends_it(
    partner: PartnerClient, member: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    balance = settings().training_balance
    kept, dropped = requested(partner, member, "keep"), requested(partner, member, "drop")
    for purchase_id in (kept, dropped):
        assert confirm(partner, purchase_id, code_of(purchase_id)).status_code == 200
    # A confirmed purchase cancelled: refunded, once however often it is asked
    cancelled = partner.post(f"/partners/purchases/{dropped}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json_body == {"purchase_id": dropped, "status": "CANCELLED", "refunded": PRICE}
    assert partner.post(f"/partners/purchases/{dropped}/cancel").json_body == cancelled.json_body
    assert confirm(partner, dropped, "000000").status_code in (400, 409)
    # The other completed after the course's hours, with its certificate; the same report again changes nothing
    hours_later(monkeypatch, HOURS)
    report = completion(kept)
    too_early = partner.post("/partners/completions", {**report, "completed_at": "2019-01-01T00:00:00+07:00"})
    assert (too_early.status_code, too_early.json_body["error"]["field"]) == (400, "completed_at")
    done = partner.post("/partners/completions", report)
    assert done.status_code == 200 and done.json_body["status"] == "COMPLETED"
    again = partner.post("/partners/completions", {**report, "certificate_id": "CERT-OTHER"})
    assert again.json_body == done.json_body
    # A completed training cannot be cancelled; a cancelled one cannot be completed
    late = partner.post(f"/partners/purchases/{kept}/cancel")
    assert (late.status_code, late.json_body["error"]["code"]) == (409, "PURCHASE_COMPLETED")
    refused = partner.post("/partners/completions", {**report, "purchase_id": dropped})
    assert (refused.status_code, refused.json_body["error"]["code"]) == (409, "PURCHASE_NOT_CONFIRMED")
    found = members.find(member.applicant_id)
    assert found is not None and found.balance == balance - PRICE and found.live_purchases == 1
    assert (found.totals.refunded, found.totals.identity_holds()) == (PRICE, True)
    totals = funnel.funnel_totals([FunnelStage.PURCHASED, FunnelStage.COMPLETED])
    assert totals == {FunnelStage.PURCHASED: 1, FunnelStage.COMPLETED: 1}


def test_a_member_reviews_a_completed_training_once(
    client: Any, partner: PartnerClient, member: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    purchase_id = requested(partner, member)
    path = f"/applicants/{member.applicant_id}/reviews"
    headers = {**JSON, "Authorization": f"Bearer {member.access_token}"}

    def review(body: dict[str, Any]) -> Any:
        return client.http.post(path, headers=headers, body=json.dumps({"purchase_id": purchase_id, **body}))

    early = review({"rating": 5})
    assert (early.status_code, early.json_body["error"]["code"]) == (409, "PURCHASE_NOT_COMPLETED")
    assert confirm(partner, purchase_id, code_of(purchase_id)).status_code == 200
    hours_later(monkeypatch, HOURS)
    assert partner.post("/partners/completions", completion(purchase_id, "C-1")).status_code == 200
    bad_reviews: list[tuple[dict[str, Any], str]] = [
        ({"rating": 0}, "rating"),
        ({"rating": 6}, "rating"),
        ({"rating": 4, "comment": "x" * 10_000}, "comment"),
    ]
    for bad, field in bad_reviews:
        answer = review(bad)
        assert (answer.status_code, answer.json_body["error"]["field"]) == (400, field)
    first = review({"rating": 4, "comment": "Materinya jelas."})
    assert first.status_code == 201 and first.json_body["rating"] == 4
    second = review({"rating": 1})
    assert (second.status_code, second.json_body["error"]["code"]) == (409, "ALREADY_REVIEWED")
    stranger = accepted_members(1, seed=2002)[0]
    other = client.http.post(
        f"/applicants/{stranger.applicant_id}/reviews",
        headers={**JSON, "Authorization": f"Bearer {stranger.access_token}"},
        body=json.dumps({"purchase_id": purchase_id, "rating": 3}),
    )
    assert other.status_code == 404
    assert funnel.funnel_totals([FunnelStage.REVIEWED]) == {FunnelStage.REVIEWED: 1}


def test_another_partners_purchase_is_an_unknown_one(client: Any, partner: PartnerClient, member: Member) -> None:
    purchase_id = requested(partner, member)
    rival = PartnerClient(client, "kelas-rival", partner_auth.create_or_rotate("kelas-rival"))
    unknown = rival.post(f"/partners/purchases/{'0' * 32}/cancel")
    for answer in (
        rival.post(f"/partners/purchases/{purchase_id}/confirm", {"code": code_of(purchase_id)}),
        rival.post(f"/partners/purchases/{purchase_id}/cancel"),
        rival.post(
            "/partners/completions",
            {"purchase_id": purchase_id, "completed_at": clock.now().isoformat(), "certificate_id": "C"},
        ),
    ):
        assert (answer.status_code, answer.json_body) == (404, unknown.json_body)
    # An unsigned request is no partner's
    bare = client.http.post("/partners/purchases", headers=JSON, body=json.dumps(purchase_body(member)))
    assert bare.status_code == 401
    assert purchase_store.find(purchase_id).status is PurchaseStatus.AWAITING_CONFIRMATION  # type: ignore[union-attr]


def test_the_member_view_and_the_admin_ledger(client: Any, partner: PartnerClient) -> None:
    balance = settings().training_balance
    buyer, idle = accepted_members(2, seed=3003)
    purchase_id = requested(partner, buyer)
    assert confirm(partner, purchase_id, code_of(purchase_id)).status_code == 200

    # The member sees its membership and purchases; never another's
    def membership_of(member: Member) -> Any:
        headers = {"Authorization": f"Bearer {member.access_token}"}
        return client.http.get(f"/applicants/{member.applicant_id}", headers=headers).json_body["membership"]

    membership = membership_of(buyer)
    assert membership["state"] == "ACTIVE" and membership["balance"] == balance - PRICE
    assert [(p["purchase_id"], p["status"], p["price"]) for p in membership["purchases"]] == [
        (purchase_id, "CONFIRMED", PRICE)
    ]
    assert (membership["payout_account"], membership["incentives"]) == (None, [])
    assert (membership_of(idle)["purchases"], membership_of(idle)["balance"]) == ([], balance)
    # The admin ledger: totals by kind, the outstanding balance, and the identity holding
    token = admin.mint("ops@kemnaker.go.id", 1)
    ledger = client.http.get("/admin/ledger", headers={"Authorization": f"Bearer {token}"}).json_body
    assert ledger["totals"]["GRANT"] == 2 * balance and ledger["totals"]["PURCHASE"] == PRICE
    assert ledger["outstanding_balance"] == 2 * balance - PRICE and ledger["members"] == 2
    assert ledger["identity"] == {"holds": True, "holds_in_total": True, "members_where_it_fails": 0}


def test_the_ledger_check_fails_when_the_members_disagree_with_the_counters(
    client: Any, partner: PartnerClient
) -> None:
    from functions.store.models import MemberRecord

    (member,) = accepted_members(1, seed=4004)
    # A member's balance changed behind the ledger's back (what the check is there to catch)
    MemberRecord(applicant_id=member.applicant_id).update(actions=[MemberRecord.balance.add(1)])
    token = admin.mint("ops@kemnaker.go.id", 1)
    ledger = client.http.get("/admin/ledger", headers={"Authorization": f"Bearer {token}"}).json_body
    assert ledger["identity"] == {"holds": False, "holds_in_total": False, "members_where_it_fails": 1}


# --- the catalogue, the card's limits, minimum hours, certificates, the consent text, refunds after revocation ----


def test_the_catalogue_refuses_bad_courses_naming_the_field_and_a_listing_can_change(partner: PartnerClient) -> None:
    good = {"title": "Pembukuan Sederhana (UMKM)", "price": PRICE, "minimum_hours": HOURS}
    bad: list[tuple[str, dict[str, Any], str]] = [
        ("excel-1", {**good, "title": "Visit http://evil.example"}, "title"),
        ("excel-1", {**good, "title": "Kursus di evil.example"}, "title"),
        ("excel-1", {**good, "title": "x" * 201}, "title"),
        ("excel-1", {**good, "price": 0}, "price"),
        ("excel-1", {**good, "price": 1.5}, "price"),
        ("excel-1", {**good, "price": settings().training_balance + 1}, "price"),
        ("excel-1", {**good, "minimum_hours": 0}, "minimum_hours"),
        ("excel-1", {**good, "minimum_hours": 100_000}, "minimum_hours"),
        ("excel 1", good, "course_id"),
    ]
    for course_id, course, field in bad:
        answer = partner.send("PUT", f"/partners/courses/{course_id}", course)
        assert (answer.status_code, answer.json_body["error"]["field"]) == (400, field), (course_id, course)
    listed = partner.send("PUT", "/partners/courses/excel-1", good)
    assert listed.status_code == 200 and listed.json_body["title"] == good["title"]
    changed = partner.send("PUT", "/partners/courses/excel-1", {**good, "price": PRICE // 2})
    assert changed.status_code == 200 and changed.json_body["price"] == PRICE // 2


def test_a_purchase_names_a_listed_course_of_its_own_partner_at_the_listed_price(
    client: Any, partner: PartnerClient, member: Member
) -> None:
    partner.list_course("excel-1", PRICE, HOURS)
    unknown = partner.post("/partners/purchases", {**purchase_body(member), "course_id": "excel-404"})
    assert (unknown.status_code, unknown.json_body["error"]["field"]) == (404, "course_id")
    cheaper = partner.post("/partners/purchases", {**purchase_body(member, price=1), "course_id": "excel-1"})
    assert (cheaper.status_code, cheaper.json_body["error"]) == (
        409,
        {"code": "PRICE_NOT_LISTED", "message": "the price is not the course's listed price", "field": "price"},
    )
    # Another partner's course is not this one's to sell
    rival = PartnerClient(client, "kelas-rival", partner_auth.create_or_rotate("kelas-rival"))
    borrowed = rival.post("/partners/purchases", {**purchase_body(member), "course_id": "excel-1"})
    assert (borrowed.status_code, borrowed.json_body["error"]["code"]) == (404, "COURSE_NOT_FOUND")
    # A title the partner sends with the purchase is refused unless plain, and even then not taken: the catalogue's is
    linked = partner.post(
        "/partners/purchases", {**purchase_body(member), "course_id": "excel-1", "course_title": "Gratis! bit.ly/x"}
    )
    assert (linked.status_code, linked.json_body["error"]["field"]) == (400, "course_title")
    assert linked.json_body["error"]["code"] == "INVALID_COURSE_TITLE"
    sent = partner.post(
        "/partners/purchases", {**purchase_body(member), "course_id": "excel-1", "course_title": "Kursus Lain Sekali"}
    )
    assert sent.status_code == 201
    stored = purchase_store.find(sent.json_body["purchase_id"])
    assert stored is not None and (stored.course_title, stored.minimum_hours) == ("Excel untuk Pemula", HOURS)
    assert purchase_store.find_by_ref(rival.partner_id, "order-1") is None


def test_a_flood_of_requests_for_one_card_gets_three_awaiting_five_codes_an_hour_then_429(
    client: Any, partner: PartnerClient, member: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    rival = PartnerClient(client, "kelas-rival", partner_auth.create_or_rotate("kelas-rival"))
    for seller in (partner, rival):
        seller.list_course(course_at(1_000), 1_000, HOURS)
    # Ten requests in seconds from two partners: three await the member's code, the rest are 429 with Retry-After
    answers = [
        (partner if n % 2 else rival).post("/partners/purchases", purchase_body(member, f"flood-{n}", 1_000))
        for n in range(10)
    ]
    assert [a.status_code for a in answers] == [201] * 3 + [429] * 7
    for refused in answers[3:]:
        assert refused.json_body["error"]["code"] == "TOO_MANY_PURCHASES"
        assert 0 < int(refused.headers["Retry-After"]) <= settings().purchase_code_ttl_seconds + 1
    # The same purchase_ref again is the same answer and takes nothing
    again = rival.post("/partners/purchases", purchase_body(member, "flood-0", 1_000))
    assert (again.status_code, again.json_body) == (201, answers[0].json_body)
    # Confirmed purchases await nothing: two more codes go out, then the hour's five are spent
    for answer in answers[:3]:
        purchase_id = answer.json_body["purchase_id"]
        seller = rival if answer is answers[0] or answer is answers[2] else partner
        assert confirm(seller, purchase_id, code_of(purchase_id)).status_code == 200
    more = [partner.post("/partners/purchases", purchase_body(member, f"more-{n}", 1_000)) for n in range(3)]
    assert [a.status_code for a in more] == [201, 201, 429]
    assert int(more[2].headers["Retry-After"]) > settings().purchase_code_ttl_seconds  # the hour's, not a code's
    run_consumers("email_code_consumer")
    sent = [line for line in outbox_lines() if line.get("kind") == "purchase_code"]
    assert len(sent) == 2 * 5  # five codes, by email and SMS each
    # An hour on, the card takes requests again
    hours_later(monkeypatch, 1)
    assert partner.post("/partners/purchases", purchase_body(member, "next-hour", 1_000)).status_code == 201


def outbox_lines() -> list[dict[str, Any]]:
    path = Path(settings().outbox_path)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_completion_before_the_courses_minimum_hours_is_too_early_and_a_certificate_is_used_once(
    partner: PartnerClient, member: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = requested(partner, member, "one", 1_000), requested(partner, member, "two", 1_000)
    for purchase_id in (first, second):
        assert confirm(partner, purchase_id, code_of(purchase_id)).status_code == 200
    # Bought and reported done in the same second, and a minute before the hours have passed: too early
    at_once = partner.post("/partners/completions", completion(first))
    assert (at_once.status_code, at_once.json_body["error"]["code"]) == (409, "TOO_EARLY")
    hours_later(monkeypatch, HOURS - 1 / 60)
    almost = partner.post("/partners/completions", completion(first))
    assert (almost.status_code, almost.json_body["error"]["field"]) == (409, "completed_at")
    # After them, completed; the same report again changes nothing
    hours_later(monkeypatch, 1 / 60)
    report = completion(first, "CERT-7")
    done = partner.post("/partners/completions", report)
    assert done.status_code == 200
    hours_later(monkeypatch, 1 / 3600)  # a second on: the repeat is signed anew
    assert partner.post("/partners/completions", report).json_body == done.json_body
    # The same certificate for another purchase is refused, and that purchase stays confirmed
    reused = partner.post("/partners/completions", completion(second, "CERT-7"))
    assert (reused.status_code, reused.json_body["error"]["code"]) == (409, "CERTIFICATE_USED")
    assert purchase_store.find(second).status is PurchaseStatus.CONFIRMED  # type: ignore[union-attr]
    assert partner.post("/partners/completions", completion(second, "CERT-8")).status_code == 200


def test_the_consent_message_names_the_partner_and_shows_no_partner_written_link(
    client: Any, member: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[Notification] = []
    monkeypatch.setattr(notifications, "deliver", sent.append)
    seller = PartnerClient(client, "kelas-link", partner_auth.create_or_rotate("kelas-link", "Kelas Resmi Nusantara"))
    # A title with a link is refused at the catalogue, so none is stored to be shown
    promo = {"title": "Visit http://evil.example", "price": 1_000, "minimum_hours": 1}
    assert seller.send("PUT", "/partners/courses/promo", promo).status_code == 400
    seller.list_course("promo", 1_000, 1, "Excel (Dasar) & Lanjutan, 3.5 jam")
    # and a title sent with the purchase is refused when it holds a link, and not the one shown when it is plain
    body = {**purchase_body(member, price=1_000), "course_id": "promo", "course_title": promo["title"]}
    assert seller.post("/partners/purchases", body).json_body["error"]["code"] == "INVALID_COURSE_TITLE"
    body["course_title"] = "Kursus Lain Sekali"
    code_of_sent = seller.post("/partners/purchases", body).json_body["purchase_id"]
    run_consumers("email_code_consumer")
    assert sorted(n.channel for n in sent if n.details.get("purchase_id") == code_of_sent) == ["email", "sms"]
    for notification in sent:
        text = notification.text
        assert "Kelas Resmi Nusantara" in text and '"Excel (Dasar) & Lanjutan, 3.5 jam"' in text
        assert "Rp1.000" in text and "http" not in text and "evil" not in text and "Lain Sekali" not in text


def test_a_cancel_after_revocation_returns_the_refund_to_the_programme(partner: PartnerClient, member: Member) -> None:
    purchase_id = requested(partner, member)
    assert confirm(partner, purchase_id, code_of(purchase_id)).status_code == 200
    held = members.find(member.applicant_id)
    assert held is not None
    assert revocations.revoke(held, MembershipReason.FRAUD, clock.now(), by="ops", overdue_only=False)
    cancelled = partner.post(f"/partners/purchases/{purchase_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json_body["refunded"] == PRICE
    found = members.find(member.applicant_id)
    assert found is not None and found.state.value == "REVOKED" and found.balance == 0
    assert found.totals.identity_holds() and found.totals.returned == settings().training_balance
    kinds = [kind for _, kind, _, _ in members.entries(member.applicant_id)]
    assert kinds.count(LedgerKind.REFUND) == 1 and kinds.count(LedgerKind.RETURN) == 2
    assert partner.post(f"/partners/purchases/{purchase_id}/cancel").json_body == cancelled.json_body
