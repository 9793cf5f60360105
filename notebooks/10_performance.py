# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Performance and cost
#
# A reproduction is only useful if someone can afford to run it again. This chapter measures what
# the book costs on the machine that runs it: how fast the procedural world renders, how long one
# optimizer step of every model takes, how the evaluation's cost grows with the gallery, and the
# wall time and peak memory of every chapter. It also checks the one piece of the library whose
# only reason to exist is speed, the vectorised ranking metrics, against the plain per-query loop
# that anyone would write first: both must give the same numbers.
#
# Nothing here trains a model for the tables or writes a run record: models are built with random
# weights and stepped a few times, which is enough to time them (a step's time depends on shapes,
# not on weight values).

# %% [markdown]
# ## Learning objectives
#
# By the end of this chapter you can ...
#
# - time a piece of code the way the book does (warm-up, repeats, median, CPU time) with
#   `fashion_lib.analysis.cost`, and say why that is the right summary on a shared machine;
# - read the step times of M3-Net, its baselines and FashionSAP's pre-training task mixes and
#   downstream heads, and say which parts of each model cost the most;
# - explain why the vectorised evaluation equals the per-query loop value for value, ties
#   included, and where its speed comes from;
# - find the chapters that dominate the book's run time and memory.
#
# Symbols used: {term}`profile`, {term}`atelier`, {term}`MAP@all`, {term}`R@K`, {term}`ASEN`,
# {term}`MODC`, {term}`ITS`, {term}`ITM`, {term}`PTP`, {term}`TRP`, {term}`FSIS`, {term}`TMIR`.

# %% tags=["parameters"]
profile = "smoke"

# %%
# %matplotlib inline
import os
import platform
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from IPython.display import Markdown, display

from fashion_lib.analysis import cost
from fashion_lib.analysis.step_times import fashionsap_step_times, m3net_step_times, world_rates
from fashion_lib.book.runner import discover
from fashion_lib.profiles import get_profile
from fashion_lib.retrieval import evaluate_retrieval

settings = get_profile(profile)
# Sizes of the measurements, chosen so that the chapter takes seconds in smoke and a few minutes
# in cpu on the 2-core machine; gpu and paper measure at the cpu sizes (their models are larger,
# so their steps take longer, but the repeats need not grow).
MEASURE = {
    "smoke": {
        "world_images": 8,
        "world_repeats": 3,
        "steps": 2,
        "galleries": [100, 300, 1000, 3000],
        "queries": 30,
        "eval_repeats": 3,
    },
    "cpu": {
        "world_images": 60,
        "world_repeats": 3,
        "steps": 5,
        "galleries": [100, 300, 1000, 3000, 10000, 30000],
        "queries": 300,
        "eval_repeats": 3,
    },
}
size = MEASURE.get(profile, MEASURE["cpu"])
torch.set_num_threads(1)  # every measurement on one core: comparable, and fair to the loops
CLOCK = time.process_time  # CPU seconds of this kernel: robust to other jobs on the machine
torch.manual_seed(settings.seed)
sns.set_theme(style="whitegrid", context="notebook")
load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
print(
    f"profile: {settings.name}; {platform.processor() or platform.machine()}, "
    f"{os.cpu_count()} cores, torch threads {torch.get_num_threads()}, "
    f"load average {load:.1f} at the start"
)

# %% [markdown]
# ## How we time
#
# The machine that builds the book is shared, so a single measurement can be inflated by another
# process at any moment. Every figure below is therefore the **median** of several timed repeats,
# taken after untimed **warm-up** calls that pay for one-off costs (allocators, lazy imports, the
# first WordNet lookup). A median ignores a few disturbed repeats, where a mean would absorb them.
# And every measurement runs on one thread and reads the **CPU time** of the kernel's process
# (`time.process_time`) rather than the wall clock: on one thread the two are equal on an idle
# core, but only the wall clock grows while the process waits for a core that another job holds.
# (Section 4's chapter times are wall times: that is what a reader waits for.)
# `time_call(fn, repeats, warmup)` times a function; `time_steps(step, batches, steps, warmup)`
# times one call per batch and leaves the making of the batch out. Both return a `Timing` with
# every repeat's seconds, their median and the last call's return value.
#
# A small example: sorting a million random numbers with numpy.

# %%
rng = np.random.default_rng(settings.seed)
numbers = rng.random(1_000_000)
timing = cost.time_call(lambda: np.sort(numbers), repeats=5, warmup=1, clock=CLOCK)
print("repeats (ms):", [round(1000 * s, 1) for s in timing.seconds])
print(
    f"median {1000 * timing.median:.1f} ms; the result is sorted: {bool(np.all(np.diff(timing.value) >= 0))}"
)

# %% [markdown]
# ## 1. Generating the proxy world
#
# Chapter 01's *atelier* draws every image as a pure function of (seed, dataset, index), then
# writes it through the real dataset's writer: JPEG files and ASEN split files for DeepFashion,
# FashionAI and DARN, an HDF5 file for FashionGen, PNG files and JSON captions for FashionIQ. We
# time both halves separately, per dataset, in one process at the profile's image size. (`data
# make` renders in two worker processes while the main process writes, so a full world builds
# faster than these one-process rates suggest.)

# %%
world = world_rates(profile, size["world_images"], size["world_repeats"], clock=CLOCK)
world.round({"render_s": 3, "write_s": 3, "images_per_s": 1})

# %%
slowest = world.loc[world["images_per_s"].idxmin()]
fastest = world.loc[world["images_per_s"].idxmax()]
share = world["render_s"].sum() / (world["render_s"] + world["write_s"]).sum()
display(
    Markdown(
        f"Median of {size['world_repeats']} repeats: rendering takes {100 * share:.0f}% of the "
        f"time, writing the rest. The slowest format is {slowest['dataset']} "
        f"({slowest['images_per_s']:.0f} images/s), the fastest {fastest['dataset']} "
        f"({fastest['images_per_s']:.0f} images/s)."
    )
)

# %% [markdown]
# ## 2. One training step of every model
#
# M3-Net and its six comparison rows train on triplets (16 per step, 48 images); in the smoke and
# cpu profiles the proxy-pre-trained backbone is frozen and its feature maps are cached, so a step
# runs only what distinguishes the rows: attention modules, heads, prototypes, memories
# (`experiments.m3net_runs`). We step every row on DeepFashion, the dataset of M3-Net's main
# table. FashionSAP is stepped once per pre-training task mix (ITS + ITM, then PTP, TRP
# and FSIS added, and the CNN image encoder) and once per downstream head: retrieval fine-tuning,
# category and sub-category recognition, and text-modified image retrieval. Each model gets one
# untimed warm-up step, then the profile's number of timed steps, with the optimizer the book trains
# it with (Adam for M3-Net's rows, AdamW for FashionSAP).

# %%
m3 = m3net_step_times(profile, "DeepFashion", size["steps"], clock=CLOCK)
sap = fashionsap_step_times(profile, size["steps"], clock=CLOCK)
steps = pd.concat([m3, sap], ignore_index=True)
steps.round({"ms_per_step": 1, "ms_min": 1, "ms_max": 1})

# %% mystnb={"figure": {"caption": "Median CPU milliseconds per optimizer step of every model at the profile's sizes (one thread); the whiskers span the timed steps.", "name": "fig-step-times"}}
fig, ax = plt.subplots(figsize=(7, 0.32 * len(steps) + 1))
sns.barplot(data=steps, y="model", x="ms_per_step", hue="group", dodge=False, ax=ax)
ax.errorbar(
    steps["ms_per_step"],
    np.arange(len(steps)),
    xerr=[steps["ms_per_step"] - steps["ms_min"], steps["ms_max"] - steps["ms_per_step"]],
    fmt="none",
    ecolor="black",
    capsize=2,
)
ax.set(xlabel="CPU ms per optimizer step (median)", ylabel="")
ax.legend(title="", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
plt.show()

# %%
ratio = m3.set_index("model")["ms_per_step"]
mixes = sap[sap["group"] == "FashionSAP pre-training"].set_index("model")["ms_per_step"]
display(
    Markdown(
        f"M3-Net's step costs {ratio['M3-Net'] / ratio['ASEN']:.1f}x ASEN's: on top of the "
        f"attribute attention it runs a multi-label head and, for every (image, class) pair, the "
        f"class-specific attention (SCA-C, CCA-C), then the prototype losses. Adding PTP, "
        f"TRP and FSIS to ITS + ITM multiplies FashionSAP's pre-training step by "
        f"{mixes['pre-train full'] / mixes['pre-train albef']:.2f}: the tasks share one pass of "
        f"the encoders and the fusion module, but add heads (PTP's prediction over the vocabulary, "
        f"TRP's per-token classifier, FSIS's adapters), and PTP's prompts lengthen the text."
    )
)

# %% [markdown]
# ## 3. Evaluation cost as the gallery grows
#
# Retrieval metrics rank every candidate for every query. `fashion_lib.metrics.ranking_metrics`
# does it for a chunk of queries at once: one sort of the scores, a binary search for the rank
# of each relevant candidate, and sums by `bincount` (the exact stable sort takes over in rows
# whose relevant scores are tied). `fashion_lib.analysis.cost.reference_retrieval` is the plain
# way, one query at a time, as ASEN's `APScorer` does it:
#
# 1. compute the cosine similarity of the query to each candidate of its attribute;
# 2. sort the candidates by similarity, best first, ties by candidate index (a stable sort);
# 3. walk down the ranking, and at every relevant candidate add *hits so far / rank* to AP.
#
# Both must give the same numbers. To make "the same" exact rather than approximate, the test
# inputs are `exact_embeddings`: unit vectors whose cosines are exact in float32 and float64, so
# both evaluations see identical scores, and identical scores (ties) are genuine. A small example
# with coarse vectors, where ties are everywhere:

# %%
queries, candidates = cost.retrieval_problem(4, 40, attributes=2, values=3, seed=1, dim=8, levels=3)
fast = evaluate_retrieval(queries, candidates, k=5).per_query
slow = cost.reference_retrieval(queries, candidates, k=5)
for metric in ("ap_all", "ap_k", "recall_k"):
    np.testing.assert_allclose(fast[metric], slow[metric], rtol=0, atol=1e-12)
sims = cost.exact_embeddings(44, dim=8, seed=1, levels=3)
ties = sum(len(r) - len(np.unique(r)) for r in sims[:4] @ sims[4:].T)
print(f"{ties} of {4 * 40} query-candidate scores repeat a score of the same query")
pd.DataFrame(
    {f"{m} ({who})": v[m] for m in slow for who, v in (("vectorised", fast), ("loop", slow))}
).round(4)

# %% [markdown]
# Now the same comparison as the gallery grows on a log grid, with a fixed number of queries
# spread over three attributes (each query ranks the third of the gallery that shares its
# attribute). The vectorised time is the median of several repeats after a warm-up; the loop is
# timed once (it is deterministic and slow). `max_abs_diff` is the largest difference between the
# two evaluations' per-query values over all queries and metrics.

# %%
scaling = cost.eval_scaling(
    size["galleries"], size["queries"], size["eval_repeats"], k=100, clock=CLOCK
)
assert np.allclose(scaling["max_abs_diff"], 0.0, rtol=0, atol=1e-12), scaling
scaling

# %% mystnb={"figure": {"caption": "Evaluation CPU time against gallery size (log-log) for the vectorised metrics and the per-query loop, and their speed ratio.", "name": "fig-eval-scaling"}}
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
for column, label in (("vectorised_s", "vectorised (library)"), ("loop_s", "per-query loop")):
    left.plot(scaling["gallery"], scaling[column], marker="o", label=label)
left.set(xscale="log", yscale="log", xlabel="gallery size", ylabel="CPU seconds")
left.set_title(f"{size['queries']} queries, k = 100")
left.legend()
right.plot(scaling["gallery"], scaling["speed_ratio"], marker="o", color="C2")
right.axhline(1.0, color="grey", lw=1, ls="--")
right.set(xscale="log", yscale="log", xlabel="gallery size", ylabel="loop time / vectorised time")
right.set_title("speed ratio")
fig.tight_layout()
plt.show()

# %%
largest, smallest = scaling.iloc[-1], scaling.iloc[0]
slope = np.polyfit(np.log(scaling["gallery"]), np.log(scaling["loop_s"]), 1)[0]
small = (
    "too few candidates for vectorisation to repay its fixed costs (a thread pool, the grouping "
    "by attribute, tensor conversions)"
    if smallest["speed_ratio"] < 1
    else "already enough candidates for vectorisation to pay off"
)
display(
    Markdown(
        f"At the largest gallery ({int(largest['gallery']):,} candidates) the vectorised "
        f"evaluation takes {largest['vectorised_s']:.3f} CPU seconds and the loop "
        f"{largest['loop_s']:.3f}: a speed ratio of {largest['speed_ratio']:.1f}. At the "
        f"smallest ({int(smallest['gallery']):,}) the ratio is {smallest['speed_ratio']:.2f}: "
        f"{small}. The loop's time grows as gallery^{slope:.2f} on this grid."
    )
)

# %% [markdown]
# ## 4. What each chapter costs
#
# The runner (`python -m fashion_lib book run`) records every published chapter's wall time, and
# its peak memory (resident set size) where it measures it, in the notebook's metadata. We read the
# chapters published before this one under the same profile, from the folder the runner publishes
# into (`FASHION_BOOK_OUT`, else `book/executed/`). A chapter published under another profile,
# or not at all, is listed as not run. The timings the README cites are this table in the cpu
# profile.

# %%
THIS_CHAPTER = "10_performance"
earlier = [p.stem for p in discover() if p.stem < THIS_CHAPTER]
chapters = cost.chapter_costs(cost.book_out_dir(), profile, earlier)
chapters

# %% mystnb={"figure": {"caption": "Wall time and peak memory of every chapter run under this profile.", "name": "fig-chapter-costs"}}
ran = chapters[chapters["status"] == "run"]
if ran.empty:
    print(f"no chapter before this one was published under {profile} in {cost.book_out_dir()}")
else:
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
    plt.show()
    total = ran["seconds"].sum()
    top = ran.loc[ran["seconds"].idxmax()]
    print(
        f"{len(ran)} of {len(chapters)} earlier chapters ran under {profile}: {total:.0f} s in all; "
        f"the longest is {top['chapter']} ({top['seconds']:.0f} s, {100 * top['seconds'] / total:.0f}%)"
    )

# %% [markdown]
# > **Our choices.** Every measurement runs on one thread, so that the vectorised evaluation and
# > the single-threaded loop are compared on equal terms and the figures do not depend on how many
# > cores are free; the book's cpu runs use the profile's own thread counts. Step times use random
# > weights and random cached feature maps of the right shapes, and leave out the making of each
# > batch (reading images, tokenising, corrupting text), which the chapter times of section 4
# > include. M3-Net's rows are timed on DeepFashion only: a step is 16 triplets on every dataset;
# > only the number of attribute- and class-specific modules differs. ASEN++ is timed in its
# > second stage (both branches), the costlier of its two. The per-query loop uses numpy for the similarities and
# > the sort and plain Python for the walk down the ranking, as ASEN's `APScorer` does.

# %% [markdown]
# ## Exercises
#
# Each exercise asks for a prediction and has a try-it cell holding the one value to change. Write
# the prediction down, then open the **Solution**: the prediction and its reasoning in prose, and
# the code that measures what happens at the try-it value (in JupyterLab, change the value and run
# the solution's cells again). Each solution reuses the chapter's timing helpers at the sizes of
# section 3.
# %% [markdown] tags=["exercise"]
# ### Exercise 10.1: the cut-off k
#
# Evaluate the second-largest gallery of section 3 again with
# k = 10 instead of 100. Before you run it, predict: does the vectorised time change? Does the loop's?
# Do MAP@all values change? Then observe.

# %% tags=["try-it"]
try_k = 10  # the cut-off k (section 3: 100)

# %% [markdown] tags=["solution"]
# The vectorised path sorts every row whatever k is, and the loop walks the whole ranking for
# AP@all, so neither time should move by more than the noise; AP@all does not depend on k at all.

# %% tags=["solution"]
q_big, c_big = cost.retrieval_problem(size["queries"], size["galleries"][-2], seed=0)
for k in (100, try_k):
    t = cost.time_call(lambda k=k: evaluate_retrieval(q_big, c_big, k=k), 3, 1, CLOCK)
    overall = t.value.overall
    print(
        f"k={k:3d}: vectorised {t.median:.4f} s, MAP@all {overall['map_all']:.3f}, "
        f"MAP@k {overall['map_k']:.3f}"
    )

# %% [markdown] tags=["exercise"]
# ### Exercise 10.2: many ties
#
# Make the embeddings coarse (`dim=8, levels=3`), so that most scores
# are tied. Predict what happens to the vectorised time and whether the two evaluations still
# agree. Two effects pull in opposite directions: rows whose relevant scores are tied leave the
# binary-search path for a stable arg-sort of the whole row, but rows with few distinct values sort
# faster. Then observe which one wins.

# %% tags=["try-it"]
try_coarse = (8, 3)  # (dim, levels) of the coarse embeddings

# %% [markdown] tags=["solution"]
# Both evaluations still agree to the last bit: both rank tied candidates by index. The timing
# says which of the two effects wins on this machine.

# %% tags=["solution"]
n = size["galleries"][-2]
seconds = {}
for dim, levels in ((64, 127), try_coarse):
    q, c = cost.retrieval_problem(size["queries"], n, seed=0, dim=dim, levels=levels)
    t = cost.time_call(lambda q=q, c=c: evaluate_retrieval(q, c, k=100), 3, 1, CLOCK)
    ref = cost.reference_retrieval(q, c, k=100)
    diff = max(np.abs(t.value.per_query[m] - ref[m]).max() for m in ref)
    seconds[dim] = t.median
    print(f"dim={dim:2d}, levels={levels:3d}: vectorised {t.median:.4f} s, max |diff| {diff:.1e}")
print(f"coarse / fine time: {seconds[try_coarse[0]] / seconds[64]:.2f}")

# %% [markdown]
# ## Provenance

# %%
from fashion_lib.book.provenance import provenance_block

provenance_block(profile)
