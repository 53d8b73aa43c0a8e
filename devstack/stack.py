"""The embedded local stack: moto's server, `template.yaml` provisioned on it, the gateway, the SQS pollers.

Every part is a child process on a free loopback port, started here and stopped by its process id. Pointing at
another endpoint (LocalStack, AWS) is `AWS_ENDPOINT_URL` and the usual AWS variables, without this module.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer

from devstack import metering, programme_clock, provision
from devstack.code_latency import FIELDS, CodeLatency
from devstack.outbox import OutboxFollower
from devstack.poller import EventSource, sqs_event_sources
from devstack.processes import LOOPBACK, Child, free_port, start_python, wait_for_http
from functions.resources import POOL_PARTS_QUEUE
from functions.settings import DEFAULT_REGION

LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# The most poller processes one SQS event source gets locally, whatever its cap on Lambda.
LOCAL_POLLERS_AT_MOST = 4


class EmbeddedStack:
    def __init__(
        self,
        workdir: Path,
        *,
        gateway_workers: int = 4,
        settings: dict[str, str] | None = None,
        clock_speed: float = 0.0,
        gateway_env: dict[str, str] | None = None,
        uncapped_pollers: int = 2,
    ) -> None:
        self.workdir = workdir.resolve()
        self.log_dir = self.workdir / "logs"
        self.meter_dir = self.log_dir / "meter"
        # Operators' accounts minted admin tokens for: recorded by name where an admin acts (claim releases,
        # forced closes), on purpose, unlike applicants' personal data.
        self.operators: set[str] = set()
        self.gateway_workers = gateway_workers
        self.extra_settings = settings or {}
        self.children: list[Child] = []
        self.pollers: dict[str, list[Child]] = {}
        self.env: dict[str, str] = {}
        self.api_url = ""
        self.aws_endpoint = ""
        self.sqs_endpoint = ""
        self.registry_url = ""
        self.payment_provider_url = ""
        self.scheduler_url = ""
        self.clock_speed = clock_speed
        self.gateway_env = gateway_env or {}
        self.uncapped_pollers = uncapped_pollers
        self.registry_csv = self.workdir / "registry.csv"
        self.payout_accounts_csv = self.workdir / "payout-accounts.csv"
        self.outbox_path = self.workdir / "outbox.jsonl"
        self.outbox_reader = OutboxFollower(self.outbox_path)
        self.programme_clock = programme_clock.ProgrammeClock(self.workdir / "clock.json")

    # --- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> EmbeddedStack:
        self.workdir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.log_dir, ignore_errors=True)
        self.meter_dir.mkdir(parents=True)
        self.outbox_path.unlink(missing_ok=True)
        self.outbox_reader = OutboxFollower(self.outbox_path)
        self.programme_clock.path.unlink(missing_ok=True)
        try:
            # moto serves a call on one core at a time; SQS gets a server of its own so that both cores work.
            self.aws_endpoint = self._start_moto("moto")
            self.sqs_endpoint = self._start_moto("moto-sqs")
            self.registry_url = self._start_stand_in("registry", self.registry_csv)
            self.payment_provider_url = self._start_stand_in("payment_provider", self.payout_accounts_csv)
            self._provision()
            self._start_gateway()
            for source in sqs_event_sources():
                # A capped source gets its cap, up to a few processes on a laptop's cores (the pool-part workers'
                # cap is 32); an uncapped one, which Lambda would scale out, a few.
                count = (
                    min(source.maximum_concurrency, LOCAL_POLLERS_AT_MOST)
                    if source.maximum_concurrency
                    else self.uncapped_pollers
                )
                self.pollers[source.name] = [self._start_poller(source, i) for i in range(count)]
            self._start_scheduler()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        # All told at once: each poller takes about a second to finish its receive, and there are a dozen.
        for child in reversed(self.children):
            child.terminate()
        for child in reversed(self.children):
            child.stop()
        self.children.clear()
        self.pollers.clear()

    def __enter__(self) -> EmbeddedStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- parts -------------------------------------------------------------------------------------------
    def _base_env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "PRAKERJA_"))}
        env.update(LOCAL_CREDENTIALS)
        env.update(
            {
                "AWS_DEFAULT_REGION": DEFAULT_REGION,
                "AWS_REGION": DEFAULT_REGION,
                "PYTHONPATH": str(provision.ROOT),
                "PYTHONUNBUFFERED": "1",
                "PRAKERJA_LOCAL_DIR": str(self.workdir),
                "POWERTOOLS_METRICS_NAMESPACE": "Prakerja",
            }
        )
        return env

    def _start_moto(self, name: str) -> str:
        port = free_port()
        args = ["-m", "devstack.moto_server", "-H", LOOPBACK, "-p", str(port)]
        moto = start_python(name, args, self._base_env(), self.log_dir, cwd=provision.ROOT)
        self.children.append(moto)
        endpoint = f"http://{LOOPBACK}:{port}"
        wait_for_http(f"{endpoint}/moto-api/", moto)
        return endpoint

    def _start_stand_in(self, name: str, csv_path: Path) -> str:
        """One of the outside services' local stand-ins (`devstack.<name>`), answering from `csv_path`: its URL."""
        port = free_port()
        args = ["-m", f"devstack.{name}", "--port", str(port), "--csv", str(csv_path)]
        stand_in = start_python(name, args, self._base_env(), self.log_dir, cwd=provision.ROOT)
        self.children.append(stand_in)
        url = f"http://{LOOPBACK}:{port}"
        wait_for_http(f"{url}/_stats", stand_in)
        return url

    def _provision(self) -> None:
        """The same template on both emulators; each serves its own services' resources."""
        session = boto3.session.Session(region_name=DEFAULT_REGION, **_session_credentials())
        resources = provision.create_stack(session, self.aws_endpoint)
        queues = provision.create_stack(session, self.sqs_endpoint)
        resources.update({name: url for name, url in queues.items() if url.startswith(self.sqs_endpoint)})
        self.resources = resources
        self.env = {
            **self._base_env(),
            "AWS_ENDPOINT_URL": self.aws_endpoint,
            "AWS_ENDPOINT_URL_SQS": self.sqs_endpoint,
            **provision.function_environment(
                resources,
                parameters={"CivilRegistryUrl": self.registry_url, "PaymentProviderUrl": self.payment_provider_url},
            ),
            # Locally, messages to applicants go to the outbox file instead of SES and SNS.
            "PRAKERJA_NOTIFIER": "outbox",
            "PRAKERJA_OUTBOX": str(self.outbox_path),
            "PRAKERJA_REGISTRY_CSV": str(self.registry_csv),
            "PRAKERJA_PAYOUT_ACCOUNTS_CSV": str(self.payout_accounts_csv),
            # Locally the circuit to the registry closes again sooner, to match the poller's shorter retries.
            "PRAKERJA_REGISTRY_BREAKER_RESET_SECONDS": "3",
            # Each invocation's duration, and the function each AWS call is made for (devstack.metering).
            metering.METER_DIR: str(self.meter_dir),
            # One programme time for the gateway, the pollers and the scheduler (devstack.programme_clock).
            programme_clock.CLOCK_FILE: str(self.programme_clock.path),
            **self.extra_settings,
        }

    def _start_gateway(self) -> None:
        port = free_port()
        args = [
            "-m", "gunicorn",
            "--workers", str(self.gateway_workers),
            "--bind", f"{LOOPBACK}:{port}",
            "--backlog", "4096",
            "--timeout", "60",
            "--log-level", "warning",
            "devstack.gateway:application",
        ]  # fmt: skip
        gateway = start_python("gateway", args, {**self.env, **self.gateway_env}, self.log_dir, cwd=provision.ROOT)
        self.children.append(gateway)
        self.api_url = f"http://{LOOPBACK}:{port}"
        wait_for_http(f"{self.api_url}/", gateway)

    def _start_scheduler(self) -> None:
        port = free_port()
        args = ["-m", "devstack.scheduler", "--port", str(port), "--tick-on-start", "--speed", str(self.clock_speed)]
        scheduler = start_python("scheduler", args, self.env, self.log_dir, cwd=provision.ROOT)
        self.children.append(scheduler)
        self.scheduler_url = f"http://{LOOPBACK}:{port}"
        wait_for_http(f"{self.scheduler_url}/clock", scheduler)

    def restart_poller(self, name: str, index: int) -> Child:
        """A fresh poller process in place of one that died (or was killed), as Lambda starts a new container."""
        source = {s.name: s for s in sqs_event_sources()}[name]
        return self._start_poller(source, index)

    def _start_poller(self, source: EventSource, index: int) -> Child:
        child = start_python(
            f"poller-{source.name}-{index}",
            ["-m", "devstack.poller", source.name],
            self.env,
            self.log_dir,
            cwd=provision.ROOT,
        )
        self.children.append(child)
        return child

    # --- for tests and tools -----------------------------------------------------------------------------
    def client(self, service: str) -> Any:
        endpoint = self.sqs_endpoint if service == "sqs" else self.aws_endpoint
        return boto3.session.Session(region_name=DEFAULT_REGION, **_session_credentials()).client(
            service, endpoint_url=endpoint
        )

    def queue_depth(self, queue_name: str) -> dict[str, int]:
        sqs = self.client("sqs")
        url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return {
            "visible": int(attributes["ApproximateNumberOfMessages"]),
            "in_flight": int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        }

    def wait_for_empty_queues(self, queue_names: list[str], timeout_seconds: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if all(sum(self.queue_depth(name).values()) == 0 for name in queue_names):
                return
            time.sleep(0.25)
        # What was left, so that a run stopped here says where it stood (depths by queue, visible and in flight).
        left = {name: self.queue_depth(name) for name in queue_names}
        raise TimeoutError(f"queues did not drain within {timeout_seconds:.0f}s: {left}")

    def wait_until_idle(self, timeout_seconds: float = 600.0) -> None:
        """Until every queue the app consumes is empty: what the schedules and the API set going has been done."""
        self.wait_for_empty_queues(sorted({source.queue for source in sqs_event_sources()}), timeout_seconds)

    def registry_control(self, **settings: Any) -> dict[str, Any]:
        """Makes the local registry slow (`latency_ms`), `down`, `error`ing, `hang`ing or `up` again."""
        return _post_json(f"{self.registry_url}/_control", settings)

    def payment_provider_control(self, **settings: Any) -> dict[str, Any]:
        """Makes the local payment provider slow, `down`, `error`ing, `hang`ing, `timeout-after-commit` or `up`
        again, or sets its clock (`now`)."""
        return _post_json(f"{self.payment_provider_url}/_control", settings)

    def advance_clock(self, to: dt.datetime) -> list[dict[str, Any]]:
        """Moves the scheduler's clock to `to`, firing every schedule due on the way; returns the firings."""
        fired: list[dict[str, Any]] = _post_json(f"{self.scheduler_url}/advance", {"to": to.isoformat()}, 600)["fired"]
        return fired

    def jump_clock(self, to: dt.datetime) -> None:
        """Moves the scheduler's clock to `to` without firing anything on the way (nothing falls due there)."""
        _post_json(f"{self.scheduler_url}/jump", {"to": to.isoformat()})

    def close_wave(self, closes_at: dt.datetime) -> list[dict[str, Any]]:
        """Moves the clock to a wave's close and waits for its draw: the close hands the pool to the pool-part
        workers, and the last of them draws (in its handler, so an empty queue means drawn)."""
        fired = self.advance_clock(closes_at)
        self.wait_for_empty_queues([POOL_PARTS_QUEUE], timeout_seconds=600)
        return fired

    def emulator_calls(self) -> dict[str, dict[str, float]]:
        """The calls the emulators have served by kind, with the CPU seconds they cost (devstack.moto_server)."""
        calls: dict[str, dict[str, float]] = {}
        for endpoint in (self.aws_endpoint, self.sqs_endpoint):
            with urllib.request.urlopen(f"{endpoint}/_devstack/calls", timeout=10) as answer:  # noqa: S310
                calls.update(json.loads(answer.read()))
        return calls

    def metered(self) -> list[dict[str, Any]]:
        """The app's AWS calls so far, by the function that made them, kind, and DynamoDB units
        (devstack.moto_server), and each function's invocations with their durations (devstack.metering)."""
        rows: list[dict[str, Any]] = []
        for endpoint in (self.aws_endpoint, self.sqs_endpoint):
            with urllib.request.urlopen(f"{endpoint}/_devstack/metered", timeout=10) as answer:  # noqa: S310
                rows.extend(json.loads(answer.read()))
        return rows

    def invocations(self) -> dict[str, metering.Invocations]:
        return metering.invocations(self.meter_dir)

    def programme_now(self) -> dt.datetime:
        """The time the app's processes see now: the scheduler's clock, running on in real time since its last move."""
        return self.programme_clock.now()

    def programme_seconds(self) -> float:
        """The same, as unix seconds: what a partner signs with (devstack.partners)."""
        return self.programme_now().timestamp()

    def clock(self) -> dt.datetime:
        with urllib.request.urlopen(f"{self.scheduler_url}/clock", timeout=10) as answer:  # noqa: S310 - loopback
            return dt.datetime.fromisoformat(json.loads(answer.read())["now"])

    def outbox(self, *kinds: str) -> list[dict[str, Any]]:
        """Every message in the outbox so far (of these kinds, if any are named), read by the stack's one reader."""
        return self.outbox_reader.messages(*kinds)

    def applicants(self, *fields: str) -> list[dict[str, Any]]:
        """Every stored applicant as a row of `applicant_id` and `fields` (those it has), read from the applicants
        table itself: what the store holds, whatever the API says."""
        return self.rows("PRAKERJA_APPLICANTS_TABLE", "applicant_id", *fields)

    def rows(self, table_setting: str, *fields: str) -> list[dict[str, Any]]:
        """Every item of the table the functions' setting `table_setting` names, as a row of `fields` (those it
        has), scanned from the emulator."""
        names = {f"#f{i}": name for i, name in enumerate(dict.fromkeys(fields))}
        value = TypeDeserializer().deserialize
        rows: list[dict[str, Any]] = []
        pages = (
            self.client("dynamodb")
            .get_paginator("scan")
            .paginate(
                TableName=self.env[table_setting],
                ProjectionExpression=", ".join(names),
                ExpressionAttributeNames=names,
            )
        )
        for page in pages:
            rows.extend({name: value(item) for name, item in stored.items()} for stored in page["Items"])
        return rows

    def code_latency(self) -> CodeLatency:
        """From "registration stored" to "email code sent", for every applicant stored so far."""
        stored = self.applicants(*FIELDS)
        self.outbox_reader.read()
        return CodeLatency.measure(stored, self.outbox_reader.first_code_sent)

    def admin_token(self, subject: str, hours: float = 1) -> str:
        """An admin token minted as an operator would: `python -m ops admin-token` with the deployment's environment."""
        self.operators.add(subject)
        return self.ops("admin-token", "--subject", subject, "--hours", str(hours))

    def partner_secret(self, partner_id: str, display_name: str) -> str:
        """A training partner created (or its secret rotated) as an operator would: `python -m ops partner-secret`
        with the deployment's environment; its secret, printed once."""
        return self.ops("partner-secret", "--partner", partner_id, "--display-name", display_name)

    def ops(self, *arguments: str) -> str:
        """What `python -m ops ARGUMENTS` prints, run with the stack's environment."""
        ran = subprocess.run(  # noqa: S603 - this interpreter, our own command
            [sys.executable, "-m", "ops", *arguments], env=self.env, capture_output=True, text=True, check=True
        )
        return ran.stdout.strip()

    def apply_environment(self) -> None:
        """Points this process (a test, a tool) at the stack, as the functions are."""
        os.environ.update(self.env)


def _post_json(url: str, body: dict[str, Any], timeout: float = 10) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - loopback services the stack started
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
        document: dict[str, Any] = json.loads(answer.read())
        return document


def _session_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }
