"""The replay's no-op sink, so that a load test measures the ceiling of our own gateway and handler rather than
the emulator's: the intake queue's client takes each message and does nothing with it, and the identity-guard
read is answered in-process (from a botocore `before-send` handler, so its validation, serialisation, signing
and parsing still run as against AWS). Everything else (KMS at a worker's first request, the keyring) still goes
to its endpoint.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

from botocore.awsrequest import AWSResponse

from devstack import hooks

_JSON10 = "application/x-amz-json-1.0"


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


def _answer(request: Any, payload: dict[str, Any]) -> AWSResponse:
    body = json.dumps(payload).encode()
    headers = {"x-amzn-RequestId": str(uuid.uuid4()), "Content-Type": _JSON10, "Content-Length": str(len(body))}
    return AWSResponse(request.url, 200, headers, _Body(body))


def answer_in_process(request: Any, **_: Any) -> AWSResponse | None:
    target = request.headers.get("X-Amz-Target")
    target = target.decode() if isinstance(target, bytes) else target
    if target == "AmazonSQS.SendMessage":
        sent = json.loads(request.body)["MessageBody"]
        return _answer(
            request,
            {"MessageId": str(uuid.uuid4()), "MD5OfMessageBody": hashlib.md5(sent.encode()).hexdigest()},  # noqa: S324
        )
    if target == "DynamoDB_20120810.BatchGetItem":
        tables = json.loads(request.body)["RequestItems"]
        return _answer(request, {"Responses": {table: [] for table in tables}, "UnprocessedKeys": {}})
    return None  # anything else goes to its endpoint


def install() -> None:
    """The intake queue's client becomes a no-op sink; every botocore client made from now on in this process
    answers the identity-guard read in-process."""
    from functions.adapters import queues

    queues.send_now = lambda queue_url, body: None
    hooks.on_every_client("before-send", answer_in_process)
