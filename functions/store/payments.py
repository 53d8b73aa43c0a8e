"""Incentive payments and each day's reconciliation (the `payments` table), and the member's side of them.

Each payment moves by one conditional write from the states `PAYMENT_TRANSITIONS` names, in one transaction with
the member wherever the member changes too: queuing a payment marks it in flight on the member (so the payout
account cannot change under it), paying it appends the `INCENTIVE` ledger entry and counts it settled, failing it
lets the account change again. The payment's id is fixed by member and number, so it is created once whatever is
retried.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from pynamodb.exceptions import DoesNotExist
from pynamodb.transactions import TransactWrite

from functions.domain.incentives import (
    PAYMENT_TRANSITIONS,
    Earned,
    IncentiveStanding,
    PaidLine,
    Payment,
    PaymentEvent,
    PaymentStatus,
    PayoutAccountStatus,
    PinnedAccount,
    first_reviewed_completion,
    paid_day,
    payment_id,
)
from functions.domain.lifecycle import FunnelStage, incentive_stage
from functions.domain.membership import (
    MEMBERSHIP_TRANSITIONS,
    LedgerKind,
    MembershipEvent,
    MembershipState,
    incentive_ref,
)
from functions.store import funnel, members
from functions.store.models import (
    LATEST_RECONCILIATION,
    RECONCILIATION_PREFIX,
    MemberRecord,
    PaymentRecord,
    bind,
    reconciliation_key,
)
from functions.store.payout_accounts import account_of
from functions.store.transactions import Build, committed, save_if, transact, update_if


def _standing(record: MemberRecord) -> IncentiveStanding:
    verified = record.payout_verified_at if record.payout_status == PayoutAccountStatus.VERIFIED.value else None
    account = account_of(record)
    return IncentiveStanding(
        applicant_id=record.applicant_id,
        state=MembershipState(record.state),
        earned=Earned(first_reviewed_completion(record.first_completed_at, record.first_reviewed_at), verified),
        settled=int(record.incentives_settled or 0),
        last_due_at=record.last_incentive_due_at,
        payment_in_flight=record.payment_in_flight,
        account=None if account is None else account.pinned,
    )


def cohort(wave: int, shard: int, *, after: str | None, limit: int) -> tuple[list[IncentiveStanding], str | None]:
    """One page of a wave's shard of members, as the incentive schedule sees them (`members.cohort`)."""
    return members.cohort_as(_standing, wave, shard, after=after, limit=limit)


def _entity(record: PaymentRecord) -> Payment:
    return Payment(
        payment_id=record.payment_id,
        applicant_id=str(record.applicant_id),
        number=int(record.number),
        amount=int(record.amount),
        status=PaymentStatus(record.status),
        due_at=record.due_at,
        attempt=int(record.attempt or 1),
        reason=record.reason,
        queued_at=record.queued_at,
        sent_at=record.sent_at,
        paid_at=record.paid_at,
        updated_at=record.updated_at,
        account=_pin_of(record),
    )


def _pin_of(record: PaymentRecord) -> PinnedAccount | None:
    if not record.account_check_id:
        return None
    return PinnedAccount(record.account_check_id, record.account_hash or "")


def _pin(account: PinnedAccount) -> list[Any]:
    return [PaymentRecord.account_check_id.set(account.check_id), PaymentRecord.account_hash.set(account.account_hash)]


def find(found_id: str) -> Payment | None:
    bind()
    try:
        return _entity(PaymentRecord.get(found_id, consistent_read=True))
    except DoesNotExist:
        return None


def of_member(applicant_id: str) -> list[Payment]:
    """A member's payments, by number (the by-member index: eventually consistent)."""
    bind()
    return [_entity(record) for record in PaymentRecord.by_member.query(applicant_id)]


# --- the moves --------------------------------------------------------------------------------------------------


def _from(event: PaymentEvent) -> Any:
    return PaymentRecord.status.is_in(*PAYMENT_TRANSITIONS[event].sources)


def _created(
    applicant_id: str,
    number: int,
    event: PaymentEvent,
    *,
    amount: int,
    due_at: dt.datetime,
    now: dt.datetime,
    **more: Any,
) -> Build:
    record = PaymentRecord(
        payment_id=payment_id(applicant_id, number),
        applicant_id=applicant_id,
        number=number,
        amount=amount,
        status=PAYMENT_TRANSITIONS[event].target,
        due_at=due_at,
        attempt=1,
        updated_at=now,
        **more,
    )

    def creating(transaction: TransactWrite) -> None:
        transaction.save(record, condition=PaymentRecord.payment_id.does_not_exist())

    return creating


def _member(applicant_id: str, actions: list[Any], condition: Any) -> Build:
    def changing(transaction: TransactWrite) -> None:
        transaction.update(MemberRecord(applicant_id=applicant_id), actions=actions, condition=condition)

    return changing


def _payment(payment: Payment, event: PaymentEvent, now: dt.datetime, actions: list[Any]) -> Build:
    move = [PaymentRecord.status.set(PAYMENT_TRANSITIONS[event].target), PaymentRecord.updated_at.set(now)]

    def moving(transaction: TransactWrite) -> None:
        transaction.update(PaymentRecord(payment_id=payment.payment_id), actions=move + actions, condition=_from(event))

    return moving


def queue(
    applicant_id: str,
    number: int,
    *,
    account: PinnedAccount,
    amount: int,
    due_at: dt.datetime,
    now: dt.datetime,
) -> bool:
    """Creates incentive `number` QUEUED, pinned to the verified `account` the schedule read, and marks it in
    flight on the member, only if the member is active, has no payment in flight and has settled the ones before;
    False when nothing was written. (An account changed since the read is caught before the transfer: the payment
    then fails with ACCOUNT_CHANGED, and goes again pinned to the new account once that is verified.)"""
    found_id = payment_id(applicant_id, number)
    condition = (
        (MemberRecord.state == MembershipState.ACTIVE.value)
        & MemberRecord.payment_in_flight.does_not_exist()
        & (MemberRecord.incentives_settled == number - 1)
    )
    pinned = {"account_check_id": account.check_id, "account_hash": account.account_hash}
    codes = transact(
        _created(
            applicant_id, number, PaymentEvent.QUEUE, amount=amount, due_at=due_at, now=now, queued_at=now, **pinned
        ),
        _member(
            applicant_id, [MemberRecord.payment_in_flight.set(found_id), MemberRecord.updated_at.set(now)], condition
        ),
    )
    return committed(codes, "incentive queue")


def hold(applicant_id: str, number: int, *, amount: int, due_at: dt.datetime, reason: str, now: dt.datetime) -> bool:
    """Creates incentive `number` HELD with the screening's reason, counted in the funnel (a held member is paid
    nothing more, so once); False when it exists already."""
    held = _created(applicant_id, number, PaymentEvent.HOLD, amount=amount, due_at=due_at, now=now, reason=reason)
    return committed(transact(held, funnel.count((FunnelStage.HELD,), applicant_id)), "incentive hold")


def send(payment: Payment, now: dt.datetime) -> bool:
    """QUEUED -> SENT, just before the transfer; False when another delivery took it first."""
    actions = [
        PaymentRecord.status.set(PAYMENT_TRANSITIONS[PaymentEvent.SEND].target),
        PaymentRecord.sent_at.set(now),
        PaymentRecord.updated_at.set(now),
    ]
    return update_if(PaymentRecord(payment_id=payment.payment_id), actions, _from(PaymentEvent.SEND))


def _in_flight_here(payment: Payment) -> Any:
    return MemberRecord.payment_in_flight == payment.payment_id


# A revocation racing the last payment is rare; a third read finding the state moved again would be a loop.
_STATE_READS = 3


def pay(payment: Payment, paid_at: dt.datetime, now: dt.datetime, *, last: bool = False) -> bool:
    """SENT -> PAID (on the WIB day the provider paid it), its INCENTIVE ledger entry, the member's count of
    settled incentives, the account free to change again and the incentive's funnel stage: one transaction; the
    `last` incentive completes an ACTIVE membership in it too (`MembershipEvent.COMPLETE`). False when recorded
    already."""
    for _ in range(_STATE_READS):
        state = payment_member_state(payment) if last else None
        codes = transact(
            _paid(payment, paid_at, now),
            _settled(payment, now, state),
            members.entry(
                payment.applicant_id, incentive_ref(payment.number), LedgerKind.INCENTIVE, payment.amount, now
            ),
            funnel.count(incentive_stage(payment.number), payment.applicant_id),
        )
        # Refused with the member's state moved since our read (an admin revoked it): read it again, so the paid
        # member is neither completed over a revocation nor left unpaid. (Reason codes come in pynamodb's order of
        # operations, not ours, so the state is compared rather than the codes.)
        if not codes or state is None or payment_member_state(payment) is state:
            break
    return committed(codes, "incentive payment")


def _paid(payment: Payment, paid_at: dt.datetime, now: dt.datetime) -> Build:
    actions = [
        PaymentRecord.paid_at.set(paid_at),
        PaymentRecord.paid_day.set(paid_day(paid_at)),
        PaymentRecord.reason.remove(),
    ]
    return _payment(payment, PaymentEvent.PAY, now, actions)


def _settled(payment: Payment, now: dt.datetime, state: MembershipState | None) -> Build:
    """The member's side of a payment; with the member's `state` as read for the last incentive (None otherwise),
    it completes an ACTIVE membership, on condition the state is still the one read."""
    completing = MEMBERSHIP_TRANSITIONS[MembershipEvent.COMPLETE]
    completion = [MemberRecord.state.set(completing.target)] if state in completing.sources else []
    condition = _in_flight_here(payment)
    if state is not None:
        condition &= MemberRecord.state == state.value
    return _member(
        payment.applicant_id,
        [
            MemberRecord.incentives_settled.add(1),
            MemberRecord.last_incentive_due_at.set(payment.due_at),
            MemberRecord.payment_in_flight.remove(),
            MemberRecord.updated_at.set(now),
            *completion,
        ],
        condition,
    )


def payment_member_state(payment: Payment) -> MembershipState | None:
    """The paid member's state as it is now: a member an admin revoked while its last payment was on its way
    is paid (the provider has paid) but stays REVOKED."""
    member = members.find(payment.applicant_id)
    return None if member is None else member.state


def fail(payment: Payment, reason: str, now: dt.datetime) -> bool:
    """SENT -> FAILED with the provider's reason, and the account free to change; False when recorded already."""
    codes = transact(
        _payment(payment, PaymentEvent.FAIL, now, [PaymentRecord.reason.set(reason)]),
        _member(
            payment.applicant_id,
            [MemberRecord.payment_in_flight.remove(), MemberRecord.updated_at.set(now)],
            _in_flight_here(payment),
        ),
    )
    return committed(codes, "incentive failure")


def requeue(payment: Payment, account: PinnedAccount, now: dt.datetime) -> bool:
    """FAILED -> QUEUED for another attempt once the member's account changed, pinned to that newly verified
    `account` and in flight again on the member; False when it is no longer FAILED, the member has another payment
    in flight, or its account is no longer that one, verified."""
    still_verified = (MemberRecord.payout_check_id == account.check_id) & (
        MemberRecord.payout_status == PayoutAccountStatus.VERIFIED.value
    )
    codes = transact(
        _payment(
            payment,
            PaymentEvent.REQUEUE,
            now,
            [
                PaymentRecord.attempt.add(1),
                PaymentRecord.queued_at.set(now),
                PaymentRecord.reason.remove(),
                *_pin(account),
            ],
        ),
        _member(
            payment.applicant_id,
            [MemberRecord.payment_in_flight.set(payment.payment_id), MemberRecord.updated_at.set(now)],
            (MemberRecord.state == MembershipState.ACTIVE.value)
            & MemberRecord.payment_in_flight.does_not_exist()
            & still_verified,
        ),
    )
    return committed(codes, "incentive requeue")


# --- what was paid, and the reconciliation ----------------------------------------------------------------------


def paid_on(day: dt.date) -> dict[str, PaidLine]:
    """Our PAID payments of a WIB day: payment id -> amount and the pinned account's hash (the by-paid-day
    index projects both)."""
    bind()
    return {
        record.payment_id: PaidLine(int(record.amount), record.account_hash or "")
        for record in PaymentRecord.by_paid_day.query(day.isoformat())
    }


def save_reconciliation(day: dt.date, report: dict[str, Any], now: dt.datetime) -> None:
    """The day's report, replaced whole when the day is reconciled again; and the newest day's copied to one
    known key, so the ledger finds the last reconciliation without knowing today's date (a catch-up of an older
    day leaves the copy alone)."""
    bind()

    def stored(key: str) -> PaymentRecord:
        return PaymentRecord(payment_id=key, report=json.dumps(report), reconciled_day=day.isoformat(), updated_at=now)

    stored(reconciliation_key(day.isoformat())).save()
    newest = PaymentRecord.reconciled_day.does_not_exist() | (PaymentRecord.reconciled_day <= day.isoformat())
    save_if(stored(LATEST_RECONCILIATION), newest)  # an older day's catch-up leaves the newest copy as it is


def latest_reconciliation() -> dict[str, Any] | None:
    """The report of the newest day reconciled, if any was."""
    bind()
    try:
        record = PaymentRecord.get(LATEST_RECONCILIATION, consistent_read=True)
    except DoesNotExist:
        return None
    return None if record.report is None else dict(json.loads(record.report))


def reconciliations(days: list[dt.date]) -> dict[dt.date, dict[str, Any]]:
    """The stored reports of these days (those reconciled)."""
    bind()
    keys = [reconciliation_key(day.isoformat()) for day in days]
    return {
        dt.date.fromisoformat(record.payment_id.removeprefix(RECONCILIATION_PREFIX)): json.loads(record.report)
        for record in PaymentRecord.batch_get(keys, consistent_read=True)
        if record.report
    }


def totals() -> dict[PaymentStatus, tuple[int, int]]:
    """Each status's count and amount over every payment (`GET /admin/ledger`), one scan."""
    bind()
    found = dict.fromkeys(PaymentStatus, (0, 0))
    for record in PaymentRecord.scan(PaymentRecord.number.exists()):
        status = PaymentStatus(record.status)
        count, amount = found[status]
        found[status] = (count + 1, amount + int(record.amount))
    return found
