"""Members' payout accounts: a change (the number sealed, a new check id, refused while a payment is in flight) and
the provider's verdict on it, each one conditional write of the member from the states of
`PAYOUT_ACCOUNT_TRANSITIONS`.

A change gives the account a new check id; a verdict is written only for the check id the account still has, so
when two changes race their checks, the last change's verdict is the one that stands.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any

from pynamodb.exceptions import DoesNotExist
from pynamodb.transactions import TransactWrite

from functions.domain.email_code import IssuedCode
from functions.domain.incentives import (
    PAYOUT_ACCOUNT_TRANSITIONS,
    MemberPayout,
    PayoutAccount,
    PayoutAccountEvent,
    PayoutAccountStatus,
)
from functions.domain.lifecycle import FunnelStage
from functions.domain.membership import MembershipState
from functions.domain.payments import AccountRejection
from functions.store import funnel
from functions.store.models import MemberRecord, bind
from functions.store.transactions import committed, transact, update_if

# Only a membership of this state may change its account: a revoked one is paid nothing, a completed one is paid.
CHANGES_IN = MembershipState.ACTIVE
# A change that fails for none of the reasons below met a concurrent change; a few tries settle it.
_ATTEMPTS = 3


class Changed(Enum):
    DONE = "done"
    NOT_A_MEMBER = "not a member"
    NOT_ACTIVE = "membership not active"
    PAYMENT_IN_FLIGHT = "a payment is in flight"
    CODE_USED = "the code was used or replaced"


def account_of(record: MemberRecord) -> PayoutAccount | None:
    if record.payout_status is None:
        return None
    return PayoutAccount(
        provider=record.payout_provider or "",
        sealed_number=record.payout_account_sealed or "",
        last4=record.payout_account_last4 or "",
        status=PayoutAccountStatus(record.payout_status),
        reason=AccountRejection(record.payout_reason) if record.payout_reason else None,
        check_id=record.payout_check_id or "",
        verified_at=record.payout_verified_at,
        account_hash=record.payout_account_hash or "",
    )


def _code(record: MemberRecord) -> IssuedCode | None:
    if not record.payout_code_id or record.payout_code_issued_at is None or record.payout_code_expires_at is None:
        return None
    return IssuedCode(
        code_id=record.payout_code_id,
        code_hash=record.payout_code_hash or "",
        issued_at=record.payout_code_issued_at,
        expires_at=record.payout_code_expires_at,
        sealed=record.payout_code_sealed,
        sent_at=record.payout_code_sent_at,
    )


def find(applicant_id: str) -> MemberPayout | None:
    """The member's payout account and what a change depends on; None for an applicant that is no member."""
    bind()
    try:
        record = MemberRecord.get(applicant_id, consistent_read=True)
    except DoesNotExist:
        return None
    return MemberPayout(
        applicant_id=record.applicant_id,
        state=MembershipState(record.state),
        account=account_of(record),
        payment_in_flight=record.payment_in_flight,
        code=_code(record),
        code_tries=int(record.payout_code_tries or 0),
    )


# --- the one-time code a change needs -----------------------------------------------------------------------------

_CODE_ATTRIBUTES = (
    MemberRecord.payout_code_id,
    MemberRecord.payout_code_hash,
    MemberRecord.payout_code_sealed,
    MemberRecord.payout_code_issued_at,
    MemberRecord.payout_code_expires_at,
    MemberRecord.payout_code_sent_at,
    MemberRecord.payout_code_tries,
)


def issue_code(applicant_id: str, code: IssuedCode) -> bool:
    """The member's new code for changing its account, replacing any earlier one (its tries start again at 0);
    False unless the membership is ACTIVE."""
    if code.sealed is None:
        raise ValueError("a new code is kept sealed until it is sent")
    actions: list[Any] = [
        MemberRecord.payout_code_id.set(code.code_id),
        MemberRecord.payout_code_hash.set(code.code_hash),
        MemberRecord.payout_code_sealed.set(code.sealed),
        MemberRecord.payout_code_issued_at.set(code.issued_at),
        MemberRecord.payout_code_expires_at.set(code.expires_at),
        MemberRecord.payout_code_sent_at.remove(),
        MemberRecord.payout_code_tries.set(0),
    ]
    condition = MemberRecord.applicant_id.exists() & (MemberRecord.state == CHANGES_IN.value)
    return update_if(MemberRecord(applicant_id=applicant_id), actions, condition)


def mark_code_sent(applicant_id: str, code_id: str, now: dt.datetime) -> bool:
    """Takes the one sending of that code while it is the member's current one and unsent: the sealed code is
    dropped. False when another delivery took it, or a newer code replaced it."""
    return update_if(
        MemberRecord(applicant_id=applicant_id),
        [MemberRecord.payout_code_sent_at.set(now), MemberRecord.payout_code_sealed.remove()],
        (MemberRecord.payout_code_id == code_id) & MemberRecord.payout_code_sent_at.does_not_exist(),
    )


def unmark_code_sent(applicant_id: str, code_id: str, sealed: str, marked_at: dt.datetime) -> None:
    """The delivery failed: the code is unsent again (sealed as before), for the message's next delivery."""
    update_if(
        MemberRecord(applicant_id=applicant_id),
        [MemberRecord.payout_code_sealed.set(sealed), MemberRecord.payout_code_sent_at.remove()],
        (MemberRecord.payout_code_id == code_id) & (MemberRecord.payout_code_sent_at == marked_at),
    )


def count_code_try(applicant_id: str, code_id: str) -> int | None:
    """Counts one try at the member's code before it is compared, atomically: the count including this try (None
    once that code is no longer the member's: used, or replaced)."""
    record = MemberRecord(applicant_id=applicant_id)
    if not update_if(record, [MemberRecord.payout_code_tries.add(1)], MemberRecord.payout_code_id == code_id):
        return None
    return int(record.payout_code_tries)


def change(
    applicant_id: str,
    check_id: str,
    code_id: str,
    *,
    provider: str,
    sealed_number: str,
    last4: str,
    account_hash: str,
    now: dt.datetime,
) -> Changed:
    """The member's first account (`link`) or another one (`change`): PENDING under a new check id, the last
    verdict cleared, and the one-time code `code_id` that allowed it used up. Refused while the membership is not
    ACTIVE or a payment is in flight (the condition, so a payment that starts between a read and this write still
    stops it), and when that code is no longer the member's (`Changed.CODE_USED`)."""
    another = PAYOUT_ACCOUNT_TRANSITIONS[PayoutAccountEvent.CHANGE]
    actions: list[Any] = [
        MemberRecord.payout_provider.set(provider),
        MemberRecord.payout_account_sealed.set(sealed_number),
        MemberRecord.payout_account_last4.set(last4),
        MemberRecord.payout_account_hash.set(account_hash),
        MemberRecord.payout_status.set(another.target),  # link's target too
        MemberRecord.payout_check_id.set(check_id),
        MemberRecord.payout_reason.remove(),
        MemberRecord.payout_verified_at.remove(),
        MemberRecord.updated_at.set(now),
        *(attribute.remove() for attribute in _CODE_ATTRIBUTES),
    ]
    condition = (
        (MemberRecord.payout_code_id == code_id)
        & (MemberRecord.state == CHANGES_IN.value)
        & MemberRecord.payment_in_flight.does_not_exist()
        & (
            MemberRecord.payout_status.does_not_exist()  # link: no account yet
            | MemberRecord.payout_status.is_in(*another.sources)
        )
    )
    for _ in range(_ATTEMPTS):
        if update_if(MemberRecord(applicant_id=applicant_id), actions, condition):
            return Changed.DONE
        member = find(applicant_id)
        if member is None:
            return Changed.NOT_A_MEMBER
        if member.state is not CHANGES_IN:
            return Changed.NOT_ACTIVE
        if member.payment_in_flight is not None:
            return Changed.PAYMENT_IN_FLIGHT
        if member.code is None or member.code.code_id != code_id:
            return Changed.CODE_USED
    raise RuntimeError("the member kept changing under its payout account's change")


def record_verdict(applicant_id: str, check_id: str, rejection: AccountRejection | None, now: dt.datetime) -> bool:
    """PENDING -> VERIFIED (None) or REJECTED (`rejection`), only while the account is still the one `check_id`
    was queued for; False when it is not (changed since, or this verdict is recorded already). The member's first
    verified account is marked and counted in the funnel in the same transaction."""
    event = PayoutAccountEvent.VERIFY if rejection is None else PayoutAccountEvent.REJECT
    move = PAYOUT_ACCOUNT_TRANSITIONS[event]
    actions: list[Any] = [MemberRecord.payout_status.set(move.target), MemberRecord.updated_at.set(now)]
    condition = (MemberRecord.payout_check_id == check_id) & MemberRecord.payout_status.is_in(*move.sources)
    member = MemberRecord(applicant_id=applicant_id)
    if rejection is not None:
        return update_if(member, [*actions, MemberRecord.payout_reason.set(rejection.value)], condition)
    actions.append(MemberRecord.payout_verified_at.set(now))
    first = [*actions, MemberRecord.first_account_verified_at.set(now)]

    def first_verified(transaction: TransactWrite) -> None:
        transaction.update(
            member, actions=first, condition=condition & MemberRecord.first_account_verified_at.does_not_exist()
        )

    codes = transact(first_verified, funnel.count((FunnelStage.ACCOUNT_VERIFIED,), applicant_id))
    # Not the first (or no longer the account checked): verified without counting, if it still is.
    return committed(codes, "first payout account verified") or update_if(member, actions, condition)
