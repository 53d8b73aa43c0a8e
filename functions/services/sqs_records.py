"""The SQS records each consumer takes, each body parsed into its message by Powertools Parser.

Apart from the services, and imported by the consumers only when a batch arrives: the Parser's models package
loads every AWS event model (about 150 ms), which the API function's cold start has no use for.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import Json

from functions.domain import notices
from functions.domain.messages import (
    IncentiveShard,
    IntakeMessage,
    NikCheckRequest,
    PaymentRequest,
    PayoutCheckRequest,
    PoolPartRequest,
    PublishChunk,
    RevocationShard,
)


class IntakeRecord(SqsRecordModel):
    body: Json[IntakeMessage]


class NikCheckRecord(SqsRecordModel):
    body: Json[NikCheckRequest]


class NotificationRecord(SqsRecordModel):
    body: Json[notices.Told]


class CodeRecord(SqsRecordModel):
    body: Json[notices.Code]


class PublishRecord(SqsRecordModel):
    body: Json[PublishChunk]


class RevocationRecord(SqsRecordModel):
    body: Json[RevocationShard]


class PoolPartRecord(SqsRecordModel):
    body: Json[PoolPartRequest]


class PayoutCheckRecord(SqsRecordModel):
    body: Json[PayoutCheckRequest]


class IncentiveRecord(SqsRecordModel):
    body: Json[IncentiveShard]


class PaymentQueueRecord(SqsRecordModel):
    body: Json[PaymentRequest]
