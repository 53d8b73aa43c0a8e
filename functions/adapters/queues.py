"""Sending to the SQS queues. The API's send is short-fused: a queue that cannot take a message in time means
the caller is told to come back (429), never left waiting on a socket."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.aws_clients import client
from functions.settings import settings

_SQS_BATCH = 10


class QueueUnavailable(Exception):
    """The queue did not take the message; nothing was accepted."""


def _api_sqs() -> Any:
    current = settings()
    return client("sqs", read_timeout=current.intake_send_timeout_seconds, attempts=2)


def send_now(queue_url: str, body: str) -> None:
    """One message, from a request path: fails fast with `QueueUnavailable`."""
    try:
        _api_sqs().send_message(QueueUrl=queue_url, MessageBody=body)
    except (BotoCoreError, ClientError) as error:
        raise QueueUnavailable(type(error).__name__) from error


def send_later(queue_url: str, body: str, delay_seconds: int) -> None:
    """One message, from a consumer, delivered after `delay_seconds` (at most SQS's 900); raises if not taken."""
    client("sqs").send_message(QueueUrl=queue_url, MessageBody=body, DelaySeconds=max(0, min(delay_seconds, 900)))


def come_back_in(queue_url: str, receipt_handle: str, seconds: int) -> None:
    """A received message that failed comes back after `seconds` rather than the queue's whole visibility
    timeout (which is sized for a slow batch, not for a throttled send)."""
    client("sqs").change_message_visibility(
        QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=max(0, min(seconds, 43_200))
    )


def send_many(queue_url: str, bodies: Sequence[str]) -> list[int]:
    """Many messages, ten to a call; returns the positions of those the queue did not take."""
    sqs = client("sqs")
    refused: list[int] = []
    for start in range(0, len(bodies), _SQS_BATCH):
        entries = [
            {"Id": str(start + i), "MessageBody": body} for i, body in enumerate(bodies[start : start + _SQS_BATCH])
        ]
        try:
            answer = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        except (BotoCoreError, ClientError):
            refused.extend(range(start, start + len(entries)))
            continue
        refused.extend(int(failure["Id"]) for failure in answer.get("Failed", []))
    return refused


def send_all(queue_url: str, bodies: Sequence[str]) -> None:
    """Many messages, from a consumer: raises if any was not taken, so the caller's batch item is retried."""
    refused = send_many(queue_url, bodies)
    if refused:
        raise QueueUnavailable(f"{len(refused)} messages were not taken")
