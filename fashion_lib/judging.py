"""From paired per-query evidence to the table a chapter publishes: one path for every claim.

A chapter describes each claim as a `ClaimEntry` (who is compared, on what, with the per-query
evidence of every seed of both sides) and calls `judge_entries`, which runs `stats.compare` per
claim and one `stats.judge` across them (Holm over the entries given). The result has every column
`claims.publish_claims` checks and stores, so no chapter writes a verdict by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fashion_lib import stats
from fashion_lib.evidence import PerQuery

__all__ = ["ClaimEntry", "judge_entries"]


@dataclass(frozen=True)
class ClaimEntry:
    """One claim with its paired evidence (seed i of A pairs with seed i of B).

    Attributes:
        paper: "M3-Net" or "FashionSAP".
        source: the paper's table or figure, e.g. "Table 3, FashionAI".
        claim: the claim in words, e.g. "M3-Net > MODC".
        metric: what is compared, e.g. "MAP@all overall".
        a, b: the two sides' names.
        family: the metric family of `stats.DELTAS` (its δ).
        evidence_a, evidence_b: one `PerQuery` per seed of each side.
        kind: ">" (A beats B) or "~" (A and B within δ).
        paper_a, paper_b: the paper's numbers (NaN where it prints none).
    """

    paper: str
    source: str
    claim: str
    metric: str
    a: str
    b: str
    family: str
    evidence_a: list[PerQuery]
    evidence_b: list[PerQuery]
    kind: str = ">"
    paper_a: float = float("nan")
    paper_b: float = float("nan")


def judge_entries(entries: Sequence[ClaimEntry], level: float = 0.95) -> pd.DataFrame:
    """Every entry through `stats.compare`, then one `stats.judge` (Holm across them).

    Returns:
        One row per entry: paper, source, claim, metric, a, b, paper_a, paper_b, spread_a and
        spread_b (min, max of the per-seed means, NaN queries left out), then every column of
        `stats.judge`'s table (kind, mean_a, mean_b, diff, lo, hi, level, delta, p, verdict,
        seeds, queries, ...).
    """
    rows = []
    for e in entries:
        means = [
            [float(np.nanmean(q.values)) for q in side] for side in (e.evidence_a, e.evidence_b)
        ]
        rows.append(
            {"paper": e.paper, "source": e.source, "claim": e.claim, "metric": e.metric}
            | {"a": e.a, "b": e.b, "paper_a": e.paper_a, "paper_b": e.paper_b}
            | {"spread_a": (min(means[0]), max(means[0]))}
            | {"spread_b": (min(means[1]), max(means[1]))}
        )
    judged = stats.judge(
        [stats.compare(e.evidence_a, e.evidence_b) for e in entries],
        [e.kind for e in entries],
        [stats.delta_for(e.family) for e in entries],
        level,
    )
    ours = pd.DataFrame(rows)
    return pd.concat([ours.drop(columns=[c for c in judged if c in ours]), judged], axis=1)
