"""Register blueprint: accept registrations, show an applicant its record, store what the intake queue brings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint, SQSEvent

from functions import web
from functions.observability import traced
from functions.resources import INTAKE_QUEUE
from functions.services import applicant_view, intake, registration

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

register = Blueprint(__name__)


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
    return applicant_view.view(applicant_id, web.bearer_token(register.current_request))


@register.on_sqs_message(queue=INTAKE_QUEUE, batch_size=10)
@traced
def intake_consumer(event: SQSEvent) -> PartialItemFailureResponse:
    from functions.services import sqs_records  # on the first batch, not at every cold start

    return web.process_batch(event, intake.store_intake_record, sqs_records.IntakeRecord)
