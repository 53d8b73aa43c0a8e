"""Lambda's SQS event source, locally: receive a batch, hand the app's handler a Lambda-shaped event, delete only
the records that succeeded, and let the failures come back (after maxReceiveCount, SQS's redrive moves them to
the dead-letter queue, as on AWS).

One poller process runs one handler invocation at a time, as one Lambda container does; the stack starts as many
processes for a queue as its event source's maximum concurrency. A source with a batching window gathers records as
Lambda does: after the first ones, it keeps receiving until the batch is full or the window has passed.

Run as `python -m devstack.poller <handler name>` with the stack's environment.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import os
import random
import signal
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from chalice.app import SQSEventConfig

from devstack import faults, metering, programme_clock
from functions.observability import logger

# AWS leaves a failed record invisible for the queue's whole visibility timeout (six minutes here), so its five
# tries span half an hour. Locally a failed record comes back after 1, 2, 4, 8 s (doubling with each receive,
# at most RETRY_DELAY_MAX_SECONDS), so retries and dead-lettering play out in a test's time while an outage of
# a few seconds is still ridden out.
RETRY_DELAY_SECONDS = int(os.environ.get("DEVSTACK_RETRY_DELAY_SECONDS", "1"))
RETRY_DELAY_MAX_SECONDS = 16
# How long a received batch stays invisible to other pollers: a killed poller's batch reappears after this.
VISIBILITY_SECONDS = int(os.environ.get("DEVSTACK_VISIBILITY_SECONDS", "20"))


@dataclass(frozen=True)
class EventSource:
    name: str
    queue: str
    batch_size: int
    maximum_concurrency: int  # 0: no cap (Lambda scales the consumers out)
    handler_string: str
    batching_window_seconds: int = 0


def sqs_event_sources() -> list[EventSource]:
    """The app's SQS handlers, read from the Chalice app itself (the same list `chalice package` uses)."""
    from functions.app import app

    sources = []
    for source in app.event_sources:
        if isinstance(source, SQSEventConfig) and source.queue:
            sources.append(
                EventSource(
                    name=source.name,
                    queue=source.queue,
                    batch_size=source.batch_size,
                    maximum_concurrency=source.maximum_concurrency or 0,
                    handler_string=source.handler_string,
                    batching_window_seconds=source.maximum_batching_window_in_seconds,
                )
            )
    return sources


def _handler(handler_string: str) -> Any:
    module_name, _, attribute = handler_string.rpartition(".")
    return getattr(importlib.import_module(module_name), attribute)


class _Context:
    """The parts of Lambda's context object that handlers and Powertools read."""

    def __init__(self, name: str, timeout_seconds: float = 60.0) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def lambda_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    records = []
    for message in messages:
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": message.get("MessageAttributes", {}),
                "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


def failed_message_ids(result: Any, messages: list[dict[str, Any]]) -> set[str]:
    """Which records the handler reported as failed (a partial batch response), as Lambda reads it."""
    if not isinstance(result, dict) or "batchItemFailures" not in result:
        return set()
    known = {message["MessageId"] for message in messages}
    failed = {item.get("itemIdentifier") for item in result["batchItemFailures"]}
    # Lambda treats an unknown or empty identifier as a failure of the whole batch.
    return known if failed - known else failed


def _receives(message: dict[str, Any]) -> int:
    return int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))


def retry_delay(message: dict[str, Any]) -> int:
    return int(min(RETRY_DELAY_SECONDS * 2 ** (_receives(message) - 1), RETRY_DELAY_MAX_SECONDS))


class Poller:
    def __init__(self, source: EventSource) -> None:
        self.source = source
        metering.install()
        self.sqs = boto3.client("sqs")
        self.queue_url = self.sqs.get_queue_url(QueueName=source.queue)["QueueUrl"]
        self.queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.region = self.sqs.meta.region_name
        self.handler = _handler(source.handler_string)
        self.running = True
        metering.set_origin(source.name)  # the event source's own receives and deletes, as Lambda's poller makes

    def poll_once(self, wait_seconds: int = 1, batching_window: float = 0.0) -> int:
        """One invocation with the records there are; with `batching_window` (seconds), the records that come
        within that time of the first, up to a full batch."""
        messages = self._receive(self.source.batch_size, wait_seconds)
        if messages and batching_window:
            messages = self._fill(messages, time.monotonic() + batching_window)
        if not messages:
            return 0
        event = lambda_event(messages, self.queue_arn, self.region)
        try:
            with metering.invocation(self.source.name):
                answer = self.handler(event, _Context(self.source.name))
            failed = failed_message_ids(answer, messages)
        except Exception:
            logger.exception("handler failed the whole batch", extra={"handler": self.source.name})
            failed = {message["MessageId"] for message in messages}
        self._settle(messages, failed)
        return len(messages)

    def _receive(self, count: int, wait_seconds: int) -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=wait_seconds,
            VisibilityTimeout=VISIBILITY_SECONDS,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        return received

    def _fill(self, messages: list[dict[str, Any]], window_closes: float) -> list[dict[str, Any]]:
        while len(messages) < self.source.batch_size and (left := window_closes - time.monotonic()) > 0:
            if left < 1:
                time.sleep(left)  # SQS waits in whole seconds: the window's last part is slept, then what came is taken
            messages += self._receive(self.source.batch_size - len(messages), int(left))
        return messages

    def _settle(self, messages: list[dict[str, Any]], failed: set[str]) -> None:
        done = [m for m in messages if m["MessageId"] not in failed]
        retry = [m for m in messages if m["MessageId"] in failed]
        if faults.deliver_twice():
            # At-least-once, played hard: a first delivery that succeeded comes back once more, in a random order.
            again = [m for m in done if _receives(m) == 1]
            done = [m for m in done if _receives(m) > 1]
            self._come_back(again, lambda _: random.randint(0, 3))  # noqa: S311 - a fault schedule
        self._delete(done)
        self._come_back(retry, retry_delay)

    def _delete(self, done: list[dict[str, Any]]) -> None:
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )

    def _come_back(self, messages: list[dict[str, Any]], delay: Callable[[dict[str, Any]], int]) -> None:
        if messages:
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": delay(m)}
                    for i, m in enumerate(messages)
                ],
            )

    def run(self) -> None:
        while self.running:
            try:
                self.poll_once(batching_window=self.source.batching_window_seconds)
            except Exception:
                # The emulator refusing a call is no reason to stop polling; the batch comes back by itself.
                logger.exception("poll failed", extra={"handler": self.source.name})
                time.sleep(0.5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("handler", help="name of the app's SQS handler, e.g. intake_consumer")
    args = parser.parse_args(argv)
    faults.install()
    programme_clock.install()
    sources = {source.name: source for source in sqs_event_sources()}
    if args.handler not in sources:
        sys.exit(f"no SQS handler named {args.handler}; the app has {sorted(sources)}")
    poller = Poller(sources[args.handler])

    def stop(signum: int, frame: Any) -> None:
        poller.running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    poller.run()


if __name__ == "__main__":
    main()
