"""Integration tests run against moto in-process, provisioned from `template.yaml` as the local stack is."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devstack import moto_server, provision
from devstack.stack import LOCAL_CREDENTIALS
from functions.settings import DEFAULT_REGION
from tests.helpers import reset_app_state

# The same emulator as the local stack's (devstack.moto_server's fixes to moto), in-process.
moto_server.install()


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


@contextlib.contextmanager
def serving(server: ThreadingHTTPServer) -> Iterator[None]:
    """A local stand-in for an outside service, served from a thread of this process until the test ends."""
    # Polled often, so that stopping it costs a test little.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def registry_service(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The local civil registry, a real HTTP service on a free port, answering from a CSV in tmp_path."""
    from devstack.processes import free_port
    from devstack.registry import serve

    port = free_port()
    csv_path = tmp_path / "registry.csv"
    server = serve(port, csv_path)
    monkeypatch.setenv("PRAKERJA_REGISTRY_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("PRAKERJA_REGISTRY_TIMEOUT_SECONDS", "0.5")
    monkeypatch.setenv("PRAKERJA_REGISTRY_RETRIES", "1")
    monkeypatch.setenv("PRAKERJA_NOTIFIER", "outbox")
    monkeypatch.setenv("PRAKERJA_OUTBOX", str(tmp_path / "outbox.jsonl"))
    reset_app_state()
    with serving(server):
        yield server


@pytest.fixture
def payment_provider_service(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The local payment provider, a real HTTP service on a free port, its accounts from a CSV in tmp_path; the
    client's settings are short, so that a timeout costs a test little."""
    from devstack.payment_provider import serve
    from devstack.processes import free_port

    port = free_port()
    server = serve(port, tmp_path / "payout-accounts.csv")
    for name, value in {
        "URL": f"http://127.0.0.1:{port}",
        "TIMEOUT_SECONDS": "0.3",
        "RETRIES": "1",
        "REQUESTS_PER_SECOND": "1000",
        "BREAKER_FAILURES": "3",
        "BREAKER_RESET_SECONDS": "60",
    }.items():
        monkeypatch.setenv(f"PRAKERJA_PAYMENT_PROVIDER_{name}", value)
    reset_app_state()
    with serving(server):
        yield server
    reset_app_state()


def run_consumers(*names: str, rounds: int = 50) -> None:
    """Feeds the named SQS handlers their queues (as the local stack's pollers do) until the queues are empty."""
    from devstack import poller

    sources = {source.name: source for source in poller.sqs_event_sources()}
    pollers = [poller.Poller(sources[name]) for name in names]
    for _ in range(rounds):
        if sum(p.poll_once(wait_seconds=0) for p in pollers) == 0:
            return


def open_first_wave(at: dt.datetime | None = None) -> list[str]:
    """Wave 1 opened as on a fresh deployment: by the closing schedule's first run (the API never opens a wave)."""
    from devstack.scheduler import Schedule, scheduled_event
    from functions import clock
    from functions.select import catch_up_waves

    event = scheduled_event(Schedule("catch_up_waves", "rate(1 hour)", ""), at or clock.now())
    done: list[str] = catch_up_waves(event, None)
    return done
