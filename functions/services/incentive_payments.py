"""Incentives paid only when earned (docs/architecture.md, "After acceptance"): the daily schedule that finds them due,
screens each member again and queues the payment; the consumer that pays through the provider, never twice; the member's
account verified again after a failure; the daily reconciliation with the provider's statement.

The schedule fans out as the revocation does, by the members' cohort shards: one message per shard of each
published wave, each worked through a page at a time and handed on when time or the registry runs out. A queue of
members instead would make the schedule itself read every member of every wave in one function; the shards spread
that read over the consumers, and a day's run costs a handful of messages per wave whatever the wave's size.

Never paid twice: the payment's id is fixed by member and number (created once, by a conditional put) and is the
provider's idempotency key. The consumer marks it SENT before the transfer; a delivery that finds it SENT (a
redelivery, or a crash between the provider's answer and our write) asks the provider what it holds for the key
first, and records a payment the provider made without sending again. A transfer whose outcome is unknown leaves
the payment SENT for SQS to bring back, and the next delivery asks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from typing import TYPE_CHECKING, Any

from functions import clock
from functions.adapters import personal_data, queues
from functions.adapters.civil_registry import RegistryUnavailable, screening_registry
from functions.adapters.payment_provider import PaymentProvider, payment_provider
from functions.adapters.purposes import Purpose
from functions.domain import notices
from functions.domain.calendar import JAKARTA
from functions.domain.incentives import (
    ACCOUNT_CHANGED,
    IN_FLIGHT,
    IncentiveRules,
    IncentiveStanding,
    Payment,
    PaymentStatus,
    PinnedAccount,
    payment_id,
    reconcile,
    screening,
    still_pinned,
    wib_day_bounds,
)
from functions.domain.messages import IncentiveShard, PaymentRequest
from functions.domain.payments import StatementLine, TransferResult, TransferStatus
from functions.domain.wave import WaveState
from functions.observability import logger, metrics
from functions.resources import PAYMENT_MAX_CONCURRENCY, PAYMENT_SHARE_OF_PROVIDER
from functions.services import nik_check, notifications
from functions.services.cohort_walk import CohortWalk, Visit
from functions.services.time_budget import OutOfTime
from functions.settings import settings
from functions.store import applicants, members, payments, payout_accounts, waves

if TYPE_CHECKING:
    from functions.services.sqs_records import PaymentQueueRecord

# The reconciliation catches up this many days back when a run was missed.
RECONCILIATION_CATCH_UP_DAYS = 7


def incentive_rules() -> IncentiveRules:
    current = settings()
    return IncentiveRules(
        amount=current.incentive_amount,
        count=current.incentive_count,
        interval=dt.timedelta(days=current.incentive_interval_days),
    )


# --- the daily schedule ---------------------------------------------------------------------------------------


def _published_waves() -> list[int]:
    found = []
    for number in range(1, (waves.current_number() or 0) + 1):
        wave = waves.find(number)
        if wave is not None and wave.state is WaveState.PUBLISHED:
            found.append(number)
    return found


def sweep(now: dt.datetime) -> list[int]:
    """Queues one message per cohort shard of every published wave, to pay what is due by `now`; returns those
    waves. Each run pays whatever is due by then, so a missed day is caught up by the next; a run repeated
    queues nothing twice (the payments are created once)."""
    url = settings().incentives_queue_url
    numbers = _published_waves()
    for number in numbers:
        shards = [IncentiveShard(wave=number, shard=s, swept_at=now) for s in range(members.COHORT_SHARDS)]
        queues.send_all(url, [shard.model_dump_json() for shard in shards])
    logger.info("incentive sweep queued", extra={"waves": numbers, "shards": members.COHORT_SHARDS})
    return numbers


# --- the consumer of the schedule's shards --------------------------------------------------------------------


def _screen(applicant_id: str, today: dt.date) -> str | None:
    """Why the member may not be paid today (the NIK check's own look-up and decision), or None."""
    applicant = applicants.find(applicant_id)
    if applicant is None:
        raise LookupError("a member without its applicant record")
    # RegistryUnavailable: the shard is handed on
    declared, registered = nik_check.look_up(applicant, screening_registry())
    return screening(declared, registered, applicant.employment_status, today, nik_check.rules())


def _queue_payment(found_id: str) -> None:
    queues.send_all(settings().payments_queue_url, [PaymentRequest(payment_id=found_id).model_dump_json()])


def _held_notice(payment: Payment) -> notices.IncentiveHeld:
    return notices.IncentiveHeld(
        applicant_id=payment.applicant_id,
        payment_id=payment.payment_id,
        number=payment.number,
        reason=payment.reason or "",
    )


def _pay_if_due(member: IncentiveStanding, now: dt.datetime, rules: IncentiveRules) -> list[notices.Told]:
    """One member of a shard. A payment still in flight goes on the payments queue again: queued by this same
    sweep before a redelivery, or left QUEUED or SENT by an earlier day whose messages ran out of tries (a provider
    outage longer than the queue's retries); the consumer asks the provider first, so it is never paid twice. A
    member this sweep held is told again (each notice is delivered once by its id)."""
    if member.payment_in_flight is not None:
        waiting = payments.find(member.payment_in_flight)
        if waiting is not None and waiting.status in IN_FLIGHT:
            _queue_payment(waiting.payment_id)
        return []
    due = member.due(now, rules)
    if due is None:
        return []
    number, due_at = due
    found = payments.find(payment_id(member.applicant_id, number))
    if found is not None:  # HELD, or FAILED waiting for the account to change
        return [_held_notice(found)] if found.status is PaymentStatus.HELD and found.updated_at == now else []
    if member.account is None:  # `due` needs a verified account; read with it, so never None here
        raise LookupError("a member due an incentive without a verified payout account")
    reason = _screen(member.applicant_id, now.astimezone(JAKARTA).date())
    if reason is not None:
        if not payments.hold(member.applicant_id, number, amount=rules.amount, due_at=due_at, reason=reason, now=now):
            return []
        metrics.add_metric(name="IncentiveHeld", unit="Count", value=1)
        logger.info("incentive held", extra={"applicant_id": member.applicant_id, "number": number, "reason": reason})
        held_id = payment_id(member.applicant_id, number)
        return [
            notices.IncentiveHeld(applicant_id=member.applicant_id, payment_id=held_id, number=number, reason=reason)
        ]
    # Pinned to the account read before the screening: if the member changes it meanwhile, the transfer fails
    # ACCOUNT_CHANGED instead of paying an account nobody checked.
    if payments.queue(member.applicant_id, number, account=member.account, amount=rules.amount, due_at=due_at, now=now):
        _queue_payment(payment_id(member.applicant_id, number))
        metrics.add_metric(name="IncentiveQueued", unit="Count", value=1)
    return []


class ShardPayer(CohortWalk[IncentiveShard, IncentiveStanding]):
    """The incentive consumer's record handler: a page of the shard's members is screened and queued where due,
    the rest of the shard handed on (also when the civil registry stops it)."""

    throttled_metric = "IncentiveShardThrottled"
    handed_on_metric = "IncentiveShardHandedOn"
    pause_seconds = 30  # for throttling to ease, or the registry to come back
    interruptions = (OutOfTime, RegistryUnavailable)

    def page(self, shard: IncentiveShard) -> tuple[list[IncentiveStanding], str | None]:
        return payments.cohort(shard.wave, shard.shard, after=shard.after, limit=settings().cohort_page_size)

    def visitor(self, shard: IncentiveShard) -> Visit[IncentiveStanding]:
        return functools.partial(_pay_if_due, now=shard.swept_at, rules=incentive_rules())

    def queue_url(self) -> str:
        return settings().incentives_queue_url


# --- the payments consumer ------------------------------------------------------------------------------------


def payments_provider() -> PaymentProvider:
    """The payment consumer's provider client, with the payments' share of the provider's ceiling."""
    return payment_provider(PAYMENT_MAX_CONCURRENCY, PAYMENT_SHARE_OF_PROVIDER)


def _transfer(payment: Payment) -> TransferResult:
    """Sends the payment with its id as the idempotency key, to the verified account it is pinned to and nowhere
    else: a member whose account is no longer that one, verified, fails it ACCOUNT_CHANGED with nothing sent (the
    account cannot change again between this read and the transfer: the payment is in flight on the member).
    `TransferOutcomeUnknown` and `ProviderUnavailable` propagate: the payment stays SENT, SQS brings the message
    back, and that delivery asks the provider first."""
    member = payout_accounts.find(payment.applicant_id)
    account = None if member is None else member.account
    if account is None or not still_pinned(payment.account, account):
        logger.warning("incentive payment's account changed", extra={"payment_id": payment.payment_id})
        return TransferResult(payment.payment_id, TransferStatus.FAILED, payment.amount, reason=ACCOUNT_CHANGED)
    number = personal_data.open_text(account.sealed_number, payment.applicant_id, Purpose.PAYOUT_ACCOUNT)
    return payments_provider().transfer(
        payment.payment_id, account.provider, number, payment.amount, f"Insentif Kartu Prakerja ke-{payment.number}"
    )


def _settle(payment: Payment, result: TransferResult, now: dt.datetime) -> None:
    if result.paid:
        last = payment.number >= settings().incentive_count
        if payments.pay(payment, result.paid_at or now, now, last=last):
            metrics.add_metric(name="IncentivePaid", unit="Count", value=1)
            metrics.add_metric(name="IncentivePaidAmount", unit="Count", value=payment.amount)
    elif payments.fail(payment, result.reason or "FAILED", now):
        metrics.add_metric(name="IncentivePaymentFailed", unit="Count", value=1)
        logger.info("incentive payment failed", extra={"payment_id": payment.payment_id, "reason": result.reason})


def _told(payment: Payment) -> list[notices.Told]:
    if payment.status is PaymentStatus.PAID:
        return [
            notices.IncentivePaid(
                applicant_id=payment.applicant_id,
                payment_id=payment.payment_id,
                number=payment.number,
                amount=payment.amount,
            )
        ]
    if payment.status is PaymentStatus.FAILED:
        return [
            notices.IncentiveFailed(
                applicant_id=payment.applicant_id,
                payment_id=payment.payment_id,
                number=payment.number,
                attempt=payment.attempt,
                reason=payment.reason or "",
            )
        ]
    return []


def pay_record(record: PaymentQueueRecord, sends: notifications.BatchSends) -> None:
    """Pays one payment: QUEUED -> SENT -> the transfer -> PAID or FAILED; a delivery finding it SENT asks the
    provider first. A PAID or FAILED payment is told again (delivered once by its notice's id)."""
    found_id = record.body.payment_id
    payment = payments.find(found_id)
    if payment is None:
        raise LookupError("a payment message for a payment that is not stored")
    now = clock.now()
    asked_first = True
    if payment.status is PaymentStatus.QUEUED and payments.send(payment, now):
        payment, asked_first = dataclasses.replace(payment, status=PaymentStatus.SENT, sent_at=now), False
    elif payment.status is PaymentStatus.QUEUED:
        payment = payments.find(found_id) or payment  # another delivery sent it first
    if payment.status is PaymentStatus.SENT:
        known = payments_provider().transfer_status(found_id) if asked_first else None
        # Only a PAID answer is final for a key: a FAILED one may be an earlier attempt's, before the account
        # changed, and the provider tries a failed key again (never a paid one).
        result = known if known is not None and known.paid else _transfer(payment)
        _settle(payment, result, clock.now())
        payment = payments.find(found_id) or payment
    sends.for_message(record.messageId).send(_told(payment))


def account_verified(applicant_id: str, account: PinnedAccount) -> list[str]:
    """The member's payout account has become VERIFIED (`account`): its FAILED payment is queued again, pinned to
    it (FAILED -> QUEUED); returns the ids queued. Due incentives need nothing more: the next daily run finds
    them."""
    now = clock.now()
    queued = []
    for payment in payments.of_member(applicant_id):
        if payment.status is PaymentStatus.FAILED and payments.requeue(payment, account, now):
            _queue_payment(payment.payment_id)
            queued.append(payment.payment_id)
    return queued


# --- reconciliation -------------------------------------------------------------------------------------------


def reconcile_day(day: dt.date, now: dt.datetime) -> dict[str, Any]:
    """Compares the provider's statement for a WIB day with our PAID payments of that day, stores the report and
    raises the alarm metric with the number of differences."""
    since, until = wib_day_bounds(day)
    statement = payment_provider(1).statement(since, until)
    ours = payments.paid_on(day)
    differences = reconcile(statement, ours, statement_account_hash)
    report = {
        "day": day.isoformat(),
        "reconciled_at": now.isoformat(),
        "provider": {"count": len(statement), "amount": sum(line.amount for line in statement)},
        "ours": {"count": len(ours), "amount": sum(line.amount for line in ours.values())},
        "differences": [
            {"payment_id": d.payment_id, "kind": d.kind.value, "ours": d.ours, "theirs": d.theirs} for d in differences
        ],
    }
    payments.save_reconciliation(day, report, now)
    metrics.add_metric(name="ReconciliationDifferences", unit="Count", value=len(differences))
    log = logger.warning if differences else logger.info
    log("payments reconciled", extra={"day": day.isoformat(), "differences": len(differences)})
    return report


def payout_account_hash(provider: str, account_number: str) -> str:
    """The keyed hash a payout account is known by outside its sealed number: pinned to payments when queued,
    compared with the provider's statement by reconciliation."""
    return personal_data.lookup_hash("payout-account", f"{provider}:{account_number}")


def statement_account_hash(line: StatementLine) -> str:
    return payout_account_hash(line.provider, line.account_number)


def _days_before(now: dt.datetime) -> list[dt.date]:
    """The WIB days a run at `now` may reconcile, newest first: yesterday and a week before it."""
    today = now.astimezone(JAKARTA).date()
    return [today - dt.timedelta(days=back) for back in range(1, RECONCILIATION_CATCH_UP_DAYS + 1)]


def reconcile_due(now: dt.datetime) -> list[str]:
    """The daily reconciliation: yesterday (WIB), and any day of the week before it that no run reconciled;
    returns the days reconciled."""
    days = _days_before(now)
    done = payments.reconciliations(days[1:])
    due = [day for day in days if day == days[0] or day not in done]
    return [reconcile_day(day, now)["day"] for day in sorted(due)]
