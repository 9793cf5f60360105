"""Chapter 08's tables: the paper beside our rows and chance, the protocol's scale, the errata.

- ``beside(name, profile)``: one row per (model, metric): paper, ours (mean ± std over seeds),
  difference (`results.beside_paper` on `fashionsap_runs.table`).
- ``paper_and_ours(name, profile)``: the paper's whole table, and a wide table of paper | ours |
  difference per metric for our rows (the linear reference row included) with a last row of what
  chance scores (`fashionsap_runs.chance`).
- ``subset_scaling(profile)``: the paper's subset protocol beside ours.
- ``same_subcategory(profile)``: percent of the subset negatives sharing the query's sub-category.
- ``printed_errata()``: the paper's Mean R@1 cells that are not the mean of their R@1 columns.
- ``verdict_counts(verdicts, profile)``: how many claims got which verdict, in one line.
- ``machinery_sentence(verdicts)``: what FashionSAP buys over the linear reference row, in words,
  from `fashionsap_claims.versus_reference`.
"""

from __future__ import annotations

import pandas as pd

from fashion_lib.experiments import fashionsap_eval as ev
from fashion_lib.experiments import fashionsap_runs as sap
from fashion_lib.experiments.backbone_pretrain import world_root
from fashion_lib.experiments.fashionsap_pretrain import fashiongen_split
from fashion_lib.experiments.fashionsap_tables import TABLES
from fashion_lib.results import beside_paper, paper_table

__all__ = [
    "beside",
    "machinery_sentence",
    "paper_and_ours",
    "printed_errata",
    "same_subcategory",
    "subset_scaling",
    "verdict_counts",
]

CHANCE_ROW = "chance (ours)"


def beside(name: str, profile: str) -> pd.DataFrame:
    """The paper's numbers beside our mean ± std over seeds, one row per (model, metric)."""
    spec = TABLES[name]
    ours = sap.table(name, profile)
    side = beside_paper(ours, paper_table(spec.paper), {c: c for c in spec.columns})
    side["ours"] = side["ours_mean"].map("{:.2f}".format) + " ± "
    side["ours"] += side["ours_std"].map("{:.2f}".format)
    return side


def paper_and_ours(name: str, profile: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The paper's table, and paper | ours | difference per metric with a chance row."""
    side = beside(name, profile)
    wide = side.pivot(index="model", columns="metric", values=["paper", "ours", "difference"])
    metrics = list(dict.fromkeys(side["metric"]))
    chance = sap.chance(name, profile)
    for m in metrics:
        wide.loc[CHANCE_ROW, ("ours", m)] = f"{chance[m]:.2f}" if chance[m] == chance[m] else ""
    order = [(k, m) for m in metrics for k in ("paper", "ours", "difference")]
    rows = [*TABLES[name].rows, CHANCE_ROW]
    return paper_table(TABLES[name].paper), wide.reindex(index=rows, columns=order)


def subset_scaling(profile: str) -> pd.DataFrame:
    """The subset protocol's queries, negatives and draws: the paper's and this profile's."""
    s = sap.sap_settings(profile)
    split = fashiongen_split(str(world_root(profile)), "validation")
    products = len(split.products())
    per_sub = pd.Series(ev.product_labels(split)[:, 0].numpy()).value_counts()
    return pd.DataFrame(
        {
            "paper": [1000, 100, 5, "FashionGen validation (about 32.5k images)"],
            "ours": [
                min(s.subset_queries, products),
                min(s.subset_negatives, products - 1),
                s.subset_draws,
                f"{len(split)} images of {products} products, {len(per_sub)} sub-categories "
                f"(median {int(per_sub.median())} products each)",
            ],
        },
        index=["queries per draw", "negatives per query", "draws", "validation set"],
    )


def same_subcategory(profile: str) -> pd.DataFrame:
    """Mean over seeds of the percent of subset negatives that share the query's sub-category."""
    rows = sap.table("table2", profile)[["model", "variant", "seed"]]
    rows["same sub-category (%)"] = [
        sap.evaluate_retrieval(v, s, profile)["subset/same_subcategory"]
        if v in sap.VARIANTS
        else float("nan")
        for v, s in zip(rows["variant"], rows["seed"], strict=True)
    ]
    return rows.groupby("variant")[["same sub-category (%)"]].mean().round(1).dropna()


def printed_errata() -> pd.DataFrame:
    """Rows of Tables 2-3 whose printed Mean R@1 is not the mean of I2T and T2I R@1 (beyond
    rounding to two decimals)."""
    errata = []
    for name in ("table2", "table3"):
        paper = paper_table(TABLES[name].paper)
        recomputed = (paper["I2T R@1"] + paper["T2I R@1"]) / 2
        off = (recomputed - paper["Mean R@1"]).abs() > 0.0051
        errata += [
            {
                "table": name,
                "model": model,
                "printed Mean R@1": paper.loc[model, "Mean R@1"],
                "mean of I2T and T2I R@1": recomputed[model],
            }
            for model in paper.index[off]
        ]
    return pd.DataFrame(errata)


def machinery_sentence(verdicts: pd.DataFrame) -> str:
    """FashionSAP against the linear reference row, per metric and in one conclusion."""
    parts = [
        f"{r.source}, {r.metric}: {r.mean_a:.1f} against {r.mean_b:.1f} (difference "
        f"{r.diff:+.1f} points, interval [{r.lo:+.1f}, {r.hi:+.1f}]: {r.verdict})"
        for r in verdicts.itertuples()
    ]
    held = verdicts["verdict"] == "held"
    if held.all():
        end = (
            "FashionSAP beats the linear reference on every task: this is what its fusion "
            "layers, pre-training tasks and fine-tuning buy over a linear map of the same frozen "
            "features and a bag of words."
        )
    elif not held.any():
        end = (
            "FashionSAP beats the linear reference on no task: on this profile its fusion layers, "
            "pre-training tasks and fine-tuning buy nothing over a linear map of the same frozen "
            "features and a bag of words, so its numbers measure an under-trained model, not the "
            "method, and the claims below compare under-trained models."
        )
    else:
        won = ", ".join(f"{r.source} {r.metric}" for r in verdicts[held].itertuples())
        end = (
            f"FashionSAP beats the linear reference only on {won}; elsewhere its machinery buys "
            "nothing measurable over a linear map of the same frozen features and a bag of words."
        )
    return "; ".join(parts) + ". " + end


def verdict_counts(verdicts: pd.DataFrame, profile: str) -> str:
    """ "**held**: 3, **inconclusive**: 12 of 15 claim-metric pairs (profile, seeds, level)"."""
    counts = verdicts["verdict"].value_counts()
    seeds = list(sap.sap_settings(profile).seeds)
    return (
        ", ".join(f"**{k}**: {n}" for k, n in counts.items())
        + f" of {len(verdicts)} claim-metric pairs ({profile} profile, seeds {seeds}, "
        f"{verdicts['level'].iloc[0]:.1%} intervals after Holm)."
    )
