"""After acceptance: the membership, its training balance and ledger, and the purchases partners make with the
member's consent (docs/architecture.md, "After acceptance").

The applicant's lifecycle ends at ACCEPTED (`functions.domain.lifecycle`); acceptance activates a membership with
a lifecycle of its own, and each purchase has one too. Each is one transition table here, applied by the store as
conditional writes from the event's source states, like the applicant's.

Money moves only as ledger entries, each with its own idempotent reference, written in the same transaction as the
balance it moves; for every member and in total: granted = balance + purchased - refunded + returned.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from functions.domain import rules
from functions.domain.email_code import CodePolicy
from functions.domain.errors import Conflict, ErrorCode, InvalidField
from functions.domain.identity import FieldProblem


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
    COMPLETE = "complete"  # the last incentive paid


@dataclass(frozen=True)
class Move:
    sources: frozenset[str]  # empty: the item does not exist yet
    target: str


MEMBERSHIP_TRANSITIONS: Mapping[MembershipEvent, Move] = {
    MembershipEvent.ACTIVATE: Move(frozenset(), MembershipState.ACTIVE),
    MembershipEvent.REVOKE: Move(frozenset({MembershipState.ACTIVE}), MembershipState.REVOKED),
    MembershipEvent.COMPLETE: Move(frozenset({MembershipState.ACTIVE}), MembershipState.COMPLETED),
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


def incentive_ref(number: int) -> str:
    """The INCENTIVE ledger entry's reference: one per incentive number."""
    return f"incentive#{number}"


def refund_ref(purchase_id: str) -> str:
    return f"refund#{purchase_id}"


def return_ref() -> str:
    return "return"


def refund_return_ref(purchase_id: str) -> str:
    """A refund to a revoked member, returned to the programme with it."""
    return f"return#{purchase_id}"


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
    first_completed_at: dt.datetime | None = None
    first_reviewed_at: dt.datetime | None = None
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
    minimum_hours: int = 0  # the course's, as listed when bought
    code_tries: int = 0
    code_sealed: str | None = None  # the code sealed to its purchase until it is sent (opaque here)
    code_sent_at: dt.datetime | None = None
    voucher_code: str | None = None
    balance_after: int | None = None
    confirmed_at: dt.datetime | None = None
    cancelled_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None
    certificate_id: str | None = None
    rating: int | None = None
    comment: str | None = None
    reviewed_at: dt.datetime | None = None


@dataclass(frozen=True)
class Course:
    """One course of a partner's catalogue: what a purchase names, at its listed price."""

    partner_id: str
    course_id: str
    title: str
    price: int
    minimum_hours: int
    updated_at: dt.datetime


# --- what partners and members send -------------------------------------------------------------------------------

CARD_NUMBER_SHAPE = re.compile(r"[0-9]{16}")
# A partner's own references (its purchase reference, course id, certificate id): printable, no separators of ours.
PARTNER_REFERENCE_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/\-]{0,127}")
COURSE_TITLE_MAX_LENGTH = 200
RATINGS = range(1, 6)


def _whole_number(value: Any, field: str) -> int:
    # JSON true is a Python int and 1.0 compares equal to 1: neither is a whole number of rupiah or stars.
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldProblem(ErrorCode.WRONG_TYPE, f"{field} must be a whole number")
    return value


def valid_price(value: Any) -> int:
    """A price in whole rupiah, above zero."""
    if _whole_number(value, "price") <= 0:
        raise FieldProblem(ErrorCode.INVALID_PRICE, "price must be a whole number of rupiah above zero")
    return int(value)


def valid_rating(value: Any) -> int:
    if _whole_number(value, "rating") not in RATINGS:
        raise FieldProblem(
            ErrorCode.INVALID_RATING, f"rating must be a whole number from {RATINGS[0]} to {RATINGS[-1]}"
        )
    return int(value)


def valid_card_number(value: str) -> str:
    if not CARD_NUMBER_SHAPE.fullmatch(value):
        raise FieldProblem(ErrorCode.INVALID_CARD_NUMBER, "card_number must be 16 digits")
    return value


def partner_reference(field: str) -> Callable[[str], str]:
    """The check of one of a partner's own references, naming `field`."""

    def check(value: str) -> str:
        if not PARTNER_REFERENCE_SHAPE.fullmatch(value):
            raise FieldProblem(ErrorCode.INVALID_REFERENCE, f"{field} must be 1 to 128 letters, digits or _.:/-")
        return value

    return check


# A course id is part of the catalogue's path: no slash.
COURSE_ID_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")
# What an official message shows of a partner's title: letters, digits, spaces and basic punctuation, nothing that
# makes a link. A dot between a letter or digit and a letter is how a web address is written (phones turn
# `evil.example` into a link), so it is not kept; `3.5` is.
_NOT_PLAIN = re.compile(r"[^\w\s.,'()&-]|_")
_ADDRESS_DOT = re.compile(r"(?<=[^\W_])\.(?=[^\W\d_])")


def valid_course_id(value: str) -> str:
    if not COURSE_ID_SHAPE.fullmatch(value):
        raise FieldProblem(ErrorCode.INVALID_COURSE_ID, "course_id must be 1 to 128 letters, digits or _.-")
    return value


def plain_title(title: str) -> str:
    """A partner's title as an official message may show it: only letters, digits, spaces and basic punctuation."""
    return " ".join(_ADDRESS_DOT.sub(" ", _NOT_PLAIN.sub(" ", title)).split())


def valid_course_title(value: str) -> str:
    """A catalogue title: 1 to 200 characters, already plain (a title with a link or other marks is refused
    rather than shown altered)."""
    title = " ".join(value.split())
    if not title or len(title) > COURSE_TITLE_MAX_LENGTH:
        raise FieldProblem(ErrorCode.INVALID_COURSE_TITLE, f"title must be 1 to {COURSE_TITLE_MAX_LENGTH} characters")
    if plain_title(title) != title:
        raise FieldProblem(
            ErrorCode.INVALID_COURSE_TITLE,
            "title may hold only letters, digits, spaces and . , ' ( ) & - and no web address",
        )
    return title


def valid_minimum_hours(value: Any) -> int:
    hours = _whole_number(value, "minimum_hours")
    if not 1 <= hours <= rules.COURSE_MINIMUM_HOURS_MAX:
        raise FieldProblem(
            ErrorCode.INVALID_MINIMUM_HOURS,
            f"minimum_hours must be a whole number from 1 to {rules.COURSE_MINIMUM_HOURS_MAX}",
        )
    return hours


def check_listed_price(price: int, training_balance: int) -> None:
    """A catalogue price is within what a card is granted: no member could buy a dearer course."""
    if price > training_balance:
        raise InvalidField(ErrorCode.PRICE_ABOVE_BALANCE, f"price must be at most {training_balance} rupiah", "price")


def valid_instant(value: Any) -> dt.datetime:
    """An ISO 8601 date and time with its offset (a time without one names no instant)."""
    if not isinstance(value, str):
        raise FieldProblem(ErrorCode.WRONG_TYPE, "completed_at must be a string")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise FieldProblem(ErrorCode.INVALID_DATETIME, "completed_at must be an ISO 8601 date and time") from None
    if parsed.tzinfo is None:
        raise FieldProblem(ErrorCode.INVALID_DATETIME, "completed_at must give its UTC offset")
    return parsed.astimezone(dt.UTC)


def check_completion_time(
    completed_at: dt.datetime, confirmed_at: dt.datetime, minimum_hours: int, now: dt.datetime
) -> None:
    """A training is completed after its purchase was confirmed, not in the future, and not before the course's
    minimum hours have passed since the confirmation (2020's audits found certificates dated before the training
    was bought, and incentives unlocked by trainings nobody could have taken). `completed_at` is not after `now`,
    so the server's clock has passed the minimum hours too."""
    if completed_at > now:
        raise InvalidField(ErrorCode.INVALID_COMPLETED_AT, "completed_at is in the future", "completed_at")
    # Partners send whole seconds: a completion in the second of the confirmation is not before it.
    if completed_at < confirmed_at.replace(microsecond=0):
        raise InvalidField(
            ErrorCode.INVALID_COMPLETED_AT, "completed_at is before the purchase was confirmed", "completed_at"
        )
    earliest = (confirmed_at + dt.timedelta(hours=minimum_hours)).replace(microsecond=0)
    if completed_at < earliest:
        raise Conflict(
            ErrorCode.TOO_EARLY,
            f"this course takes at least {minimum_hours} hours: it can be completed from {earliest.isoformat()}",
            "completed_at",
        )


def check_comment(comment: str, max_length: int) -> None:
    if len(comment) > max_length:
        raise InvalidField(ErrorCode.COMMENT_TOO_LONG, f"comment must be at most {max_length} characters", "comment")


def new_voucher_code() -> str:
    """80 random bits (the operating system's CSPRNG) in base32: unguessable; uniqueness is the store's guard."""
    return base64.b32encode(secrets.token_bytes(10)).decode()


def single_use_code_policy(ttl_seconds: int, max_wrong_tries: int) -> CodePolicy:
    """A purchase code's or a payout-account code's life and tries, judged like an email code's
    (`email_code.judge`); it is never resent (a new one is asked for instead)."""
    return CodePolicy(
        ttl=dt.timedelta(seconds=ttl_seconds),
        max_wrong_tries=max_wrong_tries,
        resend_interval=dt.timedelta(0),
        resends_per_day=0,
    )
