"""The intake consumer: each registration message becomes one stored applicant, exactly once."""

from __future__ import annotations

import base64
import datetime as dt

from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import Json

from functions.domain.intake import IntakeMessage
from functions.observability import logger, metrics
from functions.settings import settings
from functions.store import applicants


class IntakeRecord(SqsRecordModel):
    body: Json[IntakeMessage]


def store_intake_record(record: IntakeRecord) -> None:
    message = record.body
    result = applicants.store_registration(
        message,
        sealed=base64.b64decode(message.personal_data),
        now=dt.datetime.now(dt.UTC),
        counter_shards=settings().counter_shards,
    )
    metrics.add_metric(name=f"Intake{result.outcome.name.title().replace('_', '')}", unit="Count", value=1)
    logger.info(
        "registration stored",
        extra={"applicant_id": message.applicant_id, "outcome": result.outcome.value, "reason": result.reason},
    )
