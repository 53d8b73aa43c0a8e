"""Cold import of the app against a bare Chalice app (bench/bare_app.py: chalice, boto3, one client, one route).

Each sample is a fresh interpreter running `python -c "import <module>"`; the wall time includes interpreter
start-up, as a Lambda cold start's init does. An empty `python -c pass` is timed too, so the import alone can be
read as (time - empty). The three commands rotate which goes first. Byte code is compiled once in a warm-up run
and kept under a private PYTHONPYCACHEPREFIX (nothing is written into the repo or the venv). Then
`-X importtime` of our app gives the top cumulative importers and the cost per top-level package.

Run: .venv/bin/python bench/bench_cold_import.py [--runs 9]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common
from _common import median, stub_environment, table

TARGET_RATIO = 1.5
COMMANDS = {
    "ours": "import functions.app",
    "bare": "import bare_app",
    "empty": "pass",
}


def environment(pycache: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "PRAKERJA_", "POWERTOOLS_", "PYTHON"))
    }
    env.update(stub_environment())
    env["PYTHONPATH"] = os.pathsep.join([str(_common.ROOT), str(_common.BENCH)])
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def run(code: str, env: dict[str, str], *flags: str) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(  # our own interpreter and a fixed snippet
        [sys.executable, *flags, "-c", code],
        env=env,
        cwd=_common.ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{code!r} failed:\n{done.stderr[-2000:]}")
    return elapsed, done.stderr


def importtime(stderr: str) -> list[tuple[int, int, str]]:
    """(self µs, cumulative µs, module) per line of `-X importtime`."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        rows.append((int(self_us), int(cumulative_us), name))
    return rows


def merged(runs: list[list[tuple[int, int, str]]]) -> list[tuple[int, int, str]]:
    """Per module, the median self and cumulative time over several `-X importtime` runs."""
    seen: dict[str, list[tuple[int, int]]] = {}
    for rows in runs:
        for self_us, cumulative_us, name in rows:
            seen.setdefault(name, []).append((self_us, cumulative_us))
    return [
        (int(median([s for s, _ in v])), int(median([c for _, c in v])), name)
        for name, v in seen.items()
        if len(v) * 2 > len(runs)
    ]


def by_package(rows: list[tuple[int, int, str]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for self_us, _, name in rows:
        package = name.strip().split(".")[0]
        totals[package] = totals.get(package, 0) + self_us
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="fresh interpreters per command")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--importtime-runs", type=int, default=3, help="-X importtime runs per app (medians)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="prakerja-bench-pycache-") as pycache:
        env = environment(Path(pycache))
        for code in COMMANDS.values():  # warm-up: compiles and caches the byte code
            run(code, env)
            run(code, env)
        samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
        names = list(COMMANDS)
        for i in range(args.runs):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                samples[name].append(run(COMMANDS[name], env)[0])
        profiles: dict[str, list[list[tuple[int, int, str]]]] = {"ours": [], "bare": []}
        for _ in range(args.importtime_runs):
            for name, found in profiles.items():
                found.append(importtime(run(COMMANDS[name], env, "-X", "importtime")[1]))
        ours_profile, bare_profile = merged(profiles["ours"]), merged(profiles["bare"])

    ms = {name: median(values) * 1e3 for name, values in samples.items()}
    ratios = [o / b for o, b in zip(samples["ours"], samples["bare"], strict=True)]
    net_ratio = (ms["ours"] - ms["empty"]) / (ms["bare"] - ms["empty"])
    print(f"Cold import, wall time of a fresh `python -c ...`, median of {args.runs} runs (.pyc cached)")
    print(
        table(
            ["command", "median ms", "min ms", "max ms"],
            [
                [f'python -c "{COMMANDS[name]}"', f"{ms[name]:.0f}", f"{min(v) * 1e3:.0f}", f"{max(v) * 1e3:.0f}"]
                for name, v in samples.items()
            ],
        )
    )
    print()
    print(
        table(
            ["figure", "ours ms", "bare ms", "ratio", "target", "met?"],
            [
                [
                    "wall time incl. interpreter start",
                    f"{ms['ours']:.0f}",
                    f"{ms['bare']:.0f}",
                    f"{median(ratios):.2f}x (runs {min(ratios):.2f}-{max(ratios):.2f})",
                    f"<= {TARGET_RATIO}x",
                    "yes" if median(ratios) <= TARGET_RATIO else "NO",
                ],
                [
                    "import alone (minus empty interpreter)",
                    f"{ms['ours'] - ms['empty']:.0f}",
                    f"{ms['bare'] - ms['empty']:.0f}",
                    f"{net_ratio:.2f}x",
                    "(context)",
                    "",
                ],
            ],
        )
    )

    ours_packages, bare_packages = by_package(ours_profile), by_package(bare_profile)
    packages = sorted(ours_packages, key=lambda p: -(ours_packages[p] - bare_packages.get(p, 0)))
    rows = [
        [p, f"{ours_packages[p] / 1e3:.1f}", f"{bare_packages.get(p, 0) / 1e3:.1f}"]
        for p in packages
        if ours_packages[p] >= 2000 or bare_packages.get(p, 0) >= 2000
    ]
    rows.append(["total", f"{sum(ours_packages.values()) / 1e3:.1f}", f"{sum(bare_packages.values()) / 1e3:.1f}"])
    print(f"\n-X importtime, self time per top-level package, ms (median of {args.importtime_runs} runs; >= 2 ms)")
    print(table(["package", "ours", "bare"], rows))

    print(f"\n-X importtime of our app: top {args.top} by cumulative time (median of {args.importtime_runs} runs)")
    top = sorted(ours_profile, key=lambda row: -row[1])[: args.top]
    print(table(["cumulative ms", "self ms", "module"], [[f"{c / 1e3:.1f}", f"{s / 1e3:.1f}", n] for s, c, n in top]))


if __name__ == "__main__":
    main()
