"""Time `data make` per profile: images per second and total seconds.

    .venv/bin/python benchmarks/bench_data.py                 # smoke (median of 3) and cpu (1 run)
    .venv/bin/python benchmarks/bench_data.py --profiles smoke --runs 5

Each run builds the world into a fresh temporary folder (deleted afterwards) with the same
`make_world` that ``python -m fashion_lib data make`` calls, with 2 worker processes.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from fashion_lib.data.atelier.make import make_world
from fashion_lib.profiles import get_profile


def bench(profile_name: str, runs: int, workers: int) -> tuple[float, float, int]:
    """(median seconds, median images/s, images) of `runs` builds of a profile's world."""
    seconds, rates, images = [], [], 0
    for _ in range(runs):
        scratch = Path(tempfile.mkdtemp(prefix="bench-atelier-"))
        try:
            summary = make_world(get_profile(profile_name), out=scratch / "world", workers=workers)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        seconds.append(summary.seconds)
        rates.append(summary.images_per_second)
        images = sum(summary.images.values())
    return statistics.median(seconds), statistics.median(rates), images


def main() -> None:
    """Parse arguments and print one line per profile."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", nargs="*", default=["smoke", "cpu"])
    parser.add_argument("--runs", type=int, default=3, help="runs per profile (cpu: always 1)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    for name in args.profiles:
        runs = 1 if name != "smoke" else args.runs
        seconds, rate, images = bench(name, runs, args.workers)
        print(
            f"{name:>6}: {images} images in {seconds:.1f} s = {rate:.0f} images/s "
            f"(median of {runs} run(s), {args.workers} workers)"
        )


if __name__ == "__main__":
    main()
