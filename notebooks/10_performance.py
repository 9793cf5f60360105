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

# %% tags=["hide-input"]
# %matplotlib inline
import os
import platform
import time
from functools import partial

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from IPython.display import Markdown, display

from fashion_lib.analysis import cost
from fashion_lib.analysis import cost_pages as pages
from fashion_lib.analysis.step_times import (
    fashionsap_step_times,
    m3net_step_times,
    world_rates,
)
from fashion_lib.book.runner import discover
from fashion_lib.profiles import get_profile
from fashion_lib.retrieval import evaluate_retrieval

settings = get_profile(profile)
size = pages.measure_sizes(profile)  # seconds in smoke, minutes in cpu
torch.set_num_threads(1)  # one core: comparable, and fair to the loops
CLOCK = time.process_time  # this kernel's CPU seconds: robust to other jobs
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
timing = cost.time_call(partial(np.sort, numbers), 5, warmup=1, clock=CLOCK)
print("repeats (ms):", [round(1000 * s, 1) for s in timing.seconds])
ordered = bool(np.all(np.diff(timing.value) >= 0))
print(f"median {1000 * timing.median:.1f} ms; the result is sorted: {ordered}")

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
world = world_rates(profile, size.world_images, size.world_repeats, clock=CLOCK)
world.round({"render_s": 3, "write_s": 3, "images_per_s": 1})

# %% tags=["hide-input"]
display(Markdown(pages.world_summary(world, size.world_repeats)))

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
m3 = m3net_step_times(profile, "DeepFashion", size.steps, clock=CLOCK)
sap = fashionsap_step_times(profile, size.steps, clock=CLOCK)
steps = pd.concat([m3, sap], ignore_index=True)
steps.round({"ms_per_step": 1, "ms_min": 1, "ms_max": 1})

# %% mystnb={"figure": {"caption": "Median CPU milliseconds per optimizer step of every model at the profile's sizes (one thread); the whiskers span the timed steps.", "name": "fig-step-times"}}
pages.step_time_figure(steps)
plt.show()

# %% tags=["hide-input"]
display(Markdown(pages.step_summary(m3, sap)))

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
coarse = dict(attributes=2, values=3, seed=1, dim=8, levels=3)
queries, candidates = cost.retrieval_problem(4, 40, **coarse)
fast = evaluate_retrieval(queries, candidates, k=5).per_query
slow = cost.reference_retrieval(queries, candidates, k=5)
for metric in ("ap_all", "ap_k", "recall_k"):
    np.testing.assert_allclose(fast[metric], slow[metric], rtol=0, atol=1e-12)
sims = cost.exact_embeddings(44, dim=8, seed=1, levels=3)
ties = sum(len(r) - len(np.unique(r)) for r in sims[:4] @ sims[4:].T)
print(f"{ties} of {4 * 40} query-candidate scores repeat one of the query's")
both = (("vectorised", fast), ("loop", slow))
pd.DataFrame({f"{m} ({who})": v[m] for m in slow for who, v in both}).round(4)

# %% [markdown]
# Now the same comparison as the gallery grows on a log grid, with a fixed number of queries
# spread over three attributes (each query ranks the third of the gallery that shares its
# attribute). The vectorised time is the median of several repeats after a warm-up; the loop is
# timed once (it is deterministic and slow). `max_abs_diff` is the largest difference between the
# two evaluations' per-query values over all queries and metrics.

# %%
grid = (size.galleries, size.queries, size.eval_repeats)
scaling = cost.eval_scaling(*grid, k=100, clock=CLOCK)
assert np.allclose(scaling["max_abs_diff"], 0.0, rtol=0, atol=1e-12), scaling
scaling

# %% mystnb={"figure": {"caption": "Evaluation CPU time against gallery size (log-log) for the vectorised metrics and the per-query loop, and their speed ratio.", "name": "fig-eval-scaling"}}
pages.eval_scaling_figure(scaling)
plt.show()

# %% tags=["hide-input"]
display(Markdown(pages.scaling_summary(scaling)))

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
earlier = [p.stem for p in discover() if p.stem < "10_performance"]
chapters = cost.chapter_costs(cost.book_out_dir(), profile, earlier)
chapters

# %% mystnb={"figure": {"caption": "Wall time and peak memory of every chapter run under this profile.", "name": "fig-chapter-costs"}}
ran = chapters[chapters["status"] == "run"]
if not ran.empty:
    pages.chapter_cost_figure(ran)
    plt.show()

# %% tags=["hide-input"]
display(Markdown(pages.chapter_summary(chapters, profile)))

# %% [markdown]
# The cpu profile has time goals for an idle 2-core machine, from an empty `runs/` and no data:
# each paper's chapters, and the proxy world with every chapter up to this one (this chapter,
# the landing pages, the report, the scoreboard and the HTML build add a few minutes, which the
# README adds to the total). Other profiles have none, and the table is empty.

# %%
pages.budget_table(chapters, profile, cost.world_seconds(profile)).round(1)

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
# Evaluate the second-largest gallery of section 3 again with k = 10 instead of 100.
# **Predict**: does the vectorised time change? Does the loop's? Do the MAP@all values change?

# %% tags=["try-it"]
try_k = 10  # the cut-off k (section 3: 100)

# %% [markdown] tags=["solution"]
# **Prediction.** Neither time moves by more than the noise, and MAP@all stays the same.
#
# **Reasoning.** The vectorised path sorts every row whatever k is, and the loop walks the whole
# ranking for AP@all; AP@all does not depend on k at all, only MAP@k does.

# %% tags=["solution"]
q_big, c_big = cost.retrieval_problem(size.queries, size.galleries[-2], seed=0)
evaluate = partial(evaluate_retrieval, q_big, c_big)
for k in (100, try_k):
    t = cost.time_call(partial(evaluate, k=k), 3, 1, CLOCK)
    overall = t.value.overall
    print(
        f"k={k:3d}: vectorised {t.median:.4f} s, "
        f"MAP@all {overall['map_all']:.3f}, "
        f"MAP@k {overall['map_k']:.3f}"
    )

# %% [markdown] tags=["exercise"]
# ### Exercise 10.2: many ties
#
# Make the embeddings coarse (`dim=8, levels=3`), so that most scores are tied. **Predict** what
# happens to the vectorised time and whether the two evaluations still agree. Two effects pull in
# opposite directions: rows whose relevant scores are tied leave the binary-search path for a
# stable arg-sort of the whole row, but rows with few distinct values sort faster.

# %% tags=["try-it"]
try_coarse = (8, 3)  # (dim, levels) of the coarse embeddings

# %% [markdown] tags=["solution"]
# **Prediction.** Both evaluations still agree to the last bit; the time may go either way.
#
# **Reasoning.** Both rank tied candidates by index, so ties cannot split them. The timing says
# which of the two effects wins on this machine.

# %% tags=["solution"]
n = size.galleries[-2]
seconds = {}
for dim, levels in ((64, 127), try_coarse):
    shape = dict(seed=0, dim=dim, levels=levels)
    q, c = cost.retrieval_problem(size.queries, n, **shape)
    t = cost.time_call(partial(evaluate_retrieval, q, c, k=100), 3, 1, CLOCK)
    ref = cost.reference_retrieval(q, c, k=100)
    diff = max(np.abs(t.value.per_query[m] - ref[m]).max() for m in ref)
    seconds[(dim, levels)] = t.median
    print(f"dim={dim:2d}, levels={levels:3d}: {t.median:.4f} s, max |diff| {diff:.1e}")
print(f"coarse / fine time: {seconds[try_coarse] / seconds[(64, 127)]:.2f}")

# %% [markdown]
# ## Provenance

# %% tags=["hide-input"]
from fashion_lib.book.provenance import provenance_block

provenance_block(profile)
