"""Chapter 07's tables and curves, read from FashionSAP's pre-training run records.

Each function turns the `SAPRun`s a chapter holds into one pandas frame it displays as it is: the
warm-ups, the variants with their held-out metrics, the per-task loss curves (each variant drawn
after its warm-up's last step), the validation curves (full-protocol mean R@1) with their plateau
check, FSIS's matched and mismatched symbol-image cosines, the wall time of every run, and what
trivial predictors score on the held-out batches.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

import pandas as pd
import seaborn as sns
import torch

from fashion_lib.data.masking import IGNORE, TextBatch
from fashion_lib.experiments.fashionsap_pretrain import SAPRun
from fashion_lib.experiments.fashionsap_settings import VARIANTS, SAPSettings
from fashion_lib.experiments.fashionsap_train import build_pretrain_model
from fashion_lib.results import seed_summary

__all__ = [
    "TASKS",
    "WARMUP_OF",
    "cost_frame",
    "cost_sentence",
    "fsis_cosines",
    "loss_curves",
    "loss_grid",
    "metric_summary",
    "plateau_check",
    "plateau_sentence",
    "runs_frame",
    "settings_overview",
    "trivial_scores",
    "validation_curves",
    "warmup_frame",
]

#: The loss terms of Eq. 11 in the order the curves show them.
TASKS = ("its", "itm", "ptp", "trp", "fsis")
#: The history column of the validation curve (`fashionsap_train.curve_point`).
CURVE = "val_mean_r1"


def warmup_frame(warmups: Mapping[str, SAPRun]) -> pd.DataFrame:
    """One row per warm-up: held-out metrics, steps, wall time, reuse, config hash and commit."""
    rows = {
        name: {
            **run.metrics,
            "steps": run.history[-1]["step"],
            "wall s": run.wall_time_s,
            "reused": run.reused,
            "config": run.record.config_hash[:12] if run.record else None,
            "commit": run.record.git_commit if run.record else None,
        }
        for name, run in warmups.items()
    }
    return pd.DataFrame(rows).T


def runs_frame(pretrained: Mapping[tuple[str, int], SAPRun]) -> pd.DataFrame:
    """One row per (variant, seed): reuse, wall time, config hash and the held-out metrics."""
    return pd.DataFrame(
        [
            {
                "variant": variant,
                "seed": seed,
                "reused": run.reused,
                "wall_s": run.wall_time_s,
                "config": run.record.config_hash[:12] if run.record else None,
                **run.metrics,
            }
            for (variant, seed), run in pretrained.items()
        ]
    )


def metric_summary(runs: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """Every metric of `runs_frame` per variant as "mean ± std" over seeds (blank: not measured).

    Returns:
        Rows: metrics; columns: variants in the order of `runs`; cells are strings.
    """
    info = {"variant", "seed", "reused", "wall_s", "config"}
    metrics = [c for c in runs.columns if c not in info]
    long = runs.melt(["variant", "seed"], metrics, var_name="metric").dropna()
    summary = seed_summary(long, ["variant", "metric"], "value")
    summary["cell"] = [f"{m:.{digits}f} ± {s:.{digits}f}" for m, s in zip(
        summary["mean"], summary["std"], strict=True
    )]  # fmt: skip
    table = summary.pivot(index="metric", columns="variant", values="cell")
    variants = list(dict.fromkeys(runs["variant"]))
    return table.reindex(columns=variants).fillna("")


def _curve_rows(variant: str, seed: int, run: SAPRun, offset: int) -> list[dict]:
    return [
        {"variant": variant, "seed": seed, "step": offset + h["step"], "task": t, "loss": h[t]}
        for h in run.history
        for t in TASKS
        if t in h
    ]


def settings_overview(settings: SAPSettings) -> tuple[pd.DataFrame, list[str]]:
    """The profile's training stages as a table, and the facts of the model it builds: registry
    name, image encoder per variant, input sizes, momentum and queue, seeds, untrained variants."""
    stages = ("warmup", "pretrain", "retrieval", "recognition", "tmir")
    table = pd.DataFrame({n: dataclasses.asdict(getattr(settings, n)) for n in stages}).T
    encoders = {
        v: build_pretrain_model(settings, VARIANTS[v]).config.image_encoder
        for v in settings.variants
    }
    built = build_pretrain_model(settings, VARIANTS["albef"]).config
    facts = [
        f"model {settings.model}, image encoders {encoders}",
        f"{settings.image_size} px, text <= {settings.max_text_length} tokens",
        f"momentum {built.momentum}, queues of {built.queue_size} rows",
        f"seeds {settings.seeds}",
    ]
    missing = sorted(set(VARIANTS) - set(settings.variants))
    if missing:
        facts.append(f"not trained on this profile: {missing} (see the decision below)")
    return table, facts


def loss_grid(curves: pd.DataFrame) -> sns.FacetGrid:
    """One panel per task of `loss_curves`, one line per variant (band: min to max over seeds)."""
    grid = sns.relplot(
        curves,
        x="step",
        y="loss",
        hue="variant",
        kind="line",
        col="task",
        col_wrap=3,
        height=2.6,
        aspect=1.3,
        errorbar=("pi", 100),
        facet_kws={"sharey": False},
    )
    return grid.set_titles("{col_name}")


#: The warm-up each variant continues (the names chapter 07 gives `sap.warmup`'s runs).
WARMUP_OF = {v: "ResNet" if spec.cnn else "main" for v, spec in VARIANTS.items()}


def loss_curves(
    warmups: Mapping[str, SAPRun],
    pretrained: Mapping[tuple[str, int], SAPRun],
    warmup_of: Mapping[str, str] = WARMUP_OF,
) -> pd.DataFrame:
    """Long frame (variant, seed, step, task, loss) of every logged step of every run.

    Args:
        warmups: warm-up name -> its run.
        pretrained: (variant, seed) -> its run.
        warmup_of: variant -> the name of the warm-up it continues; its steps are counted after
            that warm-up's last step.
    """
    rows = []
    for label, seed, run, offset in _runs_in_order(warmups, pretrained, warmup_of):
        rows += _curve_rows(label, seed, run, offset)
    return pd.DataFrame(rows)


def _runs_in_order(warmups, pretrained, warmup_of):
    """(label, seed, run, step offset) of every warm-up, then every variant after its warm-up."""
    for name, run in warmups.items():
        yield f"warm-up ({name})", 0, run, 0
    for (variant, seed), run in pretrained.items():
        yield variant, seed, run, warmups[warmup_of[variant]].history[-1]["step"]


def validation_curves(
    warmups: Mapping[str, SAPRun],
    pretrained: Mapping[tuple[str, int], SAPRun],
    warmup_of: Mapping[str, str] = WARMUP_OF,
) -> pd.DataFrame:
    """Long frame (variant, seed, step, val_mean_r1) of every measured curve point; the variants'
    steps are counted after their warm-up's last step (arguments as `loss_curves`)."""
    rows = [
        {"variant": label, "seed": seed, "step": offset + h["step"], "val_mean_r1": h[CURVE]}
        for label, seed, run, offset in _runs_in_order(warmups, pretrained, warmup_of)
        for h in run.history
        if CURVE in h
    ]
    return pd.DataFrame(rows)


def _last_share(curve: pd.DataFrame, last: float) -> dict[str, float]:
    """The steps and R@1 of one curve at the start of its last `last` share of steps and at its end."""
    curve = curve.sort_values("step")
    first, end = curve["step"].iloc[0], curve["step"].iloc[-1]
    before = curve[curve["step"] <= end - last * (end - first) + 1e-9].iloc[-1]
    final = curve.iloc[-1]
    return {
        "from step": int(before["step"]),
        "to step": int(final["step"]),
        "R@1 then": before["val_mean_r1"],
        "R@1 at end": final["val_mean_r1"],
    }


def plateau_check(curves: pd.DataFrame, last: float = 0.2, gain: float = 1.0) -> pd.DataFrame:
    """Has each variant of `validation_curves` reached a plateau: did its last `last` share of
    steps add less than `gain` points of validation mean R@1, on its curve averaged over seeds?

    A variant is judged on the mean of its seeds: one seed's curve moves by about a point
    between neighbouring points even when flat, as much as the margin itself; the per-seed
    gains are listed beside it.

    Returns:
        One row per variant: the number of seeds, the steps and the seed-mean R@1 at the start of
        the last share and at the end, their difference (``added``), the smallest and largest
        per-seed difference, and ``plateau`` (True when ``added`` is below `gain`).
    """
    per_seed = pd.DataFrame(
        [
            {"variant": variant, **_last_share(curve, last)}
            for (variant, _), curve in curves.groupby(["variant", "seed"], sort=False)
        ]
    )
    per_seed["added"] = per_seed["R@1 at end"] - per_seed["R@1 then"]
    check = per_seed.groupby("variant", sort=False).agg(
        **{
            "seeds": ("added", "size"),
            "from step": ("from step", "first"),
            "to step": ("to step", "first"),
            "R@1 then": ("R@1 then", "mean"),
            "R@1 at end": ("R@1 at end", "mean"),
            "added": ("added", "mean"),
            "added, seed min": ("added", "min"),
            "added, seed max": ("added", "max"),
        }
    )
    check["plateau"] = check["added"] < gain
    return check.reset_index()


def plateau_sentence(check: pd.DataFrame) -> str:
    """`plateau_check` in one sentence: every variant flat, or which are still climbing."""
    climbing = check[~check["plateau"]]
    if climbing.empty:
        return "Every run reached its plateau (seed means)."
    names = ", ".join(
        f"{v} (+{a:.1f} points)" for v, a in climbing[["variant", "added"]].itertuples(index=False)
    )
    return f"Still climbing in the last fifth of their steps (seed means): {names}."


def fsis_cosines(pretrained: Mapping[tuple[str, int], SAPRun]) -> pd.DataFrame:
    """Long frame (variant, seed, step, pair, cosine) of the FSIS variants' symbol-image cosines
    on validation pairs: "matched" (a symbol and its own image) and "mismatched" (a symbol and
    the images of other symbols), at every curve point."""
    pairs = {"fsis_cos_matched": "matched", "fsis_cos_mismatched": "mismatched"}
    rows = [
        {"variant": variant, "seed": seed, "step": h["step"], "pair": name, "cosine": h[key]}
        for (variant, seed), run in pretrained.items()
        for h in run.history
        for key, name in pairs.items()
        if key in h
    ]
    return pd.DataFrame(rows, columns=["variant", "seed", "step", "pair", "cosine"])


def cost_frame(warmups: Mapping[str, SAPRun], runs: pd.DataFrame) -> pd.DataFrame:
    """Wall time of every run: the warm-ups, then each (variant, seed) row of `runs_frame`."""
    warm = [{"run": f"warm-up {k}", "wall_s": r.wall_time_s} for k, r in warmups.items()]
    names = runs["variant"] + " seed " + runs["seed"].astype(str)
    frames = [pd.DataFrame(warm), runs.assign(run=names)[["run", "wall_s"]]]
    return pd.concat(frames, ignore_index=True)


def cost_sentence(cost: pd.DataFrame, profile: str) -> str:
    """The chapter's total training time in one Markdown sentence (from `cost_frame`)."""
    total = cost["wall_s"].sum() / 60
    return f"Total training time of this chapter: **{total:.1f} min** ({profile} profile)."


def trivial_scores(texts: Iterable[TextBatch]) -> pd.Series:
    """What trivial predictors score (%) on held-out text: TRP's majority, PTP's commonest token.

    Returns:
        TRP always answering "not replaced" over real tokens, and PTP always answering the most
        frequent blanked prompt token.
    """
    texts = list(texts)
    trp = torch.cat([t.trp_labels[t.trp_labels != IGNORE] for t in texts])
    blanks = torch.cat([t.mlm_labels[(t.mlm_labels != IGNORE) & t.prompt_mask] for t in texts])
    most = torch.bincount(blanks).max().item() if len(blanks) else 0
    scores = {
        "TRP: always 'not replaced'": 100 * (trp == 0).float().mean().item(),
        "PTP: always the most frequent blanked token": 100 * most / max(1, len(blanks)),
    }
    return pd.Series(scores, name="percent")
