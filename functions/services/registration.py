"""`POST /registrations`: validate, seal the person, put it on the intake queue.

The answer (202) is given only once the message is on the queue; the queue and its consumer absorb the burst. It
is the same whether or not another registration holds the NIK, email or phone (registration reveals nobody): a
duplicate ends `REJECTED` with its reason later, when verifying its email or the registry's confirmation finds it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.serialization.base import BaseIdempotencySerializer

from functions import caches, clock
from functions.adapters import personal_data, queues
from functions.adapters.purposes import Purpose
from functions.domain.errors import Conflict, ErrorCode, InvalidField, PayloadTooLarge, TooManyRequests, Unprocessable
from functions.domain.lifecycle import Status
from functions.domain.messages import IntakeMessage
from functions.domain.registration import (
    MAX_BODY_BYTES,
    PersonalData,
    RegistrationForm,
    identity_keys,
    parse_registration,
)
from functions.observability import logger, metrics
from functions.services import access
from functions.settings import settings
from functions.store import idempotency

IDEMPOTENCY_HEADER = "Idempotency-Key"
_IDEMPOTENCY_KEY_SHAPE = re.compile(r"[A-Za-z0-9_.:\-]{8,128}")
_IDEMPOTENCY_TTL_SECONDS = 24 * 3600


def register(body: bytes, idempotency_key: str | None, lambda_context: Any = None) -> dict[str, str]:
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(ErrorCode.BODY_TOO_LARGE, f"the body must be at most {MAX_BODY_BYTES} bytes")
    form = parse_registration(body)
    if idempotency_key is None:
        return _queued(form, _new_applicant())
    if not _IDEMPOTENCY_KEY_SHAPE.fullmatch(idempotency_key):
        raise InvalidField(
            ErrorCode.INVALID_IDEMPOTENCY_KEY,
            "Idempotency-Key must be 8-128 letters, digits or _.:-",
            IDEMPOTENCY_HEADER,
        )
    # Only a keyed digest of the body reaches the idempotency table, never the body itself.
    request = {"key": idempotency_key, "body": personal_data.lookup_hash("request", form.model_dump_json())}
    if lambda_context is not None and hasattr(lambda_context, "get_remaining_time_in_millis"):
        _idempotency_config().register_lambda_context(lambda_context)
    try:
        # Two records, so that every retry converges on one applicant: the first fixes the applicant (random id
        # and token, kept sealed) before anything is sent; the second keeps the 202 once the queue took it. A retry
        # after a 429, or after a send that landed but whose record was not kept, sends the same applicant again,
        # which the consumer stores once.
        applicant = _idempotent(_allocate, "registration-applicant")(request=request)
        answer: dict[str, str] = _idempotent(_queue_as, "registration")(request=request, form=form, applicant=applicant)
    except IdempotencyValidationError:
        raise Unprocessable(
            ErrorCode.IDEMPOTENCY_KEY_REUSED, "this Idempotency-Key was used with another body", IDEMPOTENCY_HEADER
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise Conflict(
            ErrorCode.REQUEST_IN_PROGRESS,
            "a request with this Idempotency-Key is still being handled",
            IDEMPOTENCY_HEADER,
        ) from None
    return answer


def _new_applicant() -> dict[str, str]:
    """A new applicant's id and access token (and when the token expires): random, never derived from the
    request."""
    applicant_id = uuid.uuid4().hex
    return {"applicant_id": applicant_id, **access.new_token(applicant_id, generation=0)}


def _queued(form: RegistrationForm, applicant: dict[str, str]) -> dict[str, str]:
    """Puts the registration of `applicant` on the intake queue; the 202 answer, or 429 when the queue is busy."""
    applicant_id = applicant["applicant_id"]
    hashes = {kind: personal_data.lookup_hash(kind, value) for kind, value in identity_keys(form).items()}
    message = intake_message(form, applicant_id, hashes)
    try:
        queues.send_now(settings().intake_queue_url, message.model_dump_json())
    except queues.QueueUnavailable as error:
        metrics.add_metric(name="RegistrationShed", unit="Count", value=1)
        logger.warning("intake queue did not take a registration", extra={"cause": str(error)})
        raise TooManyRequests(
            ErrorCode.BUSY, "registration is busy; try again shortly", settings().retry_after_seconds
        ) from None
    # Not counted here: a metric would cost every 202 its own EMF flush (about a tenth of the request's CPU,
    # docs/benchmarks.md), while API Gateway already counts the answers and the intake consumer counts what it
    # stores (IntakeStored), one flush per batch.
    logger.debug("registration accepted", extra={"applicant_id": applicant_id})
    return {
        "applicant_id": applicant_id,
        "status": Status.PENDING.value,
        "access_token": applicant["access_token"],
        "expires_at": applicant["expires_at"],
    }


def intake_message(form: RegistrationForm, applicant_id: str, hashes: dict[str, str]) -> IntakeMessage:
    """What the intake queue carries for an accepted registration: the person sealed, identities keyed hashes."""
    return IntakeMessage(
        applicant_id=applicant_id,
        submitted_at=clock.now(),
        nik_hash=hashes["nik"],
        email_hash=hashes["email"],
        phone_hash=hashes["phone"],
        family=hashes["family"],
        nik_last4=form.nik[-4:],
        regency_code=form.regency_code,
        employment_status=form.employment_status,
        declared_social_aid=form.receives_social_aid,
        personal_data=personal_data.seal_text(
            PersonalData.from_form(form).model_dump_json(), applicant_id, Purpose.APPLICANT_DATA
        ),
    )


_ANSWER = Purpose.IDEMPOTENCY_ANSWER


class _SealedAnswer(BaseIdempotencySerializer):
    """Keeps the access token sealed in the idempotency table: tokens are never stored in clear."""

    def to_dict(self, data: Any) -> dict[str, Any]:
        return {**data, "access_token": personal_data.seal_text(data["access_token"], data["applicant_id"], _ANSWER)}

    def from_dict(self, data: dict[str, Any]) -> Any:
        return {**data, "access_token": personal_data.open_text(data["access_token"], data["applicant_id"], _ANSWER)}


@caches.per_process
def _idempotency_config() -> IdempotencyConfig:
    return IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="body",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=_IDEMPOTENCY_TTL_SECONDS,
        hash_function="sha256",
    )


def _allocate(request: dict[str, str]) -> dict[str, str]:
    return _new_applicant()


def _queue_as(request: dict[str, str], form: RegistrationForm, applicant: dict[str, str]) -> dict[str, str]:
    return _queued(form, applicant)


@caches.per_process
def _idempotent(function: Callable[..., dict[str, str]], prefix: str) -> Any:
    """`function` run once per Idempotency-Key and body, its answer kept (sealed) under `prefix`."""
    return idempotent_function(
        function,
        data_keyword_argument="request",
        persistence_store=idempotency.persistence_layer(),
        config=_idempotency_config(),
        output_serializer=_SealedAnswer(),
        key_prefix=prefix,
    )
