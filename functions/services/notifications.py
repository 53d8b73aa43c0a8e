"""Telling applicants things: requests go on the notifications queue, so a slow mail service never slows the API;
the consumer looks the applicant up, opens its contact details and delivers each request once."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import Json

from functions import clock
from functions.adapters import personal_data, queues
from functions.adapters.notifier import Notification, deliver
from functions.domain import notices
from functions.domain.messages import NotificationRequest
from functions.observability import logger, metrics
from functions.settings import settings
from functions.store import applicants, idempotency


def email_code_request(applicant_id: str, code_id: str, code: str) -> NotificationRequest:
    return NotificationRequest(
        notification_id=f"email_code:{applicant_id}:{code_id}",
        kind="email_code",
        applicant_id=applicant_id,
        code_id=code_id,
        sealed_code=personal_data.seal_text(code, applicant_id),
    )


def nik_result_request(applicant_id: str, status: str, reason: str | None) -> NotificationRequest:
    return NotificationRequest(
        notification_id=f"nik_result:{applicant_id}",
        kind="nik_result",
        applicant_id=applicant_id,
        status=status,
        reason=reason,
    )


def acceptance_request(applicant_id: str, wave: int, card_number: str) -> NotificationRequest:
    return NotificationRequest(
        notification_id=f"acceptance:{applicant_id}:{wave}",
        kind="acceptance",
        applicant_id=applicant_id,
        wave=wave,
        card_number=card_number,
    )


def not_selected_request(applicant_id: str, wave: int) -> NotificationRequest:
    return NotificationRequest(
        notification_id=f"not_selected:{applicant_id}:{wave}", kind="not_selected", applicant_id=applicant_id, wave=wave
    )


def queue(requests: Sequence[NotificationRequest]) -> None:
    queues.send_all(settings().notifications_queue_url, [request.model_dump_json() for request in requests])


class NotificationRecord(SqsRecordModel):
    body: Json[NotificationRequest]


def deliver_record(record: NotificationRecord) -> None:
    _deliver_once()(request=record.body.model_dump())


def bind_invocation(lambda_context: Any) -> None:
    """Lets Idempotency expire a delivery left in progress by a crashed invocation when its time is up."""
    _idempotency_config().register_lambda_context(lambda_context)


@functools.cache
def _idempotency_config() -> IdempotencyConfig:
    return IdempotencyConfig(event_key_jmespath="notification_id", expires_after_seconds=7 * 24 * 3600)


@functools.cache
def _deliver_once() -> Any:
    return idempotent_function(
        _deliver,
        data_keyword_argument="request",
        persistence_store=idempotency.persistence_layer(),
        config=_idempotency_config(),
        key_prefix="notification",
    )


def _deliver(request: dict[str, Any]) -> dict[str, str]:
    wanted = NotificationRequest.model_validate(request)
    applicant = applicants.find(wanted.applicant_id)
    if applicant is None:
        raise LookupError("the applicant is not stored yet")  # the message comes back once it is
    if wanted.kind == "email_code" and applicant.email_code_id != wanted.code_id:
        logger.info("stale email code not sent", extra={"applicant_id": wanted.applicant_id})
        return {"delivered": "stale"}
    person = personal_data.open_json(applicant.personal_data, applicant.applicant_id)
    details: dict[str, Any]
    channels = ["email"]
    if wanted.kind == "email_code":
        code = personal_data.open_text(wanted.sealed_code or "", applicant.applicant_id)
        notice = notices.email_code(code, settings().email_code_ttl_seconds // 3600)
        details = {"code": code}
    elif wanted.kind == "nik_result":
        notice = notices.nik_result(wanted.status or "", wanted.reason)
        details = {"status": wanted.status, "reason": wanted.reason}
    elif wanted.kind == "acceptance":
        notice = notices.acceptance(wanted.wave or 0, wanted.card_number or "")
        details = {"wave": wanted.wave, "card_number": wanted.card_number}
        channels = ["email", "sms"]  # the card number matters enough to reach the phone too
    elif wanted.kind == "not_selected":
        notice = notices.not_selected(wanted.wave or 0)
        details = {"wave": wanted.wave, "next_wave": (wanted.wave or 0) + 1}
    else:
        raise ValueError(f"unknown notification kind {wanted.kind}")
    for channel in channels:
        deliver(
            Notification(
                to=person["email"] if channel == "email" else person["phone"],
                channel=channel,
                kind=wanted.kind,
                applicant_id=applicant.applicant_id,
                subject=notice.subject,
                text=notice.text,
                details=details,
            )
        )
    if wanted.kind == "email_code" and wanted.code_id:
        applicants.mark_email_code_sent(applicant.applicant_id, wanted.code_id, clock.now())
    metrics.add_metric(name="NotificationSent", unit="Count", value=1)
    logger.info("notification sent", extra={"applicant_id": applicant.applicant_id, "kind": wanted.kind})
    return {"delivered": wanted.kind}
