"""One process with two threads against two processes with one thread each, on FashionSAP steps.

Run from the project root on an idle machine (the world and the backbone run must exist):

    .venv/bin/python benchmarks/bench_sap_threads.py --profile cpu --variant full --steps 8

Prints the median step time of each layout and the throughput in steps per second: two one-thread
processes finish two runs (two seeds) in the time of one of their steps; one two-thread process
finishes one step in its time. The faster layout is what the cpu profile should use.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_fashionsap import step_times


def _timed(variant: str, profile: str, steps: int, threads: int) -> float:
    torch.set_num_threads(threads)
    return step_times(variant, profile, steps)[0]


def main() -> None:
    """Parse the arguments, time both layouts, print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--variant", default="full")
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    job = (args.variant, args.profile, args.steps)
    one = _timed(*job, threads=2)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        two = pool.starmap(_timed, [(*job, 1), (*job, 1)])
    print(f"{args.variant} on {args.profile}, median of {args.steps} steps per process")
    print(f"  one process, 2 threads:  {one:.3f} s/step -> {1 / one:.2f} steps/s")
    each = statistics.median(two)
    print(f"  two processes, 1 thread: {each:.3f} s/step each -> {2 / each:.2f} steps/s")
    print(f"  faster: {'two processes' if 2 / each > 1 / one else 'one process'}")


if __name__ == "__main__":
    main()
