"""Chalice glue shared by the blueprints: JSON answers, the error shape of the contract, bearer tokens."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalice.app import Request, Response, SQSEvent

from functions.aws_clients import is_transient
from functions.domain.errors import (
    Conflict,
    ErrorCode,
    Forbidden,
    InvalidField,
    NotAuthorised,
    NotFound,
    PayloadTooLarge,
    Refusal,
    TooManyRequests,
    Unprocessable,
)
from functions.domain.wave import MAX_WAVE
from functions.observability import logger
from functions.services import notifications
from functions.settings import settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.parser.models import SqsRecordModel

JSON_HEADERS = {"Content-Type": "application/json"}


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(body=json.dumps(body), status_code=status, headers={**JSON_HEADERS, **(headers or {})})


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    return {"error": error}


# The HTTP status of each kind of refusal: the domain says what is refused, this says how HTTP answers it.
STATUSES: dict[type[Refusal], int] = {
    InvalidField: 400,
    NotAuthorised: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    PayloadTooLarge: 413,
    Unprocessable: 422,
    TooManyRequests: 429,
}


def status_of(refusal: Refusal) -> int:
    return STATUSES[type(refusal)]


def refusal_response(refusal: Refusal) -> Response:
    headers = {}
    if isinstance(refusal, TooManyRequests):
        headers["Retry-After"] = str(refusal.retry_after_seconds)
    if isinstance(refusal, NotAuthorised):
        headers["WWW-Authenticate"] = "Bearer"
    return json_response(status_of(refusal), error_body(refusal.code, refusal.message, refusal.field), headers)


def api_view(view: Callable[..., Any]) -> Callable[..., Response]:
    """Turns a view's refusals into the contract's error answers (Chalice would make them 500s)."""

    @functools.wraps(view)
    def answer(*args: Any, **kwargs: Any) -> Response:
        try:
            result = view(*args, **kwargs)
        except Refusal as refusal:
            logger.info("request refused", extra={"code": refusal.code, "field": refusal.field})
            return refusal_response(refusal)
        except Exception as error:
            if not is_transient(error):
                raise
            # Throttled or briefly unavailable after the SDK's retries: the caller comes back, as with a full queue.
            logger.warning("request shed", extra={"cause": type(error).__name__})
            retry_after = settings().retry_after_seconds
            return refusal_response(
                TooManyRequests(ErrorCode.BUSY, "the service is busy; try again shortly", retry_after)
            )
        return result if isinstance(result, Response) else json_response(200, result)

    return answer


def event_context(event: Any) -> Any:
    """The Lambda context an event handler was invoked with (Chalice types it loosely)."""
    return event.context


def process_batch(
    event: SQSEvent,
    record_handler: Callable[[Any, notifications.BatchSends], Any],
    model: type[SqsRecordModel],
) -> PartialItemFailureResponse:
    """Powertools' batch processing of an SQS event: each record parsed with `model` and handed, with the batch's
    notification sends, to `record_handler`; failures reported one by one, so SQS redelivers only those. The
    notifications the records asked for go out together afterwards."""
    # Loaded by the consumers on their first batch: the API function's cold start does not need it.
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    sends = notifications.BatchSends()
    response = process_partial_response(
        event=event.to_dict(),
        record_handler=lambda record: record_handler(record, sends),
        processor=BatchProcessor(event_type=EventType.SQS, model=model),
        context=event_context(event),
    )
    return sends.flush(response)


def wave_number(text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_WAVE:
        raise InvalidField(
            ErrorCode.INVALID_WAVE_NUMBER, f"the wave number must be a whole number from 1 to {MAX_WAVE}", "number"
        )
    return int(text)


def raw_body(request: Request) -> bytes:
    body = request.raw_body
    return body if isinstance(body, bytes) else (body or "").encode()


def admin_name(request: Request) -> str:
    """Who an admin route's caller is: the principal the admin authorizer answered (its token's subject)."""
    authorizer = (request.context or {}).get("authorizer") or {}
    return str(authorizer.get("principalId") or "")


def signed_partner(request: Request, path: str) -> str:
    """The partner that signed this request (every partner route asks here first), or a 401 refusal. `path` is
    the route's path with its parameters filled in, as the partner signed it (API Gateway's own path may carry a
    stage prefix)."""
    from functions.services import partner_auth

    return partner_auth.authenticate(request.headers, request.method, path, raw_body(request))


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthorised()
    return str(token).strip()


CHALICE_ERROR_CODES = {
    400: ErrorCode.BAD_REQUEST,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    500: ErrorCode.INTERNAL_ERROR,
}


def in_contract_shape(response: Response) -> Response:
    """Chalice answers some errors itself ({"Code", "Message"}); this puts them in the contract's shape."""
    body = response.body
    if response.status_code < 400 or not isinstance(body, dict) or "Code" not in body:
        return response
    status = response.status_code
    code = CHALICE_ERROR_CODES.get(status, ErrorCode.ERROR)
    message = "internal error" if status >= 500 else str(body.get("Message", code))
    headers = {k: str(v) for k, v in response.headers.items() if k.lower() != "content-type"}
    return json_response(status, error_body(code, message), headers)
