"""Verify blueprint: email codes (their own queue and consumer, which sends every kind of one-time code), the
NIK-check consumer (concurrency-capped for the registry), notifications, and applicants' access: signing in again
and ending tokens. Access lives here, not with registration, because it is proving who one is with a code to the
verified email, as email verification is, on the same code queue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint, SQSEvent

from functions import web
from functions.observability import traced
from functions.resources import (
    BATCHING_WINDOW_SECONDS,
    EMAIL_CODES_QUEUE,
    NIK_CHECK_MAX_CONCURRENCY,
    NIK_CHECK_QUEUE,
    NOTIFICATIONS_QUEUE,
)
from functions.services import access, code_delivery, email_codes, nik_check, notifications, sign_in

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

verify = Blueprint(__name__)


@verify.route("/verifications/email", methods=["POST"], content_types=["application/json"])
@web.api_view
def post_email_verification() -> Any:
    request = verify.current_request
    return email_codes.check_code(web.raw_body(request), web.bearer_token(request))


@verify.route("/verifications/email/resend", methods=["POST"], content_types=["application/json"])
@web.api_view
def post_email_code_resend() -> Any:
    request = verify.current_request
    return web.json_response(202, email_codes.resend(web.raw_body(request), web.bearer_token(request)))


@verify.route("/sign-ins", methods=["POST"], content_types=["application/json"])
@web.api_view
def post_sign_in() -> Any:
    return web.json_response(202, sign_in.ask_for_code(web.raw_body(verify.current_request)))


@verify.route("/sign-ins/confirm", methods=["POST"], content_types=["application/json"])
@web.api_view
def post_sign_in_confirmation() -> Any:
    return sign_in.confirm(web.raw_body(verify.current_request))


@verify.route("/applicants/{applicant_id}/tokens/end", methods=["POST"])
@web.api_view
def post_tokens_end(applicant_id: str) -> Any:
    token = web.bearer_token(verify.current_request)
    return access.end_all(access.authorised_applicant(applicant_id, token))


@verify.on_sqs_message(
    queue=NOTIFICATIONS_QUEUE, batch_size=10, maximum_batching_window_in_seconds=BATCHING_WINDOW_SECONDS
)
@traced
def notification_consumer(event: SQSEvent) -> PartialItemFailureResponse:
    from functions.services import sqs_records  # on the first batch, not at every cold start

    batch = notifications.BatchDelivery(record.body for record in event)
    return web.process_batch(event, batch.deliver_record, sqs_records.NotificationRecord)


@verify.on_sqs_message(
    queue=NIK_CHECK_QUEUE,
    batch_size=10,
    maximum_batching_window_in_seconds=BATCHING_WINDOW_SECONDS,
    maximum_concurrency=NIK_CHECK_MAX_CONCURRENCY,
)
@traced
def nik_check_consumer(event: SQSEvent) -> PartialItemFailureResponse:
    from functions.services import sqs_records  # on the first batch, not at every cold start

    with nik_check.BatchLookAhead(record.body for record in event) as batch:
        return web.process_batch(event, batch.check_record, sqs_records.NikCheckRecord)


@verify.on_sqs_message(queue=EMAIL_CODES_QUEUE, batch_size=10)
@traced
def email_code_consumer(event: SQSEvent) -> PartialItemFailureResponse:
    from functions.services import sqs_records  # on the first batch, not at every cold start

    return web.process_batch(event, code_delivery.deliver, sqs_records.CodeRecord)
