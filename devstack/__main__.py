"""`python -m devstack week`: the main job (one programme week); `python -m devstack up`: the embedded local stack
on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import threading
from pathlib import Path

from devstack.population import PopulationGenerator
from devstack.stack import EmbeddedStack
from functions.settings import local_dir


def _sample_curl(api_url: str) -> str:
    body = json.dumps(PopulationGenerator().person().registration())
    return (
        f"curl -s -X POST {api_url}/registrations -H 'Content-Type: application/json' -d {shlex.quote(body)}\n"
        f"curl -s {api_url}/applicants/<applicant_id> -H 'Authorization: Bearer <access_token>'"
    )


def up(args: argparse.Namespace) -> None:
    stopped = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with EmbeddedStack(Path(args.workdir), gateway_workers=args.workers) as stack:
        print(f"API:        {stack.api_url}")
        print(f"AWS (moto): {stack.aws_endpoint} (SQS: {stack.sqs_endpoint})")
        print(f"Registry:   {stack.registry_url} (CSV: {stack.registry_csv})")
        print(f"Payments:   {stack.payment_provider_url} (CSV: {stack.payout_accounts_csv})")
        print(f"Logs:       {stack.log_dir}")
        print("Try it (a synthetic applicant):")
        print(_sample_curl(stack.api_url))
        print("Ctrl-C stops the stack.", flush=True)
        stopped.wait()


def week(args: argparse.Namespace) -> None:
    from devstack import programme_week

    result = programme_week.run(args.people, args.quota, args.seed, Path(args.workdir) / "stack")
    if not result.matches:
        raise SystemExit(
            "the funnel, the refill or the ledger does not match what the population implies, the ledger identity"
            " does not hold, or a draw did not verify"
        )


def replay(args: argparse.Namespace) -> None:
    from devstack import replay as launch_peak

    result = launch_peak.run(
        count=args.count,
        rate=args.rate,
        duration=args.duration,
        connections=args.connections,
        sink=args.sink,
        workdir=Path(args.workdir) / "replay",
        codes_wait=args.codes_wait,
    )
    if result.lost:
        raise SystemExit(f"lost {result.lost} accepted registrations")


def faults(args: argparse.Namespace) -> None:
    from devstack import fault_run

    result = fault_run.run(
        args.count, Path(args.workdir) / "faults", throttle=args.throttle, verify_seconds=args.verify_seconds
    )
    if not result.clean:
        raise SystemExit("the fault-injection run lost, duplicated or stranded something")


def payment_faults(args: argparse.Namespace) -> None:
    from devstack import payment_fault_run

    result = payment_fault_run.run(args.count, Path(args.workdir) / "payment-faults", throttle=args.throttle)
    if not result.clean:
        raise SystemExit("the payment path under faults paid twice, lost, stranded or disagreed somewhere")


def capacity(args: argparse.Namespace) -> None:
    from devstack import capacity as model

    model.main(["--calls", args.calls])


def cost(args: argparse.Namespace) -> None:
    from devstack import costs
    from devstack.programme_week import COST_STAGES, TOOLING_REQUESTS

    def priced(path: str) -> tuple[dict[str, costs.Snapshot], int]:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        stages = {name: s for name, s in costs.from_json(document).items() if name in COST_STAGES}
        return stages, int(document["registrations"])

    after, registrations = priced(args.calls)
    print(costs.report(after, registrations, exclude=TOOLING_REQUESTS))
    if args.before:
        before, before_registrations = priced(args.before)
        print(f"\nAgainst {args.before}:")
        print(costs.compare(before, after, (before_registrations, registrations), exclude=TOOLING_REQUESTS))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    capacity_parser = commands.add_parser("capacity", help="the launch-day capacity model (docs/capacity.md)")
    capacity_parser.add_argument("--calls", default=str(local_dir() / "aws-calls.json"), help="a week's metered calls")
    capacity_parser.set_defaults(run=capacity)
    cost_parser = commands.add_parser("costs", help="a kept run's cost per million registrations, or two compared")
    cost_parser.add_argument("--calls", default=str(local_dir() / "aws-calls.json"), help="a week's metered calls")
    cost_parser.add_argument("--before", default=None, help="another week's metered calls, to compare with")
    cost_parser.set_defaults(run=cost)
    faults_parser = commands.add_parser("faults", help="registrations under injected faults; checks nothing is lost")
    faults_parser.add_argument("--count", type=int, default=10_000)
    faults_parser.add_argument("--throttle", type=float, default=0.15, help="share of DynamoDB calls throttled")
    faults_parser.add_argument("--verify-seconds", type=float, default=600, help="each applicant's time to verify")
    faults_parser.add_argument("--workdir", default=str(local_dir()))
    faults_parser.set_defaults(run=faults)
    payments_parser = commands.add_parser(
        "payment-faults", help="four incentives paid under injected faults; checks each is paid exactly once"
    )
    payments_parser.add_argument("--count", type=int, default=1000, help="members paid")
    payments_parser.add_argument("--throttle", type=float, default=0.15, help="share of DynamoDB calls throttled")
    payments_parser.add_argument("--workdir", default=str(local_dir()))
    payments_parser.set_defaults(run=payment_faults)
    replay_parser = commands.add_parser("replay", help="the launch-peak replay with wrk against 127.0.0.1")
    replay_parser.add_argument("--count", type=int, default=80_000)
    replay_parser.add_argument("--rate", type=float, default=80_000 / 60, help="requests per second at most")
    replay_parser.add_argument("--duration", type=int, default=120, help="seconds at most")
    replay_parser.add_argument("--connections", type=int, default=32)
    replay_parser.add_argument("--sink", action="store_true", help="answer the request path's AWS calls in-process")
    replay_parser.add_argument("--codes-wait", type=float, default=600, help="seconds to wait for email codes")
    replay_parser.add_argument("--workdir", default=str(local_dir()))
    replay_parser.set_defaults(run=replay)
    week_parser = commands.add_parser("week", help="the main job: one programme week end to end")
    week_parser.add_argument("--people", type=int, default=5000)
    week_parser.add_argument("--quota", type=int, default=None, help="wave quota (default: a fifth of the people)")
    week_parser.add_argument("--seed", type=int, default=2020)
    week_parser.add_argument("--workdir", default=str(local_dir()))
    week_parser.set_defaults(run=week)
    up_parser = commands.add_parser("up", help="run the stack until Ctrl-C")
    up_parser.add_argument("--workdir", default=str(local_dir()))
    up_parser.add_argument("--workers", type=int, default=4, help="gateway worker processes")
    up_parser.set_defaults(run=up)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
