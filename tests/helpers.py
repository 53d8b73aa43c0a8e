"""Shared by the test layers: forgetting process-wide caches, building Lambda-shaped SQS events."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from functions import caches
from functions.resources import INTAKE_QUEUE


def reset_app_state() -> None:
    """Forgets settings, clients and keys cached in this process, as a fresh Lambda container would."""
    caches.reset_all()


def sqs_record(body: str, receive_count: int = 1, queue: str = INTAKE_QUEUE) -> dict[str, Any]:
    """One SQS record as Lambda delivers it, with a message id of its own."""
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": uuid.uuid4().hex,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1586595600000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1586595600000",
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:ap-southeast-3:123456789012:{queue}",
        "awsRegion": "ap-southeast-3",
    }


def sqs_event(*bodies: str) -> dict[str, Any]:
    return {"Records": [sqs_record(body) for body in bodies]}


class FakeLambdaContext:
    function_name = "test"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:ap-southeast-3:123456789012:function:test"
    memory_limit_in_mb = 512
    aws_request_id = "test-request"
    log_group_name = "/aws/lambda/test"
    log_stream_name = "test"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def registration_event(body: str) -> dict[str, Any]:
    """An API Gateway (REST, proxy) event for `POST /registrations`, as Lambda receives it."""
    return {
        "resource": "/registrations",
        "path": "/registrations",
        "httpMethod": "POST",
        "headers": {"content-type": "application/json", "host": "api.example.test"},
        "multiValueHeaders": {"content-type": ["application/json"], "host": ["api.example.test"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/registrations",
            "httpMethod": "POST",
            "path": "/api/registrations",
            "stage": "api",
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "203.0.113.7"},
        },
        "body": body,
        "isBase64Encoded": False,
    }


def counted(call: Any, name: str, calls: list[str]) -> Any:
    """`call`, noting `name` in `calls` each time it is made."""

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(name)
        return call(*args, **kwargs)

    return counting
