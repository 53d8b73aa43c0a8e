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
from typing import Any

from botocore.awsrequest import AWSResponse

from devstack import hooks


def answer_in_process(request: Any, **_: Any) -> AWSResponse | None:
    target = hooks.target(request)
    if target == "AmazonSQS.SendMessage":
        sent = json.loads(request.body)["MessageBody"]
        digest = hashlib.md5(sent.encode()).hexdigest()  # noqa: S324 - SQS's own checksum of the body
        return hooks.respond(request, hooks.answer({"MessageId": str(uuid.uuid4()), "MD5OfMessageBody": digest}))
    if target == "DynamoDB_20120810.BatchGetItem":
        tables = json.loads(request.body)["RequestItems"]
        return hooks.respond(
            request, hooks.answer({"Responses": {table: [] for table in tables}, "UnprocessedKeys": {}})
        )
    return None  # anything else goes to its endpoint


def install() -> None:
    """The intake queue's client becomes a no-op sink; every botocore client made from now on in this process
    answers the identity-guard read in-process."""
    from functions.adapters import queues

    queues.send_now = lambda queue_url, body: None
    hooks.on_every_client("before-send", answer_in_process)
