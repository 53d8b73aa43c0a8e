"""Payments per second through the payments consumer, against the local payment provider answering in 100 ms.

Issue 11's target: payments/s within 80% of C / latency, where C is the consumer's cap (PAYMENT_MAX_CONCURRENCY
containers, each paying its batch of 10 one payment after another), where the emulator allows; and which bound holds:
the provider's latency times the cap, the client's requests-per-second ceiling (payment_provider_requests_per_second,
shared out as one token bucket per container), our CPU per payment, or the emulator.

How, and why so. Each container is a process of its own (forked from this one: its own interpreter lock, clients and
bucket, as a Lambda container has), running the handler Lambda runs (`functions.payouts.payment_consumer`) on
Lambda-shaped SQS events of 10 records: for each, the payment read (QUEUED), marked SENT, the member's payout account
read and opened, the transfer sent to the provider with the payment id as idempotency key, PAID recorded in one
transaction (the ledger entry, the counters), the payment read again and the member's notice sent. The provider is
the real local one (`devstack/payment_provider.py`, a process of its own, over loopback HTTP, set to `--latency-ms`),
so every payment is a real transfer it records once. DynamoDB, KMS and SQS are answered from memory in each container
(bench/_common.CannedAWS: validation, serialisation, signing and parsing still run, only the socket is skipped): with
moto on this 2-core machine the emulator's CPU would be what is measured (bench_nik_checks.py found it so), and it
says nothing of DynamoDB, which answers in milliseconds whatever the load. The payment's read answers QUEUED the
first time and PAID after, as the table would.

The cap: `--runs C@RPS` sets C containers and the provider's ceiling RPS per second; the payments take their share
of it (PAYMENT_SHARE_OF_PROVIDER: the account checks have the rest), split among the containers
(PAYMENT_MAX_CONCURRENCY is set to C in each container, as raising the constant in resources.py would do; the
deployed pair is 2@20). Each container first pays one payment untimed (imports, clients, the data key), then
all start at once.

Figures per run:
  payments/s, steady   payments between the 10% and the 90% marks over the time between them (the judged figure);
  payments/s, whole    all of them over start to the last one paid;
  limit                min(C / latency, the payments' share of RPS); also with the measured round trip (one
                       transfer status at latency 0 through the app's own client) added to the latency;
  CPU per payment      the containers' CPU (time.process_time in each) and the provider's (/proc), per payment;
  per payment per container beyond the latency   C / rate - latency: our CPU, the round trip and any wait for CPU;
  a payment            per container: the transfer's wall time (the bucket, the round trip, the provider's latency),
                       the rest of the cycle, our CPU, and the time runnable but waiting for a core (the kernel's
                       /proc/self/schedstat: on a shared machine under load, the part that is not ours);
  less the wait        min(C / (C / rate - that wait), the share): the same run with a core free when it is wanted;
  max in flight        the provider's own count (cap: C).

Run: .venv/bin/python bench/bench_payments.py [--runs 2@20,2@1000,8@1000,8@40] [--seconds 5]
     (a longer measurement: --seconds 20)
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _common
from _common import CannedAWS, item_json, quiet, table, table_of

from functions.resources import PAYMENT_SHARE_OF_PROVIDER

TARGET_SHARE = 0.80
BATCH = 10  # the payments consumer's batch size (functions/select)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PROVIDER = "OVO"


def account_number(index: int) -> str:
    return f"08{index:010d}"


class Payments(CannedAWS):
    """CannedAWS that also answers GetItem: a payment QUEUED on its first read and PAID after, and the member with
    its sealed payout account; UpdateItem (QUEUED -> SENT) is accepted."""

    def __init__(self, sealed_accounts: dict[str, str]) -> None:
        super().__init__()
        import datetime as dt

        from functions.domain.incentives import PaymentStatus, PayoutAccountStatus, paid_day
        from functions.domain.membership import MembershipState
        from functions.settings import settings
        from functions.store.models import MemberRecord, PaymentRecord

        self.sealed_accounts = sealed_accounts
        self.reads: dict[str, int] = {}
        self.payments_table = settings().payments_table
        due = dt.datetime(2020, 6, 1, 2, 0, tzinfo=dt.UTC)
        queued = PaymentRecord(
            payment_id="template",
            applicant_id="template",
            number=1,
            amount=settings().incentive_amount,
            status=PaymentStatus.QUEUED.value,
            due_at=due,
            attempt=1,
            queued_at=due,
            updated_at=due,
        )
        self.queued = item_json(queued)
        self.paid = {
            **self.queued,
            **item_json(
                PaymentRecord(
                    payment_id="template",
                    status=PaymentStatus.PAID.value,
                    sent_at=due,
                    paid_at=due,
                    paid_day=paid_day(due),
                )
            ),
        }
        self.member = item_json(
            MemberRecord(
                applicant_id="template",
                card_number="7000000000000000",
                wave=1,
                cohort="w1#00",
                state=MembershipState.ACTIVE.value,
                accepted_at=due,
                first_purchase_deadline=due,
                updated_at=due,
                payout_provider=PROVIDER,
                payout_account_last4="0000",
                payout_status=PayoutAccountStatus.VERIFIED.value,
                payout_verified_at=due,
            )
        )

    def _payment(self, found_id: str, stored: dict[str, Any]) -> dict[str, Any]:
        return {**stored, "payment_id": {"S": found_id}, "applicant_id": {"S": found_id.split("-incentive-", 1)[0]}}

    def _update_item(self, request: Any) -> Any:
        """QUEUED -> SENT: the payment as it is now (pynamodb asks for ALL_NEW)."""
        from devstack.hooks import JSON10, answer, respond

        found_id = json.loads(request.body)["Key"]["payment_id"]["S"]
        sent = {**self.paid, "status": {"S": "SENT"}}
        for name in ("paid_at", "paid_day"):
            del sent[name]
        return respond(request, answer({"Attributes": self._payment(found_id, sent)}, JSON10))

    def _get_item(self, request: Any) -> Any:
        from devstack.hooks import JSON10, answer, respond

        key = json.loads(request.body)["Key"]
        if table_of(request) == self.payments_table:
            found_id = key["payment_id"]["S"]
            self.reads[found_id] = self.reads.get(found_id, 0) + 1
            item = self._payment(found_id, self.queued if self.reads[found_id] == 1 else self.paid)
        else:
            applicant_id = key["applicant_id"]["S"]
            item = {
                **self.member,
                "applicant_id": {"S": applicant_id},
                "payout_account_sealed": {"S": self.sealed_accounts[applicant_id]},
            }
        return respond(request, answer({"Item": item}, JSON10))

    def __call__(self, request: Any, **kwargs: Any) -> Any:
        from devstack.hooks import target

        called = target(request)
        if self.enabled and called in ("DynamoDB_20120810.GetItem", "DynamoDB_20120810.UpdateItem"):
            self.calls[called] += 1
            return self._get_item(request) if called.endswith("GetItem") else self._update_item(request)
        return super().__call__(request, **kwargs)


# --- the containers --------------------------------------------------------------------------------------------
@dataclass
class Container:
    """One container's share of a run, and what it reports back."""

    cap: int
    warm_up: str
    payment_ids: list[str]
    paid_at: list[float] = field(default_factory=list)  # time.monotonic() after each payment (system-wide)
    cpu_seconds: float = 0.0
    run_queue_seconds: float = 0.0  # runnable, waiting for a core (/proc/self/schedstat)
    transfer_seconds: float = 0.0  # inside the transfer: the bucket, the round trip, the provider's latency
    failures: int = 0


def run_queue_seconds() -> float:
    """How long this process has waited, runnable, for a core (the kernel's schedstat, its second field)."""
    with open("/proc/self/schedstat", encoding="ascii") as handle:
        return int(handle.read().split()[1]) / 1e9


def container(work: Container, ready: Any, go: Any, results: Any) -> None:
    """A forked container: one payment untimed, then its payments in batches of 10 through the handler."""
    from functions import caches
    from functions.adapters.payment_provider import payment_provider
    from functions.payouts import payment_consumer
    from functions.resources import PAYMENTS_QUEUE
    from functions.services import incentive_payments
    from tests.helpers import FakeLambdaContext, sqs_record

    caches.reset_all()  # settings read again: the provider's URL and this run's ceiling
    # Each container's client takes the payments' share of RPS / C, as PAYMENT_MAX_CONCURRENCY = C in resources.py
    # would give it.
    incentive_payments.payments_provider = functools.partial(payment_provider, work.cap, PAYMENT_SHARE_OF_PROVIDER)
    pay_record, transfer = incentive_payments.pay_record, incentive_payments._transfer

    def timed_pay(record: Any, sends: Any) -> None:
        pay_record(record, sends)
        work.paid_at.append(time.monotonic())

    def timed_transfer(payment: Any) -> Any:
        began = time.perf_counter()
        try:
            return transfer(payment)
        finally:
            work.transfer_seconds += time.perf_counter() - began

    incentive_payments.pay_record = timed_pay
    incentive_payments._transfer = timed_transfer

    def batch(ids: Sequence[str]) -> None:
        bodies = [json.dumps({"payment_id": found_id}) for found_id in ids]
        event = {"Records": [sqs_record(body, queue=PAYMENTS_QUEUE) for body in bodies]}
        answer = payment_consumer(event, FakeLambdaContext())
        work.failures += len(answer["batchItemFailures"])

    with quiet():
        batch([work.warm_up])
        work.paid_at.clear()
        work.transfer_seconds = 0.0
        ready.wait()
        go.wait()
        began, waited = time.process_time(), run_queue_seconds()
        for start in range(0, len(work.payment_ids), BATCH):
            batch(work.payment_ids[start : start + BATCH])
        work.cpu_seconds = time.process_time() - began
        work.run_queue_seconds = run_queue_seconds() - waited
    results.put(work)


# --- the provider --------------------------------------------------------------------------------------------
class LocalProvider:
    """devstack/payment_provider.py in a process of its own, with `accounts` accounts in its CSV."""

    def __init__(self, workdir: Path, accounts: int) -> None:
        from devstack import payment_provider
        from devstack.processes import free_port, start_python, wait_for_http

        csv = workdir / "accounts.csv"
        payment_provider.write_csv(
            csv,
            (
                {
                    "provider": PROVIDER,
                    "account_number": account_number(i),
                    "holder_name": "Siti Aminah",
                    "nik": "3171015708950001",
                    "kyc": True,
                    "status": "ACTIVE",
                }
                for i in range(accounts)
            ),
        )
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        args = ["-m", "devstack.payment_provider", "--port", str(port), "--csv", str(csv)]
        self.child = start_python("payment-provider", args, dict(os.environ), workdir, cwd=_common.ROOT)
        wait_for_http(f"{self.url}/_stats", self.child)

    def control(self, **body: Any) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.url}/_control", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            document: dict[str, Any] = json.loads(answer.read())
            return document

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.child.pid}/stat", "rb") as handle:
            raw = handle.read()
        fields = raw[raw.rindex(b")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def round_trip_ms(self, calls: int = 30) -> float:
        """The median time of one transfer-status call through the app's own client, the provider answering at
        once."""
        from functions.adapters.payment_provider import HttpPaymentProvider

        self.control(latency_ms=0, mode="up")
        return _common.round_trip_ms(
            HttpPaymentProvider, self.url, lambda client: client.transfer_status("none"), calls
        )


# --- one run -------------------------------------------------------------------------------------------------
@dataclass
class Run:
    cap: int
    rps: float
    latency_ms: float
    round_trip_ms: float
    started: float = 0.0
    containers: list[Container] = field(default_factory=list)
    provider: dict[str, Any] = field(default_factory=dict)
    provider_cpu: float = 0.0

    @property
    def payments(self) -> int:
        return sum(len(c.paid_at) for c in self.containers)

    @property
    def limit(self) -> float:
        return min(self.cap / (self.latency_ms / 1000), self.ceiling)

    @property
    def ceiling(self) -> float:
        """The payments' share of the provider's ceiling (the account checks have the rest)."""
        return self.rps * PAYMENT_SHARE_OF_PROVIDER

    @property
    def limit_with_round_trip(self) -> float:
        return min(self.cap / ((self.latency_ms + self.round_trip_ms) / 1000), self.ceiling)

    @property
    def marks(self) -> list[float]:
        return sorted(t for c in self.containers for t in c.paid_at)

    @property
    def steady_rate(self) -> float:
        marks = self.marks
        first, last = round(0.10 * (len(marks) - 1)), round(0.90 * (len(marks) - 1))
        return (last - first) / (marks[last] - marks[first])

    @property
    def whole_rate(self) -> float:
        return self.payments / (self.marks[-1] - self.started)

    @property
    def bound(self) -> str:
        by_latency = self.cap / (self.latency_ms / 1000)
        return "the ceiling (the payments' share of RPS)" if self.ceiling < by_latency else "latency x cap"


def one_run(provider: LocalProvider, cap: int, rps: float, latency_ms: float, ids: list[str]) -> Run:
    run = Run(cap=cap, rps=rps, latency_ms=latency_ms, round_trip_ms=provider.round_trip_ms())
    os.environ["PRAKERJA_PAYMENT_PROVIDER_REQUESTS_PER_SECOND"] = f"{rps:g}"
    provider.control(latency_ms=latency_ms, mode="up")
    fork = multiprocessing.get_context("fork")
    ready, go, results = fork.Barrier(cap + 1), fork.Barrier(cap + 1), fork.Queue()
    per_container = len(ids) // cap - 1
    shares = [
        Container(cap, ids[i * (per_container + 1)], ids[i * (per_container + 1) + 1 : (i + 1) * (per_container + 1)])
        for i in range(cap)
    ]
    processes = [fork.Process(target=container, args=(share, ready, go, results), daemon=True) for share in shares]
    for process in processes:
        process.start()
    ready.wait(timeout=300)
    paid_before = provider.control(reset_stats=True)["paid"]
    cpu_before = provider.cpu_seconds()
    run.started = time.monotonic()
    go.wait(timeout=60)
    run.containers = [results.get(timeout=120 + 10 * len(ids) / run.limit) for _ in processes]
    run.provider_cpu = provider.cpu_seconds() - cpu_before
    run.provider = provider.control()
    run.provider["paid"] -= paid_before
    for process in processes:
        process.join(timeout=30)
        if process.is_alive():  # its result is in: a container slow to exit must not hold the run
            process.kill()
    return run


def report(run: Run) -> list[str]:
    rate = run.steady_rate
    cpu = sum(c.cpu_seconds for c in run.containers)
    overhead = (run.cap / rate - run.latency_ms / 1000) * 1000
    print(
        f"\n=== cap {run.cap}, ceiling {run.rps:g}/s (payments' share {run.ceiling:g}/s), "
        f"provider {run.latency_ms:g} ms, {run.payments} payments ==="
    )
    each = {
        "transfer": sum(c.transfer_seconds for c in run.containers) / run.payments * 1000,
        "cpu": cpu / run.payments * 1000,
        "run queue": sum(c.run_queue_seconds for c in run.containers) / run.payments * 1000,
    }
    rest = run.cap / rate * 1000 - each["transfer"]
    parts = f"{each['transfer']:.1f} / {rest:.1f} / {each['cpu']:.1f} / {each['run queue']:.1f} ms"
    idle = min(run.cap / (run.cap / rate - each["run queue"] / 1000), run.ceiling)  # the bucket still holds
    per_payment = f"{cpu / run.payments * 1000:.2f} / {run.provider_cpu / run.payments * 1000:.2f} ms"
    cores = f"{cpu * rate / run.payments:.2f} / {run.provider_cpu * rate / run.payments:.2f}"
    seen = run.provider
    served = f"{seen['requests']} / {seen['paid']} / {seen['max_in_flight']} ({run.cap})"
    rows = [
        ["payments/s, steady (10% to 90%)", f"{rate:.1f}"],
        ["payments/s, start to the last paid", f"{run.whole_rate:.1f}"],
        ["limit min(C / latency, ceiling)", f"{run.limit:.1f} ({run.bound} binds)"],
        [
            f"limit, the round trip ({run.round_trip_ms:.1f} ms) added to the latency",
            f"{run.limit_with_round_trip:.1f}",
        ],
        ["steady / limit", f"{rate / run.limit:.0%}  (target >= {TARGET_SHARE:.0%})"],
        ["per payment per container beyond the latency (C / rate - latency)", f"{overhead:.1f} ms"],
        ["a payment: its transfer / the rest (wall) / our CPU / waiting for a core", parts],
        [
            "payments/s less the wait for a core (what an idle machine would give)",
            f"{idle:.1f} ({idle / run.limit:.0%})",
        ],
        ["CPU per payment: containers / provider", per_payment],
        ["cores used at that rate: containers / provider", cores],
        ["provider: requests / payments made / max in flight (cap)", served],
        ["batch items failed", str(sum(c.failures for c in run.containers))],
    ]
    print(table(["figure", "value"], rows))
    return [
        f"{run.cap}",
        f"{run.rps:g}",
        f"{rate:.1f}",
        f"{run.limit:.1f}",
        f"{rate / run.limit:.0%}",
        f"{idle / run.limit:.0%}",
        run.bound,
        f"{cpu / run.payments * 1000:.2f}",
        f"{run.provider['max_in_flight']}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="2@20,2@1000,8@1000,8@40", help="CAP@RPS, comma-separated")
    parser.add_argument("--seconds", type=float, default=5.0, help="about how long each run pays at its limit")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--keep", action="store_true", help="keep the provider's files")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a timeout still stops the provider (finally below)
    runs = [(int(cap), rps) for cap, rps in _common.parse_runs(args.runs, 20)]
    sizes = [
        cap * (1 + BATCH * max(1, math.ceil(min(cap / (args.latency_ms / 1000), rps) * args.seconds / cap / BATCH)))
        for cap, rps in runs
    ]
    print(f"before: {_common.load()}", flush=True)

    from functions.adapters import personal_data
    from functions.adapters.purposes import Purpose
    from functions.domain.incentives import payment_id

    _common.clean_environment(_common.stub_environment())
    _common.install_canned_aws(CannedAWS())  # answers the sealing's KMS call
    applicants = [f"{i:032x}" for i in range(sum(sizes))]
    sealed = {
        a: personal_data.seal_text(account_number(i), a, Purpose.PAYOUT_ACCOUNT) for i, a in enumerate(applicants)
    }
    _common.install_canned_aws(Payments(sealed))
    ids = [payment_id(a, 1) for a in applicants]
    workdir = Path(tempfile.mkdtemp(prefix="bench-payments-"))
    provider = LocalProvider(workdir, len(applicants))
    os.environ["PRAKERJA_PAYMENT_PROVIDER_URL"] = provider.url
    summary = []
    try:
        offset = 0
        for (cap, rps), size in zip(runs, sizes, strict=True):
            print(f"run: cap {cap}, ceiling {rps:g}/s, {size} payments ...", flush=True)
            run = one_run(provider, cap, rps, args.latency_ms, ids[offset : offset + size])
            offset += size
            summary.append(report(run))
    finally:
        provider.child.stop()
        if args.keep:
            print(f"provider files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nafter: {_common.load()}")
    print(f"\nSummary (provider latency {args.latency_ms:g} ms)")
    headers = [
        "cap C",
        "ceiling/s",
        "steady/s",
        "limit/s",
        "ratio",
        "ratio less core wait",
        "binds",
        "CPU ms/payment",
        "max in flight",
    ]
    print(table(headers, summary))


if __name__ == "__main__":
    main()
