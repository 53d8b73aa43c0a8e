"""Shared by the benchmarks: paths, a local AWS environment, canned botocore answers, quiet output, timing.

The canned answers are given from a botocore `before-send` handler on every client made in this process, so each
call still goes through parameter validation, serialisation, signing and response parsing, exactly as with a real
endpoint; only the socket is skipped. Our app and the bare baseline get the same handler, so what differs between
them is our code.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import functools
import io
import json
import os
import pstats
import random
import statistics
import sys
import time
import tracemalloc
import uuid
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
for _path in (str(ROOT), str(BENCH)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from tests.helpers import registration_event as proxy_event  # noqa: E402 - after the path above

__all__ = ["proxy_event"]

REGION = "ap-southeast-3"
ACCOUNT = "123456789012"


def _stub_resources(template: dict[str, Any]) -> dict[str, str]:
    """A physical id for every resource of template.yaml, as a deployment would name them."""
    resources = {}
    for logical, spec in template.get("Resources", {}).items():
        kind = spec.get("Type", "")
        name = (spec.get("Properties") or {}).get("QueueName")
        if kind == "AWS::SQS::Queue":
            queue = name if isinstance(name, str) else f"prakerja-{logical}"
            resources[logical] = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{queue}"
        elif kind == "AWS::DynamoDB::Table":
            resources[logical] = f"prakerja-{logical}"
        elif kind == "AWS::KMS::Key":
            resources[logical] = "00000000-0000-0000-0000-000000000000"
        else:
            resources[logical] = f"prakerja-{logical}"
    return resources


@functools.cache
def stub_environment() -> dict[str, str]:
    """The environment template.yaml gives a deployed function, with made-up resource ids and no endpoint."""
    from devstack import provision

    template = provision.load_template()
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        **provision.function_environment(_stub_resources(template), template),
    }


def clean_environment(extra: dict[str, str] | None = None) -> None:
    """Drops AWS_* and PRAKERJA_* from this process's environment and sets the given ones."""
    for key in [k for k in os.environ if k.startswith(("AWS_", "PRAKERJA_", "POWERTOOLS_"))]:
        del os.environ[key]
    os.environ.update(extra or {})


# --- canned botocore answers -----------------------------------------------------------------------------
class CannedAWS:
    """Answers SQS, DynamoDB and KMS calls from memory, by the `X-Amz-Target` of the prepared request.

    Answers are built once, so the stub costs the same few microseconds for every call, whoever makes it.
    """

    def __init__(self) -> None:
        import base64

        from devstack.hooks import JSON10, JSON11, answer

        self.calls: Counter[str] = Counter()
        self.captured: dict[str, list[bytes]] = {}
        self.capture: set[str] = set()
        self.enabled = True
        key = base64.b64encode(bytes(range(32))).decode()
        blob = base64.b64encode(b"\x01" * 184).decode()
        arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000"
        guards_table = stub_environment()["PRAKERJA_IDENTITY_GUARDS_TABLE"]
        message = {"MD5OfMessageBody": "0" * 32, "MessageId": str(uuid.uuid4())}
        self.answers: dict[str, tuple[bytes, dict[str, str]]] = {
            "AmazonSQS.SendMessage": answer(message, JSON10),
            "AmazonSQS.SendMessageBatch": answer({"Successful": [{"Id": "0", **message}], "Failed": []}, JSON10),
            "DynamoDB_20120810.BatchGetItem": answer({"Responses": {guards_table: []}, "UnprocessedKeys": {}}, JSON10),
            "DynamoDB_20120810.GetItem": answer({}, JSON10),
            "DynamoDB_20120810.PutItem": answer({}, JSON10),
            "DynamoDB_20120810.TransactWriteItems": answer({}, JSON10),
            "TrentService.GenerateDataKey": answer({"CiphertextBlob": blob, "Plaintext": key, "KeyId": arn}, JSON11),
            "TrentService.Decrypt": answer({"Plaintext": key, "KeyId": arn}, JSON11),
        }

    def __call__(self, request: Any, **_: Any) -> Any:
        from devstack.hooks import respond, target

        if not self.enabled:
            return None  # the request goes out to its endpoint
        called = target(request)
        self.calls[called] += 1
        if called in self.capture:
            body = request.body
            self.captured.setdefault(called, []).append(body if isinstance(body, bytes) else body.encode())
        return respond(request, self.answers[called])


_installed: list[CannedAWS] = []


def _newest_stub(request: Any, **kwargs: Any) -> Any:
    return _installed[-1](request, **kwargs)


def install_canned_aws(stub: CannedAWS) -> CannedAWS:
    """Every botocore client made from now on in this process (boto3's, pynamodb's) is answered by `stub`, the
    newest installed."""
    from devstack.hooks import on_every_client

    if not _installed:
        on_every_client("before-send", _newest_stub)
    _installed.append(stub)
    return stub


def answer_aws_in_process() -> CannedAWS:
    """This process as a deployed function whose every AWS call is answered from memory: template.yaml's
    environment with made-up resource ids and no endpoint, and a CannedAWS on every botocore client made from now
    on. Returns the stub (its call counts, captures, and `enabled` to let calls through)."""
    clean_environment(stub_environment())
    return install_canned_aws(CannedAWS())


class CohortPages(CannedAWS, ABC):
    """CannedAWS that also answers the members' by-cohort index Query with pages of `members` synthetic members,
    their ids random and sorted per shard as the index keeps them, built from the request's start key and Limit as
    DynamoDB pages; a subclass says what each member's item holds (`item`). Time spent answering from `answered`
    (the pages, and whatever a subclass adds) is the stub's own, kept in `stub_seconds` to be left out."""

    def __init__(self, members: int, seed: int) -> None:
        super().__init__()
        from functions.store.members import COHORT_SHARDS, cohort_shard

        self.rng = random.Random(seed)
        self.shards: list[list[str]] = [[] for _ in range(COHORT_SHARDS)]
        for _ in range(members):
            applicant_id = f"{self.rng.getrandbits(128):032x}"
            self.shards[cohort_shard(applicant_id)].append(applicant_id)
        for ids in self.shards:
            ids.sort()
        self.stub_seconds = self.stub_cpu_seconds = 0.0
        self.served = 0  # members in the pages given
        self.answered: dict[str, Callable[[Any], Any]] = {"DynamoDB_20120810.Query": self._page}

    def ids(self) -> Iterator[str]:
        return (applicant_id for ids in self.shards for applicant_id in ids)

    @abstractmethod
    def item(self, applicant_id: str, cohort: str) -> dict[str, Any]:
        """The member's item in the index, as DynamoDB's JSON."""

    def _page(self, request: Any) -> Any:
        from devstack.hooks import JSON10, answer, respond

        asked = json.loads(request.body)
        cohort = next(v["S"] for v in asked["ExpressionAttributeValues"].values())
        ids = self.shards[int(cohort.split("#", 1)[1])]
        start = asked.get("ExclusiveStartKey", {}).get("applicant_id", {}).get("S")
        first = bisect.bisect_right(ids, start) if start else 0
        chosen = ids[first : first + int(asked.get("Limit", 1000))]
        items = [self.item(i, cohort) for i in chosen]
        page: dict[str, Any] = {"Items": items, "Count": len(items), "ScannedCount": len(items)}
        self.served += len(items)
        if first + len(chosen) < len(ids):
            page["LastEvaluatedKey"] = {"cohort": {"S": cohort}, "applicant_id": {"S": chosen[-1]}}
        return respond(request, answer(page, JSON10))

    def __call__(self, request: Any, **kwargs: Any) -> Any:
        from devstack.hooks import target

        called = target(request)
        if self.enabled and called in self.answered:
            began, began_cpu = time.perf_counter(), time.process_time()
            self.calls[called] += 1
            answered = self.answered[called](request)
            self.stub_seconds += time.perf_counter() - began
            self.stub_cpu_seconds += time.process_time() - began_cpu
            return answered
        return super().__call__(request, **kwargs)


def item_json(record: Any) -> dict[str, Any]:
    """A pynamodb model instance as DynamoDB's JSON gives it back (binary values in base64)."""
    import base64

    return {
        name: {"B": base64.b64encode(value["B"]).decode()} if "B" in value else value
        for name, value in record.serialize().items()
    }


def table_of(request: Any) -> str:
    """The table a DynamoDB request names (its `TableName`)."""
    name: str = json.loads(request.body)["TableName"]
    return name


def round_trip_ms(service: Any, url: str, call: Callable[[Any], Any], calls: int = 30) -> float:
    """The median time of `call` through the app's own client of an outside service (`service`, a JsonService
    subclass, at `url`), with no ceiling and no retries: the round trip a consumer adds to the service's latency."""
    client = service(
        url, timeout_seconds=2.0, retries=0, requests_per_second=1e6, breaker_failures=1000, breaker_reset_seconds=1.0
    )
    seconds = []
    for _ in range(calls):
        started = time.perf_counter()
        call(client)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds) * 1000


def warm_up_and_peak(one: Callable[[], None]) -> int:
    """Two invocations not timed: the first imports what a consumer loads on its first batch, the second (a warm
    one) runs under tracemalloc; returns its peak memory in bytes."""
    with quiet():
        one()
        tracemalloc.start()
        one()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak


def parse_runs(text: str, default_second: float) -> list[tuple[float, float]]:
    """`A@B,A@B,...` (a `--runs` flag) as pairs of numbers; B may be left out for `default_second`."""
    runs = []
    for part in text.split(","):
        first, _, second = part.partition("@")
        runs.append((float(first), float(second or default_second)))
    return runs


def stamp(moment: dt.datetime) -> str:
    """A time as pynamodb's UTCDateTimeAttribute stores it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")


def load() -> str:
    """The machine's load averages (1, 5, 15 minutes) and its cores, for the record: these machines are shared."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} on {os.cpu_count()} cores"


# --- output ----------------------------------------------------------------------------------------------
@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Sends file descriptors 1 and 2 to /dev/null (Powertools logs and EMF metrics print per request)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def timed(fn: Callable[[], Any], clock: Callable[[], float] = time.perf_counter) -> float:
    """Seconds `fn` took on `clock`: wall time by default; `time.thread_time` counts only this thread's CPU, so a
    machine shared with other work slows it far less."""
    start = clock()
    fn()
    return clock() - start


def median(values: list[float]) -> float:
    return statistics.median(values)


# --- Lambda-shaped events ----------------------------------------------------------------------------------
# --- profiles ------------------------------------------------------------------------------------------
def _group(filename: str) -> str:
    path = filename.replace("\\", "/")
    if "/site-packages/" in path:
        return path.split("/site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if f"{ROOT}/functions/" in path or path.startswith("functions/"):
        return "functions (our code)"
    if "/devstack/" in path or "/tests/" in path:
        return "devstack/tests helpers"
    if "/bench/" in path:
        return "bench harness"
    if path.startswith("~") or path.startswith("<built-in"):
        return "C builtins (str, dict, hmac, ...)"
    if "/lib/python3" in path:
        module = path.split("/lib/python3", 1)[1].split("/", 1)[1]
        return "stdlib " + module.split("/", 1)[0].removesuffix(".py")
    return path


def profile_call(fn: Callable[[], Any]) -> pstats.Stats:
    import cProfile

    profiler = cProfile.Profile()
    with quiet():
        profiler.runcall(fn)
    return pstats.Stats(profiler)


def package_table(ours: pstats.Stats, base: pstats.Stats, units: int, base_name: str) -> str:
    """Own time per package, µs per unit, ours against the baseline, largest difference first."""
    ours_groups = own_time_by_package(ours, units)
    base_groups = own_time_by_package(base, units)
    names = sorted(set(ours_groups) | set(base_groups), key=lambda g: -(ours_groups.get(g, 0) - base_groups.get(g, 0)))
    rows = [
        [
            g,
            f"{ours_groups.get(g, 0):.0f}",
            f"{base_groups.get(g, 0):.0f}",
            f"{ours_groups.get(g, 0) - base_groups.get(g, 0):+.0f}",
        ]
        for g in names
        if max(ours_groups.get(g, 0), base_groups.get(g, 0)) >= 5
    ]
    total_ours, total_base = sum(ours_groups.values()), sum(base_groups.values())
    rows.append(["total", f"{total_ours:.0f}", f"{total_base:.0f}", f"{total_ours - total_base:+.0f}"])
    return table(["package (own time)", "ours", base_name, f"ours - {base_name}"], rows)


def print_profile(ours: pstats.Stats, base: pstats.Stats, units: int, base_name: str, unit: str) -> None:
    """Own time by package, ours against the baseline, then our top functions by cumulative and by own time."""
    print(
        f"\nOwn time by package under cProfile, answered from memory, us/{unit} ({units} {unit}s, largest gap first):"
    )
    print(package_table(ours, base, units, base_name))
    print(f"\nours: top 30 by cumulative time ({units} {unit}s)")
    print(top(ours, "cumulative", 30))
    print(f"\nours: top 25 by own time ({units} {unit}s)")
    print(top(ours, "tottime", 25))


# What every route's profile reports (label, file suffix, function name): the route, its logs and metrics, the calls.
WHOLE_ROUTE = ("whole route (view + middleware)", "chalice/app.py", "__call__")
OBSERVABILITY_COMPONENTS = [
    ("Logger.info", "aws_lambda_powertools/logging/logger.py", "info"),
    ("Metrics.add_metric", "aws_lambda_powertools/metrics/provider/cloudwatch_emf/cloudwatch.py", "add_metric"),
    ("Metrics.flush_metrics", "aws_lambda_powertools/metrics/provider/cloudwatch_emf/cloudwatch.py", "flush_metrics"),
    ("in_contract_shape", "functions/web.py", "in_contract_shape"),
]
AWS_CALLS = ("botocore _make_api_call (all AWS calls)", "botocore/client.py", "_make_api_call")


def cumulative(stats: pstats.Stats, suffix: str, name: str) -> float:
    """Cumulative seconds of the function `name` of the file ending in `suffix`."""
    total = 0.0
    for (filename, _, function), (_, _, _, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        if function == name and filename.replace("\\", "/").endswith(suffix):
            total = max(total, cumtime)  # a recursive or re-entrant function is counted once, at its outermost
    return total


def component_table(stats: pstats.Stats, components: list[tuple[str, str, str]], units: int, side: str) -> str:
    """Cumulative µs per unit of each (label, file suffix, function name)."""
    rows = [[label, f"{cumulative(stats, suffix, name) / units * 1e6:.0f}"] for label, suffix, name in components]
    return table([f"{side}: component (cumulative)", "us/req"], rows)


def print_route_profile(
    ours: pstats.Stats,
    bare: pstats.Stats,
    components: tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]],
    units: int,
    unit: str,
) -> None:
    """Our route against the bare one under cProfile: the components of each (cumulative), then `print_profile`."""
    print(f"\nWhere our route's time goes under cProfile ({units} {unit}s; cProfile inflates call-heavy code):")
    print(component_table(ours, components[0], units, "ours"))
    print()
    print(component_table(bare, components[1], units, "bare"))
    print_profile(ours, bare, units, "bare", unit)


def own_time_by_package(stats: pstats.Stats, requests: int) -> dict[str, float]:
    """Own (exclusive) time per package, in µs per request."""
    groups: dict[str, float] = {}
    for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        group = _group(filename)
        groups[group] = groups.get(group, 0.0) + tottime / requests * 1e6
    return groups


def top(stats: pstats.Stats, sort: str, limit: int) -> str:
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats(sort).print_stats(limit)
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    return "\n".join(lines[start:])
