"""The close that scales out (issue #12): a pool-part worker's time and memory per shard, the draw step reading 32
parts, and what that makes of a close over 10,000,000 members with 32 workers at once.

  1. Workers, in-process at `--members` (1,000,000): for each of the 32 shards, what the pool-part consumer does
     for a pool part (`store.waves.read_shard` under a wave secret, then `pool_parts.encode_pool`), with every
     DynamoDB Query answered from memory in pages of `--page` items (250, each with its LastEvaluatedKey, as
     DynamoDB pages a large result; the same before-send answering as bench_pool_read.py, the pages built here
     rather than recorded from moto, which cannot hold a million members in reasonable time). The S3 put of the
     part is not timed. tracemalloc's peak for one shard's worker.
  2. The draw step at `--members`: the 32 parts decoded and assembled (`pool_parts.assemble`) and the draw run,
     in a child process (its maximum resident set is its own).
  3. The draw step at `--draw-members` (10,000,000): a synthetic pool (bench_draw.synthetic_pool) cut into 32
     part files on disk by one child, then read one at a time, assembled and drawn by another (a file read stands
     in for S3's GetObject): wall time and peak resident memory.
Extrapolation: a shard of a 10,000,000 pool is ten times one of a 1,000,000 pool; with 32 workers at once the
close's wall time is the slowest worker plus the draw step.

Run: .venv/bin/python bench/bench_close.py [--members 1000000] [--draw-members 10000000] [--quota-share 0.08]
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zlib
from pathlib import Path
from typing import Any

import _common
from _common import table

WAVE = 1
WAVE_SECRET = bytes(range(32))
QUERY = "DynamoDB_20120810.Query"
PROVINCES = ["11", "12", "13", "31", "32", "33", "35", "51", "73", "91"]


class ShardPages(_common.CannedAWS):
    """Every other call canned as for the other benchmarks; a Query of `w<wave>#<shard>` answered from the pages
    of the shard loaded last (`load`)."""

    def __init__(self) -> None:
        super().__init__()
        self.pages: dict[str, tuple[bytes, dict[str, str]]] = {}

    def load(self, shard: int, size: int, members: int, page: int) -> None:
        """`members` synthetic members of `shard` of a pool of `size`, sorted by applicant id, paged."""
        import hashlib
        import random

        from functions.store.models import pool_key
        from functions.store.waves import SHARDS, member_shard

        rng = random.Random(shard)
        low, high = shard * 256 // SHARDS, (shard + 1) * 256 // SHARDS
        ids = sorted(f"{rng.randrange(low, high):02x}{rng.getrandbits(120):030x}" for _ in range(members))
        assert all(member_shard(i) == shard for i in ids[:10])
        pool = pool_key(WAVE, shard)
        items = [
            {
                "pool": {"S": pool},
                "applicant_id": {"S": applicant_id},
                "tier": {"N": str(rng.choice((1, 2, 3, 4)))},
                "province": {"S": rng.choice(PROVINCES)},
                "family": {"S": hashlib.sha256(f"family-{rng.randrange(size * 3 // 4)}".encode()).hexdigest()},
                "joined_at": {"S": "2020-04-11T09:00:00.000000+0000"},
                "carried_over": {"BOOL": False},
            }
            for applicant_id in ids
        ]
        self.pages.clear()
        start: Any = None
        for offset in range(0, max(1, len(items)), page):
            chunk = items[offset : offset + page]
            answer: dict[str, Any] = {"Items": chunk, "Count": len(chunk), "ScannedCount": len(chunk)}
            if offset + page < len(items):
                answer["LastEvaluatedKey"] = {"pool": chunk[-1]["pool"], "applicant_id": chunk[-1]["applicant_id"]}
            body = json.dumps(answer).encode()
            headers = {
                "Content-Type": "application/x-amz-json-1.0",
                "Content-Length": str(len(body)),
                "x-amz-crc32": str(zlib.crc32(body)),
                "x-amzn-RequestId": "bench",
            }
            self.pages[json.dumps(start, sort_keys=True)] = (body, headers)
            start = answer.get("LastEvaluatedKey")

    def __call__(self, request: Any, **kwargs: Any) -> Any:
        from devstack.hooks import respond, target

        if target(request) != QUERY:
            return super().__call__(request, **kwargs)
        document = json.loads(request.body)
        return respond(request, self.pages[json.dumps(document.get("ExclusiveStartKey"), sort_keys=True)])


def workers(size: int, page: int, parts_dir: Path) -> dict[str, Any]:
    """Each shard's worker in turn; its part written to `parts_dir`."""
    _common.clean_environment(_common.stub_environment())
    stub = _common.install_canned_aws(ShardPages())
    from functions.domain.pool_parts import encode_pool
    from functions.store.waves import SHARDS, read_shard

    per_shard = size // SHARDS
    seconds, peaks = [], []
    for shard in range(SHARDS):
        stub.load(shard, size, per_shard, page)
        started = time.perf_counter()
        data = encode_pool(WAVE, shard, read_shard(WAVE, shard, WAVE_SECRET))
        seconds.append(time.perf_counter() - started)
        (parts_dir / f"pool-{shard:02d}.bin").write_bytes(data)
        if shard == 0:  # tracemalloc slows the read: its peak once, apart from the timings
            tracemalloc.start()
            encode_pool(WAVE, shard, read_shard(WAVE, shard, WAVE_SECRET))
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
    return {"per_shard": per_shard, "seconds": seconds, "peak_bytes": max(peaks)}


def make_parts(size: int, parts_dir: Path) -> None:
    """A synthetic pool of `size` cut into 32 part files (the draw ids in no order, as shards of HMACs are)."""
    from bench_draw import synthetic_pool

    from functions.domain.draw import FAMILY_WIDTH, ID_WIDTH, PROVINCE_WIDTH, Pool
    from functions.domain.pool_parts import SHARDS, encode_pool

    pool: Any = synthetic_pool(size)
    bounds = [size * shard // SHARDS for shard in range(SHARDS + 1)]
    for shard, (start, end) in enumerate(itertools.pairwise(bounds)):
        part = Pool(
            pool.ids[ID_WIDTH * start : ID_WIDTH * end],
            pool.tiers[start:end],
            pool.provinces[PROVINCE_WIDTH * start : PROVINCE_WIDTH * end],
            pool.families[FAMILY_WIDTH * start : FAMILY_WIDTH * end],
        )
        (parts_dir / f"pool-{shard:02d}.bin").write_bytes(encode_pool(WAVE, shard, part))


def draw_step(parts_dir: Path, quota: int) -> dict[str, float]:
    """What the draw does after the workers: the parts read one at a time and assembled, then the draw."""
    from functions.domain.draw import DrawRules, run_draw
    from functions.domain.pool_parts import SHARDS, assemble, decode_pool

    started = time.perf_counter()
    pool = assemble(
        decode_pool((parts_dir / f"pool-{shard:02d}.bin").read_bytes(), WAVE, shard) for shard in range(SHARDS)
    )
    assembled = time.perf_counter()
    result = run_draw(pool, bytes(range(32)), DrawRules(quota=quota), {}, wave_secret=WAVE_SECRET)
    drawn = time.perf_counter()
    return {
        "members": len(pool),
        "selected": result.selected_count,
        "assemble_seconds": assembled - started,
        "draw_seconds": drawn - assembled,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def in_child(*arguments: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, *arguments], check=True, capture_output=True, text=True).stdout
    answer: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--draw-members", type=int, default=10_000_000)
    parser.add_argument("--quota-share", type=float, default=0.08, help="the quota as a share of the pool")
    parser.add_argument("--page", type=int, default=250)
    parser.add_argument("--child", choices=["workers", "make-parts", "draw-step"])
    parser.add_argument("--parts", type=Path)
    args = parser.parse_args()
    if args.child == "workers":
        print(json.dumps(workers(args.members, args.page, args.parts)))
        return
    if args.child == "make-parts":
        make_parts(args.draw_members, args.parts)
        print("{}")
        return
    if args.child == "draw-step":
        print(json.dumps(draw_step(args.parts, int(args.members * args.quota_share))))
        return

    with tempfile.TemporaryDirectory(prefix="bench-close-") as small, tempfile.TemporaryDirectory() as large:
        size = str(args.members)
        worked = in_child("--child", "workers", "--members", size, "--page", str(args.page), "--parts", small)
        drawn = in_child("--child", "draw-step", "--members", size, "--parts", small)
        in_child("--child", "make-parts", "--draw-members", str(args.draw_members), "--parts", large)
        big = in_child("--child", "draw-step", "--members", str(args.draw_members), "--parts", large)

    seconds = worked["seconds"]
    per_member_us = statistics.median(seconds) / worked["per_shard"] * 1e6
    scale = args.draw_members / args.members
    slowest_10m = max(seconds) * scale
    draw_10m = big["assemble_seconds"] + big["draw_seconds"]
    print(f"\n1. Pool-part workers at {args.members:,} members ({worked['per_shard']:,} a shard), pages from memory")
    print(
        table(
            ["shards", "median s a shard", "slowest s", "µs a member", "one worker's peak MiB (tracemalloc)"],
            [
                [
                    len(seconds),
                    f"{statistics.median(seconds):.2f}",
                    f"{max(seconds):.2f}",
                    f"{per_member_us:.1f}",
                    f"{worked['peak_bytes'] / 2**20:.0f}",
                ]
            ],
        )
    )
    print("\n2. The draw step: 32 parts read and assembled, then the draw")
    rows = []
    for label, run in ((f"{args.members:,}", drawn), (f"{args.draw_members:,}", big)):
        rows.append(
            [
                label,
                f"{run['selected']:,}",
                f"{run['assemble_seconds']:.1f}",
                f"{run['draw_seconds']:.1f}",
                f"{run['peak_mib']:,.0f}",
            ]
        )
    print(table(["members", "selected", "parts assembled s", "draw s", "peak MiB (max RSS)"], rows))
    print(f"\n3. A close over {args.draw_members:,} members with 32 workers at once")
    print(
        table(
            ["step", "wall s", "memory"],
            [
                [
                    f"slowest worker (extrapolated x{scale:.0f})",
                    f"{slowest_10m:.0f}",
                    f"{worked['peak_bytes'] * scale / 2**20:,.0f} MiB (extrapolated)",
                ],
                ["draw step (measured)", f"{draw_10m:.0f}", f"{big['peak_mib']:,.0f} MiB"],
                ["whole close", f"{slowest_10m + draw_10m:.0f}", "target: < 300 s, each function < 2 GiB"],
            ],
        )
    )


if __name__ == "__main__":
    main()
