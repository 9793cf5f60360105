"""Chapters 02-05 in the cpu profile: the M3-Net runs' schedule, estimated from run records or measured.

Estimate (reads records only, takes a second):

    .venv/bin/python benchmarks/bench_m3net_schedule.py [--runs runs] [--chapters 13 1534 60 23]

It reads the cpu records of a finished chapter 03 in ``--runs`` (the backbone, the learning-rate
selection runs, the table rows of each dataset and the last-stage rows), rebuilds the observed
stages from the records' write times (a stage ends with its last record), and replays each
stage's runs (their recorded ``wall_time_s``) on two workers: as the old code scheduled them
(selection runs one after another in one process, rows in table order) and as the current code
does (selection runs in the pool, longest runs first). What a stage spent outside its runs (feature
caches, reading) is kept as observed, except the start of the workers: the old code spawned a
pool per stage, and the time from a stage's last feature-cache write (``<runs>/cache``) to its
first run's start was the workers' start (imports, first reads); the current code starts the pool
once, at the selection stage, and a warm worker needs about ``WARM_START_S`` to start a stage.
Chapter 04 re-reads the three finished tables: the old code started a pool for each (to re-read
the selection runs), the current code none; counted as three cold starts. Not counted: the
selection's caches now use both cores (they used one: about 16 s), and the backbone's validation
accuracy too (about 17 s).
``--chapters`` are the measured seconds of chapters 02-05 from which the gain is subtracted
(default: the README's idle-machine measurement of the old code).

Measurement (trains everything: about 25 minutes on an idle 2-core machine):

    .venv/bin/python benchmarks/bench_m3net_schedule.py --measure

runs ``python -m fashion_lib book run --profile cpu --only NN`` for 02, 03, 04 and 05 in turn
into an empty temporary runs folder (``FASHION_RUNS_DIR``) and prints each chapter's wall time,
with the load average before and after: a load above the measurement's own two workers means
the machine was shared and the times are upper bounds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from fashion_lib.engine.workers import submission_order
from fashion_lib.experiments.m3net_settings import FAMILY_PROBES, ROW_SECONDS, ROWS

CHAPTERS = ("02", "03", "04", "05")
README_SECONDS = (13.0, 1534.0, 60.0, 23.0)  # the old code, idle machine (README)
GOAL_S = 25 * 60
WARM_START_S = 2.0  # a warm worker's first run of a stage: the stage's dataset read once


def makespan(seconds: Sequence[float], order: Sequence[int], workers: int = 2) -> float:
    """Wall time of tasks started in ``order``, each on the first free worker."""
    free = [0.0] * workers
    for i in order:
        k = free.index(min(free))
        free[k] += seconds[i]
    return max(free)


def read_records(runs: Path) -> list[dict]:
    """The cpu records of the M3-Net chapters, each with its write time ("at")."""
    out = []
    for path in runs.glob("*/record.json"):
        record = json.loads(path.read_text(encoding="utf-8"))
        if record["profile"] == "cpu" and record["name"].startswith(
            ("backbone-", "m3lr-", "m3row")
        ):
            out.append(record | {"at": path.stat().st_mtime})
    return sorted(out, key=lambda r: r["at"])


def stages(records: list[dict]) -> list[tuple[str, list[dict]]]:
    """(stage, its runs) in the order chapter 03 makes them; the newest run of each name."""
    newest = {r["name"]: r for r in records}  # sorted by time: the last one wins
    named = sorted(newest.values(), key=lambda r: r["at"])
    groups: list[tuple[str, list[dict]]] = [
        ("backbone", [r for r in named if r["name"].startswith("backbone-")]),
        ("selection", [r for r in named if r["name"].startswith("m3lr-")]),
    ]
    for dataset in ("deepfashion", "fashionai", "darn"):
        rows = [
            r for r in named if r["name"].startswith("m3row") and f"-{dataset}-seed" in r["name"]
        ]
        groups.append((dataset, rows))
    groups.append(("last stage", [r for r in named if "-laststage-" in r["name"]]))
    return [(name, runs) for name, runs in groups if runs]


def _row(record: dict) -> str:
    config = record["config"]
    return FAMILY_PROBES[config["selection"]] if "selection" in config else config["row"]


def table_order(runs: list[dict]) -> list[int]:
    """The old submission order: rows in table order, seeds ascending."""
    return sorted(range(len(runs)), key=lambda i: (ROWS.index(_row(runs[i])), runs[i]["seed"]))


def start_gap(runs: list[dict], begin: float, caches: list[float]) -> float:
    """Seconds from the stage's last cache write (or its begin) to its first run's start."""
    first = min(r["at"] - r["wall_time_s"] for r in runs)
    return first - max([begin, *(t for t in caches if begin <= t <= first)])


def estimate(runs_dir: Path, chapters: Sequence[float]) -> None:
    records = read_records(runs_dir)
    if not records:
        sys.exit(f"no cpu records of the M3-Net chapters in {runs_dir}")
    groups = stages(records)
    caches = [p.stat().st_mtime for p in (runs_dir / "cache").glob("features-*.pt")]
    print(f"records: {runs_dir} ({len(records)} cpu runs)")
    head = ("stage", "runs", "sum s", "observed", "old sim", "start", "outside", "new sim", "new")
    print(f"{head[0]:12s}" + "".join(f"{h:>9s}" for h in head[1:]))
    rows, begin = [], None
    for name, runs in groups:
        end = max(r["at"] for r in runs)
        seconds = [r["wall_time_s"] for r in runs]
        if begin is None:  # the backbone: unchanged (one thread)
            print(f"{name:12s}{len(runs):9d}{sum(seconds):9.0f}   (unchanged: one thread)")
            begin = end
            continue
        serial = name == "selection"  # the old code trained them in the notebook's process
        old = sum(seconds) if serial else makespan(seconds, table_order(runs))
        args = [(_row(r),) for r in runs]
        new = makespan(seconds, submission_order(args, cost=lambda row: ROW_SECONDS[row]))
        start = 0.0 if serial else start_gap(runs, begin, caches)
        rows.append([name, len(runs), sum(seconds), end - begin, old, start, new])
        begin = end
    cold = sum(r[5] for r in rows if r[5]) / max(1, sum(1 for r in rows if r[5]))
    gain = 0.0
    for name, n, total, observed, old, start, new in rows:
        outside = observed - old
        # the pool starts once, cold, at the selection; warm afterwards
        outside_new = outside + cold if name == "selection" else outside - start + WARM_START_S
        gain += observed - (outside_new + new)
        print(
            f"{name:12s}{n:9d}{total:9.0f}{observed:9.0f}{old:9.0f}{start:9.0f}{outside:9.0f}"
            f"{new:9.0f}{outside_new + new:9.0f}"
        )
    print(f"chapter 04: three tables re-read without starting workers: -{3 * cold:.0f} s")
    gain += 3 * cold
    total = sum(chapters)
    new_total = total - gain
    print(f"chapters 02-05 measured with the old code: {total:.0f} s ({total / 60:.1f} min)")
    print(
        f"gain: {gain:.0f} s; estimate with the current code: {new_total:.0f} s "
        f"({new_total / 60:.1f} min; goal {GOAL_S / 60:.0f} min: "
        f"{'within' if new_total <= GOAL_S else 'over'})"
    )


def measure() -> None:
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="m3net-runs-") as runs:
        env["FASHION_RUNS_DIR"] = runs
        print(f"load average before: {os.getloadavg()}")
        total = 0.0
        for chapter in CHAPTERS:
            started = time.perf_counter()
            command = [sys.executable, "-m", "fashion_lib", "book", "run", "--profile", "cpu"]
            subprocess.run([*command, "--only", chapter], env=env, check=True)
            seconds = time.perf_counter() - started
            total += seconds
            print(f"chapter {chapter}: {seconds:.0f} s", flush=True)
        print(f"chapters 02-05: {total:.0f} s ({total / 60:.1f} min)")
        print(f"load average after: {os.getloadavg()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--chapters", type=float, nargs=4, default=README_SECONDS)
    parser.add_argument("--measure", action="store_true", help="run chapters 02-05 (long)")
    args = parser.parse_args()
    if args.measure:
        measure()
    else:
        estimate(args.runs, args.chapters)


if __name__ == "__main__":
    main()
