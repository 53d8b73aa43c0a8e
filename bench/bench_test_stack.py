"""Issue #22: what an integration test's stack costs to provision (`tests/integration/conftest.py`'s `aws`
fixture: moto in-process, `template.yaml` through moto's CloudFormation, then the functions' environment).

Two sides, alternated round by round in one process: moto's own template parsing (PyYAML's pure-Python loader on
every stack) and the project's (`devstack.moto_server`: parsed once per text, a copy per stack). Prints a table
of the median and best seconds per stack and the ratio; asserts nothing about time.

    .venv/bin/python bench/bench_test_stack.py --rounds 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import _common  # noqa: F401 - puts the project on the path, as every script here
import boto3
from moto import mock_aws
from moto.cloudformation.models import Stack as CloudFormationStack

from devstack import moto_server, provision
from devstack.stack import LOCAL_CREDENTIALS
from functions.settings import DEFAULT_REGION


def one_stack() -> float:
    started = time.perf_counter()
    with mock_aws():
        resources = provision.create_stack(boto3.session.Session(region_name=DEFAULT_REGION), None)
        provision.function_environment(resources)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    os.environ.update({**LOCAL_CREDENTIALS, "AWS_DEFAULT_REGION": DEFAULT_REGION})
    warnings.filterwarnings("ignore")  # moto's CloudFormation names every resource type it skips
    motos_own: Callable[[str], dict[str, Any]] = CloudFormationStack.parse_template
    moto_server.install()
    once = CloudFormationStack.parse_template
    sides: dict[str, list[float]] = {"moto's parse per stack": [], "parsed once (devstack.moto_server)": []}
    one_stack()  # imports and the first parse, on neither side
    for _ in range(args.rounds):
        for name, parse in zip(sides, (motos_own, once), strict=True):
            CloudFormationStack.parse_template = staticmethod(parse)  # type: ignore[method-assign,assignment]
            if name.startswith("moto"):
                provision._parsed.cache_clear()  # the environment's own parse too, as before
            sides[name].append(one_stack())
    baseline = statistics.median(sides["moto's parse per stack"])
    print(f"{'side':<40} {'median s':>9} {'best s':>8} {'ratio':>7}")
    for name, times in sides.items():
        median = statistics.median(times)
        print(f"{name:<40} {median:>9.3f} {min(times):>8.3f} {median / baseline:>7.2f}")


if __name__ == "__main__":
    main()
