"""Intake consumer throughput: our consumer against raw boto3 writes of the same items.

The message bodies are made by our real API path (`POST /registrations` through the Chalice app, its AWS calls
answered from memory and each SendMessage body kept), so they are valid IntakeMessages with sealed personal data
of the real size. Our consumer takes them as Lambda does, in SQS events of 10 records (tests/helpers.sqs_event).

Every AWS call our consumer makes is recorded at botocore's `provide-client-params` (in-process, answered from
memory) and replayed by the baselines with a plain boto3 client, so the items are byte-for-byte the same:
  raw transact   the TransactWriteItems alone, one per record (applicant Put with attribute_not_exists and one
                 counter Update ADD; identity claims are taken later, at verification): the baseline of issue #2;
  raw all calls  every call our consumer made, in order (today: the transaction and the email-code
                 SendMessageBatch to the notifications queue): like for like.
  what-if: sends batched   the same calls, but the SendMessageBatch entries of each SQS event (10 records) combined
                 into one call after its 10 transactions: what batching the email-code sends per event would give.

Two figures:
  1. EMULATOR-BOUND: each side against devstack's moto server (a fresh one per side per round, on a free loopback
     port, provisioned from template.yaml), sides rotating which goes first.
  2. CPU only: in-process, every call answered from memory (bench/_common.CannedAWS): our code's cost per record.
     Profiled with cProfile.

Run: .venv/bin/python bench/bench_intake_consumer.py [--records 1000] [--rounds 2] [--profile 1000]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common
from _common import (
    CannedAWS,
    answer_aws_in_process,
    median,
    print_profile,
    profile_call,
    proxy_event,
    quiet,
    stub_environment,
    table,
    timed,
)

TARGET_SHARE = 0.70
BATCH = 10
SIDES = ("ours", "raw transact", "raw all calls", "what-if: sends batched")
Call = tuple[str, str, dict[str, Any]]  # service, operation, parameters


# --- the moto server --------------------------------------------------------------------------------------
class MotoServer:
    """devstack's moto server on a free loopback port, with template.yaml provisioned on it."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.child: Any = None
        self.env: dict[str, str] = {}

    def __enter__(self) -> MotoServer:
        import boto3

        from devstack import provision
        from devstack.processes import LOOPBACK, free_port, start_python, wait_for_http
        from devstack.stack import LOCAL_CREDENTIALS

        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PRAKERJA_", "POWERTOOLS_"))}
        env.update({**LOCAL_CREDENTIALS, "AWS_DEFAULT_REGION": _common.REGION, "PYTHONPATH": str(provision.ROOT)})
        self.child = start_python(
            f"moto-{port}", ["-m", "devstack.moto_server", "-H", LOOPBACK, "-p", str(port)], env, self.log_dir
        )
        endpoint = f"http://{LOOPBACK}:{port}"
        try:
            wait_for_http(f"{endpoint}/moto-api/", self.child)
            session = boto3.session.Session(
                region_name=_common.REGION,
                aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            )
            with quiet():
                resources = provision.create_stack(session, endpoint)
        except BaseException:
            self.child.stop()
            raise
        self.env = {
            **LOCAL_CREDENTIALS,
            "AWS_DEFAULT_REGION": _common.REGION,
            "AWS_REGION": _common.REGION,
            "AWS_ENDPOINT_URL": endpoint,
            **provision.function_environment(resources),
        }
        return self

    def __exit__(self, *exc: object) -> None:
        self.child.stop()

    def count(self, setting: str) -> int:
        import boto3

        client = boto3.session.Session(region_name=_common.REGION).client(
            "dynamodb", endpoint_url=self.env["AWS_ENDPOINT_URL"]
        )
        total = 0
        kwargs: dict[str, Any] = {"TableName": self.env[setting], "Select": "COUNT"}
        while True:
            page = client.scan(**kwargs)
            total += page["Count"]
            if "LastEvaluatedKey" not in page:
                return total
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def point_app_at(env: dict[str, str]) -> None:
    """As a fresh Lambda container configured with `env` would start."""
    from tests.helpers import reset_app_state

    _common.clean_environment(env)
    reset_app_state()


# --- the sides --------------------------------------------------------------------------------------------
def produce_bodies(stub: CannedAWS, count: int, seed: int) -> list[str]:
    """IntakeMessage bodies from our real API path; SQS, DynamoDB and KMS answered from memory."""
    from devstack.population import PopulationGenerator
    from functions.app import app
    from tests.helpers import FakeLambdaContext

    point_app_at(stub_environment())
    stub.enabled = True
    stub.capture = {"AmazonSQS.SendMessage"}
    stub.captured.clear()
    context = FakeLambdaContext()
    with quiet():
        for person in PopulationGenerator(seed).people(count):
            answer = app(proxy_event(json.dumps(person.registration())), context)
            if answer["statusCode"] != 202:
                raise RuntimeError(f"registration refused: {answer['body']}")
    stub.capture = set()
    return [json.loads(body)["MessageBody"] for body in stub.captured.pop("AmazonSQS.SendMessage")]


class CallRecorder:
    """Keeps a copy of the parameters of every AWS call made while `on`."""

    def __init__(self) -> None:
        self.on = False
        self.calls: list[Call] = []
        from devstack.hooks import on_every_client

        on_every_client("provide-client-params", self)

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if self.on:
            self.calls.append((model.service_model.service_name, model.name, copy.deepcopy(params)))


def consumer_run(bodies: list[str]) -> Callable[[], None]:
    """Our consumer over `bodies`, in Lambda-shaped SQS events of 10."""
    from functions.register import intake_consumer
    from tests.helpers import FakeLambdaContext, sqs_event

    events = [sqs_event(*bodies[i : i + BATCH]) for i in range(0, len(bodies), BATCH)]
    context = FakeLambdaContext()

    def run() -> None:
        for event in events:
            answer = intake_consumer(event, context)
            if answer["batchItemFailures"]:
                raise RuntimeError(f"consumer failed items: {answer}")

    return run


def retarget(value: Any, names: dict[str, str]) -> Any:
    """`value` with every string that names a stub resource (table, queue URL) replaced by the live one."""
    if isinstance(value, dict):
        return {key: retarget(item, names) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(retarget(item, names) for item in value)
    if isinstance(value, str):
        return names.get(value, value)
    return value


def replay_run(calls: list[Call]) -> Callable[[], None]:
    """Plain boto3 clients making the recorded calls, in order (endpoint from AWS_ENDPOINT_URL, like ours)."""
    import boto3
    from botocore import xform_name

    session = boto3.session.Session()
    clients = {service: session.client(service) for service in {service for service, _, _ in calls}}
    bound = [(getattr(clients[service], xform_name(operation)), params) for service, operation, params in calls]

    def run() -> None:
        for method, params in bound:
            method(**params)

    return run


def batched_sends(calls: list[Call], records_per_event: int = BATCH) -> list[Call]:
    """The recorded calls with each event's SendMessageBatch entries sent as one call after its transactions."""
    out: list[Call] = []
    pending: list[Call] = []
    transactions = 0

    def flush() -> None:
        if pending:
            entries = [entry for _, _, params in pending for entry in params["Entries"]]
            service, operation, params = pending[0]
            for start in range(0, len(entries), 10):
                out.append((service, operation, {**params, "Entries": entries[start : start + 10]}))
            pending.clear()

    for call in calls:
        if call[1] == "SendMessageBatch":
            pending.append(call)
            continue
        out.append(call)
        if call[1] == "TransactWriteItems":
            transactions += 1
            if transactions % records_per_event == 0:
                flush()
    flush()
    return out


def resource_names(source: dict[str, str], target: dict[str, str]) -> dict[str, str]:
    return {value: target[key] for key, value in source.items() if key.startswith("PRAKERJA_") and key in target}


# Where our consumer's time goes: cumulative time of these functions, per record (file suffix, name).
COMPONENTS = [
    ("intake_consumer (whole event handler, per record)", "functions/register/__init__.py", "intake_consumer"),
    (
        "SQS record -> IntakeRecord (pydantic, Powertools)",
        "aws_lambda_powertools/utilities/batch/base.py",
        "_to_batch_type",
    ),
    ("store_intake_record", "functions/services/intake.py", "store_intake_record"),
    ("  email_codes.issue (code, HMAC)", "functions/services/email_codes.py", "issue"),
    ("  register (pynamodb build + transaction)", "functions/store/applicants.py", "register"),
    ("    _new_record (ApplicantRecord)", "functions/store/applicants.py", "_new_record"),
    ("    TransactWrite.save x4 (models -> wire format)", "pynamodb/transactions.py", "save"),
    ("    TransactWrite._commit (the TransactWriteItems call)", "pynamodb/transactions.py", "_commit"),
    ("  email_codes.send (seal + SendMessageBatch of 1)", "functions/services/email_codes.py", "send"),
    ("  Logger.info", "aws_lambda_powertools/logging/logger.py", "info"),
    ("  Metrics.add_metric", "aws_lambda_powertools/metrics/metrics.py", "add_metric"),
    ("botocore _make_api_call (all AWS calls)", "botocore/client.py", "_make_api_call"),
]


def components(stats: Any, records: int) -> list[list[str]]:
    rows = []
    for label, suffix, name in COMPONENTS:
        total = 0.0
        for (filename, _, function), (_, _, _, cumtime, _) in stats.stats.items():
            if function == name and filename.replace("\\", "/").endswith(suffix):
                total = max(total, cumtime)
        rows.append([label, f"{total / records * 1e6:.0f}"])
    return rows


# --- the measurements -------------------------------------------------------------------------------------
def emulator_rounds(
    bodies: list[str], warm: list[str], plans: dict[str, tuple[list[Call], list[Call]]], rounds: int
) -> list[dict[str, float]]:
    """records/s per side per round, each side on a fresh moto server; the warm-up batch is not timed."""
    log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / "prakerja-bench-logs"
    expected = len(bodies) + len(warm)
    results = []
    for round_number in range(rounds):
        shift = round_number % len(SIDES)
        order = SIDES[shift:] + SIDES[:shift]
        rates: dict[str, float] = {}
        for side in order:
            with MotoServer(log_dir) as server:
                point_app_at(server.env)
                if side == "ours":
                    warm_run, run = consumer_run(warm), consumer_run(bodies)
                else:
                    names = resource_names(stub_environment(), server.env)
                    warm_calls, calls = plans[side]
                    warm_run, run = replay_run(retarget(warm_calls, names)), replay_run(retarget(calls, names))
                with quiet():
                    warm_run()  # client creation, KMS and keyring at a cold start, moto's first requests
                    elapsed = timed(run)
                stored = server.count("PRAKERJA_APPLICANTS_TABLE")
                claimed = server.count("PRAKERJA_IDENTITY_GUARDS_TABLE")  # nothing is claimed at registration
                if stored != expected or claimed:
                    raise RuntimeError(f"{side}: {stored} applicants and {claimed} claims, expected {expected} and 0")
            rates[side] = len(bodies) / elapsed
            print(f"  round {round_number + 1} {side}: {rates[side]:.0f} records/s ({elapsed:.2f}s)", flush=True)
        results.append(rates)
    return results


def stubbed_rounds(bodies: list[str], plans: dict[str, list[Call]], rounds: int) -> dict[str, list[float]]:
    """µs/record per side per round, in-process with every call answered from memory."""
    runs = {"ours": consumer_run(bodies), **{side: replay_run(calls) for side, calls in plans.items()}}
    results: dict[str, list[float]] = {side: [] for side in runs}
    for round_number in range(rounds):
        shift = round_number % len(SIDES)
        for side in SIDES[shift:] + SIDES[:shift]:
            with quiet():
                elapsed = timed(runs[side])
            results[side].append(elapsed / len(bodies) * 1e6)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1000, help="records per side per round (emulator)")
    parser.add_argument("--rounds", type=int, default=2, help="emulator rounds (a fresh server per side per round)")
    parser.add_argument("--stub-rounds", type=int, default=9)
    parser.add_argument("--profile", type=int, default=1000, help="records profiled per side (0: no profile)")
    parser.add_argument("--seed", type=int, default=2021)
    args = parser.parse_args()

    stub = answer_aws_in_process()
    recorder = CallRecorder()

    import functions.app  # noqa: F401 - the app and its blueprints, as Lambda imports them

    everything = produce_bodies(stub, args.records + BATCH, args.seed)
    warm, bodies = everything[:BATCH], everything[BATCH:]
    sizes = [len(body) for body in bodies]
    print(f"{len(everything)} IntakeMessage bodies from the API path, median {median(sizes):.0f} bytes")

    # Record our consumer's calls, in-process and answered from memory: the warm batch first (the cold start's
    # KMS and keyring calls), then the rest.
    point_app_at(stub_environment())
    recorder.on = True
    with quiet():
        consumer_run(warm)()
        warm_calls = recorder.calls[:]
        recorder.calls.clear()
        consumer_run(bodies)()
    recorder.on = False
    calls = recorder.calls[:]
    per_record = Counter(f"{service}.{operation}" for service, operation, _ in calls)
    print(
        "AWS calls our consumer makes per record: "
        + ", ".join(f"{k} {v / len(bodies):g}" for k, v in per_record.items())
    )
    transactions = [call for call in calls if call[1] == "TransactWriteItems"]
    if len(transactions) != len(bodies):
        raise RuntimeError(f"{len(transactions)} transactions recorded for {len(bodies)} records")
    items = Counter(len(params["TransactItems"]) for _, _, params in transactions)
    print(f"TransactWriteItems: {dict(items)} (items per transaction: count)")
    plans = {
        "raw transact": ([c for c in warm_calls if c[1] == "TransactWriteItems"], transactions),
        # The cold start's KMS and keyring calls are not replayed (their ciphertexts are the stub's).
        "raw all calls": ([c for c in warm_calls if c[1] in {op for _, op, _ in calls}], calls),
    }
    plans["what-if: sends batched"] = (batched_sends(plans["raw all calls"][0]), batched_sends(calls))

    # CPU only (in-process, answered from memory).
    with quiet():
        for _, replay in plans.values():
            replay_run(replay[:BATCH])()  # warm the plain clients
    stub.calls.clear()
    cpu = stubbed_rounds(bodies, {side: replay for side, (_, replay) in plans.items()}, args.stub_rounds)

    # Emulator-bound.
    stub.enabled = False
    print(f"\nEmulator-bound rounds ({args.records} records per side, a fresh moto server per side):", flush=True)
    emulator = emulator_rounds(bodies, warm, plans, args.rounds)

    base = "raw transact"
    rows = []
    for side in SIDES:
        shares = [rates[side] / rates[base] for rates in emulator]
        cpu_shares = [b / o for o, b in zip(cpu[side], cpu[base], strict=True)]
        rows.append(
            [
                side,
                f"{median([r[side] for r in emulator]):.0f}",
                f"{median(shares):.0%} ({min(shares):.0%}-{max(shares):.0%})",
                f"{1e6 / median(cpu[side]):.0f}",
                f"{median(cpu[side]):.0f}",
                f"{median(cpu_shares):.0%} ({min(cpu_shares):.0%}-{max(cpu_shares):.0%})",
            ]
        )
    print(f"\nIntake consumer ({args.records} records per side per round, SQS events of 10)")
    print(
        table(
            [
                "side",
                "EMULATOR-BOUND records/s",
                "share of raw transact",
                "CPU-only records/s",
                "CPU us/record",
                "share of raw transact",
            ],
            rows,
        )
    )
    shares = [rates["ours"] / rates[base] for rates in emulator]
    like = [rates["ours"] / rates["raw all calls"] for rates in emulator]
    print(
        f"\nTarget (issue #2): ours >= {TARGET_SHARE:.0%} of raw transact, EMULATOR-BOUND: "
        f"{median(shares):.0%} -> {'met' if median(shares) >= TARGET_SHARE else 'NOT met'}; "
        f"like for like (raw all calls): {median(like):.0%}. "
        f"Emulator medians of {args.rounds} rounds, CPU medians of {args.stub_rounds} rounds; ranges over rounds."
    )

    if args.profile:
        stub.enabled = True
        point_app_at(stub_environment())
        n = min(args.profile, len(bodies))
        with quiet():
            consumer_run(warm)()
        ours_stats = profile_call(consumer_run(bodies[:n]))
        raw_stats = profile_call(replay_run(transactions[:n]))
        print(f"\nOur consumer under cProfile, answered from memory, cumulative us/record ({n} records):")
        print(table(["step", "us/record"], components(ours_stats, n)))
        print(f"raw transact under cProfile: {raw_stats.total_tt / n * 1e6:.0f} us/record")
        print_profile(ours_stats, raw_stats, n, "raw transact", "record")


if __name__ == "__main__":
    main()
