"""`python -m devstack capacity`: the launch-day capacity model. 2020's launch (1,432,133 registrations in 21 hours,
a peak of 80,000 in one minute) and a wave close at 10,000,000 members, against the AWS quotas that would bind in
ap-southeast-3 and the civil registry's cap: for each limit, the load at which it binds, and what the deployment
must request or change. `docs/capacity.md` is its reading.

Every input states its source. The per-registration figures are measured: the main job's metered AWS calls
(`python -m devstack week`, which writes `.local/aws-calls.json`; `--calls` reads another run's file) and the
benchmarks recorded in docs/benchmarks.md. The quotas are AWS's published defaults, as known on 2026-11-30
without internet access (`sure=False` marks those whose ap-southeast-3 value is not known for certain).
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devstack.costs import prices
from devstack.moto_server import TABLE_KIND
from functions.resources import NIK_CHECK_MAX_CONCURRENCY, NIK_CHECK_SHARE_OF_REGISTRY
from functions.settings import Settings, local_dir

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"

# 2020's launch, as reported (docs/capacity.md): 1,432,133 registrations in the first 21 hours, 80,000 in the peak
# minute.
LAUNCH_REGISTRATIONS = 1_432_133
LAUNCH_HOURS = 21
PEAK_PER_MINUTE = 80_000
CLOSE_MEMBERS = 10_000_000
CLOSE_QUOTA = 800_000  # bench/bench_draw.py's quota at 10,000,000


@dataclass(frozen=True)
class Quota:
    name: str
    value: float
    unit: str
    source: str
    sure: bool = True


# AWS's published default quotas (service quotas pages, as known in 2024-2025).
QUOTAS = {
    "apigw_account_rps": Quota(
        "API Gateway account throttle, ap-southeast-3",
        2_500,
        "requests/s",
        "API Gateway quotas: 10,000 rps in most regions, 2,500 rps (burst 1,250) in newer ones, Jakarta among them",
        sure=False,
    ),
    "apigw_account_burst": Quota("API Gateway account burst, ap-southeast-3", 1_250, "requests", "same page", False),
    "lambda_concurrency": Quota(
        "Lambda concurrent executions per region",
        1_000,
        "executions",
        "Lambda quotas (default; new accounts can start lower and are raised with use)",
    ),
    "lambda_scaling": Quota(
        "Lambda scaling rate per function", 1_000, "executions per 10 s", "Lambda scaling behaviour (since 2023-11)"
    ),
    "lambda_timeout": Quota("Lambda timeout", 900, "s", "Lambda quotas"),
    "sqs_esm_concurrency": Quota(
        "Lambda SQS event source scaling", 1_250, "executions (+300 a minute)", "Lambda SQS scaling (since 2023-11)"
    ),
    "sqs_in_flight": Quota("SQS standard queue messages in flight", 120_000, "messages", "SQS quotas"),
    "ddb_item_wcu": Quota("DynamoDB per partition (so per item) writes", 1_000, "write units/s", "DynamoDB quotas"),
    "ddb_item_rcu": Quota("DynamoDB per partition (so per item) reads", 3_000, "read units/s", "DynamoDB quotas"),
    "ddb_new_table_wru": Quota(
        "DynamoDB new on-demand table, initial writes",
        4_000,
        "write units/s",
        "DynamoDB on-demand: a new table serves up to 4,000 WRU/s and 12,000 RRU/s, then double its previous peak",
    ),
    "ddb_new_table_rru": Quota("DynamoDB new on-demand table, initial reads", 12_000, "read units/s", "same page"),
    "ddb_table_wru": Quota("DynamoDB on-demand table maximum (default)", 40_000, "write units/s", "DynamoDB quotas"),
    "kms_symmetric_rps": Quota(
        "KMS symmetric cryptographic requests",
        5_500,
        "requests/s (shared by the account in the region)",
        "KMS request quotas (5,500 default; 10,000-50,000 in larger regions)",
        sure=False,
    ),
    "ses_rate": Quota(
        "SES sending rate once out of the sandbox", 14, "emails/s", "SES quotas (sandbox: 1/s, 200 a day)", False
    ),
    "ses_daily": Quota("SES sending quota once out of the sandbox", 50_000, "emails / 24 h", "SES quotas", False),
    "sms_tps": Quota("SNS SMS transactions", 20, "messages/s", "SNS quotas (SMS TPS default)", sure=False),
    "sms_spend": Quota("SNS SMS monthly spend limit", 1, "USD / month", "SNS SMS default spend quota", sure=False),
}


def template_throttle() -> tuple[float, float]:
    """The API stage's throttle (rate, burst) from template.yaml."""

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=Loader)  # noqa: S506 - SafeLoader subclass
    for resource in template["Resources"].values():
        for setting in (resource.get("Properties") or {}).get("MethodSettings") or []:
            if "ThrottlingRateLimit" in setting:
                return float(setting["ThrottlingRateLimit"]), float(setting["ThrottlingBurstLimit"])
    raise LookupError("no stage throttle in template.yaml")


@dataclass
class Measured:
    """Per-registration and per-member figures from a main-job run's metered calls."""

    registrations: int
    verified: int
    pool: int
    intake_write_units: float  # per registration, the registration stage (API, intake, email code)
    intake_write_units_by_table: dict[str, float]  # the same, by table
    intake_read_units: float
    verification_write_units: float  # per email-verified applicant: verification, NIK check, notices
    publish_write_units: float  # per pool member
    close_read_units: float  # per pool member
    lambda_seconds: float  # per registration, the registration stage, local durations (an upper bound)
    kms_calls: float  # per registration
    emails_at_registration: float  # per registration
    sms_per_accepted: float
    emails_per_member_at_publish: float

    @classmethod
    def from_run(cls, path: Path) -> Measured:
        data = json.loads(path.read_text(encoding="utf-8"))
        stages: dict[str, Any] = data["stages"]

        def units(stage: str, which: str, origin: str | None = None) -> float:
            return sum(  # type: ignore[no-any-return]
                row[which]
                for row in stages.get(stage, {}).get("calls", [])
                if row["kind"].startswith("DynamoDB_")
                and not _tooling(row["origin"])
                and origin in (None, row["origin"])
            )

        def invoked(stage: str, origin: str) -> int:
            return int(stages.get(stage, {}).get("invocations", {}).get(origin, {}).get("count", 0))

        def calls(kind_prefix: str) -> int:
            return sum(
                row["calls"]
                for stage in stages.values()
                for row in stage["calls"]
                if row["kind"].startswith(kind_prefix) and not _tooling(row["origin"])
            )

        registration, verification, nik = "registration", "email verification", "NIK checks and eligibility"
        publication, close = "Friday 10:00 WIB: publication", "Thursday 16:00 WIB: close and draw"
        registrations = int(data["registrations"])
        by_table: dict[str, float] = {}
        for row in stages[registration]["calls"]:
            if row["kind"].startswith(TABLE_KIND) and not _tooling(row["origin"]):
                name = _table_name(row["kind"].removeprefix(TABLE_KIND))
                by_table[name] = by_table.get(name, 0.0) + row["write_units"] / registrations
        verified = invoked(verification, "POST /verifications/email")
        pool = invoked("joining wave 1", "POST /waves/{}/applicants")
        messages = stages.get(publication, {}).get("messages", {})
        seconds = sum(
            v["billed_ms"] / 1000 for origin, v in stages[registration]["invocations"].items() if not _tooling(origin)
        )
        accepted = max(1, int(data.get("funnel", {}).get("accepted", 0)))
        return cls(
            registrations=registrations,
            verified=verified,
            pool=pool,
            intake_write_units=sum(
                row["write_units"]
                for row in stages[registration]["calls"]
                if row["kind"].startswith("DynamoDB_") and not _tooling(row["origin"])
            )
            / registrations,
            intake_write_units_by_table=by_table,
            intake_read_units=units(registration, "read_units") / registrations,
            verification_write_units=(units(verification, "write_units") + units(nik, "write_units")) / verified,
            publish_write_units=units(publication, "write_units") / pool,
            close_read_units=units(close, "read_units", "close_due_waves") / pool,
            lambda_seconds=seconds / registrations,
            kms_calls=calls("TrentService.") / registrations,
            emails_at_registration=stages[registration]["messages"].get("SES email", 0) / registrations,
            sms_per_accepted=messages.get("SNS SMS", 0) / accepted,
            emails_per_member_at_publish=messages.get("SES email", 0) / pool,
        )


def _table_name(physical: str) -> str:
    """`prakerja-ApplicantsTable-1A2B3C` -> `ApplicantsTable` (the template's logical name, where it shows)."""
    parts = physical.split("-")
    return next((part for part in parts if part.endswith("Table")), physical)


def _tooling(origin: str) -> bool:
    from devstack.programme_week import TOOLING_REQUESTS

    return origin in TOOLING_REQUESTS


# Figures from the benchmarks (docs/benchmarks.md), each with its command.
POOL_READ_MEMBERS_PER_S = 11_194  # `bench/bench_pool_read.py --repeats 1`, in-process, one process
DRAW_SECONDS_10M = 26.8  # `bench/bench_draw.py --serialise`, pool 10,000,000
REGISTRY_MEASURED_PER_S = 48.7  # `bench/bench_nik_checks.py`, cap 4, registry at 50 ms, EMULATOR-BOUND


def _hms(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:,.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:,.0f} min"
    return f"{seconds / 3600:,.1f} h"


def launch(m: Measured) -> list[tuple[str, float, str, str]]:
    """(limit, registrations/s at which it binds, source, what to do), for the launch."""
    stage_rate, stage_burst = template_throttle()
    q = QUOTAS
    by_table = m.intake_write_units_by_table or {"all tables": m.intake_write_units}
    hottest, hottest_units = max(by_table.items(), key=lambda item: item[1])
    rows = [
        (
            "SES sending rate (email code at registration)",
            q["ses_rate"].value / max(m.emails_at_registration, 1e-9),
            f"{q['ses_rate'].source}; {m.emails_at_registration:.2f} emails per registration (measured)",
            "request SES production access and a rate of at least 1,500/s, 3,000,000 a day, before launch",
        ),
        (
            f"DynamoDB new on-demand table (writes), {hottest}",
            q["ddb_new_table_wru"].value / hottest_units,
            f"{q['ddb_new_table_wru'].source}; {hottest_units:.1f} of the {m.intake_write_units:.1f} write units "
            "per registration go to this table (measured)",
            "create the tables with warm throughput (or provisioned for launch) at 1,333/s times their units",
        ),
        (
            "API Gateway stage throttle (template.yaml)",
            stage_rate,
            f"template.yaml: {stage_rate:,.0f}/s, burst {stage_burst:,.0f} (the account burst caps it)",
            "raise to 4,000/s with the account quota; keep the burst at or under the account's",
        ),
        (
            "API Gateway account throttle, ap-southeast-3",
            q["apigw_account_rps"].value,
            q["apigw_account_rps"].source,
            "request 5,000+ rps (and burst) for ap-southeast-3 before launch",
        ),
        (
            "Lambda concurrency (all functions at the registration stage)",
            q["lambda_concurrency"].value / m.lambda_seconds,
            f"{q['lambda_concurrency'].source}; {m.lambda_seconds * 1000:.0f} ms of functions per registration "
            "(local durations: an upper bound)",
            "confirm the account's concurrency is the 1,000 default (new accounts start lower)",
        ),
        (
            "Funnel counter shard (one item)",
            Settings.model_fields["counter_shards"].default * q["ddb_item_wcu"].value / 2,
            f"{q['ddb_item_wcu'].source}; {Settings.model_fields['counter_shards'].default} shards, 2 write units "
            "per transactional increment",
            "none at this size",
        ),
        (
            f"DynamoDB on-demand table maximum (writes), {hottest}",
            q["ddb_table_wru"].value / hottest_units,
            q["ddb_table_wru"].source,
            "request more if the launch must go beyond this",
        ),
    ]
    return sorted(rows, key=lambda row: row[1])


def nik_backlog(m: Measured, registry_rps: float, latency_ms: float) -> list[str]:
    share = m.verified / m.registrations
    cap_rate = min(registry_rps, NIK_CHECK_MAX_CONCURRENCY / (latency_ms / 1000))
    day_checks = LAUNCH_REGISTRATIONS * share
    arrivals = day_checks / (LAUNCH_HOURS * 3600)
    peak_checks = PEAK_PER_MINUTE * share
    backlog = max(0.0, peak_checks - cap_rate * 60)
    drain = backlog / (cap_rate - arrivals) if cap_rate > arrivals else math.inf
    return [
        f"  registry at {latency_ms:.0f} ms: {cap_rate:,.1f} checks/s (min of {registry_rps:g}/s and "
        f"{NIK_CHECK_MAX_CONCURRENCY} consumers / latency); the day's {day_checks:,.0f} checks take "
        f"{_hms(day_checks / cap_rate)} of registry time, arriving at {arrivals:.1f}/s on average",
        f"    if the peak minute's verifications ({peak_checks:,.0f}) arrive together: a backlog of {backlog:,.0f}, "
        f"drained in {_hms(drain)} while the day's average keeps arriving",
    ]


def close(m: Measured) -> list[tuple[str, str, str]]:
    """(what, figure at 10,000,000 members, source) for the close and publication."""
    q = QUOTAS
    carried = CLOSE_MEMBERS - CLOSE_QUOTA
    total_wu = CLOSE_MEMBERS * m.publish_write_units
    emails = CLOSE_MEMBERS * m.emails_per_member_at_publish
    sms = CLOSE_QUOTA * m.sms_per_accepted
    sms_price = prices()["sns_sms"]["per_message_indonesia"]
    pool_rru = CLOSE_MEMBERS * m.close_read_units
    return [
        (
            "reading the pool in one function",
            f"{_hms(CLOSE_MEMBERS / POOL_READ_MEMBERS_PER_S)} of CPU against Lambda's "
            f"{q['lambda_timeout'].value:.0f} s",
            f"bench/bench_pool_read.py: {POOL_READ_MEMBERS_PER_S:,}/s; issue 12 item 1 fans it out",
        ),
        ("the draw", f"{DRAW_SECONDS_10M:.0f} s", "bench/bench_draw.py --serialise"),
        (
            "pool read, DynamoDB",
            f"{pool_rru:,.0f} read units: {_hms(pool_rru / q['ddb_new_table_rru'].value)} at a new table's 12,000/s",
            f"{m.close_read_units:.3f} read units per member (measured)",
        ),
        (
            "publication, DynamoDB writes (table)",
            f"{total_wu:,.0f} write units: {_hms(total_wu / q['ddb_table_wru'].value)} at the 40,000/s table "
            f"maximum, {_hms(total_wu / q['ddb_new_table_wru'].value)} at a new table's 4,000/s",
            f"{m.publish_write_units:.1f} write units per member (measured)",
        ),
        (
            "publication, the next wave's record (one item)",
            f"no hot key: the {carried:,} carry-overs no longer condition-check it (the wave is open by order); "
            f"before, {_hms(carried * 2 / q['ddb_item_wcu'].value)} at {q['ddb_item_wcu'].value:,.0f} write units/s",
            "functions/store/waves.py `_into_pool`; DynamoDB per-partition limit",
        ),
        (
            "publication notices by email",
            f"{emails:,.0f} emails: {_hms(emails / q['ses_rate'].value)} at SES's default 14/s, "
            f"{_hms(emails / 1500)} at 1,500/s",
            f"{m.emails_per_member_at_publish:.2f} emails per member at publication (measured)",
        ),
        (
            "acceptance SMS",
            f"{sms:,.0f} SMS: {_hms(sms / q['sms_tps'].value)} at SNS's default 20/s; ${sms * sms_price:,.0f} "
            "against a $1 monthly spend limit",
            f"{m.sms_per_accepted:.2f} SMS per accepted (measured)",
        ),
    ]


def report(m: Measured, calls_path: Path) -> str:
    peak = PEAK_PER_MINUTE / 60
    average = LAUNCH_REGISTRATIONS / (LAUNCH_HOURS * 3600)
    lines = [
        f"Measured: {calls_path} ({m.registrations:,} registrations, {m.verified:,} verified, pool {m.pool:,})",
        "",
        f"Launch: {LAUNCH_REGISTRATIONS:,} in {LAUNCH_HOURS} h ({average:.1f}/s on average), "
        f"peak {PEAK_PER_MINUTE:,} a minute ({peak:,.0f}/s)",
        "  limits in the order they bind (registrations/s), default quotas:",
    ]
    for name, rate, source, action in launch(m):
        if rate < average:
            verdict = "BINDS below the day's average"
        elif rate < peak:
            verdict = "BINDS at the peak"
        else:
            verdict = f"holds ({rate / peak:.1f}x the peak)"
        lines.append(f"  {rate:>10,.0f}/s  {name}: {verdict}; {action}")
        lines.append(f"               source: {source}")
    if m.intake_write_units_by_table:
        tables = ", ".join(f"{name} {units:.1f}" for name, units in sorted(m.intake_write_units_by_table.items()))
        lines.append(f"  write units per registration by table (registration stage): {tables}")
    emails_day = LAUNCH_REGISTRATIONS * m.emails_at_registration
    daily = QUOTAS["ses_daily"].value
    lines.append(
        f"  SES daily quota: {daily:,.0f} emails a day against {emails_day:,.0f} email codes in the 21 hours: "
        f"spent after {daily / m.emails_at_registration:,.0f} registrations "
        f"({_hms(daily / m.emails_at_registration / average)} at the day's average)"
    )
    lines.append(
        "  when SES throttles: the send raises, the notification record fails in its batch, SQS redelivers it "
        "after the visibility timeout (360 s), and after 5 receives it goes to the notifications DLQ"
    )
    kms = peak * m.kms_calls
    lines.append(
        f"  KMS: {m.kms_calls:.3f} calls per registration (measured; per process start, not per request) -> "
        f"{kms:,.0f}/s at the peak against {QUOTAS['kms_symmetric_rps'].value:,.0f}/s: holds"
    )
    lines.append(
        f"  SQS: standard queues take nearly unlimited calls; messages in flight stay under "
        f"{QUOTAS['sqs_in_flight'].value:,.0f} (NIK checks: {NIK_CHECK_MAX_CONCURRENCY} x 10)"
    )
    lines.append("")
    # The NIK checks' share of the registry's ceiling: the incentive screening keeps the rest (functions/resources.py).
    registry_rps = Settings.model_fields["registry_requests_per_second"].default * NIK_CHECK_SHARE_OF_REGISTRY
    lines.append(
        f"NIK checks at their {NIK_CHECK_SHARE_OF_REGISTRY:.0%} share of the civil registry's cap "
        f"(PRAKERJA_REGISTRY_REQUESTS_PER_SECOND), {NIK_CHECK_MAX_CONCURRENCY} consumers:"
    )
    for latency in (50, 80, 200):
        lines.extend(nik_backlog(m, registry_rps, latency))
    lines.append(
        f"  measured on the local stack: {REGISTRY_MEASURED_PER_S}/s at 50 ms (bench/bench_nik_checks.py, "
        "EMULATOR-BOUND)"
    )
    lines.append("")
    lines.append(f"Wave close at {CLOSE_MEMBERS:,} members (quota {CLOSE_QUOTA:,}):")
    for what, figure, source in close(m):
        lines.append(f"  {what}: {figure}")
        lines.append(f"      source: {source}")
    unsure = [q.name for q in QUOTAS.values() if not q.sure]
    lines.append("")
    lines.append(f"Quotas whose ap-southeast-3 value is not known for certain: {'; '.join(unsure)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack capacity", description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", default=str(local_dir() / "aws-calls.json"), help="a main-job run's metered calls")
    args = parser.parse_args(argv)
    path = Path(args.calls)
    if not path.exists():
        raise SystemExit(f"{path} not found: run `python -m devstack week` first (it writes it), or pass --calls")
    print(report(Measured.from_run(path), path))


if __name__ == "__main__":
    main()
