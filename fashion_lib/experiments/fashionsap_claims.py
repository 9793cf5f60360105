"""FashionSAP's claims judged from per-query evidence paired across models and seeds.

- ``SAPClaim(table, claim, a, b, metric)``: "A > B" on one column of a reproduced table
  (`fashionsap_tables.TABLES`; A and B are the table's row names).
- ``claim_evidence(table, column, variant, profile, seeds, load=None)``: the per-query values behind one
  table cell, one `PerQuery` per seed: R@k hits (0/100) from the stored ranks (a "Mean" column
  pools its parts with `fashionsap_eval.balanced`), per-image correctness for CR/SCR.
- ``judge_claims(claims, profile, seeds=None, load=None)``: every claim through `stats.compare` and one
  `stats.judge` (Holm across the given claims, `judging.judge_entries`) -> the ledger table
  `claims.publish_claims` takes.
- ``gradcam_evidence(scores, variant, kind, seeds)``: Grad-CAM scores as `PerQuery`s, for evidence
  a chapter measures itself and judges with `fashion_lib.judging.judge_entries`.
- ``results_claims(main_encoder, resnet_encoder)``: the claims of Tables 2-5 (chapter 08).
- ``versus_reference(profile, seeds=None, load=None)``: FashionSAP against the linear reference row
  (`fashionsap_reference`) on one headline column per task (``VERSUS_REFERENCE``), judged as one
  family of its own: what the machinery buys. The paper makes no such claim; not for the ledger.

The default loader reads the reference row's evidence from `fashionsap_reference` and every other
variant's from `fashionsap_runs.variant_evidence`.

Macro-F is a ratio over classes, not a mean over images, so a claim on a Macro-F column is judged
on per-image accuracy, and the ledger's metric says so. δ comes from `stats.delta_for`
per metric family (`FAMILIES`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fashion_lib.data.taxonomy import FASHIONIQ_CATEGORIES
from fashion_lib.errors import ConfigError
from fashion_lib.evidence import PerQuery, hits_at
from fashion_lib.experiments import fashionsap_reference as reference
from fashion_lib.experiments.fashionsap_eval import balanced
from fashion_lib.experiments.fashionsap_runs import sap_settings, variant_evidence
from fashion_lib.experiments.fashionsap_tables import ABLATION, REFERENCE_ROW, TABLES
from fashion_lib.judging import ClaimEntry, judge_entries
from fashion_lib.results import paper_table

__all__ = [
    "FAMILIES",
    "VERDICT_COLUMNS",
    "VERSUS_REFERENCE",
    "SAPClaim",
    "claim_evidence",
    "gradcam_evidence",
    "judge_claims",
    "paper_value",
    "results_claims",
    "versus_reference",
]

#: The columns a chapter shows of a judged table.
VERDICT_COLUMNS = ["claim", "metric", "mean_a", "mean_b", "diff", "lo", "hi", "delta", "p"]
VERDICT_COLUMNS += ["verdict", "seeds"]
#: Metric family of each evidence source, for `stats.delta_for`.
FAMILIES = {"retrieval": "recall", "tmir": "recall", "cr": "accuracy", "scr": "accuracy"}

#: (variant, task, profile, group, seeds) -> one PerQuery per seed (`fashionsap_runs`).
Loader = Callable[[str, str, str, str, Sequence[int]], list[PerQuery]]
#: (table, column) of each task's headline metric, for `versus_reference`.
VERSUS_REFERENCE = (
    ("table2", "Mean R@1"),
    ("table3", "Mean R@1"),
    ("table4", "Mean R@10"),
    ("table5", "CR Acc"),
    ("table5", "SCR Acc"),
)


def load_evidence(
    variant: str, task: str, profile: str, group: str, seeds: Sequence[int]
) -> list[PerQuery]:
    """The default `Loader`: the reference row's runs or a FashionSAP variant's."""
    if variant == reference.REFERENCE:
        return reference.reference_evidence(task, profile, group, seeds)
    return variant_evidence(variant, task, profile, group, seeds)


@dataclass(frozen=True)
class SAPClaim:
    """The paper's claim "A > B" on one column of one of our tables (A, B: its row names)."""

    table: str
    claim: str
    a: str
    b: str
    metric: str


def _by_category(ranks: PerQuery, category: str) -> PerQuery:
    """The TMIR queries of one category (keys "<category>|...")."""
    keep = np.char.startswith(ranks.keys.astype(str), f"{category}|")
    return PerQuery(ranks.keys[keep], ranks.values[keep])


def claim_evidence(
    table: str,
    column: str,
    variant: str,
    profile: str,
    seeds: Sequence[int],
    load: Loader | None = None,
) -> tuple[list[PerQuery], str]:
    """Per-seed per-query values of one column of `table` for `variant`, and the metric family.

    `load` reads one evidence group over seeds (default `load_evidence`, which runs whatever is
    missing).
    """
    load = load or load_evidence
    spec = TABLES[table]
    if column not in spec.columns:
        raise ConfigError(f"{table} has no column {column!r}; choose one of {list(spec.columns)}")
    source, key = spec.columns[column]
    if source == "retrieval":
        direction, k = key.split("_r")
        parts = ("i2t", "t2i") if direction == "mean" else (direction,)
        ranks = {
            d: load(variant, source, profile, f"{spec.protocol}/{d}_rank", seeds) for d in parts
        }
        values = [
            balanced({d: hits_at(ranks[d][i], int(k)) for d in parts}) for i in range(len(seeds))
        ]
    elif source in ("cr", "scr"):
        values = load(variant, source, profile, f"{source}/correct", seeds)
    else:
        category, k = key.split("/r")
        parts = FASHIONIQ_CATEGORIES if category == "mean" else (category,)
        ranks = load(variant, source, profile, "tmir/rank", seeds)
        values = [balanced({c: hits_at(_by_category(r, c), int(k)) for c in parts}) for r in ranks]
    return values, FAMILIES[source]


def paper_value(table: str, row: str, column: str) -> float:
    """The paper's number in a table cell (NaN where it prints none); Table 6 rows are variants."""
    paper = paper_table(TABLES[table].paper)
    if table == "table6":
        paper = paper.reset_index()
        match = (paper[["ptp", "trp", "fsis"]].to_numpy() == ABLATION[row]).all(axis=1)
        return float(paper.loc[match, column].iloc[0])
    return float(paper[column].get(row, float("nan")))


def judged_metric(table: str, column: str) -> str:
    """The metric name in the ledger: the column, or how a Macro-F column is judged."""
    if TABLES[table].columns[column][1] == "macro_f":
        return f"{column} (judged on per-image accuracy)"
    return column


def judge_claims(
    claims: Sequence[SAPClaim],
    profile: str,
    seeds: Sequence[int] | None = None,
    load: Loader | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Judge table claims from their per-query evidence (`judge_entries`) over `seeds` (default:
    the profile's)."""
    seeds = sap_settings(profile).seeds if seeds is None else seeds
    entries = []
    for c in claims:
        rows = TABLES[c.table].rows
        (ea, family), (eb, _) = (
            claim_evidence(c.table, c.metric, rows[side], profile, seeds, load)
            for side in (c.a, c.b)
        )
        entries.append(
            ClaimEntry(
                paper="FashionSAP",
                source=f"Table {c.table.removeprefix('table')}",
                claim=c.claim,
                metric=judged_metric(c.table, c.metric),
                a=c.a,
                b=c.b,
                family=family,
                evidence_a=ea,
                evidence_b=eb,
                paper_a=paper_value(c.table, c.a, c.metric),
                paper_b=paper_value(c.table, c.b, c.metric),
            )
        )
    return judge_entries(entries, level)


def gradcam_evidence(
    scores: pd.DataFrame, variant: str, kind: str, seeds: Sequence[int]
) -> list[PerQuery]:
    """Grad-CAM mass inside the part (percent) per map, one `PerQuery` per seed.

    Args:
        scores: `analysis.gradcam.gradcam_scores` rows with ``variant`` and ``seed`` columns.
        kind: "word" (key "<row>|<word>|<part>|<occurrence>") or "caption" (key "<row>").
    """
    out = []
    for seed in seeds:
        part = scores[(scores["variant"] == variant) & (scores["seed"] == seed)]
        part = part[part["kind"] == kind]
        occurrence = part.groupby(["row", "word", "part"]).cumcount().astype(str)
        keys = part["row"].astype(str)
        if kind == "word":
            keys = keys + "|" + part["word"] + "|" + part["part"] + "|" + occurrence
        out.append(PerQuery(keys.to_numpy(str), 100.0 * part["mass"].to_numpy(float)))
    return out


def results_claims(main_encoder: str, resnet_encoder: str | None) -> list[SAPClaim]:
    """The paper's claims on Tables 2-5, with the two image encoders' names (chapter 08).

    Without a second image encoder family (``resnet_encoder`` None: the cpu profile trains no
    "full_r50" row) the three claims on the ResNet row are left out: the chapter says so.
    """
    sap, albef, r50 = "FashionSAP", "ALBEF [17]", "FashionSAP(Resnet50)"
    vit = f"{main_encoder} beats {resnet_encoder}"
    claims = []
    for table, protocol in (("table2", "subset"), ("table3", "full")):
        claims += [
            SAPClaim(
                table, f"FashionSAP beats the ALBEF-style baseline ({protocol})", sap, albef, m
            )
            for m in ("Mean R@1", "I2T R@1", "T2I R@1")
        ]
        claims.append(SAPClaim(table, f"{vit} ({protocol})", sap, r50, "Mean R@1"))
    claims.insert(
        4, SAPClaim("table2", "FashionSAP(Resnet50) beats ALBEF (subset)", r50, albef, "Mean R@1")
    )
    if resnet_encoder is None:
        claims = [c for c in claims if r50 not in (c.a, c.b)]
    baseline = "ALBEF-style (ours)"
    claims += [
        SAPClaim("table4", "FashionSAP beats the baseline on TMIR", sap, baseline, m)
        for m in ("Mean R@10", "Mean R@50")
    ]
    claims += [
        SAPClaim("table5", "FashionSAP beats the baseline on CR/SCR", sap, baseline, m)
        for m in ("CR Acc", "CR Macro-F", "SCR Acc", "SCR Macro-F")
    ]
    return claims


def versus_reference(
    profile: str, seeds: Sequence[int] | None = None, load: Loader | None = None
) -> pd.DataFrame:
    """ "FashionSAP > the linear reference row" on every `VERSUS_REFERENCE` column, paired per
    query and seed and judged as one family (Holm across these claims only)."""
    claims = [
        SAPClaim(table, f"FashionSAP beats the linear reference ({column})", "FashionSAP",
                 REFERENCE_ROW, column)
        for table, column in VERSUS_REFERENCE
    ]  # fmt: skip
    return judge_claims(claims, profile, seeds, load)
