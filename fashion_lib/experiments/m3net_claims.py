"""M3-Net's claims of Sec. 4.3 (Tables 2-4) judged from per-query evidence paired across rows.

- ``M3Claim(dataset, a, b, metric, kind)``: "A > B" (or "A ~ B", within δ) on one overall column of
  the dataset's table; A and B are rows of ``m3net_settings.ROWS``.
- ``TABLE_CLAIMS``: the claims chapter 04 judges: M3-Net beats MODC and the ASEN family on every
  dataset (MAP@all; MODC also on MAP@100 and Recall@100), the ablation orderings the paper states
  per dataset, and DARN's "M3-Net is comparable to M3-Net_c" as an equivalence claim.
- ``judge_claims(claims, profile, load=row_evidence)``: every claim's per-query evidence (the
  dataset's primary relevance, `m3net_settings.primary_relevance`) through
  `judging.judge_entries` (Holm across the given claims) -> the table `claims.publish_claims` takes.

A query with no relevant candidate has no AP: its evidence is NaN and it is left out of both sides
(the tables count it as 0), so a claim's means can differ from the table's by a hair.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from fashion_lib.errors import ConfigError
from fashion_lib.evidence import PerQuery
from fashion_lib.experiments.m3net_runs import row_evidence
from fashion_lib.experiments.m3net_settings import ROWS, primary_relevance
from fashion_lib.judging import ClaimEntry, judge_entries
from fashion_lib.results import paper_table

__all__ = ["METRICS", "PAPER_TABLES", "TABLE_CLAIMS", "M3Claim", "judge_claims"]

#: The tables' overall columns -> (evidence metric, `stats.DELTAS` family).
METRICS = {
    "MAP@all overall": ("ap_all", "map"),
    "MAP@100 overall": ("ap_100", "map"),
    "Recall@100 overall": ("recall_100", "recall"),
}
#: Dataset -> (the paper's table, its transcription in ``paper_tables``).
PAPER_TABLES = {
    "DeepFashion": ("Table 2", "m3net_table2_deepfashion"),
    "FashionAI": ("Table 3", "m3net_table3_fashionai"),
    "DARN": ("Table 4", "m3net_table4_darn"),
}

#: (model, dataset, profile, group, seeds) -> one PerQuery per seed (`m3net_runs.row_evidence`).
Loader = Callable[..., list[PerQuery]]


@dataclass(frozen=True)
class M3Claim:
    """One claim on one overall column of a dataset's table."""

    dataset: str
    a: str
    b: str
    metric: str = "MAP@all overall"
    kind: str = ">"

    def __post_init__(self) -> None:
        unknown = [x for x in (self.a, self.b) if x not in ROWS]
        if unknown or self.metric not in METRICS or self.dataset not in PAPER_TABLES:
            raise ConfigError(f"not a claim on Tables 2-4: {self}")

    @property
    def text(self) -> str:
        return f"{self.a} {self.kind} {self.b}"


def _table_claims() -> tuple[M3Claim, ...]:
    baselines = ("MODC", "ASEN++", "ASENv2", "ASEN")
    ablations = {
        "DeepFashion": [("M3-Net", "M3-Net_c", ">"), ("M3-Net_c", "M3-Net_a", ">")],
        "FashionAI": [("M3-Net", "M3-Net_a", ">"), ("M3-Net", "M3-Net_c", ">")],
        "DARN": [("M3-Net_c", "M3-Net_a", ">"), ("M3-Net", "M3-Net_c", "~")],
    }
    claims = []
    for dataset in PAPER_TABLES:
        claims += [M3Claim(dataset, "M3-Net", b) for b in baselines]
        claims += [M3Claim(dataset, a, b, kind=k) for a, b, k in ablations[dataset]]
        claims += [M3Claim(dataset, "M3-Net", "MODC", m) for m in list(METRICS)[1:]]
    return tuple(claims)


TABLE_CLAIMS = _table_claims()


def judge_claims(
    claims: Sequence[M3Claim],
    profile: str,
    load: Loader = row_evidence,
    level: float = 0.95,
) -> pd.DataFrame:
    """Judge `claims` from the per-query evidence of the profile's seeds (Holm across them).

    Returns:
        `judging.judge_entries`' table plus ``dataset``, ready for `claims.publish_claims`.
    """
    entries = []
    for c in claims:
        evidence, family = METRICS[c.metric]
        group = f"{primary_relevance(c.dataset)}/{evidence}"
        source, table = PAPER_TABLES[c.dataset]
        paper = paper_table(table)
        entries.append(
            ClaimEntry(
                paper="M3-Net",
                source=f"{source}, {c.dataset}",
                claim=c.text,
                metric=c.metric,
                a=c.a,
                b=c.b,
                family=family,
                evidence_a=load(c.a, c.dataset, profile, group),
                evidence_b=load(c.b, c.dataset, profile, group),
                kind=c.kind,
                paper_a=float(paper.loc[c.a, c.metric]),
                paper_b=float(paper.loc[c.b, c.metric]),
            )
        )
    judged = judge_entries(entries, level)
    judged.insert(0, "dataset", [c.dataset for c in claims])
    return judged
