"""The intake consumer: each registration message becomes one stored applicant, exactly once."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from functions import clock
from functions.observability import logger, metrics
from functions.services import email_codes, notifications
from functions.store import applicants

if TYPE_CHECKING:
    from functions.services.sqs_records import IntakeRecord


def store_intake_record(record: IntakeRecord, sends: notifications.BatchSends) -> None:
    message = record.body
    now = clock.now()
    code, issued = email_codes.issue(message.applicant_id, now)
    outcome = applicants.register(message, sealed=base64.b64decode(message.personal_data), code=issued, now=now)
    sender = sends.for_message(record.messageId)
    if outcome is applicants.Outcome.STORED:
        email_codes.send(message.applicant_id, issued.code_id, code, sender)
    else:
        email_codes.resume_unsent(message.applicant_id, now, sender)
    metrics.add_metric(name=f"Intake{outcome.name.title().replace('_', '')}", unit="Count", value=1)
    logger.info("registration stored", extra={"applicant_id": message.applicant_id, "outcome": outcome.value})
