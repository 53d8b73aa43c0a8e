"""boto3 clients, made once per process on first use (endpoints from the AWS variables, as boto3 reads them).

Our code builds every request these clients send, so botocore's client-side parameter validation is off (as
pynamodb has it for its own DynamoDB client): about 6% of a call's CPU when answered from memory, measured with
`bench/bench_registration_request.py`. The service still validates what it receives, and the tests run against
moto, which does too.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from functions import caches
from functions.settings import settings


@caches.per_process
def client(service: str, *, read_timeout: float = 10.0, attempts: int = 3) -> Any:
    current = settings()
    config = Config(
        region_name=current.region,
        connect_timeout=2,
        read_timeout=read_timeout,
        retries={"max_attempts": attempts, "mode": "standard"},
        max_pool_connections=50,
        parameter_validation=False,
    )
    return boto3.session.Session().client(service, config=config)


# Errors that say "not now" (capacity, throttling, a brief outage), after the SDK's own retries gave up.
TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "TransactionConflictException",
        "InternalServerError",
        "ServiceUnavailable",
        "KMSInternalException",
    }
)


def is_transient(error: BaseException) -> bool:
    """True for an AWS failure worth answering with "come back shortly" rather than as a fault of ours."""
    from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError
    from pynamodb.exceptions import PynamoDBException

    if isinstance(error, ConnectionError | ReadTimeoutError):
        return True
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code") in TRANSIENT_CODES
    if isinstance(error, PynamoDBException) and error.cause_response_code in TRANSIENT_CODES:
        return True
    # Libraries wrap AWS errors in their own (pynamodb's `cause`, Powertools Idempotency's `raise ... from`)
    cause = getattr(error, "cause", None) or error.__cause__
    return isinstance(cause, BaseException) and is_transient(cause)
