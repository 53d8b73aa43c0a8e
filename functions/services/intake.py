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
    issued = email_codes.code_for_registration(message.email_hash, now)
    outcome = applicants.register(message, sealed=base64.b64decode(message.personal_data), code=issued, now=now)
    # Stored now or before: either way the code message may go (again). It sends the applicant's current code if
    # that is still unsent and nothing otherwise, so a registration whose first message was lost gets its code.
    email_codes.send(message.applicant_id, sends.for_message(record.messageId))
    metrics.add_metric(name=f"Intake{outcome.name.title().replace('_', '')}", unit="Count", value=1)
    logger.info("registration stored", extra={"applicant_id": message.applicant_id, "outcome": outcome.value})
