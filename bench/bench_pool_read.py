"""The pool read: members per second of `functions.store.waves.read_pool(wave)`, and what building the Pool costs.

Issue #4. The draw's own benchmark (bench_draw.py) starts from a packed Pool; this one measures how the pool gets
there: 32 queries, one per shard `w<wave>#<shard>`, through pynamodb, each member folded into the Pool's columns.

  1. EMULATOR-BOUND: a devstack moto server on a free loopback port, provisioned from template.yaml; its
     wave-members table is filled with WaveMemberRecord items of wave 1 over the 32 shards (pynamodb
     batch_write), first `--sizes`[0] members, then topped up to each next size. At each size, three sides,
     rotating, `--repeats` times:
        read_pool        functions.store.waves.read_pool(1), the path the close takes;
        members only     list(functions.store.waves.members(1)): the queries and pynamodb's models, no Pool;
        raw Query        the same 32 queries on a plain boto3 client (botocore parses, no models).
     moto's Query walks every item of the table for each query, so a read costs 32 table walks: figures here
     are the emulator's, not DynamoDB's. moto's CPU per Query comes from devstack.moto_server's call counter.
  2. In-process (the socket skipped): every Query answer moto gave is replayed from memory by a botocore
     `before-send` handler, cut into pages of `--page` items (250) with their LastEvaluatedKey as DynamoDB pages
     a large result, so the page size, and so the per-page cost and memory, is the same at every pool size.
     The same three sides (and Pool.of on the same members) time only this
     process's work: botocore parsing, pynamodb's models, the Pool's columns.
  3. Memory: tracemalloc's peak during read_pool against the Pool it returns, per member.

Run: .venv/bin/python bench/bench_pool_read.py [--sizes 5000,20000] [--repeats 3] [--local-repeats 5] [--page 250]
(`--repeats 0` skips the reads against moto, which take about a minute each at 20,000 on this machine.)
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import random
import tempfile
import time
import tracemalloc
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import _common
from _common import median, quiet, table

if TYPE_CHECKING:
    from devstack.hooks import Answer

WAVE = 1
WAVE_SECRET = bytes(range(32))  # the draw ids are HMACs under it, as the close reads them
QUERY = "DynamoDB_20120810.Query"
PROVINCES = ["11", "12", "13", "31", "32", "33", "35", "51", "73", "91"]


# --- Query answers recorded from moto and replayed from memory --------------------------------------------------
class QueryReplay:
    """A botocore `before-send` handler: `off` lets calls go to moto; `record` sends Query calls to moto itself,
    cuts each answer into pages of `page` items (each with its LastEvaluatedKey, as DynamoDB pages a large result)
    and keeps them by what they answer (the partition and the start key); `replay` answers from memory.

    Fixed pages make the in-process figures independent of how many members a shard holds (moto answers a shard in
    one page up to 1 MB), as with DynamoDB, whose pages are 1 MB whatever the table's size."""

    def __init__(self, page: int) -> None:
        import urllib3

        self.mode = "off"
        self.page = page
        self.http = urllib3.PoolManager()
        self.answers: dict[str, Answer] = {}

    @staticmethod
    def key(table_name: str, values: list[str], start: Any) -> str:
        return json.dumps([table_name, sorted(values), start], sort_keys=True)

    def _record(self, request: Any, document: dict[str, Any], values: list[str]) -> None:
        import zlib

        answer = self.http.request(
            request.method, request.url, body=request.body, headers=dict(request.headers.items())
        )
        if answer.status != 200:
            raise RuntimeError(f"moto answered {answer.status}: {answer.data[:200]!r}")
        whole = json.loads(answer.data)
        items = whole["Items"]
        start = document.get("ExclusiveStartKey")
        for offset in range(0, max(1, len(items)), self.page):
            chunk = items[offset : offset + self.page]
            page: dict[str, Any] = {"Items": chunk, "Count": len(chunk), "ScannedCount": len(chunk)}
            if offset + self.page < len(items):
                page["LastEvaluatedKey"] = {"pool": chunk[-1]["pool"], "applicant_id": chunk[-1]["applicant_id"]}
            elif "LastEvaluatedKey" in whole:
                page["LastEvaluatedKey"] = whole["LastEvaluatedKey"]
            body = json.dumps(page).encode()
            headers = {
                "Content-Type": "application/x-amz-json-1.0",
                "Content-Length": str(len(body)),
                "x-amz-crc32": str(zlib.crc32(body)),
                "x-amzn-RequestId": "bench",
            }
            self.answers[self.key(document["TableName"], values, start)] = (body, headers)
            start = page.get("LastEvaluatedKey")

    def __call__(self, request: Any, **_: Any) -> Any:
        from devstack.hooks import respond, target

        if self.mode == "off" or target(request) != QUERY:
            return None
        document = json.loads(request.body)
        values = [v.get("S", "") for v in document.get("ExpressionAttributeValues", {}).values()]
        key = self.key(document["TableName"], values, document.get("ExclusiveStartKey"))
        if self.mode == "record" and key not in self.answers:
            self._record(request, document, values)
        return respond(request, self.answers[key])


# --- the table ---------------------------------------------------------------------------------------------------
def fill(start: int, stop: int, rng: random.Random) -> float:
    """Members start..stop-1 of wave 1, written with pynamodb's batch_write; returns the seconds it took."""
    from functions.store.models import WaveMemberRecord, bind, pool_key
    from functions.store.waves import member_shard

    bind()
    joined = dt.datetime(2020, 4, 11, 9, 0, tzinfo=dt.UTC)
    started = time.perf_counter()
    with WaveMemberRecord.batch_write() as batch:
        for number in range(start, stop):
            applicant_id = f"{rng.getrandbits(128):032x}"
            batch.save(
                WaveMemberRecord(
                    pool=pool_key(WAVE, member_shard(applicant_id)),
                    applicant_id=applicant_id,
                    tier=rng.choice((1, 2, 3, 4)),
                    province=rng.choice(PROVINCES),
                    family=hashlib.sha256(f"family-{number * 3 // 4}".encode()).hexdigest(),
                    joined_at=joined,
                    carried_over=False,
                )
            )
    return time.perf_counter() - started


# --- the sides ---------------------------------------------------------------------------------------------------
def raw_query(client: Any, table_name: str) -> int:
    """The same 32 queries on a plain boto3 client, every page, no models."""
    from functions.store.models import pool_key
    from functions.store.waves import SHARDS

    count = 0
    for shard in range(SHARDS):
        kwargs: dict[str, Any] = {
            "TableName": table_name,
            "KeyConditionExpression": "#p = :p",
            "ExpressionAttributeNames": {"#p": "pool"},
            "ExpressionAttributeValues": {":p": {"S": pool_key(WAVE, shard)}},
            "ConsistentRead": True,
        }
        while True:
            page = client.query(**kwargs)
            count += len(page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return count


def sides(client: Any, table_name: str) -> dict[str, Callable[[], int]]:
    from functions.store.waves import members, read_pool

    return {
        "read_pool": lambda: len(read_pool(WAVE, WAVE_SECRET)),
        "members only": lambda: sum(1 for _ in members(WAVE)),
        "raw Query": lambda: raw_query(client, table_name),
    }


def timed_rounds(named: dict[str, Callable[[], int]], repeats: int, expected: int) -> dict[str, list[float]]:
    seconds: dict[str, list[float]] = {name: [] for name in named}
    names = list(named)
    for round_ in range(repeats):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            started = time.perf_counter()
            count = named[name]()
            seconds[name].append(time.perf_counter() - started)
            if count != expected:
                raise RuntimeError(f"{name} read {count} members, not {expected}")
    return seconds


def query_cpu(endpoint: str) -> tuple[int, float]:
    with urllib.request.urlopen(f"{endpoint}/_devstack/calls", timeout=10) as answer:
        calls = json.loads(answer.read()).get(QUERY, {"calls": 0, "cpu_seconds": 0.0})
    return int(calls["calls"]), float(calls["cpu_seconds"])


def peak_bytes(fn: Callable[[], Any]) -> tuple[int, int]:
    """tracemalloc's peak while `fn` runs, and the size of what it returns (the Pool's four columns)."""
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, len(result.ids) + len(result.tiers) + len(result.provinces) + len(result.families)


# --- main ----------------------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="5000,20000")
    parser.add_argument("--repeats", type=int, default=3, help="reads per side against moto")
    parser.add_argument("--local-repeats", type=int, default=5, help="reads per side in-process")
    parser.add_argument("--page", type=int, default=250, help="items per replayed page")
    parser.add_argument("--seed", type=int, default=4004)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    import boto3
    from bench_intake_consumer import MotoServer, point_app_at

    from functions.domain.draw import Member, Pool
    from functions.store.waves import members

    replay = QueryReplay(args.page)
    from devstack.hooks import on_every_client

    on_every_client("before-send", replay)
    rng = random.Random(args.seed)
    emulator_rows, process_rows, memory_rows, notes = [], [], [], []
    peaks: dict[str, list[tuple[int, int]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-pool-") as log_dir, MotoServer(Path(log_dir)) as server:
        point_app_at(server.env)
        endpoint = server.env["AWS_ENDPOINT_URL"]
        table_name = server.env["PRAKERJA_WAVE_MEMBERS_TABLE"]
        client = boto3.session.Session(region_name=_common.REGION).client("dynamodb", endpoint_url=endpoint)
        filled = 0
        for size in sizes:
            with quiet():
                fill_seconds = fill(filled, size, rng)
            notes.append(
                f"{size - filled:,} members written in {fill_seconds:.1f} s ({(size - filled) / fill_seconds:,.0f}/s)"
            )
            filled = size
            named = sides(client, table_name)

            # 1. against moto
            replay.mode = "off"
            calls_before, cpu_before = query_cpu(endpoint)
            moto = timed_rounds(named, args.repeats, size)
            calls_after, cpu_after = query_cpu(endpoint)
            for name, seconds in moto.items() if args.repeats else ():
                best, mid = min(seconds), median(seconds)
                emulator_rows.append(
                    [
                        f"{size:,}",
                        name,
                        " / ".join(f"{s:.2f}" for s in seconds),
                        f"{size / mid:,.0f}",
                        f"{size / best:,.0f}",
                    ]
                )
            if calls_after > calls_before:
                per_query_ms = (cpu_after - cpu_before) / (calls_after - calls_before) * 1000
                per_read = (cpu_after - cpu_before) / (len(named) * args.repeats)
                notes.append(
                    f"at {size:,}: moto CPU per Query {per_query_ms:.1f} ms ({calls_after - calls_before} queries), "
                    f"{per_read:.2f} s per read of the pool, {per_read / size * 1e6:.0f} µs per member"
                )

            # 2. in-process, the answers replayed
            replay.answers.clear()
            replay.mode = "record"
            read_members = list(members(WAVE))
            replay.mode = "replay"
            as_members = [Member(m.applicant_id, int(m.tier), m.province, m.family) for m in read_members]
            named_local = {
                **named,
                "Pool.of(members) alone": lambda rows=as_members: len(Pool.of(rows)),
            }
            local = timed_rounds(named_local, args.local_repeats, size)
            base = median(local["members only"])
            for name, seconds in local.items():
                mid = median(seconds)
                process_rows.append(
                    [
                        f"{size:,}",
                        name,
                        f"{size / mid:,.0f}",
                        f"{mid / size * 1e6:.1f}",
                        f"{(mid - base) / size * 1e6:+.1f}" if name.startswith("read_pool") else "",
                    ]
                )

            # 3. memory
            from functions.store.waves import read_pool

            peak, packed = peak_bytes(lambda: read_pool(WAVE, WAVE_SECRET))
            peaks.setdefault("read_pool", []).append((size, peak))
            memory_rows.append(
                [
                    f"{size:,}",
                    "read_pool",
                    f"{peak / 2**20:.1f}",
                    f"{peak / size:.0f}",
                    f"{packed / size:.0f}",
                    f"{peak / size * 10_000_000 / 2**30:.2f}",
                ]
            )
            replay.mode = "off"

    print("\n1. Against moto (EMULATOR-BOUND: moto's Query walks the whole table for each of the 32 shards)")
    print(table(["members", "side", "seconds per read", "members/s (median)", "members/s (best)"], emulator_rows))
    for note in notes:
        print("  " + note)
    print("\n2. In-process, moto's answers replayed from memory (botocore parsing and our code only)")
    print(
        table(
            ["members", "side", "members/s (median)", "µs per member", "µs per member over members only"],
            process_rows,
        )
    )
    print("\n3. Memory (tracemalloc peak while reading; the returned Pool's columns)")
    print(
        table(
            ["members", "reader", "peak MiB", "peak bytes per member", "Pool bytes per member", "peak at 10M, GiB"],
            memory_rows,
        )
    )
    for name, measured in peaks.items():
        if len(measured) > 1:
            (low, low_peak), (high, high_peak) = measured[0], measured[-1]
            slope = (high_peak - low_peak) / (high - low)
            print(
                f"  {name}: {slope:.0f} bytes per added member between {low:,} and {high:,} "
                f"(the fixed-size pages in flight cancel out): {slope * 10_000_000 / 2**30:.2f} GiB at 10,000,000"
            )


if __name__ == "__main__":
    main()
