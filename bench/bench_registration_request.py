"""Per-request cost of `POST /registrations` in-process, against a bare Chalice route that makes the same two AWS
calls (a BatchGetItem of the three identity guards, a SendMessage of the body), so the ratio is our own code's.

Both apps are called in-process, as Lambda calls them (an API Gateway proxy event and a context), and also
through `chalice.test.Client` (Chalice's local gateway: routing and event building on top). Every AWS call, in
both, is answered from memory by a botocore `before-send` handler (bench/_common.py), so serialisation, signing
and parsing still happen and the figure is our code's, not an emulator's. KMS and the keyring are warmed first
(they are called only at a cold start). Each request carries a distinct, valid registration.

Run: .venv/bin/python bench/bench_registration_request.py [--rounds 9] [--requests 300] [--profile 2000] [--clock cpu]
(`--clock cpu` times this thread's CPU instead of the wall clock: on a machine busy with other work it is the
steadier measure of the same cost.)
"""

from __future__ import annotations

import argparse
import json
import pstats
import time
import uuid
from collections.abc import Callable
from typing import Any

from _common import (
    AWS_CALLS,
    OBSERVABILITY_COMPONENTS,
    WHOLE_ROUTE,
    answer_aws_in_process,
    median,
    print_route_profile,
    profile_call,
    proxy_event,
    quiet,
    table,
    timed,
)

TARGET_RATIO = 1.3
CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}


class Side:
    """One app, called either with proxy events or through chalice.test.Client."""

    def __init__(self, name: str, app: Any, context: Any) -> None:
        from chalice.test import Client

        self.name = name
        self.app = app
        self.context = context
        self.http = Client(app).http

    def direct(self, bodies: list[str]) -> Callable[[], None]:
        events = [proxy_event(body) for body in bodies]
        app, context = self.app, self.context

        def run() -> None:
            for event in events:
                answer = app(event, context)
                if answer["statusCode"] != 202:
                    raise RuntimeError(f"{self.name}: {answer['statusCode']} {answer['body']}")

        return run

    def test_client(self, bodies: list[str]) -> Callable[[], None]:
        raw = [body.encode() for body in bodies]
        post = self.http.post
        headers = {"Content-Type": "application/json"}

        def run() -> None:
            for body in raw:
                answer = post("/registrations", headers=headers, body=body)
                if answer.status_code != 202:
                    raise RuntimeError(f"{self.name}: {answer.status_code} {answer.body!r}")

        return run


def bodies_from(people: Any, count: int) -> list[str]:
    return [json.dumps(person.registration()) for person in people.people(count)]


def measure(
    sides: list[Side], mode: str, people: Any, rounds: int, requests: int, clock: Callable[[], float]
) -> dict[str, list[float]]:
    """µs/request for each side, per round (each side its own fresh registrations); the sides rotate order."""
    results: dict[str, list[float]] = {side.name: [] for side in sides}
    for round_number in range(rounds):
        shift = round_number % len(sides)
        for side in sides[shift:] + sides[:shift]:
            run = getattr(side, mode)(bodies_from(people, requests))
            with quiet():
                elapsed = timed(run, clock)
            results[side.name].append(elapsed / requests * 1e6)
    return results


# Where our route's time goes: functions whose cumulative time is reported per request (file suffix, name).
COMPONENTS = [
    WHOLE_ROUTE,
    ("parse_registration (pydantic + checks)", "functions/domain/registration.py", "parse_registration"),
    ("  of which normalise_email (email-validator)", "functions/domain/identity.py", "normalise_email"),
    ("  of which normalise_phone (phonenumbers)", "functions/domain/identity.py", "normalise_phone"),
    ("  of which validate_nik (stdnum)", "functions/domain/identity.py", "validate_nik"),
    ("lookup_hash x4 (HMAC)", "functions/adapters/personal_data.py", "lookup_hash"),
    ("held_identity_keys (boto3 BatchGetItem)", "functions/store/claims.py", "held_identity_keys"),
    ("new_access_token", "functions/adapters/personal_data.py", "new_access_token"),
    ("seal_text (AES-GCM)", "functions/adapters/personal_data.py", "seal_text"),
    ("send_now (boto3 SendMessage)", "functions/adapters/queues.py", "send_now"),
    *OBSERVABILITY_COMPONENTS,
    ("pydantic model_dump_json", "pydantic/main.py", "model_dump_json"),
    AWS_CALLS,
]
BARE_COMPONENTS = [
    ("whole route", "chalice/app.py", "__call__"),
    ("boto3 BatchGetItem + SendMessage", "botocore/client.py", "_make_api_call"),
]


def component_costs(people: Any, count: int, clock: Callable[[], float]) -> list[list[str]]:
    """Each step of our route timed on its own, without a profiler (µs per call, median of 5 interleaved passes)."""
    import bare_app

    from functions.adapters import personal_data, queues
    from functions.domain.registration import PersonalData, identity_keys, parse_registration
    from functions.services import access, registration
    from functions.settings import settings
    from functions.store import claims

    bodies = [body.encode() for body in bodies_from(people, count)]
    forms = [parse_registration(body) for body in bodies]
    hashes = [
        {kind: personal_data.lookup_hash(kind, value) for kind, value in identity_keys(form).items()} for form in forms
    ]
    guards_table = settings().identity_guards_table
    url = settings().intake_queue_url
    messages = []
    for form, keyed in zip(forms, hashes, strict=True):
        applicant_id = uuid.uuid4().hex
        messages.append(registration.intake_message(form, applicant_id, keyed).model_dump_json())

    def each(fn: Callable[[int], Any]) -> Callable[[], None]:
        def run() -> None:
            for i in range(count):
                fn(i)

        return run

    def bare_batch_get(i: int) -> None:
        keys = [{"guard": {"S": claims.guard_key(kind, hashes[i][kind])}} for kind in ("nik", "email", "phone")]
        bare_app.dynamodb.batch_get_item(RequestItems={guards_table: {"Keys": keys}})

    steps: list[tuple[str, Callable[[int], Any]]] = [
        (
            "parse_registration(body): pydantic + NIK/KK/email/phone/regency checks",
            lambda i: parse_registration(bodies[i]),
        ),
        ("  identity.normalise_email (email-validator)", lambda i: identity.normalise_email(forms[i].email)),
        ("  identity.normalise_phone (phonenumbers)", lambda i: identity.normalise_phone(forms[i].phone)),
        (
            "4 x lookup_hash (HMAC-SHA256)",
            lambda i: [personal_data.lookup_hash(k, v) for k, v in identity_keys(forms[i]).items()],
        ),
        (
            "held_identity_keys: BatchGetItem of 3 keys (our boto3 client)",
            lambda i: claims.held_identity_keys(hashes[i]),
        ),
        ("  same BatchGetItem with the bare app's client (boto3 defaults)", bare_batch_get),
        ("new_token (access token)", lambda i: access.new_token("0" * 32, generation=0)),
        (
            "seal_text(PersonalData json) (AES-GCM)",
            lambda i: personal_data.seal_text(PersonalData.from_form(forms[i]).model_dump_json(), "0" * 32),
        ),
        ("queues.send_now (our SQS client)", lambda i: queues.send_now(url, messages[i])),
        (
            "bare: sqs.send_message (bare app's client)",
            lambda i: bare_app.sqs.send_message(QueueUrl=url, MessageBody=bodies[i].decode()),
        ),
    ]
    from functions.domain import identity

    runs = [(label, each(fn)) for label, fn in steps]
    passes: dict[str, list[float]] = {label: [] for label, _ in runs}
    with quiet():
        for _, run in runs:
            run()  # warm
        for _ in range(5):  # the steps take turns, so a slow spell of the machine is shared out
            for label, run in runs:
                passes[label].append(timed(run, clock))
    return [[label, f"{median(passes[label]) / count * 1e6:.0f}"] for label, _ in runs]


def profile(side: Side, bodies: list[str]) -> pstats.Stats:
    return profile_call(side.direct(bodies))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--requests", type=int, default=300, help="requests per side per round")
    parser.add_argument("--profile", type=int, default=2000, help="requests profiled per side (0: no profile)")
    parser.add_argument("--components", type=int, default=500, help="calls per step in the step-by-step timing")
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall", help="wall time, or this thread's CPU")
    args = parser.parse_args()

    stub = answer_aws_in_process()

    import bare_app

    from devstack.population import PopulationGenerator
    from functions.app import app
    from tests.helpers import FakeLambdaContext, reset_app_state

    reset_app_state()
    people = PopulationGenerator(args.seed)
    ours = Side("ours", app, FakeLambdaContext())
    bare = Side("bare", bare_app.app, FakeLambdaContext())

    # Warm-up: the cold start's KMS and keyring calls, client creation, caches, lazy imports.
    with quiet():
        for side in (ours, bare):
            side.direct(bodies_from(people, 200))()
            side.test_client(bodies_from(people, 50))()

    rows = []
    modes = (
        ("direct", "proxy event -> app(event, ctx)", [ours, bare]),
        ("test_client", "chalice.test.Client", [ours, bare]),
    )
    for mode, label, sides in modes:
        measured = measure(sides, mode, people, args.rounds, args.requests, CLOCKS[args.clock])
        bare_us = measured[bare.name]
        for side in sides:
            if side is bare:
                continue
            ours_us = measured[side.name]
            ratios = [o / b for o, b in zip(ours_us, bare_us, strict=True)]
            rows.append(
                [
                    label if side is ours else f"{label} - {side.name}",
                    f"{median(ours_us):.0f}",
                    f"{median(bare_us):.0f}",
                    f"{median(ratios):.2f}x",
                    f"{min(ratios):.2f}-{max(ratios):.2f}",
                    f"<= {TARGET_RATIO}x",
                    "yes" if median(ratios) <= TARGET_RATIO else "NO",
                ]
            )
    print(
        f"POST /registrations, in-process, AWS answered from memory at botocore's before-send; "
        f"{args.rounds} rounds x {args.requests} requests per side per mode, sides rotating; medians; "
        f"{args.clock} clock"
    )
    print(
        table(
            ["path", "ours us/req", "bare us/req", "ratio", "ratio range", "target", "met?"],
            rows,
        )
    )
    for side in (ours, bare):
        stub.calls.clear()
        with quiet():
            side.direct(bodies_from(people, 100))()
        calls = ", ".join(f"{target} {count / 100:g}" for target, count in sorted(stub.calls.items()))
        print(f"AWS calls per request, {side.name}: {calls}")

    print(f"\nOur route's steps timed on their own, no profiler ({args.components} calls each, median of 5):")
    print(table(["step", "us/call"], component_costs(people, args.components, CLOCKS[args.clock])))

    if args.profile:
        ours_stats = profile(ours, bodies_from(people, args.profile))
        bare_stats = profile(bare, bodies_from(people, args.profile))
        n = args.profile
        print_route_profile(ours_stats, bare_stats, (COMPONENTS, BARE_COMPONENTS), n, "request")


if __name__ == "__main__":
    main()
