"""The draw over a synthetic pool (default 10,000,000 with quota 800,000) against the floor of computing the same
number of HMAC-SHA256 keys in the same process. Target: the draw within 2x the floor and under 2 GiB.

    .venv/bin/python bench/bench_draw.py [--pool 10000000] [--quota 800000] [--serialise]

Each side runs in a fresh child process (so each peak memory is its own), floor and draw alternating, the pool
built the same way in both. Peak memory is the child's maximum resident set, pool included. `--serialise` also
times writing the ranked list as CSV (publication, not the draw itself).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def synthetic_pool(size: int, seed: int = 2020) -> object:
    """A pool as the store reads it: draw ids (64 hex digits, HMACs of the applicant ids, so in no order: the
    shards are read in applicant-id order), tiers, provinces, families (about four applicants to three family
    cards). Built with numpy so the build adds little to the peak."""
    import binascii

    import numpy as np

    from functions.domain.draw import Pool

    rng = np.random.default_rng(seed)
    words = rng.integers(0, 2**64 - 1, size=(size, 4), dtype=np.uint64).astype(">u8")
    ids = binascii.hexlify(words.tobytes())  # 64 lowercase hex digits per member
    del words
    tiers = rng.choice(np.array([1, 2, 3, 4], dtype=np.uint8), size=size, p=[0.3, 0.1, 0.4, 0.2]).tobytes()
    codes = np.frombuffer(b"1131323335517391", dtype="S2")
    provinces = codes[rng.integers(0, len(codes), size=size)].tobytes()
    family_numbers = rng.integers(0, max(1, size * 3 // 4), size=size, dtype=np.uint64)
    families = np.zeros((size, 2), dtype=">u8")
    families[:, 0] = family_numbers * np.uint64(0x9E3779B97F4A7C15)  # spread, as a keyed hash would be
    families[:, 1] = family_numbers
    return Pool(ids, tiers, provinces, families.tobytes())


def child(side: str, size: int, quota: int, serialise: bool) -> dict[str, float]:
    pool = synthetic_pool(size)
    seed = bytes(range(32))
    started = time.perf_counter()
    extra: dict[str, float] = {}
    if side == "floor":
        # The floor: the rank keys alone, HMAC-SHA256 of every id, computed as the draw computes them (a keyed
        # state copied per id, digests joined a chunk at a time).
        from functions.domain.draw import rank_keys

        rank_keys(seed, pool.ids)  # type: ignore[attr-defined]
    else:
        from functions.domain.draw import DrawRules, ranked_list_lines, run_draw

        result = run_draw(pool, seed, DrawRules(quota=quota), {}, wave_secret=bytes(32))  # type: ignore[arg-type]
        extra["selected"] = result.selected_count
        extra["draw_seconds"] = time.perf_counter() - started
        if serialise:
            written = time.perf_counter()
            with open(os.devnull, "w") as sink:
                for line in ranked_list_lines(result):
                    sink.write(line)
            extra["serialise_seconds"] = time.perf_counter() - written
    seconds = extra.pop("draw_seconds", time.perf_counter() - started)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "peak_mib": peak_mib, **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pool", type=int, default=10_000_000)
    parser.add_argument("--quota", type=int, default=800_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--serialise", action="store_true")
    parser.add_argument("--child", choices=["floor", "draw"])
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.pool, args.quota, args.serialise)))
        return
    runs: dict[str, list[dict[str, float]]] = {"floor": [], "draw": []}
    for _ in range(args.rounds):
        for side in ("floor", "draw"):
            command = [sys.executable, __file__, "--child", side, "--pool", str(args.pool), "--quota", str(args.quota)]
            if args.serialise:
                command.append("--serialise")
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            runs[side].append(json.loads(out))
            print(side, runs[side][-1], flush=True)
    floor = min(r["seconds"] for r in runs["floor"])
    draw = min(r["seconds"] for r in runs["draw"])
    peak = max(r["peak_mib"] for r in runs["draw"])
    print()
    print("| pool | quota | floor (HMACs) s | draw s | draw / floor | draw peak MiB | floor peak MiB |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(
        f"| {args.pool:,} | {args.quota:,} | {floor:.1f} | {draw:.1f} | {draw / floor:.2f} | {peak:,.0f} | "
        f"{max(r['peak_mib'] for r in runs['floor']):,.0f} |"
    )
    if args.serialise:
        written = min(r["serialise_seconds"] for r in runs["draw"])
        print(f"ranked list as CSV: {written:.1f} s (publication, not part of the draw)")


if __name__ == "__main__":
    main()
