"""Chapter 03's tables and the last-stage experiment, as calls a page shows in one line.

Every function reads run records (or runs a missing row first, through `m3net_runs`) and returns
a pandas object a chapter displays as it is; none trains anything `m3net_runs` would not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import seaborn as sns

from fashion_lib.evidence import PerQuery
from fashion_lib.experiments.backbone_pretrain import PretrainedBackbone
from fashion_lib.experiments.m3net_eval import untrained_references
from fashion_lib.experiments.m3net_runs import (
    DATASETS,
    ROWS,
    dataset_for,
    primary_relevance,
    row_evidence,
    run_row,
    run_settings,
    run_table,
)
from fashion_lib.experiments.m3net_settings import LAST_STAGE_EXPERIMENT, RunSettings
from fashion_lib.experiments.m3net_training import row_inputs
from fashion_lib.results import paper_table, seed_summary
from fashion_lib.stats import compare, delta_for, judge

__all__ = [
    "PAPER_RECIPE",
    "first_seed_curves",
    "last_stage_claims",
    "last_stage_reading",
    "loss_curves",
    "per_query_gap",
    "plateau_table",
    "recipe_table",
    "reference_table",
    "run_totals",
    "seed_overview",
    "selection_curves",
    "wall_times",
]

#: M3-Net's training recipe as Sec. 4.2 prints it.
PAPER_RECIPE = {
    "": "paper (M3-Net, Sec. 4.2)",
    "backbone": "ResNet-50 c4, ImageNet",
    "image px": 224,
    "backbone trained": "end to end",
    "triplets/epoch": 40_000,
    "epochs": "not stated",
    "triplets/step": 16,
    "lr": 1e-4,
    "decay/epoch": 0.975,
    "seeds": "1 (not stated)",
}


def recipe_table(settings: Mapping[str, RunSettings]) -> pd.DataFrame:
    """The paper's recipe beside each profile's (one column each)."""
    rows = [PAPER_RECIPE]
    for name, s in settings.items():
        small = s.backbone == "small_cnn"
        rows.append(
            {
                "": f"profile {name}",
                "backbone": f"{s.backbone} (width {s.backbone_width})" if small else s.backbone,
                "image px": s.image_size,
                "backbone trained": "frozen, cached maps" if s.frozen else "end to end",
                "triplets/epoch": s.triplets_per_epoch,
                "epochs": s.epochs,
                "triplets/step": s.batch_triplets,
                "lr": "chosen on validation" if len(s.lr_grid) > 1 else s.lr,
                "decay/epoch": s.lr_decay,
                "seeds": len(s.seeds),
                "worker processes": s.workers,
            }
        )
    return pd.DataFrame(rows).set_index("").T


def plateau_table(selection: pd.DataFrame, chosen: Mapping[str, float]) -> pd.DataFrame:
    """Validation MAP@all at 80% and 100% of the steps at each family's chosen rate.

    A run counts as trained to a plateau when the last fifth of its steps adds under one point;
    a chosen rate at the edge of its family's grid (lowest or highest) means a rate outside the
    grid might do better.
    """
    rows = []
    for family, lr in chosen.items():
        pick = (selection.family == family) & (selection.lr == lr)
        curve = selection[pick].sort_values("step")
        rows.append(
            {
                "family": family,
                "lr": f"{lr:g}",
                "inside the grid": bool(
                    selection[selection.family == family].lr.min()
                    < lr
                    < selection[selection.family == family].lr.max()
                ),
                "steps": int(curve.step.iloc[-1]),
                "MAP@all at 80%": curve.map_all.iloc[-2] if len(curve) > 1 else float("nan"),
                "MAP@all at 100%": curve.map_all.iloc[-1],
            }
        )
    table = pd.DataFrame(rows).set_index("family")
    table["gain in the last 20%"] = table["MAP@all at 100%"] - table["MAP@all at 80%"]
    table["plateau (< 1 point)"] = table["gain in the last 20%"] < 1.0
    return table


def seed_overview(results: pd.DataFrame) -> pd.DataFrame:
    """Overall MAP@all, MAP@100 and Recall@100 (mean ± std over seeds) per dataset and row.

    Args:
        results: `run_table` frames of the datasets, concatenated; each dataset is scored with
            its primary relevance (`primary_relevance`).
    """
    primary = results[
        (results.attribute == "overall")
        & (results.relevance == results.dataset.map(primary_relevance))
    ]
    parts = []
    for metric in ("map_all", "map_100", "recall_100"):
        s = seed_summary(primary, ["dataset", "model"], metric)
        s["metric"] = metric
        parts.append(s)
    summary = pd.concat(parts)
    pairs = zip(summary["mean"], summary["std"], strict=True)
    summary["mean ± std"] = [f"{m:.2f} ± {s:.2f}" for m, s in pairs]
    overview = summary.pivot_table(
        index=["dataset", "model"], columns="metric", values="mean ± std", aggfunc="first"
    )
    return overview.reindex(pd.MultiIndex.from_product([DATASETS, ROWS]))


def reference_table(profile: str, backbone: PretrainedBackbone) -> pd.DataFrame | None:
    """Overall metrics of the two untrained references per dataset; None unless frozen.

    The references are random vectors and the pooled map of the pre-trained backbone
    (`m3net_eval.untrained_references`); they need the cached maps of a frozen profile.
    """
    settings = run_settings(profile)
    if not settings.frozen:
        return None
    rows = []
    for dataset in DATASETS:
        data = dataset_for(profile, dataset)
        maps = row_inputs(data, data.split, settings, backbone)  # the rows' cached maps
        pooled = maps.float().mean(dim=(2, 3))  # (N, c)
        for name, overall in untrained_references(data, pooled).items():
            rows.append({"dataset": dataset, "reference": name, **overall})
    return pd.DataFrame(rows).set_index(["dataset", "reference"])


def first_seed_curves(profile: str) -> pd.DataFrame:
    """The logged total loss of the first seed of every row and dataset (long format)."""
    seed = run_settings(profile).seeds[0]
    curves = []
    for dataset in DATASETS:
        for model in ROWS:
            frame = pd.DataFrame(run_row(model, dataset, seed, profile).history)
            frame["model"], frame["dataset"] = model, dataset
            curves.append(frame[["step", "loss", "model", "dataset"]])
    return pd.concat(curves, ignore_index=True)


def wall_times(results: pd.DataFrame) -> pd.DataFrame:
    """Recorded training, evaluation and CPU seconds per row (summed over seeds) and dataset."""
    per_run = results.drop_duplicates(["dataset", "model", "seed"])
    columns = ["train_time_s", "eval_time_s", "cpu_time_s"]
    walls = per_run.groupby(["dataset", "model"], sort=False)[columns].sum()
    walls = walls.unstack("dataset")
    walls.loc["total"] = walls.sum()
    return walls


def run_totals(results: pd.DataFrame, seconds: Mapping[str, float]) -> pd.DataFrame:
    """Per dataset: recorded seconds, this notebook's seconds, runs reused out of all runs."""
    per_run = results.drop_duplicates(["dataset", "model", "seed"])
    by = per_run.groupby("dataset")
    recorded = by[["train_time_s", "eval_time_s"]].sum().sum(axis=1)
    table = pd.DataFrame(
        {
            "recorded train + eval (s)": recorded,
            "recorded CPU time (s)": by["cpu_time_s"].sum(),
            "this notebook (s)": pd.Series(seconds),
            "runs reused": by["reused"].sum(),
            "runs": by.size(),
        }
    )
    return table.reindex(list(DATASETS))


def per_query_gap(a: Sequence[PerQuery], b: Sequence[PerQuery]) -> list[PerQuery]:
    """Per seed, A's value minus B's on the same query (aligned by key)."""
    gaps = []
    for x, y in zip(a, b, strict=True):
        other = pd.Series(y.values, index=y.keys).reindex(x.keys).to_numpy()
        gaps.append(PerQuery(x.keys, x.values - other))
    return gaps


def last_stage_claims(profile: str) -> tuple[pd.DataFrame, float]:
    """The last-stage experiment judged: four claims on MAP@all, and the paper's margin.

    Trains (or reuses) the two rows of `LAST_STAGE_EXPERIMENT` with the backbone's last stage
    trained, and judges with the book's rule (paired hierarchical bootstrap, δ, Holm across the
    four claims): M3-Net beats the baseline frozen and with the last stage trained, the margin
    grows when the last stage trains, and M3-Net gains from training it.

    Returns:
        (verdicts indexed by claim, the paper's margin of M3-Net over the baseline in points).
    """
    dataset, (base, m3) = LAST_STAGE_EXPERIMENT
    group = f"{primary_relevance(dataset)}/ap_all"
    run_table(dataset, profile, rows=[base, m3], variant="last_stage")
    ev = {
        (model, variant): row_evidence(model, dataset, profile, group, variant=variant)
        for model in (base, m3)
        for variant in (None, "last_stage")
    }
    trained, frozen = "last_stage", None
    claims = {
        f"{m3} > {base}, frozen backbone": (ev[m3, frozen], ev[base, frozen]),
        f"{m3} > {base}, last stage trained": (ev[m3, trained], ev[base, trained]),
        "the margin grows when the last stage trains": (
            per_query_gap(ev[m3, trained], ev[base, trained]),
            per_query_gap(ev[m3, frozen], ev[base, frozen]),
        ),
        f"{m3}: last stage trained > frozen": (ev[m3, trained], ev[m3, frozen]),
    }
    verdicts = judge(
        [compare(a, b) for a, b in claims.values()],
        [">"] * len(claims),
        [delta_for("map_all")] * len(claims),
    )
    verdicts.insert(0, "claim (MAP@all, points)", list(claims))
    paper = paper_table(f"m3net_table3_{dataset.lower()}")["MAP@all overall"]
    columns = ["mean_a", "mean_b", "diff", "lo", "hi", "delta", "verdict", "seeds", "queries"]
    table = verdicts.set_index("claim (MAP@all, points)")[columns]
    return table, float(paper[m3] - paper[base])


def last_stage_reading(verdicts: pd.DataFrame, paper_margin: float) -> str:
    """What the last-stage verdicts say about the gap to the paper's margin, in words."""
    dataset, (base, m3) = LAST_STAGE_EXPERIMENT
    grows = verdicts.verdict.iloc[2]
    said = (
        f"paper's margin of {m3} over {base} on {dataset}: {paper_margin:.2f} points; ours "
        f"{verdicts['diff'].iloc[0]:.2f} (frozen) and {verdicts['diff'].iloc[1]:.2f} (last "
        f"stage trained). Does training the last stage widen the margin? {grows}. "
    )
    if grows == "held":
        return said + "Part of the gap to the paper's margin comes from the frozen backbone."
    if grows in ("no difference > δ", "reversed"):
        return said + (
            "Training the last stage does not widen the margin: the frozen backbone does not "
            "explain the gap to the paper's margin (the proxy world and the budget remain)."
        )
    return said + "The experiment cannot tell at this budget: the interval spans both answers."


def _line_panels(data: pd.DataFrame, y: str, hue: str, col: str, **style) -> sns.FacetGrid:
    """Lines of `y` against the step, one panel per `col` value, each with its own y axis."""
    facets = {"sharey": False}
    return sns.relplot(
        data=data, x="step", y=y, hue=hue, col=col, kind="line", facet_kws=facets, **style
    )


def selection_curves(selection: pd.DataFrame) -> sns.FacetGrid:
    """Validation MAP@all against the step, one panel per family, one line per rate."""
    grid = _line_panels(
        selection, "map_all", "lr", "family", marker="o", palette="viridis", height=3.0, aspect=1.1
    )
    grid.set_axis_labels("training step", "validation MAP@all (%)")
    return grid


def loss_curves(profile: str) -> sns.FacetGrid:
    """The training loss of the first seed of every row, one panel per dataset."""
    curves = first_seed_curves(profile)
    grid = _line_panels(curves, "loss", "model", "dataset", height=3.2, aspect=1.2)
    seed = run_settings(profile).seeds[0]
    grid.figure.suptitle(f"Training loss, seed {seed}, profile {profile}", y=1.03)
    return grid
