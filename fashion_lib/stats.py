"""Verdicts from paired per-query evidence (minimal placeholder; the `stats` branch owns this module).

`compare` bootstraps the difference of two models' means hierarchically (seeds, then queries, the
same query draws for both sides); `judge` turns several comparisons into verdicts with Holm's
correction (each interval at the Bonferroni level, which covers Holm's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fashion_lib.evidence import PerQuery

__all__ = ["DELTAS", "Comparison", "compare", "delta_for", "judge"]

#: metric family -> δ in points (0..100 scale).
DELTAS: dict[str, float] = {"map": 1.0, "recall": 1.0, "accuracy": 1.0, "mass": 1.0}


def delta_for(metric: str) -> float:
    """δ of a metric family (KeyError naming the families otherwise)."""
    if metric not in DELTAS:
        raise KeyError(f"no δ for {metric!r}; families: {sorted(DELTAS)}")
    return DELTAS[metric]


@dataclass(frozen=True)
class Comparison:
    """A - B over paired queries and seeds, with bootstrap samples of the difference."""

    mean_a: float
    mean_b: float
    diff: float
    samples: np.ndarray
    p_value: float
    n_seeds: int
    n_queries: int


def _paired(a: PerQuery, b: PerQuery) -> np.ndarray:
    """Per-query differences A - B over the keys both define (NaN dropped), as (Q, 2)."""
    ia = dict(zip(a.keys.tolist(), a.values.tolist(), strict=True))
    ib = dict(zip(b.keys.tolist(), b.values.tolist(), strict=True))
    rows = [(ia[k], ib[k]) for k in ia if k in ib and np.isfinite(ia[k]) and np.isfinite(ib[k])]
    if not rows:
        raise ValueError("no query is defined for both sides")
    return np.asarray(rows, dtype=float)


def compare(
    a: Sequence[PerQuery], b: Sequence[PerQuery], *, n_boot: int = 2000, seed: int = 0
) -> Comparison:
    """Compare A and B: a[i] and b[i] are seed i's per-query values, aligned by key."""
    if len(a) != len(b) or not a:
        raise ValueError("compare needs the same, non-zero number of seeds for A and B")
    pairs = [_paired(x, y) for x, y in zip(a, b, strict=True)]
    mean_a = float(np.mean([p[:, 0].mean() for p in pairs]))
    mean_b = float(np.mean([p[:, 1].mean() for p in pairs]))
    rng = np.random.default_rng(seed)
    diffs = [p[:, 0] - p[:, 1] for p in pairs]
    samples = np.empty(n_boot)
    for r in range(n_boot):
        chosen = rng.integers(len(diffs), size=len(diffs))
        samples[r] = np.mean([rng.choice(diffs[s], size=len(diffs[s])).mean() for s in chosen])
    p = min(1.0, 2 * min((samples <= 0).mean(), (samples >= 0).mean()))
    return Comparison(
        mean_a, mean_b, mean_a - mean_b, samples, p, len(pairs), sum(len(d) for d in diffs)
    )


def judge(
    comparisons: Sequence[Comparison],
    kinds: Sequence[str],
    deltas: Sequence[float],
    level: float = 0.95,
) -> pd.DataFrame:
    """Verdicts of the claims ("A > B": kind ">", "A ~ B": kind "~"), Holm across all of them.

    Returns one row per claim, in order: kind, mean_a, mean_b, diff, delta, p (after Holm), lo,
    hi, level, verdict, seeds.
    """
    m = len(comparisons)
    order = np.argsort([c.p_value for c in comparisons], kind="stable")
    holm, running = np.empty(m), 0.0
    for i, j in enumerate(order):
        running = max(running, min(1.0, (m - i) * comparisons[j].p_value))
        holm[j] = running
    alpha = (1 - level) / m
    rows = []
    for c, kind, delta, p in zip(comparisons, kinds, deltas, holm, strict=True):
        lo, hi = np.quantile(c.samples, [alpha / 2, 1 - alpha / 2])
        if kind == "~":
            verdict = "held" if -delta < lo and hi < delta else "inconclusive"
            verdict = "not held" if lo > delta or hi < -delta else verdict
        elif lo > 0:
            verdict = "held"
        elif hi < 0:
            verdict = "reversed"
        else:
            verdict = "no difference > δ" if -delta < lo and hi < delta else "inconclusive"
        rows.append(
            {"kind": kind, "mean_a": c.mean_a, "mean_b": c.mean_b, "diff": c.diff, "delta": delta}
            | {"p": p, "lo": lo, "hi": hi, "level": 1 - alpha, "verdict": verdict}
            | {"seeds": (c.n_seeds, c.n_seeds)}
        )
    return pd.DataFrame(rows)
