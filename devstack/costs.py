"""The cost of a local run at AWS's prices: every AWS call the app made (by function, service and operation, as
the emulator metered them), its Lambda invocations with their measured durations, and its messages, priced with
`devstack/prices_ap_southeast_3.toml` and scaled to 1,000,000 registrations.

Durations are the local stack's (EMULATOR-BOUND: moto answers DynamoDB in milliseconds where AWS takes a few), so
the Lambda duration figure is an upper bound. Empty receives of the local pollers are left out: Lambda's event
source long-polls each queue whatever the traffic, a fixed cost, not a cost per registration.
"""

from __future__ import annotations

import json
import tomllib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from devstack.metering import Invocations
from devstack.moto_server import TABLE_KIND

PRICES = Path(__file__).with_name("prices_ap_southeast_3.toml")
CHALICE_CONFIG = Path(__file__).resolve().parent.parent / "functions" / ".chalice" / "config.json"
API_FUNCTION = "api_handler"
MESSAGES = ("SES email", "SNS SMS")


@cache
def prices() -> dict[str, Any]:
    return tomllib.loads(PRICES.read_text(encoding="utf-8"))


@cache
def memory_mb() -> dict[str, int]:
    """Each function's memory size, from the Chalice config (the API is one function for every route)."""
    stage = json.loads(CHALICE_CONFIG.read_text(encoding="utf-8"))["stages"]["prod"]
    default = int(stage.get("lambda_memory_size", 128))
    sizes = {API_FUNCTION: default}
    sizes.update(
        {name: int(spec.get("lambda_memory_size", default)) for name, spec in stage["lambda_functions"].items()}
    )
    return sizes


def function_of(origin: str) -> str:
    """An origin is a route (`POST /registrations`: the API function) or an event handler's name."""
    return API_FUNCTION if " /" in origin else origin


def service_of(kind: str) -> str:
    if kind.startswith("DynamoDB_"):
        return "DynamoDB"
    if kind.startswith("AmazonSQS."):
        return "SQS"
    if kind.startswith("TrentService."):
        return "KMS"
    if kind.startswith("s3 "):
        return "S3"
    return kind.split(" ", 1)[0].split(".", 1)[0]


def operation_of(kind: str) -> str:
    return kind.split(".", 1)[1] if "." in kind and " " not in kind.split(".", 1)[0] else kind


@dataclass
class Snapshot:
    """What the app had done at one moment: metered calls, invocations, messages."""

    calls: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # (origin, kind) -> calls, RU, WU
    invocations: dict[str, Invocations] = field(default_factory=dict)
    messages: Counter[str] = field(default_factory=Counter)

    @classmethod
    def take(
        cls, metered: Iterable[dict[str, Any]], invocations: dict[str, Invocations], outbox: Iterable[dict[str, Any]]
    ) -> Snapshot:
        calls: dict[tuple[str, str], list[float]] = {}
        for row in metered:
            totals = calls.setdefault((row["origin"], row["kind"]), [0.0, 0.0, 0.0])
            totals[0] += row["calls"]
            totals[1] += row["read_units"]
            totals[2] += row["write_units"]
        channels = Counter("SES email" if line.get("channel") == "email" else "SNS SMS" for line in outbox)
        return cls(calls, dict(invocations), channels)

    def minus(self, earlier: Snapshot) -> Snapshot:
        calls = {}
        for key, (count, reads, writes) in self.calls.items():
            before = earlier.calls.get(key, [0.0, 0.0, 0.0])
            change = [count - before[0], reads - before[1], writes - before[2]]
            if any(change):  # units by table come in rows of no calls of their own
                calls[key] = change
        invocations = {}
        for origin, now in self.invocations.items():
            before_inv = earlier.invocations.get(origin, Invocations())
            if now.count - before_inv.count:
                invocations[origin] = Invocations(
                    now.count - before_inv.count,
                    now.seconds - before_inv.seconds,
                    now.cpu - before_inv.cpu,
                    now.billed_ms - before_inv.billed_ms,
                )
        return Snapshot(calls, invocations, self.messages - earlier.messages)


@dataclass
class Bill:
    """USD by service (messages apart), and the counts behind them."""

    usd: dict[str, float] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)  # "Service Operation" -> calls
    units: dict[str, float] = field(default_factory=dict)  # "DynamoDB RRU"/"DynamoDB WRU" -> units
    gb_seconds: float = 0.0
    api_requests: int = 0
    invocations: int = 0

    def add(self, service: str, usd: float) -> None:
        self.usd[service] = self.usd.get(service, 0.0) + usd

    @property
    def aws(self) -> float:
        return sum(v for k, v in self.usd.items() if k not in MESSAGES)

    @property
    def messages(self) -> float:
        return sum(v for k, v in self.usd.items() if k in MESSAGES)


def bill(snapshot: Snapshot, exclude: Iterable[str] = ()) -> Bill:
    """What `snapshot` costs at the table's prices; calls and invocations of the `exclude`d origins (the tooling's
    own requests through the API) are left out."""
    price = prices()
    skipped = set(exclude)
    result = Bill()
    for (origin, kind), (count, reads, writes) in snapshot.calls.items():
        if origin in skipped or kind.endswith("(empty)") or kind.startswith(TABLE_KIND):
            continue  # tooling, idle polls, and the units by table (already in their calls' rows)
        service = service_of(kind)
        result.calls[f"{service} {operation_of(kind)}"] += int(count)
        if service == "DynamoDB":
            result.units["DynamoDB read units"] = result.units.get("DynamoDB read units", 0.0) + reads
            result.units["DynamoDB write units"] = result.units.get("DynamoDB write units", 0.0) + writes
            dynamodb = price["dynamodb"]
            cost = reads * dynamodb["per_million_read_units"] / 1e6 + writes * dynamodb["per_million_write_units"] / 1e6
            result.add("DynamoDB", cost)
        elif service == "SQS":
            result.add("SQS", count * price["sqs"]["per_million_requests"] / 1e6)
        elif service == "KMS":
            result.add("KMS", count * price["kms"]["per_million_requests"] / 1e6)
        elif service == "S3":
            per_thousand = (
                price["s3"]["per_thousand_get"] if kind.endswith(("GET", "HEAD")) else price["s3"]["per_thousand_put"]
            )
            result.add("S3", count * per_thousand / 1e3)
        else:
            result.add(service, 0.0)  # counted, not priced
    sizes = memory_mb()
    for origin, invoked in snapshot.invocations.items():
        if origin in skipped:
            continue
        function = function_of(origin)
        gb_seconds = invoked.billed_ms / 1000 * sizes.get(function, 128) / 1024
        result.gb_seconds += gb_seconds
        result.invocations += invoked.count
        result.add("Lambda", invoked.count * price["lambda"]["per_million_requests"] / 1e6)
        result.add("Lambda", gb_seconds * price["lambda"]["per_gb_second"])
        if function == API_FUNCTION:
            result.api_requests += invoked.count
            result.add("API Gateway", invoked.count * price["apigateway"]["per_million_requests"] / 1e6)
    result.add("SES email", snapshot.messages.get("SES email", 0) * price["ses"]["per_thousand_emails"] / 1e3)
    result.add("SNS SMS", snapshot.messages.get("SNS SMS", 0) * price["sns_sms"]["per_message_indonesia"])
    return result


PER = 1_000_000


def report(stages: dict[str, Snapshot], registrations: int, exclude: Iterable[str] = ()) -> str:
    """The cost per 1,000,000 registrations: by service (messages apart), by stage, and the calls per
    registration by service and operation."""
    excluded = tuple(exclude)
    scale = PER / max(1, registrations)
    whole = _whole(stages)
    total = bill(whole, excluded)
    meta = prices()["meta"]
    unsure = sorted(name for name, spec in prices().items() if isinstance(spec, dict) and spec.get("sure") is False)
    lines = [
        f"Cost per {PER:,} registrations carried to acceptance, on-demand list prices of {meta['region']} "
        f"({meta['prices_as_of']}; devstack/{PRICES.name}; unsure: {', '.join(unsure)}):",
        f"  {'service':<14}{'USD per 1M':>12}  what",
    ]
    whats = {
        "API Gateway": f"{total.api_requests * scale:,.0f} requests",
        "Lambda": f"{total.invocations * scale:,.0f} invocations, {total.gb_seconds * scale:,.0f} GB-s"
        + " (local durations: an upper bound)",
        "DynamoDB": ", ".join(
            f"{v * scale:,.0f} {k.removeprefix('DynamoDB ')}" for k, v in sorted(total.units.items())
        ),
    }
    for service in sorted(total.usd, key=lambda s: -total.usd[s]):
        if service in MESSAGES:
            continue
        calls = sum(v for k, v in total.calls.items() if k.startswith(service + " "))
        what = whats.get(service) or f"{calls * scale:,.0f} requests"
        lines.append(f"  {service:<14}{total.usd[service] * scale:>12,.2f}  {what}")
    lines.append(f"  {'AWS total':<14}{total.aws * scale:>12,.2f}")
    for service in MESSAGES:
        count = whole.messages.get(service, 0)
        lines.append(
            f"  {service:<14}{total.usd.get(service, 0.0) * scale:>12,.2f}  {count * scale:,.0f} messages (apart)"
        )
    lines.append("  per stage, USD per 1M registrations (AWS, then messages):")
    for name, snapshot in stages.items():
        staged = bill(snapshot, excluded)
        lines.append(f"    {name:<40}{staged.aws * scale:>10,.2f}{staged.messages * scale:>10,.2f}")
    lines.append("  AWS calls per registration, by service and operation:")
    for operation, count in sorted(total.calls.items(), key=lambda item: -item[1]):
        lines.append(f"    {operation:<40}{count / max(1, registrations):>10.3f}")
    return "\n".join(lines)


def as_json(stages: dict[str, Snapshot], funnel: dict[str, int]) -> dict[str, Any]:
    """Every stage's calls by function and kind (with DynamoDB units), invocations and messages, for reading
    (and for `python -m devstack capacity`)."""
    return {
        "registrations": funnel.get("registered", 0),
        "funnel": funnel,
        "stages": {
            name: {
                "calls": [
                    {"origin": origin, "kind": kind, "calls": int(v[0]), "read_units": v[1], "write_units": v[2]}
                    for (origin, kind), v in sorted(snapshot.calls.items())
                ],
                "invocations": {k: vars(v) for k, v in sorted(snapshot.invocations.items())},
                "messages": dict(snapshot.messages),
            }
            for name, snapshot in stages.items()
        },
    }


def from_json(document: dict[str, Any]) -> dict[str, Snapshot]:
    """The stages of a kept run (`as_json`'s document) as snapshots again, to price or compare them later."""
    return {
        name: Snapshot(
            {
                (row["origin"], row["kind"]): [row["calls"], row["read_units"], row["write_units"]]
                for row in stage["calls"]
            },
            {origin: Invocations(**invoked) for origin, invoked in stage["invocations"].items()},
            Counter(stage["messages"]),
        )
        for name, stage in document["stages"].items()
    }


def compare(
    before: dict[str, Snapshot], after: dict[str, Snapshot], registrations: tuple[int, int], exclude: Iterable[str] = ()
) -> str:
    """Two runs side by side, per registration: the calls by service and operation that changed, and USD per
    1,000,000 registrations by service (messages apart)."""
    bills = [bill(_whole(stages), tuple(exclude)) for stages in (before, after)]
    per = [max(1, count) for count in registrations]
    lines = ["  AWS calls per registration that changed (before, after):"]
    for operation in sorted(set(bills[0].calls) | set(bills[1].calls), key=lambda o: -bills[0].calls[o]):
        was, now = (bills[i].calls[operation] / per[i] for i in (0, 1))
        if round(was, 3) != round(now, 3):
            lines.append(f"    {operation:<40}{was:>10.3f}{now:>10.3f}")
    lines.append("  USD per 1M registrations (before, after):")
    for service in sorted(set(bills[0].usd) | set(bills[1].usd), key=lambda s: -bills[0].usd.get(s, 0.0)):
        was, now = (bills[i].usd.get(service, 0.0) * PER / per[i] for i in (0, 1))
        lines.append(f"    {service:<40}{was:>10,.2f}{now:>10,.2f}")
    was, now = (bills[i].aws * PER / per[i] for i in (0, 1))
    lines.append(f"    {'AWS total':<40}{was:>10,.2f}{now:>10,.2f}")
    # Lambda's GB-seconds come from local durations, which the machine's load moves run to run; every other
    # figure is a count of calls, units or invocations, so this total compares two runs on their own work.
    per_gb_second = prices()["lambda"]["per_gb_second"]
    was, now = ((bills[i].aws - bills[i].gb_seconds * per_gb_second) * PER / per[i] for i in (0, 1))
    lines.append(f"    {'AWS total without Lambda GB-s':<40}{was:>10,.2f}{now:>10,.2f}")
    lines.append("  AWS USD per 1M registrations by stage (before, after):")
    for name in after:
        was, now = (
            bill(stages.get(name, Snapshot()), tuple(exclude)).aws * PER / per[i]
            for i, stages in enumerate((before, after))
        )
        lines.append(f"    {name:<40}{was:>10,.2f}{now:>10,.2f}")
    return "\n".join(lines)


def _whole(stages: dict[str, Snapshot]) -> Snapshot:
    whole = Snapshot()
    for snapshot in stages.values():
        whole = _plus(whole, snapshot)
    return whole


def _plus(a: Snapshot, b: Snapshot) -> Snapshot:
    calls = {k: list(v) for k, v in a.calls.items()}
    for key, values in b.calls.items():
        totals = calls.setdefault(key, [0.0, 0.0, 0.0])
        for i, value in enumerate(values):
            totals[i] += value
    invocations = {k: Invocations(v.count, v.seconds, v.cpu, v.billed_ms) for k, v in a.invocations.items()}
    for origin, invoked in b.invocations.items():
        total = invocations.setdefault(origin, Invocations())
        total.count += invoked.count
        total.seconds += invoked.seconds
        total.cpu += invoked.cpu
        total.billed_ms += invoked.billed_ms
    return Snapshot(calls, invocations, a.messages + b.messages)
