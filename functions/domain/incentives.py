"""Incentives paid only when earned (DESIGN.md, "After acceptance"): the member's payout account, each incentive's
payment and its states, and when the next one falls due.

A payout account is checked by the payment provider's account inquiry before anything is paid into it
(`functions.domain.payments.account_check`). Each incentive is one payment whose id is fixed by the member and the
incentive's number, and that id is the provider's idempotency key: whatever is retried, a member is paid at most
once per incentive. Before each payment the member is screened again; one who fails is HELD with the reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from functions.domain.membership import MembershipState, Move
from functions.domain.payments import AccountRejection


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
    earned: Earned, settled: Sequence[tuple[int, dt.datetime]], rules: IncentiveRules
) -> tuple[int, dt.datetime] | None:
    """The next incentive (its number and when it falls due), given the ones already settled (number, when they
    fell due) in order; None when all are settled or the first is not earned yet. The first falls due once the
    first training is completed and reviewed and a payout account verified; each next one `interval` after the
    previous one fell due."""
    if len(settled) >= rules.count:
        return None
    if not settled:
        if earned.first_reviewed_completion_at is None or earned.account_verified_at is None:
            return None
        return 1, max(earned.first_reviewed_completion_at, earned.account_verified_at)
    number, previous_due = settled[-1]
    return number + 1, previous_due + rules.interval


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
class PayoutAccount:
    """A member's payout account as stored: the number only sealed (and its last 4 digits), the provider's verdict,
    and the id of the inquiry queued for it (a verdict counts only for the account as it is now)."""

    provider: str
    sealed_number: str
    last4: str
    status: PayoutAccountStatus
    reason: AccountRejection | None
    check_id: str
    verified_at: dt.datetime | None


@dataclass(frozen=True)
class MemberPayout:
    """What a change of payout account depends on: the membership's state, the account, the payment in flight."""

    applicant_id: str
    state: MembershipState
    account: PayoutAccount | None
    payment_in_flight: str | None
