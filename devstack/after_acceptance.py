"""The main job after publication: synthetic training partners sell trainings to the members over the signed
partner API, members consent with the code the outbox brings them, partners report completions, members review.
What each member does is its `MemberPlan` (devstack.population), reproducible from the run's seed.
"""

from __future__ import annotations

import datetime as dt
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
    access_token: str
    card_number: str
    wave: int
    balance: int  # granted at acceptance
    first_purchase_deadline: dt.datetime
    plan: MemberPlan
    purchases: dict[int, str] = field(default_factory=dict)  # training's place in the plan -> purchase id

    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


class Refused(RuntimeError):
    """A request the plan expected to succeed was refused."""

    def __init__(self, what: str, answer: requests.Response) -> None:
        super().__init__(f"{what} refused: {answer.status_code} {answer.text}")


def expect(what: str, answer: requests.Response, status: int) -> dict[str, Any]:
    if answer.status_code != status:
        raise Refused(what, answer)
    document: dict[str, Any] = answer.json()
    return document


class Market:
    """The partners and the members they sell to, over the local stack's API."""

    def __init__(self, stack: EmbeddedStack, http: requests.Session, outbox: OutboxFollower) -> None:
        self.stack = stack
        self.http = http
        self.outbox = outbox
        self.partners: list[PartnerClient] = []

    def sign_up_partners(self) -> None:
        """Each partner created by the operator's command, with its own secret."""
        self.partners = [
            PartnerClient(self.stack.api_url, partner_id, self.stack.partner_secret(partner_id, name), self.http)
            for partner_id, name in PARTNERS
        ]

    def buy(self, member: Member) -> None:
        """Every training of the member's plan, in order: requested by the partner, consented to with the code the
        member reads from the outbox, confirmed, and cancelled (refunded) where the plan says so."""
        partner = self.partners[member.plan.partner]
        for place, training in enumerate(member.plan.trainings):
            requested = expect(
                "purchase",
                partner.request_purchase(
                    member.card_number,
                    training.course_id,
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
        """The partner reports each training the member completes; the member reviews those the plan says."""
        partner = self.partners[member.plan.partner]
        for place, training in enumerate(member.plan.trainings):
            if not training.completed:
                continue
            purchase_id = member.purchases[place]
            # To the microsecond: a completion reported within the second of its confirmation, cut to the whole
            # second, would be dated before it and refused.
            completed_at = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
            certificate = f"CERT-{member.plan.partner}-{member.index}-{place}"
            expect("completion", partner.report_completion(purchase_id, completed_at, certificate), 200)
            if training.rating is not None:
                review: dict[str, Any] = {
                    "purchase_id": purchase_id,
                    "rating": training.rating,
                    "comment": _comment(training),
                }
                answer = self.http.post(
                    f"{self.stack.api_url}/applicants/{member.applicant_id}/reviews",
                    json=review,
                    headers=member.bearer(),
                    timeout=60,
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
