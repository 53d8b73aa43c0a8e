"""Integration tests run against moto in-process, provisioned from `template.yaml` as the local stack is."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devstack import provision
from devstack.stack import LOCAL_CREDENTIALS
from functions.settings import DEFAULT_REGION
from tests.helpers import reset_app_state


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A fresh moto account with the template's resources; the process environment points the app at it."""
    for key in [k for k in os.environ if k.startswith(("AWS_", "PRAKERJA_"))]:
        monkeypatch.delenv(key)
    for key, value in {**LOCAL_CREDENTIALS, "AWS_DEFAULT_REGION": DEFAULT_REGION}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        resources = provision.create_stack(boto3.session.Session(region_name=DEFAULT_REGION), None)
        for key, value in provision.function_environment(resources).items():
            monkeypatch.setenv(key, value)
        reset_app_state()
        yield resources
    reset_app_state()


def queue_messages(queue_url: str, limit: int = 100) -> list[dict[str, Any]]:
    """Drains up to `limit` messages from a queue (deleting them), for assertions."""
    sqs = boto3.client("sqs")
    found: list[dict[str, Any]] = []
    while len(found) < limit:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not batch:
            break
        for message in batch:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        found.extend(batch)
    return found
