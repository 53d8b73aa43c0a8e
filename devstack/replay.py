"""The launch-peak replay: registrations fired at the local HTTP API by wrk, a separate load-generator process,
at up to the 2020 peak (80,000 a minute, 1,333/s), against 127.0.0.1 only, bounded in count and in time.

    python -m devstack replay [--count 80000] [--rate 1333] [--duration 120] [--sink]

It reports the rate achieved, p50/p95/p99 latency of the answers, answers by status, the intake queue's depth
over time, the time until every accepted registration is stored, and `lost`: the 202s not stored exactly once,
checked against the applicants table; then, waiting up to `--codes-wait` seconds more for the email codes, their
delivery latency from "stored" to "code sent" (devstack.code_latency) and how many are still waiting. moto is the
limit long before AWS would be (its SQS slows as a queue deepens), so `--sink` answers the request path's two AWS
calls in-process (devstack.sink): the ceiling of our own gateway and handler.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.code_latency import CodeLatency
from devstack.population import PopulationGenerator
from devstack.stack import EmbeddedStack
from functions.resources import INTAKE_QUEUE

LUA = Path(__file__).with_name("replay.lua")
PEAK_PER_SECOND = 80_000 / 60


@dataclass
class ReplayResult:
    count: int
    sink: bool
    seconds: float = 0.0
    rate: float = 0.0
    status: dict[str, int] = field(default_factory=dict)
    socket_errors: dict[str, int] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    depth: list[tuple[float, int]] = field(default_factory=list)
    drain_seconds: float | None = None
    accepted: int = 0
    stored: int = 0
    lost: int | None = None
    code_latency: CodeLatency = field(default_factory=CodeLatency)

    def table(self) -> str:
        rows = [
            ("mode", "no-op sink (ceiling of gateway and handler)" if self.sink else "full path into moto's SQS"),
            ("registrations sent", f"{self.count:,}"),
            ("achieved rate", f"{self.rate:,.0f} requests/s over {self.seconds:.1f} s"),
            ("latency p50 / p95 / p99", " / ".join(f"{self.latency_ms[p]:.1f} ms" for p in ("p50", "p95", "p99"))),
            ("answers by status", ", ".join(f"{k}: {v:,}" for k, v in self.status.items() if v)),
            ("socket errors", ", ".join(f"{k}: {v}" for k, v in self.socket_errors.items() if v) or "none"),
        ]
        if not self.sink:
            peak = max((d for _, d in self.depth), default=0)
            rows += [
                (
                    "intake queue depth",
                    f"peak {peak:,}; "
                    + ", ".join(f"{t:.0f}s:{d}" for t, d in self.depth[:: max(1, len(self.depth) // 8)]),
                ),
                (
                    "until every 202 was stored",
                    f"{self.drain_seconds:.1f} s after the load stopped"
                    if self.drain_seconds is not None
                    else "not reached",
                ),
                ("accepted (202) / stored", f"{self.accepted:,} / {self.stored:,}"),
                ("lost", str(self.lost)),
                ("email code, stored to sent", self.code_latency.line()),
            ]
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"  {name:<{width}}  {value}" for name, value in rows)


def write_bodies(path: Path, count: int, seed: int) -> None:
    people = PopulationGenerator(seed)
    with path.open("w", encoding="utf-8") as handle:
        for _ in range(count):
            handle.write(json.dumps(people.person().registration(), separators=(",", ":")) + "\n")


def _stored_ids(stack: EmbeddedStack) -> list[str]:
    return [row["applicant_id"] for row in stack.applicants()]


def run_load(
    stack: EmbeddedStack, bodies: Path, *, count: int, rate: float, duration: int, connections: int, sink: bool
) -> ReplayResult:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed: `make wrk` installs it from Debian's packages")
    out_dir = stack.workdir / "replay"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    threads = 2
    # A fixed pause per request on each connection keeps the total at most `rate` (0: as fast as it goes).
    pause_ms = max(0, int(connections * 1000 / rate)) if rate > 0 else 0
    result = ReplayResult(count=count, sink=sink)
    stop = threading.Event()
    started = time.monotonic()

    def sample_depth() -> None:
        while not stop.is_set():
            depth = stack.queue_depth(INTAKE_QUEUE)
            result.depth.append((time.monotonic() - started, depth["visible"] + depth["in_flight"]))
            stop.wait(2.0)

    sampler = threading.Thread(target=sample_depth, daemon=True)
    if not sink:
        sampler.start()
    command = [
        wrk, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "-s", str(LUA),
        f"{stack.api_url}/registrations", "--", str(bodies), str(threads), str(pause_ms), str(out_dir),
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603 - wrk, our args
    load_ended = time.monotonic()
    line = next(x for x in output.splitlines() if x.startswith("REPLAY "))
    report: dict[str, Any] = json.loads(line[len("REPLAY ") :])
    result.seconds = report["duration_us"] / 1e6
    result.rate = report["answered"] / result.seconds if result.seconds else 0.0
    result.status = report["status"]
    result.socket_errors = report["socket_errors"]
    result.latency_ms = {k: v / 1000 for k, v in report["latency_us"].items()}
    accepted = [a for f in sorted(out_dir.glob("accepted-*.txt")) for a in f.read_text().split()]
    result.accepted = len(accepted)
    if not sink:
        deadline = load_ended + 1800
        while len(stored := _stored_ids(stack)) < len(accepted) and time.monotonic() < deadline:
            time.sleep(1.0)
        stop.set()
        result.drain_seconds = time.monotonic() - load_ended if len(stored) >= len(accepted) else None
        counts: dict[str, int] = {}
        for applicant_id in stored:
            counts[applicant_id] = counts.get(applicant_id, 0) + 1
        result.stored = len(stored)
        result.lost = sum(1 for applicant_id in accepted if counts.get(applicant_id) != 1)
    return result


def wait_for_codes(stack: EmbeddedStack, seconds: float) -> CodeLatency:
    """The email codes' delivery latency once every stored applicant has its code, or after `seconds`."""
    deadline = time.monotonic() + seconds
    while (latency := stack.code_latency()).waiting and time.monotonic() < deadline:
        time.sleep(2.0)
    return latency


def run(
    *,
    count: int,
    rate: float,
    duration: int,
    connections: int,
    sink: bool,
    workdir: Path,
    seed: int = 80,
    workers: int = 2,
    codes_wait: float = 600,
) -> ReplayResult:
    workdir.mkdir(parents=True, exist_ok=True)
    bodies = workdir / f"bodies-{count}-{seed}.jsonl"
    if not bodies.exists():
        print(f"Writing {count:,} registrations to {bodies} ...", flush=True)
        write_bodies(bodies, count, seed)
    gateway_env = {"DEVSTACK_SINK": "1"} if sink else {}
    with EmbeddedStack(workdir / "stack", gateway_workers=workers, gateway_env=gateway_env) as stack:
        print(f"Replaying against {stack.api_url} ({'no-op sink' if sink else 'full path'}) ...", flush=True)
        result = run_load(stack, bodies, count=count, rate=rate, duration=duration, connections=connections, sink=sink)
        if not sink:
            result.code_latency = wait_for_codes(stack, codes_wait)
    print(result.table())
    return result
