"""NIK checks per second through the NIK-check consumer, against the local civil registry answering in 50 ms.

Issue #3's target: throughput within 80% of min(cap x 1/latency, requests-per-second ceiling), and the registry
never seeing more look-ups in flight than the cap (NIK_CHECK_MAX_CONCURRENCY consumers).

One run per `--runs` entry, `RPS@LATENCY_MS` (default `1000@50,40@50`: the cap binds, then the ceiling binds):

  1. a fresh EmbeddedStack with PRAKERJA_REGISTRY_REQUESTS_PER_SECOND=RPS, the NIK-check pollers stopped at once;
  2. N applicants (plan_population, every outcome in its share) written to the registry CSV, registered over
     HTTP, their email codes read from the outbox and verified over HTTP, so that N checks wait on the
     prakerja-nik-checks queue;
  3. the other pollers (intake, notifications, publish) are stopped too, so the consumer is measured alone on
     this 2-core machine; the registry is set to answer in LATENCY_MS and its stats are reset;
  4. the same number of NIK-check pollers is started again, and the script samples the registry's /_stats
     (20 times a second), the CPU of every process of the stack (/proc) and, at the end, the queue depth, until
     the queue is empty; then every applicant's status is read from the table and checked against the plan.

Figures per run:
  checks/s, steady     look-ups between the 10% and the 90% marks over the time between them (the judged figure:
                       the pollers' cold starts, staggered over the first seconds, are left out);
  checks/s, whole      N over first look-up to queue empty;  from restart: N over poller start to queue empty;
  max in flight        the registry's own count (`/_stats` max_in_flight), over the whole drain;
  CPU                  cores used in the steady window by the pollers, the two moto servers, the registry, and
                       the whole machine (other sessions included); moto's share of the stack's CPU;
  emulator calls       the calls moto served during the drain, with their CPU per call (devstack.moto_server).

Each run first times one look-up at latency 0 through the app's own client (HttpCivilRegistry) and prints it.

Each consumer handles its batch one record at a time (get the applicant, open the sealed data, look up, write
the decision in a transaction, queue the notification), so a consumer's cycle is the registry's latency plus
that work; `overhead per check` = cap / steady rate - latency estimates the latter.

Run: .venv/bin/python bench/bench_nik_checks.py [--people 500] [--runs 1000@50,40@50] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _common
from _common import table

from functions.domain.lifecycle import Status
from functions.resources import NIK_CHECK_QUEUE

NIK = "nik_check_consumer"
TARGET_SHARE = 0.80
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- CPU accounting from /proc -------------------------------------------------------------------------------
def _process_times() -> dict[int, tuple[int, float]]:
    """{pid: (process group, CPU seconds)} for every process on the machine that can be read."""
    found: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                raw = handle.read()
        except OSError:
            continue
        fields = raw[raw.rindex(b")") + 2 :].split()
        # after the command: state ppid pgrp session ... utime (11th) stime (12th)
        found[int(entry)] = (int(fields[2]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
    return found


def _machine_busy_seconds() -> float:
    with open("/proc/stat", encoding="ascii") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / CLOCK_TICKS


@dataclass
class CpuSample:
    at: float
    requests: int
    groups: dict[str, float]
    machine: float


class StackCpu:
    """CPU seconds per part of the stack: each child runs in its own process group (devstack.processes)."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack

    def groups(self) -> dict[str, float]:
        parts: dict[int, str] = {}
        for child in self.stack.children:
            if child.name == "moto":
                parts[child.pid] = "moto (DynamoDB, KMS)"
            elif child.name == "moto-sqs":
                parts[child.pid] = "moto (SQS)"
            elif child.name == "registry":
                parts[child.pid] = "registry"
            elif child.name.startswith(f"poller-{NIK}-") and child.alive():
                parts[child.pid] = "NIK pollers"
            else:
                parts[child.pid] = "rest of the stack"
        totals = dict.fromkeys(parts.values(), 0.0)
        for group, seconds in _process_times().values():
            if group in parts:
                totals[parts[group]] += seconds
        return totals


# --- the stack and the population ------------------------------------------------------------------------------
def registry_stats(stack: Any) -> dict[str, Any]:
    with urllib.request.urlopen(f"{stack.registry_url}/_stats", timeout=10) as answer:
        document: dict[str, Any] = json.loads(answer.read())
        return document


class Population:
    """N applicants registered and email-verified over HTTP, their NIK checks left waiting on the queue."""

    def __init__(self, stack: Any, people: int, seed: int, workers: int) -> None:
        import requests

        from devstack.population import Shares, plan_population

        self.stack = stack
        self.plan = plan_population(people, seed, Shares(never_verify_email=0, typo_first=0, submits_twice=0))
        self.workers = workers
        self.http = requests.Session()
        self.http.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=workers * 2))
        self.accepted: list[dict[str, Any]] = []

    def prepare(self) -> dict[str, float]:
        from devstack.registry import write_csv

        seconds: dict[str, float] = {}
        write_csv(self.stack.registry_csv, [p.registry for p in self.plan if p.registry])
        started = time.monotonic()
        with ThreadPoolExecutor(self.workers) as pool:
            self.accepted = list(pool.map(self._register, self.plan))
        seconds["register"] = time.monotonic() - started
        started = time.monotonic()
        with ThreadPoolExecutor(self.workers) as pool:
            list(pool.map(self._verify, self.accepted))
        seconds["verify (codes from the outbox)"] = time.monotonic() - started
        started = time.monotonic()
        deadline = time.monotonic() + 120
        while self.stack.queue_depth(NIK_CHECK_QUEUE)["visible"] < len(self.plan):
            if time.monotonic() > deadline:
                depth = self.stack.queue_depth(NIK_CHECK_QUEUE)
                raise TimeoutError(f"{NIK_CHECK_QUEUE} holds {depth}, not {len(self.plan)}")
            time.sleep(0.25)
        seconds["checks queued"] = time.monotonic() - started
        return seconds

    def _register(self, planned: Any) -> dict[str, Any]:
        from devstack.crowd import post_as_app

        answer = post_as_app(
            self.http, f"{self.stack.api_url}/registrations", planned.person.registration(), attempts=50
        )
        if answer.status_code != 202:
            raise RuntimeError(f"registration refused: {answer.status_code} {answer.text}")
        document: dict[str, Any] = answer.json()
        return document

    def _verify(self, accepted: dict[str, Any]) -> None:
        applicant_id = accepted["applicant_id"]
        code = self.stack.outbox_reader.wait_for_code(applicant_id)
        answer = self.http.post(
            f"{self.stack.api_url}/verifications/email",
            json={"applicant_id": applicant_id, "code": code},
            headers={"Authorization": f"Bearer {accepted['access_token']}"},
            timeout=60,
        )
        if answer.status_code != 200 or answer.json()["status"] != Status.EMAIL_VERIFIED.value:
            raise RuntimeError(f"email verification refused: {answer.status_code} {answer.text}")

    def statuses(self) -> tuple[Counter[str], int]:
        """Statuses as stored, and how many differ from the plan's expected outcome."""
        found = {row["applicant_id"]: row["status"] for row in self.stack.applicants("status")}
        wrong = sum(
            1
            for planned, accepted in zip(self.plan, self.accepted, strict=True)
            if found.get(accepted["applicant_id"]) != planned.expected_status
        )
        return Counter(found.values()), wrong


# --- one run ---------------------------------------------------------------------------------------------------
@dataclass
class Run:
    rps: float
    latency_ms: float
    people: int
    round_trip_ms: float = 0.0
    cap: int = 0
    prepare_seconds: dict[str, float] = field(default_factory=dict)
    samples: list[CpuSample] = field(default_factory=list)
    restarted_at: float = 0.0
    drained_at: float = 0.0
    registry: dict[str, Any] = field(default_factory=dict)
    emulator: dict[str, dict[str, float]] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)
    wrong: int = 0

    @property
    def limit(self) -> float:
        per_latency = self.cap / (self.latency_ms / 1000) if self.latency_ms else float("inf")
        return min(per_latency, self.rps)

    @property
    def limit_with_round_trip(self) -> float:
        return min(self.cap / ((self.latency_ms + self.round_trip_ms) / 1000), self.rps)

    def mark(self, share: float) -> CpuSample:
        wanted = max(1, round(share * self.people))
        return next(s for s in self.samples if s.requests >= wanted)

    @property
    def steady(self) -> tuple[CpuSample, CpuSample]:
        return self.mark(0.10), self.mark(0.90)

    @property
    def steady_rate(self) -> float:
        first, last = self.steady
        return (last.requests - first.requests) / (last.at - first.at)

    @property
    def whole_rate(self) -> float:
        return self.people / (self.drained_at - self.mark(0.0).at)

    @property
    def restart_rate(self) -> float:
        return self.people / (self.drained_at - self.restarted_at)


def round_trip_ms(stack: Any, lookups: int = 30) -> float:
    """The median time of one look-up through the app's own registry client, the registry set to answer at once."""
    from functions.adapters.civil_registry import HttpCivilRegistry

    stack.registry_control(latency_ms=0, mode="up")
    return _common.round_trip_ms(
        HttpCivilRegistry, stack.registry_url, lambda client: client.lookup("3171010101900001"), lookups
    )


def one_run(rps: float, latency_ms: float, people: int, seed: int, workers: int, keep: bool) -> Run:
    from devstack.poller import sqs_event_sources
    from devstack.stack import EmbeddedStack

    run = Run(rps=rps, latency_ms=latency_ms, people=people)
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-nik-{rps:g}-{latency_ms:g}-"))
    settings = {"PRAKERJA_REGISTRY_REQUESTS_PER_SECOND": f"{rps:g}"}
    try:
        with EmbeddedStack(workdir, gateway_workers=4, settings=settings) as stack:
            source = next(s for s in sqs_event_sources() if s.name == NIK)
            run.cap = source.maximum_concurrency
            for child in stack.pollers[NIK]:
                child.stop()
            run.round_trip_ms = round_trip_ms(stack)
            stack.registry_control(latency_ms=0, mode="up", reset_stats=True)
            population = Population(stack, people, seed, workers)
            run.prepare_seconds = population.prepare()
            for name, children in stack.pollers.items():
                if name != NIK:
                    for child in children:
                        child.stop()
            stack.registry_control(latency_ms=latency_ms, mode="up", reset_stats=True)
            calls_before = stack.emulator_calls()
            cpu = StackCpu(stack)
            run.restarted_at = time.monotonic()
            stack.pollers[NIK] = [stack._start_poller(source, i) for i in range(source.maximum_concurrency)]
            run.samples, run.drained_at = drain(stack, cpu, people)
            run.registry = registry_stats(stack)
            after = stack.emulator_calls()
            run.emulator = {
                kind: {
                    "calls": after[kind]["calls"] - calls_before.get(kind, {}).get("calls", 0),
                    "cpu_seconds": after[kind]["cpu_seconds"] - calls_before.get(kind, {}).get("cpu_seconds", 0.0),
                }
                for kind in after
                if after[kind]["calls"] > calls_before.get(kind, {}).get("calls", 0)
            }
            run.statuses, run.wrong = population.statuses()
    finally:
        if keep:
            print(f"stack files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return run


def drain(stack: Any, cpu: StackCpu, people: int, timeout_seconds: float = 900) -> tuple[list[CpuSample], float]:
    samples: list[CpuSample] = []
    deadline = time.monotonic() + timeout_seconds
    next_queue_check = 0.0
    while time.monotonic() < deadline:
        now = time.monotonic()
        requests = int(registry_stats(stack)["requests"])
        samples.append(CpuSample(now, requests, cpu.groups(), _machine_busy_seconds()))
        if requests >= people and now >= next_queue_check:
            next_queue_check = now + 0.25
            if sum(stack.queue_depth(NIK_CHECK_QUEUE).values()) == 0:
                return samples, time.monotonic()
        time.sleep(0.05)
    raise TimeoutError(f"{NIK_CHECK_QUEUE} not drained within {timeout_seconds:.0f}s")


# --- report ----------------------------------------------------------------------------------------------------
def report(run: Run) -> None:
    first, last = run.steady
    window = last.at - first.at
    print(f"\n=== ceiling {run.rps:g}/s, registry {run.latency_ms:g} ms, cap {run.cap}, {run.people} checks ===")
    print(f"registry: one look-up at latency 0 through the app's client: {run.round_trip_ms:.1f} ms")
    print("preparation: " + ", ".join(f"{k} {v:.1f} s" for k, v in run.prepare_seconds.items()))
    rate = run.steady_rate
    overhead = (run.cap / rate - run.latency_ms / 1000) * 1000
    used = {name: (last.groups.get(name, 0.0) - first.groups.get(name, 0.0)) / window for name in last.groups}
    stack_total = sum(used.values())
    moto = sum(v for k, v in used.items() if k.startswith("moto"))
    pollers = used.get("NIK pollers", 0.0)
    rows = [
        ["checks/s, steady (10% to 90% of look-ups)", f"{rate:.1f}"],
        ["checks/s, first look-up to queue empty", f"{run.whole_rate:.1f}"],
        ["checks/s, poller start to queue empty (cold starts included)", f"{run.restart_rate:.1f}"],
        ["theoretical limit min(cap / latency, ceiling)", f"{run.limit:.1f}"],
        ["limit with the measured round trip added to the latency", f"{run.limit_with_round_trip:.1f}"],
        ["steady / limit", f"{rate / run.limit:.0%}  (target >= {TARGET_SHARE:.0%})"],
        ["registry max in flight (cap)", f"{run.registry['max_in_flight']} ({run.cap})"],
        ["registry look-ups (checks)", f"{run.registry['requests']} ({run.people})"],
        ["poller start to first look-up", f"{run.mark(0.0).at - run.restarted_at:.1f} s"],
        ["overhead per check per consumer (cap / rate - latency)", f"{overhead:.0f} ms"],
        [
            "CPU per check: NIK pollers / moto (both) / whole stack",
            f"{pollers / rate * 1000:.1f} / {moto / rate * 1000:.1f} / {stack_total / rate * 1000:.1f} ms",
        ],
        ["statuses", ", ".join(f"{k} {v}" for k, v in sorted(run.statuses.items()))],
        ["differing from the plan", str(run.wrong)],
    ]
    print(table(["figure", "value"], rows))
    machine = (last.machine - first.machine) / window
    print(f"\nCPU in the steady window ({window:.1f} s), cores used (2 on this machine):")
    cpu_rows = [[name, f"{v:.2f}", f"{v / stack_total:.0%}"] for name, v in sorted(used.items(), key=lambda x: -x[1])]
    cpu_rows.append(["the stack", f"{stack_total:.2f}", "100%"])
    cpu_rows.append(["the whole machine (other sessions included)", f"{machine:.2f}", ""])
    print(table(["part", "cores", "share of the stack"], cpu_rows))
    print(f"moto's share of the stack's CPU: {moto / stack_total:.0%}")
    print("\nemulator calls during the drain (moto's own CPU, excluding its HTTP server):")
    calls = sorted(run.emulator.items(), key=lambda kv: -kv[1]["cpu_seconds"])
    call_rows = [
        [
            kind.split(".")[-1] if "." in kind else kind,
            f"{int(v['calls']):,}",
            f"{v['cpu_seconds'] / v['calls'] * 1000:.2f}",
            f"{v['cpu_seconds'] / run.people * 1000:.2f}",
        ]
        for kind, v in calls
    ]
    total = sum(v["cpu_seconds"] for v in run.emulator.values())
    call_rows.append(["total", "", "", f"{total / run.people * 1000:.2f}"])
    print(table(["call", "calls", "CPU ms per call", "CPU ms per check"], call_rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=500)
    parser.add_argument("--runs", default="1000@50,40@50", help="RPS@LATENCY_MS, comma-separated")
    parser.add_argument("--seed", type=int, default=3003)
    parser.add_argument("--workers", type=int, default=16, help="HTTP threads while preparing")
    parser.add_argument("--keep", action="store_true", help="keep each stack's files (logs, outbox)")
    args = parser.parse_args()
    results = []
    for index, (rps, latency) in enumerate(_common.parse_runs(args.runs, 50)):
        print(f"run {index + 1}: ceiling {rps:g}/s, latency {latency:g} ms, {args.people} people ...", flush=True)
        run = one_run(rps, latency, args.people, args.seed + index, args.workers, args.keep)
        report(run)
        results.append(run)
    print("\nSummary")
    print(
        table(
            ["ceiling/s", "latency ms", "steady checks/s", "limit/s", "ratio", "whole checks/s", "max in flight"],
            [
                [
                    f"{r.rps:g}",
                    f"{r.latency_ms:g}",
                    f"{r.steady_rate:.1f}",
                    f"{r.limit:.1f}",
                    f"{r.steady_rate / r.limit:.0%}",
                    f"{r.whole_rate:.1f}",
                    f"{r.registry['max_in_flight']} / {r.cap}",
                ]
                for r in results
            ],
        )
    )


if __name__ == "__main__":
    main()
