"""Payouts blueprint: the member's payout account (its one-time code and the provider's check), the daily
incentive run, the payments and the daily reconciliation with the provider's statement."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint, CloudWatchEvent, SQSEvent

from functions import web
from functions.observability import traced
from functions.resources import (
    INCENTIVE_MAX_CONCURRENCY,
    INCENTIVES_QUEUE,
    PAYMENT_MAX_CONCURRENCY,
    PAYMENTS_QUEUE,
    PAYOUT_CHECK_MAX_CONCURRENCY,
    PAYOUT_CHECKS_QUEUE,
)
from functions.schedules import INCENTIVE_CRON, RECONCILIATION_CRON, fired_at
from functions.services import incentive_payments, payout_account_codes, payout_accounts

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

payouts = Blueprint(__name__)


@payouts.route("/applicants/{applicant_id}/payout-account", methods=["PUT"], content_types=["application/json"])
@web.api_view
def put_payout_account(applicant_id: str) -> Any:
    request = payouts.current_request
    answer = payout_accounts.change_account(applicant_id, web.raw_body(request), web.bearer_token(request))
    return web.json_response(202, answer)


@payouts.route("/applicants/{applicant_id}/payout-account/code", methods=["POST"])
@web.api_view
def post_payout_account_code(applicant_id: str) -> Any:
    request = payouts.current_request
    return web.json_response(202, payout_account_codes.request_code(applicant_id, web.bearer_token(request)))


@payouts.on_sqs_message(queue=PAYOUT_CHECKS_QUEUE, batch_size=10, maximum_concurrency=PAYOUT_CHECK_MAX_CONCURRENCY)
@traced
def payout_check_consumer(event: SQSEvent) -> PartialItemFailureResponse:
    from functions.services import sqs_records  # on the first batch, not at every cold start

    return web.process_batch(event, payout_accounts.check_record, sqs_records.PayoutCheckRecord)


@payouts.schedule(INCENTIVE_CRON)
@traced
def queue_due_incentives(event: CloudWatchEvent) -> list[int]:
    return incentive_payments.sweep(fired_at(event))


@payouts.on_sqs_message(queue=INCENTIVES_QUEUE, batch_size=1, maximum_concurrency=INCENTIVE_MAX_CONCURRENCY)
@traced
def incentive_consumer(event: SQSEvent) -> PartialItemFailureResponse:
    from functions.services import sqs_records  # on the first batch, not at every cold start

    payer = incentive_payments.ShardPayer(web.event_context(event))
    return web.process_batch(event, payer.walk, sqs_records.IncentiveRecord)


@payouts.on_sqs_message(queue=PAYMENTS_QUEUE, batch_size=10, maximum_concurrency=PAYMENT_MAX_CONCURRENCY)
@traced
def payment_consumer(event: SQSEvent) -> PartialItemFailureResponse:
    from functions.services import sqs_records  # on the first batch, not at every cold start

    return web.process_batch(event, incentive_payments.pay_record, sqs_records.PaymentQueueRecord)


@payouts.schedule(RECONCILIATION_CRON)
@traced
def reconcile_payments(event: CloudWatchEvent) -> list[str]:
    return incentive_payments.reconcile_due(fired_at(event))
