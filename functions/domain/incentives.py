"""Incentives paid only when earned (docs/architecture.md, "After acceptance"): the member's payout account, each
incentive's payment and its states, and when the next one falls due.

A payout account is checked by the payment provider's account inquiry before anything is paid into it
(`functions.domain.payments.account_check`). Each incentive is one payment whose id is fixed by the member and the
incentive's number, and that id is the provider's idempotency key: whatever is retried, a member is paid at most
once per incentive. Before each payment the member is screened again; one who fails is HELD with the reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from functions.domain.calendar import JAKARTA
from functions.domain.eligibility import (
    DeclaredPerson,
    EligibilityRules,
    IneligibleReason,
    RegistryPerson,
    verify_and_decide,
)
from functions.domain.email_code import IssuedCode
from functions.domain.lifecycle import Status
from functions.domain.membership import MembershipState, Move
from functions.domain.payments import AccountRejection, StatementLine


class PayoutAccountStatus(StrEnum):
    PENDING = "PENDING"  # the provider's inquiry is queued
    VERIFIED = "VERIFIED"
    REJECTED = "REJECTED"  # with an `AccountRejection`


class PaymentStatus(StrEnum):
    QUEUED = "QUEUED"
    SENT = "SENT"  # handed to the provider; its outcome is asked by the payment id before anything is sent again
    PAID = "PAID"
    FAILED = "FAILED"  # the provider's reason; tried again after the member changes the account
    HELD = "HELD"  # the screening before payment failed (now barred, no longer found, ...): not paid, told why


class PaymentEvent(StrEnum):
    QUEUE = "queue"
    HOLD = "hold"
    SEND = "send"
    PAY = "pay"
    FAIL = "fail"
    REQUEUE = "requeue"  # a failed payment after the member changed the account


PAYMENT_TRANSITIONS: Mapping[PaymentEvent, Move] = {
    PaymentEvent.QUEUE: Move(frozenset(), PaymentStatus.QUEUED),
    PaymentEvent.HOLD: Move(frozenset(), PaymentStatus.HELD),
    PaymentEvent.SEND: Move(frozenset({PaymentStatus.QUEUED}), PaymentStatus.SENT),
    PaymentEvent.PAY: Move(frozenset({PaymentStatus.SENT}), PaymentStatus.PAID),
    PaymentEvent.FAIL: Move(frozenset({PaymentStatus.SENT}), PaymentStatus.FAILED),
    PaymentEvent.REQUEUE: Move(frozenset({PaymentStatus.FAILED}), PaymentStatus.QUEUED),
}

# A payment between these is in flight: the member's payout account cannot change under it.
IN_FLIGHT = frozenset({PaymentStatus.QUEUED, PaymentStatus.SENT})

# Why a payment FAILED without a transfer: the member's account is no longer the verified one it was queued for.
ACCOUNT_CHANGED = "ACCOUNT_CHANGED"


def payment_id(applicant_id: str, number: int) -> str:
    """Fixed by the member and the incentive's number: the provider's idempotency key."""
    return f"{applicant_id}-incentive-{number}"


@dataclass(frozen=True)
class IncentiveRules:
    amount: int
    count: int
    interval: dt.timedelta


@dataclass(frozen=True)
class Earned:
    """What the member has done that incentives depend on."""

    first_reviewed_completion_at: dt.datetime | None  # the first training completed and reviewed (the later of both)
    account_verified_at: dt.datetime | None


def next_due(
    earned: Earned, settled: int, last_due_at: dt.datetime | None, rules: IncentiveRules
) -> tuple[int, dt.datetime] | None:
    """The next incentive (its number and when it falls due), given how many are settled (paid) and when the last
    of them fell due; None when all are settled or the first is not earned yet. The first falls due once the first
    training is completed and reviewed and a payout account verified; each next one `interval` after the previous
    one fell due."""
    if settled >= rules.count:
        return None
    if settled == 0 or last_due_at is None:
        if earned.first_reviewed_completion_at is None or earned.account_verified_at is None:
            return None
        return 1, max(earned.first_reviewed_completion_at, earned.account_verified_at)
    return settled + 1, last_due_at + rules.interval


# --- the payout account -------------------------------------------------------------------------------------------


class PayoutAccountEvent(StrEnum):
    LINK = "link"  # the member's first account
    CHANGE = "change"  # another account, whatever the last one's verdict: checked afresh
    VERIFY = "verify"  # the provider's inquiry agrees with the member
    REJECT = "reject"  # it does not (an `AccountRejection`)


PAYOUT_ACCOUNT_TRANSITIONS: Mapping[PayoutAccountEvent, Move] = {
    PayoutAccountEvent.LINK: Move(frozenset(), PayoutAccountStatus.PENDING),
    PayoutAccountEvent.CHANGE: Move(frozenset(PayoutAccountStatus), PayoutAccountStatus.PENDING),
    PayoutAccountEvent.VERIFY: Move(frozenset({PayoutAccountStatus.PENDING}), PayoutAccountStatus.VERIFIED),
    PayoutAccountEvent.REJECT: Move(frozenset({PayoutAccountStatus.PENDING}), PayoutAccountStatus.REJECTED),
}


@dataclass(frozen=True)
class PinnedAccount:
    """The verified payout account a payment is for: the account check's id, and a keyed hash of the provider and
    number (what reconciliation compares the provider's statement with, without opening any account number)."""

    check_id: str
    account_hash: str


@dataclass(frozen=True)
class PayoutAccount:
    """A member's payout account as stored: the number only sealed (and its last 4 digits, and its keyed hash), the
    provider's verdict, and the id of the inquiry queued for it (a verdict counts only for the account as it is
    now)."""

    provider: str
    sealed_number: str
    last4: str
    status: PayoutAccountStatus
    reason: AccountRejection | None
    check_id: str
    verified_at: dt.datetime | None
    account_hash: str = ""

    @property
    def pinned(self) -> PinnedAccount | None:
        """The account as a payment may be pinned to it: only once the provider verified it."""
        if self.status is not PayoutAccountStatus.VERIFIED:
            return None
        return PinnedAccount(self.check_id, self.account_hash)


def still_pinned(pinned: PinnedAccount | None, account: PayoutAccount | None) -> bool:
    """Whether a payment pinned to `pinned` may be sent to the member's `account` as it is now: only while it is
    still that account and still verified (a payment without a pin goes nowhere); otherwise it fails with
    ACCOUNT_CHANGED."""
    return pinned is not None and account is not None and account.pinned == pinned


@dataclass(frozen=True)
class MemberPayout:
    """What a change of payout account depends on: the membership's state, the account, the payment in flight,
    and the one-time code the member asked for to change it (with the tries counted against it)."""

    applicant_id: str
    state: MembershipState
    account: PayoutAccount | None
    payment_in_flight: str | None
    code: IssuedCode | None = None
    code_tries: int = 0


@dataclass(frozen=True)
class IncentiveStanding:
    """A member as the incentive schedule sees it."""

    applicant_id: str
    state: MembershipState
    earned: Earned
    settled: int
    last_due_at: dt.datetime | None
    payment_in_flight: str | None
    account: PinnedAccount | None = None  # the verified payout account, as read with the rest

    def due(self, now: dt.datetime, rules: IncentiveRules) -> tuple[int, dt.datetime] | None:
        """The incentive due by `now`, if any: only an active member with no payment in flight is paid."""
        if self.state is not MembershipState.ACTIVE or self.payment_in_flight is not None:
            return None
        found = next_due(self.earned, self.settled, self.last_due_at, rules)
        return found if found is not None and found[1] <= now else None


def first_reviewed_completion(completed_at: dt.datetime | None, reviewed_at: dt.datetime | None) -> dt.datetime | None:
    """When the first training counts for the first incentive: completed and reviewed, so the later of both."""
    if completed_at is None or reviewed_at is None:
        return None
    return max(completed_at, reviewed_at)


# Age is judged once, when eligibility is decided (`domain.eligibility`): a member who turns 65 while being paid is
# still owed the incentives of the training done.
_NOT_HELD_FOR = frozenset({IneligibleReason.AGE.value})


def screening(
    declared: DeclaredPerson,
    registered: RegistryPerson | None,
    employment_status: str,
    today: dt.date,
    rules: EligibilityRules,
) -> str | None:
    """The member screened again before a payment, by the NIK check's own decision: None when it may be paid,
    else why the payment is HELD (no longer found or no longer matching the registry, now barred, now a student,
    flagged as a past recipient)."""
    decision = verify_and_decide(declared, registered, employment_status, today, rules)
    if decision.status is Status.ELIGIBLE or decision.reason in _NOT_HELD_FOR:
        return None
    return decision.reason or decision.status.value


@dataclass(frozen=True)
class Payment:
    payment_id: str
    applicant_id: str
    number: int
    amount: int
    status: PaymentStatus
    due_at: dt.datetime
    attempt: int = 1  # the first try, then one more each time a FAILED payment is queued again
    reason: str | None = None
    queued_at: dt.datetime | None = None
    sent_at: dt.datetime | None = None
    paid_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    account: PinnedAccount | None = None  # the verified account it is for; a transfer goes only there


def paid_day(moment: dt.datetime) -> str:
    """The WIB date a payment was made on (YYYY-MM-DD): the day the reconciliation compares it in."""
    return moment.astimezone(JAKARTA).date().isoformat()


def wib_day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The start of `day` in Jakarta and of the next, in UTC: the provider's statement for that day."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=JAKARTA)
    return start.astimezone(dt.UTC), (start + dt.timedelta(days=1)).astimezone(dt.UTC)


class DifferenceKind(StrEnum):
    PAID_THERE_NOT_HERE = "PAID_THERE_NOT_HERE"  # the provider paid it; we have no PAID payment for it that day
    PAID_HERE_NOT_THERE = "PAID_HERE_NOT_THERE"  # we hold it PAID; the provider's statement has no such payment
    AMOUNT_DIFFERS = "AMOUNT_DIFFERS"
    ACCOUNT_DIFFERS = "ACCOUNT_DIFFERS"  # the provider paid another account than the verified one we pinned


@dataclass(frozen=True)
class PaidLine:
    """What was paid for one payment id: the amount, and the keyed hash of the account it went to."""

    amount: int
    account_hash: str


@dataclass(frozen=True)
class Difference:
    payment_id: str
    kind: DifferenceKind
    ours: int | None  # the amounts, in rupiah
    theirs: int | None


def reconcile(
    statement: Iterable[StatementLine], ours: Mapping[str, PaidLine], account_hash: Callable[[StatementLine], str]
) -> list[Difference]:
    """Every difference between the provider's statement for a day and our PAID payments of that day, by payment
    id (the idempotency key): paid on one side only, another amount, or another account than the one pinned
    (`account_hash` hashes a statement line's provider and number as our pins are hashed)."""
    theirs: dict[str, int] = {}
    accounts: dict[str, set[str]] = {}
    for line in statement:
        theirs[line.idempotency_key] = theirs.get(line.idempotency_key, 0) + line.amount
        accounts.setdefault(line.idempotency_key, set()).add(account_hash(line))
    found = []
    for key in sorted(set(theirs) | set(ours)):
        if key not in ours:
            found.append(Difference(key, DifferenceKind.PAID_THERE_NOT_HERE, None, theirs[key]))
        elif key not in theirs:
            found.append(Difference(key, DifferenceKind.PAID_HERE_NOT_THERE, ours[key].amount, None))
        elif ours[key].amount != theirs[key]:
            found.append(Difference(key, DifferenceKind.AMOUNT_DIFFERS, ours[key].amount, theirs[key]))
        elif accounts[key] != {ours[key].account_hash}:
            found.append(Difference(key, DifferenceKind.ACCOUNT_DIFFERS, ours[key].amount, theirs[key]))
    return found
