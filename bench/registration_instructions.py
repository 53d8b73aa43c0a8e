"""Instructions per request of `POST /registrations` against the bare route (bench/bare_app.py), counted by
valgrind's callgrind: a figure the load of a shared machine does not move, where bench_registration_request.py's
times move by tens of percent. Instructions are not time (cache misses are not counted), so this is the steady
measure of how much work our own code adds, beside the timed ratio.

Every AWS call is answered from memory as in bench_registration_request.py. The process zeroes callgrind's
counters before each batch of requests and dumps them after it (`callgrind_control`), so start-up and warm-up
are not counted; the sides alternate, twice each.

Run: valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out .venv/bin/python bench/registration_instructions.py
(a few minutes: valgrind runs Python some 50 times slower)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path

from _common import answer_aws_in_process, quiet, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100, help="requests per batch (two batches per side)")
    parser.add_argument("--out", default="/tmp/cg.out", help="the --callgrind-out-file valgrind was given")
    args = parser.parse_args()

    answer_aws_in_process()
    import bare_app

    from devstack.population import PopulationGenerator
    from functions.app import app
    from tests.helpers import FakeLambdaContext, registration_event, reset_app_state

    reset_app_state()
    people = PopulationGenerator(5)
    context = FakeLambdaContext()

    def events(count: int) -> list[dict[str, object]]:
        return [registration_event(json.dumps(person.registration())) for person in people.people(count)]

    def answer(side: object, event: dict[str, object]) -> None:
        if side(event, context)["statusCode"] != 202:  # type: ignore[operator]
            raise RuntimeError("a registration was not accepted")

    with quiet():  # warm-up: the cold start's KMS and keyring calls, client creation, caches
        for side in (app, bare_app.app):
            for event in events(50):
                answer(side, event)
    pid = str(os.getpid())
    counted: dict[str, list[float]] = {"ours": [], "bare": []}
    for number, (name, side) in enumerate([("ours", app), ("bare", bare_app.app)] * 2, start=1):
        batch = events(args.requests)
        subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
        with quiet():
            for event in batch:
                answer(side, event)
        subprocess.run(["callgrind_control", "-d", name, pid], check=True, capture_output=True)
        summary = next(
            line for line in Path(f"{args.out}.{number}").read_text().splitlines() if line.startswith("summary:")
        )
        counted[name].append(int(summary.split()[1]) / args.requests)
    rows = [[name, *(f"{value / 1e6:.3f}" for value in values)] for name, values in counted.items()]
    ratios = [ours / bare for ours, bare in zip(counted["ours"], counted["bare"], strict=True)]
    rows.append(["ratio ours / bare", *(f"{ratio:.3f}x" for ratio in ratios)])
    print(f"POST /registrations, million instructions per request (callgrind), {args.requests} requests a batch")
    print(table(["side", "batch 1", "batch 2"], rows))


if __name__ == "__main__":
    main()
