"""After acceptance: the membership, its training balance and ledger, and the purchases partners make with the
member's consent (DESIGN.md, "After acceptance").

The applicant's lifecycle ends at ACCEPTED (`functions.domain.lifecycle`); acceptance activates a membership with
a lifecycle of its own, and each purchase has one too. Each is one transition table here, applied by the store as
conditional writes from the event's source states, like the applicant's.

Money moves only as ledger entries, each with its own idempotent reference, written in the same transaction as the
balance it moves; for every member and in total: granted = balance + purchased - refunded + returned.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class MembershipState(StrEnum):
    ACTIVE = "ACTIVE"
    REVOKED = "REVOKED"
    COMPLETED = "COMPLETED"  # every incentive paid


class MembershipReason(StrEnum):
    NO_PURCHASE_IN_TIME = "NO_PURCHASE_IN_TIME"
    FRAUD = "FRAUD"  # an admin's revocation, with the admin's name and note


class MembershipEvent(StrEnum):
    ACTIVATE = "activate"  # on acceptance, with the balance granted
    REVOKE = "revoke"  # no first purchase in time, or an admin's revocation: the balance returns


@dataclass(frozen=True)
class Move:
    sources: frozenset[str]  # empty: the item does not exist yet
    target: str


MEMBERSHIP_TRANSITIONS: Mapping[MembershipEvent, Move] = {
    MembershipEvent.ACTIVATE: Move(frozenset(), MembershipState.ACTIVE),
    MembershipEvent.REVOKE: Move(frozenset({MembershipState.ACTIVE}), MembershipState.REVOKED),
}


class PurchaseStatus(StrEnum):
    AWAITING_CONFIRMATION = "AWAITING_CONFIRMATION"
    CONFIRMED = "CONFIRMED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


class PurchaseEvent(StrEnum):
    REQUEST = "request"  # a partner asks to debit the card; the member gets a code
    CONFIRM = "confirm"  # the partner gives the member's code: the balance is debited, a voucher issued
    CANCEL = "cancel"  # before completion; a confirmed purchase's price is refunded
    COMPLETE = "complete"  # the partner reports the certificate


PURCHASE_TRANSITIONS: Mapping[PurchaseEvent, Move] = {
    PurchaseEvent.REQUEST: Move(frozenset(), PurchaseStatus.AWAITING_CONFIRMATION),
    PurchaseEvent.CONFIRM: Move(frozenset({PurchaseStatus.AWAITING_CONFIRMATION}), PurchaseStatus.CONFIRMED),
    PurchaseEvent.CANCEL: Move(
        frozenset({PurchaseStatus.AWAITING_CONFIRMATION, PurchaseStatus.CONFIRMED}), PurchaseStatus.CANCELLED
    ),
    PurchaseEvent.COMPLETE: Move(frozenset({PurchaseStatus.CONFIRMED}), PurchaseStatus.COMPLETED),
}


class LedgerKind(StrEnum):
    GRANT = "GRANT"
    PURCHASE = "PURCHASE"
    REFUND = "REFUND"
    RETURN = "RETURN"
    INCENTIVE = "INCENTIVE"


# How each kind moves the training balance (incentives are paid out, not from the balance).
BALANCE_EFFECT: Mapping[LedgerKind, int] = {
    LedgerKind.GRANT: +1,
    LedgerKind.PURCHASE: -1,
    LedgerKind.REFUND: +1,
    LedgerKind.RETURN: -1,
    LedgerKind.INCENTIVE: 0,
}


def grant_ref() -> str:
    return "grant"


def purchase_ref(purchase_id: str) -> str:
    return f"purchase#{purchase_id}"


def refund_ref(purchase_id: str) -> str:
    return f"refund#{purchase_id}"


def return_ref() -> str:
    return "return"


@dataclass(frozen=True)
class LedgerTotals:
    """Sums of ledger entries by kind and the outstanding balance, for one member or the programme."""

    granted: int = 0
    balance: int = 0
    purchased: int = 0
    refunded: int = 0
    returned: int = 0

    def identity_holds(self) -> bool:
        """granted = balance + purchased - refunded + returned."""
        return self.granted == self.balance + self.purchased - self.refunded + self.returned

    def __add__(self, other: LedgerTotals) -> LedgerTotals:
        return LedgerTotals(
            self.granted + other.granted,
            self.balance + other.balance,
            self.purchased + other.purchased,
            self.refunded + other.refunded,
            self.returned + other.returned,
        )


@dataclass(frozen=True)
class MembershipTerms:
    """What acceptance grants (from settings): the training balance and the days to buy a first training."""

    balance: int
    first_purchase_days: int


def first_purchase_deadline(accepted_at: dt.datetime, days: int) -> dt.datetime:
    return accepted_at + dt.timedelta(days=days)


def revocation_sweep_due(published_at: dt.datetime, days: int, now: dt.datetime) -> bool:
    """Whether a wave's members are all past their first-purchase deadline: each was accepted before the wave
    was published, so by `published_at` + `days` every deadline has passed."""
    return now >= first_purchase_deadline(published_at, days)


@dataclass(frozen=True)
class Membership:
    """One member as stored: state, balance, the sums of its ledger entries, and its deadlines."""

    applicant_id: str
    card_number: str
    wave: int
    state: MembershipState
    reason: MembershipReason | None
    totals: LedgerTotals
    accepted_at: dt.datetime
    first_purchase_deadline: dt.datetime
    live_purchases: int = 0  # confirmed or completed, not cancelled: what keeps the membership from revocation
    first_purchase_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None
    revoked_by: str | None = None  # an admin's revocation: who, and the note given
    revoked_note: str | None = None

    @property
    def balance(self) -> int:
        return self.totals.balance

    def due_for_revocation(self, now: dt.datetime) -> bool:
        return self.state is MembershipState.ACTIVE and self.live_purchases == 0 and now >= self.first_purchase_deadline


@dataclass(frozen=True)
class Purchase:
    """One training bought by a partner for a member. The consent code only as a keyed hash."""

    purchase_id: str
    partner_id: str
    purchase_ref: str
    applicant_id: str
    course_id: str
    course_title: str
    price: int
    status: PurchaseStatus
    created_at: dt.datetime
    code_hash: str
    code_expires_at: dt.datetime
    code_tries: int = 0
    voucher_code: str | None = None
    balance_after: int | None = None
    confirmed_at: dt.datetime | None = None
    cancelled_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None
    certificate_id: str | None = None
    rating: int | None = None
    comment: str | None = None
    reviewed_at: dt.datetime | None = None
