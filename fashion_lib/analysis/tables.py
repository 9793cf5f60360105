"""Our per-seed results in the layout of M3-Net's Tables 2-4, beside the printed numbers.

``run_table`` (``fashion_lib.experiments.m3net_runs``) returns long-format rows (model, seed,
relevance, attribute, map_all, map_100, recall_100). The paper prints one row per model with
MAP@all per attribute, then overall MAP@all, MAP@100 and Recall@100. ``paper_layout`` pivots our
rows into exactly those columns (mean and standard deviation over seeds), so that ``difference``
and ``relative_gain`` can be taken cell by cell against ``fashion_lib.results.paper_table``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "PaperLayout",
    "attribute_column",
    "difference",
    "mean_pm_std",
    "paper_layout",
    "relative_gain",
]

OVERALL = {
    "map_all": "MAP@all overall",
    "map_100": "MAP@100 overall",
    "recall_100": "Recall@100 overall",
}


@dataclass(frozen=True)
class PaperLayout:
    """Our results pivoted into a paper table's columns.

    Attributes:
        mean: models x paper columns, mean over seeds (percent).
        std: the same shape, standard deviation over seeds (ddof=1; 0 for one seed).
        seeds: seeds per model.
    """

    mean: pd.DataFrame
    std: pd.DataFrame
    seeds: pd.Series


def attribute_column(attribute: str) -> str:
    """The paper's column for one of our attribute names ("skirt_length" -> "MAP@all skirt
    length", "texture-related" -> "MAP@all texture")."""
    return "MAP@all " + attribute.replace("_", " ").removesuffix("-related")


def paper_layout(
    long: pd.DataFrame, relevance: str, attributes: Sequence[str], models: Sequence[str]
) -> PaperLayout:
    """Pivot long-format per-seed rows into the paper's table layout.

    Args:
        long: rows of ``run_table`` for one dataset.
        relevance: "single" or "multi".
        attributes: the dataset's attribute names, in table order.
        models: row order.

    Returns:
        A ``PaperLayout``.
    """
    rows = long[long["relevance"] == relevance]
    per_attr = rows[rows["attribute"].isin(attributes)].assign(
        column=lambda d: d["attribute"].map(attribute_column), value=lambda d: d["map_all"]
    )
    overall = rows[rows["attribute"] == "overall"].melt(
        id_vars=["model", "seed"], value_vars=list(OVERALL), var_name="metric"
    )
    overall["column"] = overall["metric"].map(OVERALL)
    both = pd.concat([per_attr[["model", "seed", "column", "value"]], overall])
    grouped = both.groupby(["model", "column"])["value"]
    columns = [attribute_column(a) for a in attributes] + list(OVERALL.values())
    mean = grouped.mean().unstack().reindex(index=list(models), columns=columns)
    std = grouped.std(ddof=1).fillna(0.0).unstack().reindex(index=list(models), columns=columns)
    seeds = rows[rows["attribute"] == "overall"].groupby("model")["seed"].nunique()
    return PaperLayout(mean, std, seeds.reindex(list(models)))


def mean_pm_std(layout: PaperLayout, digits: int = 2) -> pd.DataFrame:
    """String cells "mean ± std" of a layout (for display), with a seeds column."""
    text = (
        layout.mean.map(lambda v: f"{v:.{digits}f}")
        + " ± "
        + layout.std.map(lambda v: f"{v:.{digits}f}")
    )
    return text.assign(seeds=layout.seeds)


def difference(ours: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Ours - paper, cell by cell on the shared models and columns (NaN where either is missing)."""
    return ours - paper.reindex(index=ours.index, columns=ours.columns).astype(float)


def relative_gain(table: pd.DataFrame, model: str, baseline: str) -> pd.Series:
    """Relative gain 100 * (model / baseline - 1) of every column, as the paper quotes them."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return 100.0 * (table.loc[model].astype(float) / table.loc[baseline].astype(float) - 1.0)
