"""Metering a local run for its cost: which function made each AWS call, and how long each invocation took.

Every process of the stack that runs the app's code (gateway workers, pollers, the scheduler) tags each AWS call
it makes with the function it is running as (`X-Devstack-Origin`, added at botocore's `before-send`, after
signing), so that the emulator's call counter (`devstack.moto_server.CallCounter`) can count calls by function,
service and operation. Each invocation (an API request, an SQS batch, a schedule firing) appends its wall and
CPU seconds to a file of its process in `DEVSTACK_METER_DIR`, which `invocations` sums by function. Calls made
by the tooling itself (provisioning, the main job's own reads) carry no origin and are not counted as the app's.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack import hooks

ORIGIN_HEADER = "X-Devstack-Origin"
METER_DIR = "DEVSTACK_METER_DIR"
_FILE_PREFIX = "invocations-"

_state: dict[str, Any] = {"origin": "", "installed": False}


def _tag(request: Any, **_: Any) -> None:
    if _state["origin"]:
        request.headers[ORIGIN_HEADER] = _state["origin"]


def install() -> None:
    """When the stack meters (`DEVSTACK_METER_DIR` is set): tags every AWS call of every botocore client made from
    now on in this process with the current origin."""
    if os.environ.get(METER_DIR) and not _state["installed"]:
        hooks.on_every_client("before-send", _tag)
        _state["installed"] = True


def set_origin(origin: str) -> None:
    """The origin of this process's calls outside any invocation (a poller's receives and deletes)."""
    _state["origin"] = origin


_ID_SEGMENT = re.compile(r"^(?:[0-9]+|[0-9a-fA-F-]{16,})$")


def route_of(method: str, path: str) -> str:
    """`POST /waves/1/applicants` -> `POST /waves/{}/applicants`: the API function's route, ids left out."""
    segments = path.split("?", 1)[0].split("/")
    return f"{method} " + "/".join("{}" if _ID_SEGMENT.match(segment) else segment for segment in segments)


@contextlib.contextmanager
def invocation(origin: str) -> Iterator[None]:
    """One invocation of the app's function `origin`: its AWS calls are tagged, its duration recorded."""
    folder = os.environ.get(METER_DIR)
    outside = _state["origin"]
    _state["origin"] = origin
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        _state["origin"] = outside
        if folder:
            line = {"origin": origin, "seconds": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
            with (Path(folder) / f"{_FILE_PREFIX}{os.getpid()}.jsonl").open("a", encoding="utf-8") as out:
                out.write(json.dumps(line) + "\n")


@dataclass
class Invocations:
    count: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    billed_ms: int = 0  # Lambda bills each invocation's duration rounded up to the millisecond


def invocations(folder: Path) -> dict[str, Invocations]:
    """Every invocation recorded so far in `folder`, summed by origin."""
    totals: dict[str, Invocations] = {}
    for path in folder.glob(f"{_FILE_PREFIX}*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line being written
            total = totals.setdefault(row["origin"], Invocations())
            total.count += 1
            total.seconds += row["seconds"]
            total.cpu += row["cpu"]
            total.billed_ms += max(1, int(-(-row["seconds"] * 1000 // 1)))
    return totals
