"""Register blueprint: accept registrations, show an applicant its record, store what the intake queue brings."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from chalice.app import Blueprint, SQSEvent

from functions import web
from functions.observability import tracer
from functions.resources import INTAKE_QUEUE
from functions.services import applicants, intake, registration
from functions.web import event_context

register = Blueprint(__name__)
_intake_batch = BatchProcessor(event_type=EventType.SQS, model=intake.IntakeRecord)


@register.route("/registrations", methods=["POST"], content_types=["application/json"])
@web.api_view
def post_registration() -> Any:
    request = register.current_request
    answer = registration.register(
        web.raw_body(request),
        request.headers.get(registration.IDEMPOTENCY_HEADER),
        register.lambda_context,
    )
    return web.json_response(202, answer)


@register.route("/applicants/{applicant_id}", methods=["GET"])
@web.api_view
def get_applicant(applicant_id: str) -> Any:
    return applicants.view(applicant_id, web.bearer_token(register.current_request))


@register.on_sqs_message(queue=INTAKE_QUEUE, batch_size=10)
@tracer.capture_method
def intake_consumer(event: SQSEvent) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event.to_dict(),
        record_handler=intake.store_intake_record,
        processor=_intake_batch,
        context=event_context(event),
    )
