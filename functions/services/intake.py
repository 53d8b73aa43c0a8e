"""The intake consumer: each registration message becomes one stored applicant, exactly once."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from functions import clock
from functions.observability import logger, metrics
from functions.services import email_codes
from functions.settings import settings
from functions.store import applicants

if TYPE_CHECKING:
    from functions.services.sqs_records import IntakeRecord


def store_intake_record(record: IntakeRecord) -> None:
    message = record.body
    now = clock.now()
    code, issued = email_codes.issue(message.applicant_id, now)
    result = applicants.store_registration(
        message,
        sealed=base64.b64decode(message.personal_data),
        code=issued,
        now=now,
        counter_shards=settings().counter_shards,
    )
    if result.outcome is applicants.Outcome.STORED:
        email_codes.send(message.applicant_id, issued.code_id, code, for_message=record.messageId)
    elif result.outcome is applicants.Outcome.ALREADY_STORED:
        email_codes.resume_unsent(message.applicant_id, now, for_message=record.messageId)
    metrics.add_metric(name=f"Intake{result.outcome.name.title().replace('_', '')}", unit="Count", value=1)
    logger.info(
        "registration stored",
        extra={"applicant_id": message.applicant_id, "outcome": result.outcome.value, "reason": result.reason},
    )
