"""Chapter 10's sizes, figures and sentences, so that its page shows only the measurements.

- `MeasureSizes` and `measure_sizes(profile)`: how much each measurement does (images rendered,
  steps timed, gallery sizes, queries, repeats); seconds in smoke, a few minutes in cpu; gpu and
  paper measure at the cpu sizes (their steps take longer, the repeats need not grow).
- `step_time_figure`, `eval_scaling_figure`, `chapter_cost_figure`: the chapter's three figures.
- `world_summary`, `step_summary`, `scaling_summary`, `chapter_summary`: the sentences that state
  the measured numbers (printed from the values, never typed).
- `budget_table`: the profile's time goals (`BUDGETS`) against the chapters' recorded times.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

__all__ = [
    "BUDGETS",
    "Budget",
    "MeasureSizes",
    "budget_table",
    "chapter_cost_figure",
    "chapter_summary",
    "eval_scaling_figure",
    "measure_sizes",
    "scaling_summary",
    "step_summary",
    "step_time_figure",
    "world_summary",
]


@dataclass(frozen=True)
class MeasureSizes:
    """How much chapter 10 measures in one profile.

    Attributes:
        world_images: images rendered and written per dataset and repeat.
        world_repeats: timed repeats of the proxy world's rates.
        steps: timed optimizer steps per model (after one warm-up step).
        galleries: gallery sizes of the evaluation's scaling, ascending.
        queries: queries per gallery.
        eval_repeats: timed repeats of the vectorised evaluation.
    """

    world_images: int
    world_repeats: int
    steps: int
    galleries: tuple[int, ...]
    queries: int
    eval_repeats: int


_SIZES = {
    "smoke": MeasureSizes(8, 3, 2, (100, 300, 1000, 3000), 30, 3),
    "cpu": MeasureSizes(60, 3, 5, (100, 300, 1000, 3000, 10000, 30000), 300, 3),
}


@dataclass(frozen=True)
class Budget:
    """A time goal: the chapters (by number) whose wall times it sums, whether the proxy world's
    generation counts too, and the goal in minutes."""

    part: str
    chapters: tuple[str, ...]
    minutes: float
    world: bool = False


#: The cpu book's goals on an idle 2-core machine, from an empty runs/ and no data. The whole book
#: also runs this chapter, the landing pages, the report, the scoreboard and the HTML build
#: after the chapters timed here (a few minutes; the README gives the measured total).
BUDGETS: dict[str, tuple[Budget, ...]] = {
    "cpu": (
        Budget("M3-Net (chapters 02-05)", ("02", "03", "04", "05"), 25.0),
        Budget("FashionSAP (chapters 06-09)", ("06", "07", "08", "09"), 35.0),
        Budget(
            "world and chapters 00-09",
            ("00", "01", "02", "03", "04", "05", "06", "07", "08", "09"),
            60.0,
            world=True,
        ),
    )
}


def budget_table(chapters: pd.DataFrame, profile: str, world_seconds: float) -> pd.DataFrame:
    """Each goal of `BUDGETS[profile]` against the recorded times (empty for a profile without).

    Args:
        chapters: `cost.chapter_costs` of the chapters before this one.
        profile: the profile the chapters ran under.
        world_seconds: the proxy world's generation time (NaN if unknown).

    Returns:
        Columns part, minutes (NaN unless every chapter of the part ran), goal (min), within goal.
    """
    number = chapters["chapter"].str.split("_", n=1).str[0]
    rows = []
    for budget in BUDGETS.get(profile, ()):
        part = chapters[number.isin(budget.chapters)]
        complete = bool(len(part)) and (part["status"] == "run").all()
        seconds = part["seconds"].sum() + (world_seconds if budget.world else 0.0)
        minutes = seconds / 60 if complete else np.nan
        rows.append(
            {
                "part": budget.part,
                "minutes": minutes,
                "goal (min)": budget.minutes,
                "within goal": "not measured"
                if np.isnan(minutes)
                else ("yes" if minutes <= budget.minutes else "no"),
            }
        )
    return pd.DataFrame(rows, columns=["part", "minutes", "goal (min)", "within goal"])


def measure_sizes(profile: str) -> MeasureSizes:
    """The sizes of `profile`'s measurements (gpu and paper: the cpu sizes)."""
    return _SIZES.get(profile, _SIZES["cpu"])


def step_time_figure(steps: pd.DataFrame) -> plt.Figure:
    """Median ms per optimizer step of every model, whiskers over the timed steps."""
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(steps) + 1))
    sns.barplot(data=steps, y="model", x="ms_per_step", hue="group", dodge=False, ax=ax)
    low = steps["ms_per_step"] - steps["ms_min"]
    high = steps["ms_max"] - steps["ms_per_step"]
    ax.errorbar(
        steps["ms_per_step"], np.arange(len(steps)), xerr=[low, high], fmt="none", ecolor="black"
    )
    ax.set(xlabel="CPU ms per optimizer step (median)", ylabel="")
    ax.legend(title="", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def eval_scaling_figure(scaling: pd.DataFrame) -> plt.Figure:
    """Evaluation time against gallery size (log-log) for both evaluations, and their ratio."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for column, label in (("vectorised_s", "vectorised (library)"), ("loop_s", "per-query loop")):
        left.plot(scaling["gallery"], scaling[column], marker="o", label=label)
    left.set(xscale="log", yscale="log", xlabel="gallery size", ylabel="CPU seconds")
    left.set_title(f"{int(scaling['queries'].iloc[0])} queries, k = 100")
    left.legend()
    right.plot(scaling["gallery"], scaling["speed_ratio"], marker="o", color="C2")
    right.axhline(1.0, color="grey", lw=1, ls="--")
    right.set(xscale="log", yscale="log", xlabel="gallery size", ylabel="loop / vectorised time")
    right.set_title("speed ratio")
    fig.tight_layout()
    return fig


def chapter_cost_figure(ran: pd.DataFrame) -> plt.Figure:
    """Wall time and peak memory of the chapters that ran (rows of `cost.chapter_costs`)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.35 * len(ran) + 1.2), sharey=True)
    sns.barplot(data=ran, y="chapter", x="seconds", color="C0", ax=axes[0])
    axes[0].set(xlabel="wall time (s)", ylabel="")
    if ran["peak_rss_mb"].notna().any():
        sns.barplot(data=ran, y="chapter", x="peak_rss_mb", color="C1", ax=axes[1])
        axes[1].set(xlabel="peak memory (MB)", ylabel="")
    else:
        axes[1].set_axis_off()
        axes[1].set_title("peak memory not recorded by this runner")
    fig.tight_layout()
    return fig


def world_summary(world: pd.DataFrame, repeats: int) -> str:
    """Rendering's share of the time, and the slowest and fastest format."""
    slow = world.loc[world["images_per_s"].idxmin()]
    fast = world.loc[world["images_per_s"].idxmax()]
    share = world["render_s"].sum() / (world["render_s"] + world["write_s"]).sum()
    return (
        f"Median of {repeats} repeats: rendering takes {100 * share:.0f}% of the time, writing "
        f"the rest. The slowest format is {slow['dataset']} ({slow['images_per_s']:.0f} "
        f"images/s), the fastest {fast['dataset']} ({fast['images_per_s']:.0f} images/s)."
    )


def step_summary(m3: pd.DataFrame, sap: pd.DataFrame) -> str:
    """M3-Net's step against ASEN's, and FashionSAP's full task mix against ITS + ITM."""
    rows = m3.set_index("model")["ms_per_step"]
    mixes = sap[sap["group"] == "FashionSAP pre-training"].set_index("model")["ms_per_step"]
    return (
        f"M3-Net's step costs {rows['M3-Net'] / rows['ASEN']:.1f}x ASEN's: on top of the "
        "attribute attention it runs a multi-label head and, for every (image, class) pair, the "
        "class-specific attention (SCA-C, CCA-C), then the prototype losses. Adding PTP, TRP and "
        "FSIS to ITS + ITM multiplies FashionSAP's pre-training step by "
        f"{mixes['pre-train full'] / mixes['pre-train albef']:.2f}: the tasks share one pass of "
        "the encoders and the fusion module, but add heads (PTP's prediction over the "
        "vocabulary, TRP's per-token classifier, FSIS's adapters), and PTP's prompts lengthen "
        "the text."
    )


def scaling_summary(scaling: pd.DataFrame) -> str:
    """The speed ratio at the largest and the smallest gallery, and the loop's growth."""
    largest, smallest = scaling.iloc[-1], scaling.iloc[0]
    slope = np.polyfit(np.log(scaling["gallery"]), np.log(scaling["loop_s"]), 1)[0]
    small = (
        "too few candidates for vectorisation to repay its fixed costs (a thread pool, the "
        "grouping by attribute, tensor conversions)"
        if smallest["speed_ratio"] < 1
        else "already enough candidates for vectorisation to pay off"
    )
    return (
        f"At the largest gallery ({int(largest['gallery']):,} candidates) the vectorised "
        f"evaluation takes {largest['vectorised_s']:.3f} CPU seconds and the loop "
        f"{largest['loop_s']:.3f}: a speed ratio of {largest['speed_ratio']:.1f}. At the "
        f"smallest ({int(smallest['gallery']):,}) the ratio is {smallest['speed_ratio']:.2f}: "
        f"{small}. The loop's time grows as gallery^{slope:.2f} on this grid."
    )


def chapter_summary(chapters: pd.DataFrame, profile: str) -> str:
    """How many earlier chapters ran under `profile`, their total time and the longest one."""
    ran = chapters[chapters["status"] == "run"]
    if ran.empty:
        return f"No chapter before this one was published under the {profile} profile."
    total = ran["seconds"].sum()
    top = ran.loc[ran["seconds"].idxmax()]
    return (
        f"{len(ran)} of {len(chapters)} earlier chapters ran under {profile}: {total:.0f} s in "
        f"all; the longest is {top['chapter']} ({top['seconds']:.0f} s, "
        f"{100 * top['seconds'] / total:.0f}%)."
    )
