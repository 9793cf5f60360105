"""Speed of the vectorised ranking metrics on a 6,000 x 25,000 gallery vs a per-query loop.

Run from the project root:

    .venv/bin/python benchmarks/bench_eval.py [--queries 6000] [--candidates 25000] [--repeats 3]

It prints the median wall time of ``ranking_metrics`` (MAP@all, MAP@100 and R@100 from one pass) on
a seeded random gallery; the time of two straightforward per-query loops measured on a subset of
queries and extrapolated to all of them (a numpy arg-sort + cumsum per query, and ASEN's APScorer
algorithm: arg-sort, then a Python loop over the ranking); the largest difference between the
vectorised values and the loops' on that subset; and the speed ratios.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from fashion_lib.metrics import ranking_metrics


def loop_metrics(scores: np.ndarray, relevant: np.ndarray, k: int) -> np.ndarray:
    """(Q, 3) AP@all, AP@k (min(R, k)), R@k, one query at a time."""
    out = np.zeros((len(scores), 3))
    for q in range(len(scores)):
        order = np.argsort(-scores[q], kind="stable")
        rel = relevant[q, order]
        total = rel.sum()
        if total == 0:
            continue
        hits = np.cumsum(rel)
        prec = np.where(rel, hits / np.arange(1, len(rel) + 1), 0.0)
        out[q] = prec.sum() / total, prec[:k].sum() / min(total, k), hits[k - 1] / total
    return out


def asen_style_ap(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """AP@all as ASEN's APScorer computes it: arg-sort, then a Python loop over the ranking."""
    out = np.zeros(len(scores))
    for q in range(len(scores)):
        order = np.argsort(-scores[q], kind="stable")
        total, hits, acc = int(relevant[q].sum()), 0, 0.0
        for i, c in enumerate(order, start=1):
            if relevant[q, c]:
                hits += 1
                acc += hits / i
        out[q] = acc / total if total else 0.0
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=6000)
    parser.add_argument("--candidates", type=int, default=25000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--loop-queries", type=int, default=300)
    parser.add_argument("--python-queries", type=int, default=20)
    parser.add_argument("--k", type=int, default=100)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    scores = rng.standard_normal((args.queries, args.candidates), dtype=np.float32)
    relevant = rng.random((args.queries, args.candidates)) < 0.01  # about 250 relevant per query
    s_t, r_t = torch.from_numpy(scores), torch.from_numpy(relevant)

    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        fast = ranking_metrics(s_t, r_t, k=args.k)
        times.append(time.perf_counter() - start)
    fast_time = statistics.median(times)

    n = min(args.loop_queries, args.queries)
    start = time.perf_counter()
    slow = loop_metrics(scores[:n], relevant[:n], args.k)
    loop_time = (time.perf_counter() - start) * args.queries / n
    m = min(args.python_queries, args.queries)
    start = time.perf_counter()
    asen = asen_style_ap(scores[:m], relevant[:m])
    python_time = (time.perf_counter() - start) * args.queries / m
    got = torch.stack([fast.ap_all[:n], fast.ap_k[:n], fast.recall_k[:n]], 1).numpy()

    print(
        f"gallery: {args.queries} queries x {args.candidates} candidates, k={args.k}, "
        f"torch threads={torch.get_num_threads()}"
    )
    print(f"vectorised ranking_metrics: median {fast_time:.2f} s over {args.repeats} runs")
    print(f"per-query loop: {loop_time:.2f} s (measured on {n} queries, extrapolated)")
    print(f"ASEN-style Python loop: {python_time:.1f} s (measured on {m} queries, extrapolated)")
    diff = max(np.abs(got - slow).max(), np.abs(got[:m, 0] - asen).max())
    print(f"max |difference| to the loops on the measured queries: {diff:.2e}")
    print(
        f"speed ratio: {loop_time / fast_time:.1f}x vs the numpy loop, "
        f"{python_time / fast_time:.0f}x vs the Python loop"
    )


if __name__ == "__main__":
    main()
