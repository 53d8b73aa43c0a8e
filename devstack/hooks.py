"""Botocore hooks, shared by the local stack (its sink and faults) and the benchmarks (canned answers, recorded
calls): a handler on every client a process makes from now on, and the pieces a `before-send` handler needs to
answer a call itself (the call's target, a response botocore parses as it would an endpoint's)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import botocore.session
from botocore.awsrequest import AWSResponse

JSON10 = "application/x-amz-json-1.0"  # DynamoDB, SQS
JSON11 = "application/x-amz-json-1.1"  # KMS

Answer = tuple[bytes, dict[str, str]]  # a response's body and headers, built once and given many times


def on_every_client(event: str, handler: Callable[..., Any]) -> None:
    """Registers `handler` for a botocore event on every client made from now on in this process (boto3's and
    pynamodb's alike: both make their clients through botocore sessions)."""
    original = botocore.session.Session.create_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        client.meta.events.register(event, handler)
        return client

    botocore.session.Session.create_client = create_client


def target(request: Any) -> str | None:
    """The operation a prepared JSON-protocol request calls (`X-Amz-Target`, e.g. `DynamoDB_20120810.Query`)."""
    value = request.headers.get("X-Amz-Target")
    return value.decode() if isinstance(value, bytes) else value


class _Body:
    """A response body as botocore's parser reads it from the socket."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


def answer(payload: dict[str, Any], content_type: str = JSON10, **headers: str) -> Answer:
    """A JSON answer's body and headers (with a request id and its length), to be given by `respond`."""
    body = json.dumps(payload).encode()
    return body, {
        "x-amzn-RequestId": str(uuid.uuid4()),
        "Content-Type": content_type,
        "Content-Length": str(len(body)),
        **headers,
    }


def respond(request: Any, given: Answer, status: int = 200) -> AWSResponse:
    """What a `before-send` handler returns to answer `request` itself: botocore parses it as an endpoint's."""
    body, headers = given
    return AWSResponse(request.url, status, headers, _Body(body))
