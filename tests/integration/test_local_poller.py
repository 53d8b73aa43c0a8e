"""The local stack's SQS poller behaves as Lambda's event source: partial failures retry, then dead-letter."""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3

from devstack import poller
from devstack.poller import EventSource, Poller, failed_message_ids
from functions.resources import BATCHING_WINDOW_SECONDS

SEEN: list[dict[str, Any]] = []


def half_failing_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Fails every record whose body is "bad", as a handler with a partial batch response does."""
    SEEN.extend(event["Records"])
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "bad"]}


def exploding_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise RuntimeError("the whole invocation failed")


def source(handler: str) -> EventSource:
    return EventSource("test", "prakerja-intake", 10, 1, f"{__name__}.{handler}")


INVOCATIONS: list[list[str]] = []


def counting_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    INVOCATIONS.append([r["body"] for r in event["Records"]])
    return {"batchItemFailures": []}


def depth(url: str) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_successes_are_deleted_and_failures_retry_until_the_dead_letter_queue(
    aws: dict[str, str], monkeypatch: Any
) -> None:
    monkeypatch.setattr(poller, "RETRY_DELAY_SECONDS", 0)
    SEEN.clear()
    sqs = boto3.client("sqs")
    intake = sqs.get_queue_url(QueueName="prakerja-intake")["QueueUrl"]
    dead_letters = sqs.get_queue_url(QueueName="prakerja-intake-dlq")["QueueUrl"]
    for body in ("good-1", "bad", "good-2"):
        sqs.send_message(QueueUrl=intake, MessageBody=body)
    local = Poller(source("half_failing_handler"))

    local.poll_once(wait_seconds=0)
    assert {r["body"] for r in SEEN} == {"good-1", "bad", "good-2"}
    assert len({r["messageId"] for r in SEEN}) == 3
    assert all(r["eventSource"] == "aws:sqs" and r["eventSourceARN"].endswith(":prakerja-intake") for r in SEEN)
    assert depth(intake) == 1  # only the failed record is left

    deadline = time.monotonic() + 30
    while depth(dead_letters) == 0 and time.monotonic() < deadline:
        local.poll_once(wait_seconds=0)
        time.sleep(0.05)
    receive_counts = [int(r["attributes"]["ApproximateReceiveCount"]) for r in SEEN if r["body"] == "bad"]
    assert receive_counts == [1, 2, 3, 4, 5]  # maxReceiveCount 5, then SQS's redrive moves it
    assert depth(intake) == 0
    assert depth(dead_letters) == 1


def test_a_handler_that_raises_fails_the_whole_batch(aws: dict[str, str], monkeypatch: Any) -> None:
    monkeypatch.setattr(poller, "RETRY_DELAY_SECONDS", 0)
    sqs = boto3.client("sqs")
    intake = sqs.get_queue_url(QueueName="prakerja-intake")["QueueUrl"]
    for body in ("one", "two"):
        sqs.send_message(QueueUrl=intake, MessageBody=body)
    assert Poller(source("exploding_handler")).poll_once(wait_seconds=0) == 2
    assert depth(intake) == 2


def test_a_batching_window_gathers_what_comes_within_it_into_one_invocation(aws: dict[str, str]) -> None:
    INVOCATIONS.clear()
    sqs = boto3.client("sqs")
    intake = sqs.get_queue_url(QueueName="prakerja-intake")["QueueUrl"]
    local = Poller(source("counting_handler"))
    # Given one record waiting, and two more sent while the poller waits for a fuller batch
    sqs.send_message(QueueUrl=intake, MessageBody="first")
    later = threading.Timer(0.5, lambda: [sqs.send_message(QueueUrl=intake, MessageBody=b) for b in ("2", "3")])
    later.start()
    started = time.monotonic()
    # When it polls with a window of 2 s
    assert local.poll_once(wait_seconds=0, batching_window=2) == 3
    later.join()
    # Then one invocation takes all three, after the whole window (the batch of 10 never filled)
    assert INVOCATIONS == [["first", "2", "3"]]
    assert 2 <= time.monotonic() - started < 5
    # And a full batch goes at once, without waiting out the window
    for number in range(12):
        sqs.send_message(QueueUrl=intake, MessageBody=f"m{number}")
    started = time.monotonic()
    assert local.poll_once(wait_seconds=0, batching_window=5) == 10
    assert time.monotonic() - started < 2.5
    assert depth(intake) == 2


def test_the_local_sources_take_their_batching_windows_from_the_app() -> None:
    windows = {s.name: s.batching_window_seconds for s in poller.sqs_event_sources()}
    assert windows["nik_check_consumer"] == windows["notification_consumer"] == BATCHING_WINDOW_SECONDS > 0
    assert windows["intake_consumer"] == windows["email_code_consumer"] == 0  # codes follow these at once


def test_an_unknown_item_identifier_fails_the_whole_batch_as_lambda_does() -> None:
    messages = [{"MessageId": "a"}, {"MessageId": "b"}]
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "a"}]}, messages) == {"a"}
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, messages) == {"a", "b"}
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": ""}]}, messages) == {"a", "b"}
    assert failed_message_ids({"batchItemFailures": []}, messages) == set()
    assert failed_message_ids(None, messages) == set()
