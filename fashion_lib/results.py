"""The papers' reported numbers beside ours: seed statistics and differences.

Generic over papers and tables (M3-Net Tables 2-4 now, FashionSAP's later):

- `paper_table(name)` reads ``fashion_lib/paper_tables/<name>.csv`` (never retyped numbers) into a
  DataFrame indexed by its first column (``model`` for M3-Net); `paper_tables()` lists the names.
- `seed_summary(df, by, value)` -> mean, std (ddof=1; 0 for one seed), min, max and seed count of
  `value` per group of `by` columns.
- `beside_paper(ours, paper, mapping)` puts our mean +/- std next to the paper's number and their
  difference (ours - paper), one row per (model, metric).

Claims are judged elsewhere: from per-query evidence paired across models and seeds
(`fashion_lib.stats`, `fashion_lib.judging`), never from these per-seed summaries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from fashion_lib.errors import ConfigError
from fashion_lib.paths import PAPER_TABLES_DIR

__all__ = [
    "beside_paper",
    "paper_table",
    "paper_tables",
    "seed_summary",
]


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
