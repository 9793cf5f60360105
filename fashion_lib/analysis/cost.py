"""What the book costs: timing helpers, a plain per-query reference evaluation, and chapter 10's
measurements.

- `time_call(fn, repeats, warmup)` and `time_steps(step, batches, steps, warmup)` return a `Timing`
  (every repeat's seconds and their median); `time_steps` leaves the making of each batch out.
- `reference_retrieval(queries, candidates, k, relevance)`: the attribute protocol of
  `fashion_lib.retrieval.evaluate_retrieval` written the plain way, as ASEN's APScorer does it: one
  query at a time, cosine similarities, a stable sort, then AP@all, AP@k (normalised by min(R, k))
  and Recall@k accumulated along the ranking in a Python loop. It is the slow reference that the
  vectorised evaluation must equal, value for value.
- `exact_embeddings(n, dim, seed)`: random unit vectors whose cosines are exact in float32 and in
  float64, so that both evaluations see identical scores, ties included.
- `retrieval_problem(queries, candidates)` and `eval_scaling(sizes, queries, repeats)`: both
  evaluations on the same random problem, timed per gallery size, with their largest difference.
- `chapter_costs(folder, profile, chapters)`: wall time and peak memory of published chapters.

The models' and the proxy world's measurements, built on `time_steps`, are in
`fashion_lib.analysis.step_times`.

Every measuring function takes a `clock`: ``time.perf_counter`` (wall time, the default) or
``time.process_time`` (CPU seconds of this process, which for one-thread work equals an idle
core's wall time and barely grows when other jobs share the machine).
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from fashion_lib import paths
from fashion_lib.data.atelier.make import MANIFEST
from fashion_lib.retrieval import RetrievalSide, evaluate_retrieval

__all__ = [
    "Timing",
    "book_out_dir",
    "chapter_costs",
    "eval_scaling",
    "exact_embeddings",
    "reference_retrieval",
    "retrieval_problem",
    "time_call",
    "time_steps",
    "world_seconds",
]

Clock = Callable[[], float]


@dataclass(frozen=True)
class Timing:
    """Seconds of each timed call, in order, and the last call's return value."""

    seconds: tuple[float, ...]
    value: Any = None

    @property
    def median(self) -> float:
        """Median seconds over the timed calls."""
        return statistics.median(self.seconds)


def time_steps(
    step: Callable[[Any], Any],
    batches: Iterable[Any],
    steps: int,
    warmup: int = 1,
    clock: Clock = time.perf_counter,
) -> Timing:
    """Time `step(batch)` on `steps` batches after `warmup` untimed ones (batch making excluded)."""
    if steps < 1 or warmup < 0:
        raise ValueError(f"steps must be >= 1 and warmup >= 0, got {steps}, {warmup}")
    seconds, value = [], None
    for i, batch in zip(range(warmup + steps), batches, strict=False):
        if i < warmup:
            value = step(batch)
            continue
        start = clock()
        value = step(batch)
        seconds.append(clock() - start)
    if len(seconds) < steps:
        raise ValueError(f"batches ran out after {len(seconds)} of {steps} timed steps")
    return Timing(tuple(seconds), value)


def time_call(
    fn: Callable[[], Any], repeats: int = 3, warmup: int = 0, clock: Clock = time.perf_counter
) -> Timing:
    """Call `fn` `warmup` times untimed, then `repeats` times timed."""
    return time_steps(lambda _: fn(), repeat(None), repeats, warmup, clock)


def _unit(x: Any) -> np.ndarray:
    x = np.asarray(torch.as_tensor(x).detach().cpu(), dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def reference_retrieval(
    queries: RetrievalSide, candidates: RetrievalSide, k: int = 100, relevance: str = "single"
) -> dict[str, np.ndarray]:
    """Per-query AP@all, AP@k and Recall@k of the attribute protocol, one query at a time.

    Args:
        queries, candidates: as for `evaluate_retrieval` (``labels`` needed for "multi").
        k: cut-off of AP@k and Recall@k.
        relevance: "single" (same value) or "multi" (a shared positive class).

    Returns:
        {"ap_all", "ap_k", "recall_k"}: (Q,) float64 fractions in query order, comparable with
        ``evaluate_retrieval(...).per_query``.
    """
    q_emb, c_emb = _unit(queries.embeddings), _unit(candidates.embeddings)
    q_attr, c_attr = np.asarray(queries.attr_ids), np.asarray(candidates.attr_ids)
    key = "values" if relevance == "single" else "labels"
    q_key, c_key = np.asarray(getattr(queries, key)), np.asarray(getattr(candidates, key))
    out = {name: np.zeros(len(q_emb)) for name in ("ap_all", "ap_k", "recall_k")}
    for i in range(len(q_emb)):
        pool = np.flatnonzero(c_attr == q_attr[i])  # this attribute's candidates
        sims = c_emb[pool] @ q_emb[i]  # (C_a,) cosine similarities
        order = np.argsort(-sims, kind="stable")  # best first, ties by candidate index
        same = c_key[pool] == q_key[i] if relevance == "single" else c_key[pool] & q_key[i]
        relevant = same if same.ndim == 1 else same.any(axis=1)  # (C_a,) bool
        total, hits, hits_k, sum_all, sum_k = int(relevant.sum()), 0, 0, 0.0, 0.0
        for rank, j in enumerate(order, start=1):
            if relevant[j]:
                hits += 1
                sum_all += hits / rank
                if rank <= k:
                    sum_k, hits_k = sum_k + hits / rank, hits
        if total:
            out["ap_all"][i] = sum_all / total
            out["ap_k"][i] = sum_k / min(total, k)
            out["recall_k"][i] = hits_k / total
    return out


def _four_squares(n: int) -> list[int]:
    """Four non-negative integers whose squares sum to `n` (Lagrange; a small search)."""
    for a in range(math.isqrt(n), -1, -1):
        for b in range(min(a, math.isqrt(n - a * a)), -1, -1):
            rest = n - a * a - b * b
            for c in range(min(b, math.isqrt(rest)), -1, -1):
                d = math.isqrt(rest - c * c)
                if d * d == rest - c * c:
                    return [a, b, c, d]
    raise AssertionError(f"no four squares for {n}")  # unreachable by Lagrange's theorem


def exact_embeddings(n: int, dim: int = 64, seed: int = 0, levels: int = 127) -> np.ndarray:
    """(n, dim) float32 unit vectors whose pairwise dot products are exact in float32.

    Every row is a random signed permutation of one integer vector whose squared norm is a power
    of 4, divided by that power's square root: the rows are exactly unit length (normalising
    changes nothing), every product is an integer over 4^m, and every partial sum is at most
    4^m <= 2^24 of those units. So float32 matrix products, float64 loops and any summation order
    give bit-identical cosines; equal cosines (ties) are genuine, and the more common the smaller
    `dim` and `levels` (the largest magnitude drawn for the first dim - 4 entries).
    """
    if dim < 5:
        raise ValueError(f"dim must be >= 5, got {dim}")
    rng = np.random.default_rng(seed)
    base = rng.integers(1, levels + 1, dim - 4)
    power = 4 ** math.ceil(math.log(int((base**2).sum()) + 1, 4))
    vector = np.concatenate([base, _four_squares(power - int((base**2).sum()))])
    if power > 2**24:  # a partial sum is at most |v|^2 = power units (Cauchy-Schwarz)
        raise ValueError(f"dim {dim} too large for exact float32 sums")
    perms = np.argsort(rng.random((n, dim)), axis=1)  # (n, dim) a permutation per row
    signs = rng.choice([-1.0, 1.0], size=(n, dim))
    return (signs * vector[perms] / math.isqrt(power)).astype(np.float32)


def retrieval_problem(
    queries: int,
    candidates: int,
    attributes: int = 3,
    values: int = 8,
    seed: int = 0,
    dim: int = 64,
    levels: int = 127,
) -> tuple[RetrievalSide, RetrievalSide]:
    """Random queries and candidates: `exact_embeddings`, uniform attributes and values."""
    rng = np.random.default_rng(seed)
    n = queries + candidates
    emb = exact_embeddings(n, dim, seed, levels)
    attr, value = rng.integers(0, attributes, n), rng.integers(0, values, n)
    side = [RetrievalSide(emb[s], attr[s], value[s]) for s in (slice(queries), slice(queries, n))]
    return side[0], side[1]


def eval_scaling(
    sizes: Sequence[int],
    queries: int,
    repeats: int,
    k: int = 100,
    seed: int = 0,
    clock: Clock = time.perf_counter,
) -> pd.DataFrame:
    """Seconds of `evaluate_retrieval` and of `reference_retrieval` per gallery size.

    Both evaluate the same `retrieval_problem` (vectorised: median of `repeats` after a warm-up
    call; reference: one call, it is deterministic and slow).

    Returns:
        One row per size: gallery, queries, vectorised_s, loop_s, speed_ratio, and max_abs_diff,
        the largest difference between the two evaluations' per-query values.
    """
    rows = []
    for size in sizes:
        q, c = retrieval_problem(queries, size, seed=seed)
        fast = time_call(lambda q=q, c=c: evaluate_retrieval(q, c, k=k), repeats, 1, clock)
        slow = time_call(lambda q=q, c=c: reference_retrieval(q, c, k), 1, 0, clock)
        diff = max(float(np.abs(fast.value.per_query[m] - slow.value[m]).max()) for m in slow.value)
        rows.append(
            {
                "gallery": size,
                "queries": queries,
                "vectorised_s": fast.median,
                "loop_s": slow.median,
                "speed_ratio": slow.median / fast.median,
                "max_abs_diff": diff,
            }
        )
    return pd.DataFrame(rows)


def book_out_dir() -> Path:
    """Where the runner publishes executed chapters: ``FASHION_BOOK_OUT``, else book/executed."""
    return Path(os.environ.get("FASHION_BOOK_OUT") or paths.EXECUTED_DIR)


def world_seconds(profile: str) -> float:
    """The generation time recorded in the proxy world's manifest (NaN without a world)."""
    manifest = paths.dataset_root(profile, True) / MANIFEST
    if not manifest.is_file():
        return math.nan
    return float(json.loads(manifest.read_text(encoding="utf-8")).get("seconds", math.nan))


def chapter_costs(folder: Path, profile: str, chapters: Sequence[str]) -> pd.DataFrame:
    """Wall time and peak memory of each chapter as published in `folder` under `profile`.

    Reads ``metadata.fashion_book`` (``seconds``, ``peak_rss_mb`` when the runner recorded it) of
    ``<folder>/<chapter>.ipynb``. A chapter missing, or published under another profile, gets
    status "not run under <profile>" and no numbers.

    Returns:
        Columns chapter, status, seconds, peak_rss_mb (NaN where unknown).
    """
    rows = []
    for name in chapters:
        path = Path(folder) / f"{name}.ipynb"
        meta: dict[str, Any] = {}
        if path.is_file():
            meta = json.loads(path.read_text(encoding="utf-8"))["metadata"].get("fashion_book", {})
        ran = meta.get("profile") == profile
        rows.append(
            {
                "chapter": name,
                "status": "run" if ran else f"not run under {profile}",
                "seconds": float(meta["seconds"]) if ran else math.nan,
                "peak_rss_mb": float(meta.get("peak_rss_mb", math.nan)) if ran else math.nan,
            }
        )
    return pd.DataFrame(rows)
