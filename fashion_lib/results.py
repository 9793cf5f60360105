"""The papers' reported numbers beside ours: seed statistics, differences and claim verdicts.

Generic over papers and tables (M3-Net Tables 2-4 now, FashionSAP's later):

- `paper_table(name)` reads ``fashion_lib/paper_tables/<name>.csv`` (never retyped numbers) into a
  DataFrame indexed by its first column (``model`` for M3-Net); `paper_tables()` lists the names.
- `seed_summary(df, by, value)` -> mean, std (ddof=1; 0 for one seed), min, max and seed count of
  `value` per group of `by` columns.
- `beside_paper(ours, paper, mapping)` puts our mean +/- std next to the paper's number and their
  difference (ours - paper), one row per (model, metric).
- `verdict(a, b)` judges an ordering claim "A > B" from the per-seed values of A and B.

Verdict rule (stated in the book): with mean m and spread [min, max] over seeds,
  "held"          if m_A > m_B and the spreads do not overlap (min_A > max_B),
  "not held"      if the spreads do not overlap the other way (max_A < min_B),
  "inconclusive"  if the spreads overlap or touch (including ties), since then the order of the
                  means could flip with another seed.
With one seed per side the spread is the value itself, so the rule reduces to a strict comparison.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fashion_lib.errors import ConfigError
from fashion_lib.paths import PAPER_TABLES_DIR

__all__ = [
    "HELD",
    "INCONCLUSIVE",
    "NOT_HELD",
    "ClaimVerdict",
    "beside_paper",
    "claim_table",
    "paper_table",
    "paper_tables",
    "seed_summary",
    "verdict",
]

HELD, NOT_HELD, INCONCLUSIVE = "held", "not held", "inconclusive"


def paper_tables() -> list[str]:
    """Names of the transcribed tables (CSV stems in ``fashion_lib/paper_tables``)."""
    return sorted(p.stem for p in PAPER_TABLES_DIR.glob("*.csv"))


def paper_table(name: str) -> pd.DataFrame:
    """One reported table, indexed by its first column (values in percent, as printed).

    Args:
        name: a CSV stem, e.g. ``"m3net_table2_deepfashion"``.

    Raises:
        ConfigError: no such table (the message lists the names).
    """
    path = PAPER_TABLES_DIR / f"{name}.csv"
    if not path.is_file():
        raise ConfigError(
            f"unknown paper table {name!r}; choose one of {', '.join(paper_tables())}"
        )
    table = pd.read_csv(path)
    return table.set_index(table.columns[0])


def seed_summary(df: pd.DataFrame, by: Sequence[str], value: str) -> pd.DataFrame:
    """Mean, std (ddof=1, 0 for one seed), min, max and count of `value` per `by` group.

    Args:
        df: long-format results, one row per seed (e.g. ``m3net_runs.run_table`` filtered).
        by: grouping columns, e.g. ["model", "attribute"].
        value: the metric column.

    Returns:
        A DataFrame with columns `by` + mean, std, min, max, seeds.
    """
    grouped = df.groupby(list(by), sort=False)[value]
    out = grouped.agg(["mean", "min", "max", "count"]).rename(columns={"count": "seeds"})
    out["std"] = grouped.std(ddof=1).fillna(0.0)
    return out[["mean", "std", "min", "max", "seeds"]].reset_index()


def beside_paper(
    ours: pd.DataFrame, paper: pd.DataFrame, mapping: Mapping[str, str], model_col: str = "model"
) -> pd.DataFrame:
    """Our seed means next to the paper's numbers, with the difference.

    Args:
        ours: long-format results with `model_col` and one column per metric of `mapping`.
        paper: a `paper_table` (indexed by model).
        mapping: our metric column -> the paper table's column (e.g. "map_all" -> "MAP@all
            overall").
        model_col: the model column of `ours`.

    Returns:
        One row per (model, metric): model, metric, paper, ours_mean, ours_std, seeds,
        difference (ours_mean - paper; NaN where the paper has no number).
    """
    rows = []
    for ours_col, paper_col in mapping.items():
        if paper_col not in paper.columns:
            raise ConfigError(f"the paper table has no column {paper_col!r}")
        summary = seed_summary(ours, [model_col], ours_col)
        for _, s in summary.iterrows():
            reported = paper[paper_col].get(s[model_col], np.nan)
            rows.append(
                {
                    "model": s[model_col],
                    "metric": paper_col,
                    "paper": float(reported),
                    "ours_mean": s["mean"],
                    "ours_std": s["std"],
                    "seeds": int(s["seeds"]),
                    "difference": s["mean"] - float(reported),
                }
            )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class ClaimVerdict:
    """The verdict on "A > B" with the evidence."""

    claim: str
    verdict: str
    mean_a: float
    mean_b: float
    spread_a: tuple[float, float]
    spread_b: tuple[float, float]
    seeds: tuple[int, int]


def verdict(a: Sequence[float], b: Sequence[float]) -> str:
    """Judge "A > B" from per-seed values (rule in the module docstring).

    Raises:
        ValueError: a side has no values or a value is not finite.
    """
    va, vb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if va.size == 0 or vb.size == 0 or not (np.isfinite(va).all() and np.isfinite(vb).all()):
        raise ValueError("verdict needs at least one finite value per side")
    if va.min() > vb.max():
        return HELD
    if va.max() < vb.min():
        return NOT_HELD
    return INCONCLUSIVE


def claim_table(
    df: pd.DataFrame,
    claims: Sequence[tuple[str, str]],
    value: str,
    model_col: str = "model",
) -> pd.DataFrame:
    """Verdicts of several "A > B" claims on one metric of long-format per-seed results.

    Args:
        df: rows of one metric context (e.g. one dataset, relevance and attribute), one per seed.
        claims: (A, B) model pairs, each read as "A > B".
        value: the metric column.
        model_col: the model column.

    Returns:
        One row per claim: claim, verdict, mean_a, mean_b, spread_a, spread_b, seeds.
    """
    rows = []
    for a, b in claims:
        va = df.loc[df[model_col] == a, value].to_numpy(float)
        vb = df.loc[df[model_col] == b, value].to_numpy(float)
        if va.size == 0 or vb.size == 0:
            raise ConfigError(f"no results for {a if va.size == 0 else b!r} in column {model_col}")
        rows.append(
            ClaimVerdict(
                claim=f"{a} > {b}",
                verdict=verdict(va, vb),
                mean_a=float(va.mean()),
                mean_b=float(vb.mean()),
                spread_a=(float(va.min()), float(va.max())),
                spread_b=(float(vb.min()), float(vb.max())),
                seeds=(va.size, vb.size),
            ).__dict__
        )
    return pd.DataFrame(rows)
