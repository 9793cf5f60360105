"""Verdicts on the papers' claims from per-query evidence paired across models and seeds.

The one rule every chapter and the scoreboard use (the book states it once, in the scoreboard's
section ``(verdict-rule)=``):

1. **The difference.** For a claim about models A and B on a metric, seed i of A is paired with
   seed i of B and query q with the same query (`fashion_lib.evidence.align`). A query undefined
   for either model in any seed (NaN, e.g. no relevant candidate) is dropped from that comparison
   and counted, so every seed averages the same queries. ``diff = mean_A - mean_B`` over seeds and
   queries.
2. **Its uncertainty: a paired, hierarchical bootstrap.** A replicate draws S seeds with
   replacement, then queries with replacement, and recomputes the difference. The same query
   draw serves A and B and every seed of the replicate, because all of them were scored on one
   test set: drawing queries afresh per seed would treat the seeds as if each had its own test
   set and shrink the test-set variance by the number of seeds. For a mean the bootstrap's
   variance has a closed form (its two parts: between-seed, and between-query given the seeds),
   so ``se`` is computed exactly rather than from random replicates; `compare` still draws
   ``n_boot`` replicates (``samples``) for plots and checks, with the query draw replaced by its
   normal approximation (thousands of queries).
3. **Few seeds.** The bootstrap's seed part is too small by a factor (S - 1) / S and its
   quantiles are too narrow for 5 seeds, so the seed part is scaled by S / (S - 1) (the query
   part by Q / (Q - 1)), and the interval is studentised: ``diff +/- t * se`` with Student's t
   at the Welch-Satterthwaite degrees of freedom ``df`` of the two parts (S - 1 when the seeds
   dominate, thousands when the queries do). With one seed the seed part cannot be estimated:
   the interval covers query sampling only, and the result says so (``note``).
4. **The verdict** is read off the interval and a stated margin δ (`DELTAS`, one per metric
   family). "A > B": *held* if the interval lies above 0, *reversed* if below 0, *no difference
   > δ* if it lies inside (-δ, δ), else *inconclusive* (held and reversed take precedence, so a
   held difference may still be smaller than δ: the table shows it). "A ~ B" (comparable) is an
   equivalence claim: *held* if the interval lies inside (-δ, δ), *not held* if it lies entirely
   beyond ±δ, else *inconclusive*; overlapping ranges are never evidence of equivalence.
5. **Many claims: Holm.** Each claim has one p-value, the smallest level at which its interval
   gives any decisive verdict (two-sided tests of ``diff = 0`` and of ``|diff| >= δ``, or of
   ``|diff| <= δ`` for "~"). Holm's step-down procedure across a family of claims gives each
   claim its own confidence level, and the interval at that level gives its verdict, so a claim
   is decisive exactly when its Holm-adjusted p-value is below 1 - the family level. A chapter
   calls `judge` on its claims (Holm across the claims it publishes in one section); the
   scoreboard re-applies `apply_holm` across all of a paper's claims from every chapter, from
   the ``diff``, ``se`` and ``df`` each ledger stores, so its verdicts can be more cautious than
   a chapter's.

What the interval covers: retraining with another seed of everything a seed changes, and drawing
another test set of the same size. It does not cover stages shared by all seeds (the proxy
pre-training and the feature cache in the cpu profile): chapters say so where it applies. The
shared query draw makes the bootstrap slightly conservative (it counts the seed-by-query
interaction twice, a term of order 1 / (S Q)). Holm's guarantee for decisions in several
directions (held, reversed, no difference) is the usual one for directional errors (Shaffer 1980).
Simulations with the cpu profile's counts (``tests/test_stats.py``: 5 seeds, 4,000 queries, AP
spread 30 points) find a true difference of δ in 80-94% of runs for seed-level spreads of a
model's mean of 0.4-0.3 points, and a false "held" in 2-4% with no true difference.

API:
    DELTAS; delta_for(metric) -> float
    compare(a, b, *, n_boot=2000, seed=0) -> Comparison   (PerQuery per seed, matched by key)
    compare_values(va, vb, *, n_boot=2000, seed=0) -> Comparison   ((S, Q) arrays, aligned)
    interval(diff, se, df, level) -> (lo, hi); verdict(kind, lo, hi, delta) -> str
    decisive_p(kind, diff, se, df, delta) -> float; holm(p) -> adjusted p
    holm_levels(p, level) -> per-claim confidence levels
    judge(comparisons, kinds, deltas, level=0.95) -> DataFrame (one row per claim)
    apply_holm(table, level=0.95) -> the table with lo, hi, level, p_holm, verdict recomputed
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from fashion_lib.errors import ConfigError
from fashion_lib.evidence import PerQuery, align

__all__ = [
    "DELTAS",
    "HELD",
    "INCONCLUSIVE",
    "KINDS",
    "NOT_HELD",
    "NO_DIFFERENCE",
    "REVERSED",
    "VERDICTS",
    "Comparison",
    "apply_holm",
    "compare",
    "compare_values",
    "decisive_p",
    "delta_for",
    "holm",
    "holm_levels",
    "interval",
    "judge",
    "verdict",
]

HELD, REVERSED, NO_DIFFERENCE = "held", "reversed", "no difference > δ"
NOT_HELD, INCONCLUSIVE = "not held", "inconclusive"
KINDS = {">": (HELD, REVERSED, NO_DIFFERENCE, INCONCLUSIVE), "~": (HELD, NOT_HELD, INCONCLUSIVE)}
VERDICTS = (HELD, REVERSED, NO_DIFFERENCE, NOT_HELD, INCONCLUSIVE)
ONE_SEED = "one seed: the interval covers query sampling only"

# δ in points (percent) per metric family: the smallest difference the book calls a difference.
# Every family below is a mean over queries (or samples, or maps) of a value in 0..100, and the
# papers print them to 0.01 and claim gains of a point or more, so one point is the margin for all.
# Ranks are not judged as means (one lost query would weigh hundreds of points): chapters turn
# them into R@k hits first (`fashion_lib.evidence.hits_at`), judged as "recall".
DELTAS: dict[str, float] = {
    "map": 1.0,  # MAP@all, MAP@k, class MAP: AP per query in percent
    "recall": 1.0,  # Recall@k, and R@k hits from ranks: 100 or 0 per query
    "accuracy": 1.0,  # CR / SCR correctness: 100 or 0 per sample
    "mass": 1.0,  # attention or Grad-CAM mass inside the named part, percent per map
}
_FAMILIES = (  # metric names as chapters spell them -> family (first match wins)
    (re.compile(r"rank"), None),
    (re.compile(r"macro"), None),
    (re.compile(r"\bm?ap\b|m?ap[@_ ]|^m?ap"), "map"),
    (re.compile(r"recall|\br@"), "recall"),
    (re.compile(r"acc|correct"), "accuracy"),
    (re.compile(r"mass"), "mass"),
)


def delta_for(metric: str) -> float:
    """δ of a metric, by its family (`DELTAS`): e.g. "map_all", "MAP@100", "R@10", "CR Acc".

    Raises:
        ConfigError: a rank or macro-averaged metric (not a mean over queries: judge R@k hits or
            per-sample accuracy instead), or a metric of no known family.
    """
    name = metric.lower()
    for pattern, family in _FAMILIES:
        if pattern.search(name):
            if family is None:
                raise ConfigError(
                    f"metric {metric!r} is not a mean over queries: judge R@k hits "
                    "(evidence.hits_at) or per-sample accuracy instead"
                )
            return DELTAS[family]
    raise ConfigError(f"metric {metric!r} has no δ; families: {', '.join(DELTAS)}")


@dataclass(frozen=True, eq=False)
class Comparison:
    """Paired evidence on the difference A - B (rule in the module docstring).

    Attributes:
        mean_a, mean_b: means over seeds and the kept queries; diff = mean_a - mean_b.
        se: standard error of diff (bootstrap variance, small-sample corrected).
        df: Welch-Satterthwaite degrees of freedom of se.
        p_value: two-sided p-value of "no difference" (diff = 0).
        n_seeds, n_queries: seeds per side, queries kept; n_dropped: queries dropped (NaN).
        samples: (n_boot,) bootstrap replicates of diff, for plots.
        note: "" or what the interval does not cover (one seed).
    """

    mean_a: float
    mean_b: float
    diff: float
    se: float
    df: float
    p_value: float
    n_seeds: int
    n_queries: int
    n_dropped: int
    samples: np.ndarray
    note: str


def _t_sf(x: float, df: float) -> float:
    """Two-sided tail probability 2 P(T > x) of Student's t, capped at 1."""
    return float(min(1.0, 2.0 * sps.t.sf(x, df)))


def compare(
    a: Sequence[PerQuery], b: Sequence[PerQuery], *, n_boot: int = 2000, seed: int = 0
) -> Comparison:
    """Compare A with B from seed-paired per-query evidence (queries matched by key).

    Args:
        a, b: seed i's evidence of A and of B at position i.
        n_boot: bootstrap replicates kept in ``samples`` (se does not depend on them).
        seed: seed of the replicates.

    Raises:
        ConfigError: different seed counts or query keys (`evidence.align`), or no query
            defined for both models in every seed.
    """
    _, va, vb = align(a, b)
    return compare_values(va, vb, n_boot=n_boot, seed=seed)


def compare_values(
    va: np.ndarray, vb: np.ndarray, *, n_boot: int = 2000, seed: int = 0
) -> Comparison:
    """`compare` on aligned values: (S, Q) arrays of A and B, seed i and query q paired.

    Raises:
        ConfigError: shapes differ, no query is defined for both models in every seed, or a
            single value per side remains (one seed, one query).
    """
    va, vb = np.atleast_2d(np.asarray(va, dtype=float)), np.atleast_2d(np.asarray(vb, dtype=float))
    if va.shape != vb.shape or va.ndim != 2:
        raise ConfigError(f"A {va.shape} and B {vb.shape} must both be (seeds, queries)")
    d = va - vb  # (S, Q)
    kept = ~np.isnan(d).any(axis=0)
    if not kept.any():
        raise ConfigError(f"none of the {d.shape[1]} queries is defined for A and B in every seed")
    va, vb, d = va[:, kept], vb[:, kept], d[:, kept]
    n_seeds, n_queries = d.shape
    if n_seeds == n_queries == 1:
        raise ConfigError("one seed and one value per side leave no variance to judge by")
    seed_means = d.mean(axis=1)  # (S,)
    cov = np.cov(d, ddof=0).reshape(n_seeds, n_seeds)  # between-query covariance of the seeds
    # exact moments of the bootstrap: seed counts c ~ Multinomial(S, 1/S), then one query draw
    seed_part = seed_means.var() / n_seeds  # Var_c(c.m / S)
    ones = np.ones(n_seeds)
    query_part = ((1 - 1 / n_seeds) * ones @ cov @ ones + np.trace(cov)) / n_seeds**2 / n_queries
    # small-sample corrections: unbiased variance within each stratum
    seed_part *= n_seeds / (n_seeds - 1) if n_seeds > 1 else 0.0
    query_part *= n_queries / (n_queries - 1) if n_queries > 1 else 0.0
    total = seed_part + query_part
    denominator = (seed_part**2 / (n_seeds - 1) if n_seeds > 1 else 0.0) + (
        query_part**2 / (n_queries - 1) if n_queries > 1 else 0.0
    )
    # with no variance at all (identical values) the interval is a point and df is immaterial
    df = float(total**2 / denominator) if denominator > 0 else float(max(n_queries - 1, 1))
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n_seeds, np.full(n_seeds, 1 / n_seeds), size=n_boot)  # (B, S)
    centre = counts @ seed_means / n_seeds
    spread = np.sqrt(np.einsum("bs,st,bt->b", counts, cov, counts) / n_seeds**2 / n_queries)
    diff, se = float(d.mean()), float(np.sqrt(total))
    return Comparison(
        mean_a=float(va.mean()),
        mean_b=float(vb.mean()),
        diff=diff,
        se=se,
        df=df,
        p_value=_t_sf(abs(diff) / se, df) if se > 0 else float(diff == 0),
        n_seeds=n_seeds,
        n_queries=n_queries,
        n_dropped=int((~kept).sum()),
        samples=centre + spread * rng.standard_normal(n_boot),
        note=ONE_SEED if n_seeds == 1 else "",
    )


def interval(diff: float, se: float, df: float, level: float) -> tuple[float, float]:
    """The two-sided `level` interval ``diff +/- t * se`` (Student's t with `df`)."""
    half = float(sps.t.ppf(0.5 + level / 2, df)) * se if se > 0 else 0.0
    return diff - half, diff + half


def verdict(kind: str, lo: float, hi: float, delta: float) -> str:
    """The verdict of an interval [lo, hi] on a claim of `kind` (">" or "~") with margin δ."""
    inside = -delta < lo and hi < delta
    if kind == ">":
        if lo > 0:
            return HELD
        if hi < 0:
            return REVERSED
        return NO_DIFFERENCE if inside else INCONCLUSIVE
    if kind == "~":
        if inside:
            return HELD
        return NOT_HELD if lo > delta or hi < -delta else INCONCLUSIVE
    raise ConfigError(f"claim kind {kind!r} is not one of {', '.join(KINDS)}")


def decisive_p(kind: str, diff: float, se: float, df: float, delta: float) -> float:
    """The smallest 1 - level at which the interval gives a decisive verdict (not inconclusive).

    Raises:
        ConfigError: an unknown kind.
    """
    if kind not in KINDS:
        raise ConfigError(f"claim kind {kind!r} is not one of {', '.join(KINDS)}")
    if se == 0:  # identical per-query values: the interval is the point diff
        return 0.0 if verdict(kind, diff, diff, delta) != INCONCLUSIVE else 1.0
    within = _t_sf((delta - abs(diff)) / se, df)  # interval inside (-δ, δ)
    if kind == ">":
        return min(_t_sf(abs(diff) / se, df), within)
    return min(within, _t_sf((abs(diff) - delta) / se, df))


def holm(p: Sequence[float]) -> np.ndarray:
    """Holm's adjusted p-values (step-down, in the input's order)."""
    p = np.asarray(p, dtype=float)
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (len(p) - np.arange(len(p))) * p[order])
    adjusted = np.empty_like(p)
    adjusted[order] = np.maximum.accumulate(scaled) if len(p) else scaled
    return adjusted


def holm_levels(p: Sequence[float], level: float = 0.95) -> np.ndarray:
    """Per-claim confidence levels whose intervals agree with Holm's decisions at `level`.

    The claim of rank k (1-based, by p) gets alpha / (m - k + 1) while Holm keeps rejecting, and
    every claim from the first that Holm keeps onwards gets the level at which Holm stopped.
    """
    p = np.asarray(p, dtype=float)
    m, alpha = len(p), 1 - level
    order = np.argsort(p, kind="stable")
    fails = (m - np.arange(m)) * p[order] >= alpha
    rejected = int(np.argmax(fails)) if fails.any() else m
    levels = np.empty(m)
    levels[order] = 1 - alpha / (m - np.minimum(np.arange(m), rejected))
    return levels


def apply_holm(table: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Holm across all rows of `table` (columns kind, diff, se, df, delta, p).

    Returns:
        A copy with lo, hi, level (each claim's own), p_holm and verdict recomputed.
    """
    out = table.copy()
    if out.empty:
        return out.assign(level=[], p_holm=[], lo=[], hi=[], verdict=[])
    out["level"] = holm_levels(out["p"].to_numpy(float), level)
    out["p_holm"] = holm(out["p"].to_numpy(float))
    bounds = [interval(r.diff, r.se, r.df, r.level) for r in out.itertuples()]
    out["lo"], out["hi"] = [b[0] for b in bounds], [b[1] for b in bounds]
    out["verdict"] = [verdict(r.kind, r.lo, r.hi, r.delta) for r in out.itertuples()]
    return out


def judge(
    comparisons: Sequence[Comparison],
    kinds: Sequence[str],
    deltas: Sequence[float],
    level: float = 0.95,
) -> pd.DataFrame:
    """Verdicts on a family of claims, with Holm across them.

    Args:
        comparisons: one `compare` result per claim, A - B.
        kinds: ">" (A better than B) or "~" (A comparable to B) per claim.
        deltas: δ per claim (`delta_for` of its metric).
        level: the family's confidence level.

    Returns:
        One row per claim, in order: kind, mean_a, mean_b, diff, se, df, delta, p (raw, see
        `decisive_p`), p_holm, lo, hi, level (the claim's own, after Holm), verdict, seeds (S, S),
        queries, dropped, note. A chapter adds paper, source, metric, a, b (and paper_a, paper_b)
        and hands the table to `fashion_lib.claims.publish_claims`.
    """
    if not len(comparisons) == len(kinds) == len(deltas):
        raise ConfigError("judge needs one kind and one δ per comparison")
    rows = [
        {
            "kind": kind,
            "mean_a": c.mean_a,
            "mean_b": c.mean_b,
            "diff": c.diff,
            "se": c.se,
            "df": c.df,
            "delta": float(delta),
            "p": decisive_p(kind, c.diff, c.se, c.df, float(delta)),
            "seeds": (c.n_seeds, c.n_seeds),
            "queries": c.n_queries,
            "dropped": c.n_dropped,
            "note": c.note,
        }
        for c, kind, delta in zip(comparisons, kinds, deltas, strict=True)
    ]
    columns = ["kind", "mean_a", "mean_b", "diff", "se", "df", "delta", "p", "p_holm"]
    columns += ["lo", "hi", "level", "verdict", "seeds", "queries", "dropped", "note"]
    return apply_holm(pd.DataFrame(rows), level).reindex(columns=columns)
