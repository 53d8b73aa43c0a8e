"""Where Powertools Idempotency keeps the first answer to each `Idempotency-Key` (24 h, then DynamoDB's TTL)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from functions import caches
from functions.aws_clients import client
from functions.settings import settings


@caches.per_process
def persistence_layer() -> DynamoDBPersistenceLayer:
    return DynamoDBPersistenceLayer(table_name=settings().idempotency_table, boto3_client=client("dynamodb"))
