"""The main job after publication: synthetic training partners list their courses and sell them to the members
over the signed partner API, members consent with the code the outbox brings them, partners report completions once
the course's minimum hours have passed on the programme's clock, members review. Members whose access token has
expired (30 programme days) sign in again with the code their email brings. What each member does is its
`MemberPlan` (devstack.population), reproducible from the run's seed.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import Any

import requests

from devstack.outbox import OutboxFollower
from devstack.partners import PartnerClient
from devstack.population import MemberPlan, Training
from devstack.stack import EmbeddedStack
from functions.domain.lifecycle import FunnelStage

# Three kinds of platform that sold trainings in 2020: a marketplace, a course site, a school (synthetic names).
PARTNERS = (
    ("pasar-kursus", "Pasar Kursus"),
    ("belajar-kerja", "Belajar Kerja"),
    ("sekolah-vokasi", "Sekolah Vokasi Digital"),
)


@dataclass
class Member:
    """An accepted applicant the job acts for: who it is, its card, and what it does with it."""

    index: int  # its place in the synthetic population
    applicant_id: str
    card_number: str
    wave: int
    balance: int  # granted at acceptance
    first_purchase_deadline: dt.datetime
    plan: MemberPlan
    purchases: dict[int, str] = field(default_factory=dict)  # training's place in the plan -> purchase id


class Refused(RuntimeError):
    """A request the plan expected to succeed was refused."""

    def __init__(self, what: str, answer: requests.Response) -> None:
        super().__init__(f"{what} refused: {answer.status_code} {answer.text}")


def expect(what: str, answer: requests.Response, status: int) -> dict[str, Any]:
    if answer.status_code != status:
        raise Refused(what, answer)
    document: dict[str, Any] = answer.json()
    return document


class Tokens:
    """The applicants' access tokens, as each keeps its own: a request its token no longer opens (401: 30 programme
    days after it was issued) signs in again with the code its email brings, and is made once more with the new one."""

    def __init__(self, stack: EmbeddedStack, http: requests.Session, outbox: OutboxFollower) -> None:
        self.stack = stack
        self.http = http
        self.outbox = outbox
        self.tokens: dict[str, str] = {}
        self.emails: dict[str, str] = {}
        self._lock = threading.Lock()

    def keep(self, applicant_id: str, access_token: str, email: str) -> None:
        with self._lock:
            self.tokens[applicant_id], self.emails[applicant_id] = access_token, email

    def request(self, applicant_id: str, method: str, path: str, **kwargs: Any) -> requests.Response:
        """`method path` as the applicant, with its token."""
        answer = self._send(applicant_id, method, path, **kwargs)
        if answer.status_code != 401:
            return answer
        self.sign_in_again(applicant_id)
        return self._send(applicant_id, method, path, **kwargs)

    def _send(self, applicant_id: str, method: str, path: str, **kwargs: Any) -> requests.Response:
        bearer = {"Authorization": f"Bearer {self.tokens[applicant_id]}"}
        return self.http.request(method, f"{self.stack.api_url}{path}", headers=bearer, timeout=60, **kwargs)

    def sign_in_again(self, applicant_id: str) -> None:
        """`POST /sign-ins` with the applicant's verified email, then the code that email brings to
        `POST /sign-ins/confirm`: the new token is kept."""
        email = self.emails[applicant_id]
        before = len([m for m in self.outbox.messages("sign_in_code") if m.get("applicant_id") == applicant_id])
        expect("sign-in", self.http.post(f"{self.stack.api_url}/sign-ins", json={"email": email}, timeout=60), 202)
        message = self.outbox.wait_for_messages("sign_in_code", before + 1, 600, applicant_id=applicant_id)[-1]
        confirmed = self.http.post(
            f"{self.stack.api_url}/sign-ins/confirm", json={"email": email, "code": message["code"]}, timeout=60
        )
        self.keep(applicant_id, expect("sign-in confirmation", confirmed, 200)["access_token"], email)


class Market:
    """The partners and the members they sell to, over the local stack's API."""

    def __init__(self, stack: EmbeddedStack, http: requests.Session, outbox: OutboxFollower, tokens: Tokens) -> None:
        self.stack = stack
        self.http = http
        self.outbox = outbox
        self.tokens = tokens
        self.partners: list[PartnerClient] = []
        self.listed: set[tuple[int, str]] = set()  # (partner, course id) in a partner's catalogue
        self._lock = threading.Lock()

    def sign_up_partners(self) -> None:
        """Each partner created by the operator's command, with its own secret, signing on the programme's clock."""
        self.partners = [
            PartnerClient(
                self.stack.api_url,
                partner_id,
                self.stack.partner_secret(partner_id, name),
                self.http,
                now=self.stack.programme_seconds,
            )
            for partner_id, name in PARTNERS
        ]

    def list_courses(self, members: list[Member]) -> None:
        """Each partner lists the courses these members' plans buy from it that its catalogue lacks (title, price,
        minimum hours): a partner sells only what its catalogue lists, at the listed price."""
        wanted = {(m.plan.partner, t.listing_id): t for m in members for t in m.plan.trainings}
        with self._lock:
            new = {key: training for key, training in wanted.items() if key not in self.listed}
            self.listed |= set(new)
        for (partner, listing_id), training in sorted(new.items()):
            listed = self.partners[partner].list_course(
                listing_id, training.course_title, training.price, training.minimum_hours
            )
            expect("course listing", listed, 200)

    def buy(self, member: Member) -> None:
        """Every training of the member's plan, in order: requested by the partner, consented to with the code the
        member reads from the outbox, confirmed, and cancelled (refunded) where the plan says so."""
        partner = self.partners[member.plan.partner]
        for place, training in enumerate(member.plan.trainings):
            requested = expect(
                "purchase",
                partner.request_purchase(
                    member.card_number,
                    training.listing_id,
                    training.course_title,
                    training.price,
                    purchase_ref=f"member-{member.index}-{place}",
                ),
                201,
            )
            purchase_id = requested["purchase_id"]
            code = self.outbox.wait_for_purchase_code(purchase_id)
            expect("confirmation", partner.confirm(purchase_id, code), 200)
            member.purchases[place] = purchase_id
            if training.cancelled:
                expect("cancellation", partner.cancel(purchase_id), 200)

    def finish(self, member: Member) -> None:
        """The partner reports each training the member completes, dated now on the programme's clock (which has
        moved past its minimum hours since it was bought); the member reviews those the plan says."""
        partner = self.partners[member.plan.partner]
        for place, training in enumerate(member.plan.trainings):
            if not training.completed:
                continue
            purchase_id = member.purchases[place]
            completed_at = self.stack.programme_now().isoformat().replace("+00:00", "Z")
            certificate = f"CERT-{member.plan.partner}-{member.index}-{place}"
            expect("completion", partner.report_completion(purchase_id, completed_at, certificate), 200)
            if training.rating is not None:
                review: dict[str, Any] = {
                    "purchase_id": purchase_id,
                    "rating": training.rating,
                    "comment": _comment(training),
                }
                answer = self.tokens.request(
                    member.applicant_id, "POST", f"/applicants/{member.applicant_id}/reviews", json=review
                )
                expect("review", answer, 201)


def _comment(training: Training) -> str:
    return "Sangat bermanfaat." if (training.rating or 0) >= 4 else "Materinya perlu diperbarui."


def expected_after_acceptance(
    members: list[Member], swept: list[Member], admin_revoked: Member | None
) -> dict[str, int]:
    """What the members' plans imply for the funnel's stages after acceptance: `swept` are those the daily
    revocation revoked (past the deadline holding no training), and one an admin revoked."""
    return {
        FunnelStage.ACTIVATED.value: len(members),
        FunnelStage.PURCHASED.value: sum(m.plan.purchased for m in members),
        FunnelStage.COMPLETED.value: sum(m.plan.completed for m in members),
        FunnelStage.REVIEWED.value: sum(m.plan.reviewed for m in members),
        FunnelStage.REVOKED.value: len(swept) + (admin_revoked is not None),
    }


# The ledger kinds the training balance moves (incentives are the next issue's).
LEDGER_KINDS = ("GRANT", "PURCHASE", "REFUND", "RETURN")


def ledger_totals(ledger: dict[str, Any]) -> dict[str, int]:
    """The total of each kind of entry as `GET /admin/ledger` gives them: an amount, or a count and an amount."""
    totals: dict[str, Any] = ledger.get("totals", {})
    return {
        kind: int(total["amount"] if isinstance(total, dict) else total)
        for kind, total in totals.items()
        if kind in LEDGER_KINDS
    }


def expected_ledger(members: list[Member], revoked: list[Member]) -> dict[str, int]:
    """The programme's ledger totals the plans imply: every member granted its balance, every training confirmed
    (purchased), the cancelled ones refunded, and what the revoked had left returned."""
    trainings = [t for m in members for t in m.plan.trainings]
    return {
        "GRANT": sum(m.balance for m in members),
        "PURCHASE": sum(t.price for t in trainings),
        "REFUND": sum(t.price for t in trainings if t.cancelled),
        "RETURN": sum(m.balance - m.plan.spent() for m in revoked),
    }
