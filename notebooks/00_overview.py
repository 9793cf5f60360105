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
# # Overview: the map of the book and how to run it
#
# This chapter is the book's table of contents made executable: it lists the chapters from their
# sources, shows what the chosen *profile* means, and records the environment every later number was
# computed in. It is also the first link of the pipe that builds the book: `make book` converts each
# `notebooks/NN_name.py` into a notebook, executes it with papermill in a profile, and only then lets
# Jupyter Book render it.

# %% [markdown]
# ## Learning objectives
#
# After this chapter you can ...
#
# - name the chapters of the book and find the source each page is executed from;
# - say what a profile changes (data size, image size, training length, seeds) and choose one;
# - run one chapter or the whole book, and know where a chapter that failed is kept;
# - read the environment in which every number of the book was computed.
#
# Symbols used: {term}`profile`, {term}`run record`, {term}`atelier`.


# %% tags=["parameters"]
profile = "smoke"

# %% tags=["hide-input"]
import platform
import sys
from pathlib import Path

import pandas as pd
import torch
from IPython.display import display

import fashion_lib
from fashion_lib import paths
from fashion_lib.book import landing
from fashion_lib.book.chapters import chapter_title, discover
from fashion_lib.profiles import PROFILES, get_profile

settings = get_profile(profile)
print(f"profile: {settings.name} - {settings.description}")

# %% [markdown]
# ## The chapters
#
# The list below is read from the notebook sources, so it cannot drift from what is actually run.
# Each chapter's title is the first heading of its source.


# %%
chapters = pd.DataFrame(
    [
        {
            "chapter": p.stem.split("_", 1)[0],
            "source": f"notebooks/{p.name}",
            "title": chapter_title(p),
        }
        for p in discover(paths.NOTEBOOKS_DIR)
    ]
)
chapters

# %% [markdown]
# ## Profiles
#
# One name chooses the data size, the model size and the training length in every chapter. `smoke`
# exists for tests (every notebook in seconds); `cpu` is the reference run whose numbers the book shows
# on a 2-core machine; `gpu` scales the proxy world and the backbones up to the papers' sizes on one
# GPU; `paper` uses the real datasets and the papers' settings on several GPUs.

# %%
profiles = landing.profile_table(PROFILES.values())
profiles

# %% [markdown]
# ## How to run it
#
# | command | what it does |
# |---|---|
# | `make book` | creates `.venv` on first use, executes every notebook in the `cpu` profile, builds the HTML |
# | `make book PROFILE=smoke` | the same on tiny data, in a couple of minutes |
# | `python -m fashion_lib book run --profile smoke --only 00` | executes one chapter into `book/executed/` |
# | `make test` | ruff and the whole test suite, including every notebook in the smoke profile |
#
# A notebook that raises stops the run: the error names the notebook and the cell, and the failed
# copy is kept in `build/failed-notebooks/`, never in the book.

# %% [markdown]
# ## The environment of this run
#
# Every number in the book was computed in the environment printed here.

# %%
environment = {
    "fashion_lib": fashion_lib.__version__,
    "python": platform.python_version(),
    "torch": torch.__version__,
    "threads": torch.get_num_threads(),
    "cuda": torch.cuda.is_available(),
    "machine": platform.machine(),
    "interpreter": "the project's .venv"
    if Path(sys.prefix).is_relative_to(paths.PROJECT_ROOT)
    else "another Python environment",
}
pd.Series(environment, name="value").to_frame()

# %% [markdown]
# ## Exercises
#
# Each exercise asks for a prediction and has a try-it cell holding the one value to change. Write
# the prediction down, then open the **Solution**: the prediction and its reasoning in prose, and
# the code that measures what happens at the try-it value (in JupyterLab, change the value and run
# the solution's cells again). The solution's code reads the profiles' settings from the library.

# %% [markdown] tags=["exercise"]
# ### Exercise 0.1: from `smoke` to `cpu`
#
# Change the profile from `smoke` to `cpu`. **Predict** which of the proxy world's settings grow,
# which stay, how many M3-Net training steps one row gets, and how many M3-Net runs chapter 03
# trains (7 rows on 3 datasets, once per seed).

# %% tags=["try-it"]
try_profile = "cpu"  # the profile to compare with smoke

# %% [markdown] tags=["solution"]
# **Prediction.** The image counts grow by one to two orders of magnitude while the image size stays
# at 64 px; a row trains for hundreds of steps instead of a handful, and chapter 03 trains five
# times as many runs (five seeds instead of one).
#
# **Reasoning.** `cpu` is the reference run on a 2-core machine: more data and longer training make the
# numbers meaningful, the small images and the frozen backbone keep it within an hour, and five
# seeds let every verdict rest on an interval over trainings as well as test queries.

# %% tags=["solution"]
from fashion_lib.data.taxonomy import RETRIEVAL_DATASETS
from fashion_lib.experiments.m3net_settings import ROWS, RUN_SETTINGS

ex_scale = pd.DataFrame(
    {
        name: {  # a dataset's images over its three splits
            k: getattr(v, "total", v) for k, v in vars(get_profile(name).data).items()
        }
        for name in ("smoke", try_profile)
    }
)
ex_scale[f"{try_profile} / smoke"] = ex_scale[try_profile] / ex_scale["smoke"]
display(ex_scale.round(1))
ex_datasets = len(RETRIEVAL_DATASETS)
pd.DataFrame(
    {
        name: {
            "steps per row": s.triplets_per_epoch * s.epochs // s.batch_triplets,
            "seeds": len(s.seeds),
            "M3-Net runs (rows x datasets x seeds)": len(ROWS) * ex_datasets * len(s.seeds),
            "backbone": "frozen" if s.frozen else "trained",
        }
        for name, s in RUN_SETTINGS.items()
        if name in ("smoke", try_profile)
    }
)

# %% [markdown]
# ## Provenance
#
# What produced this page: the profile, the run records this chapter wrote or reused (name,
# configuration hash, seed), the commit of the code, the chapter's wall time and peak memory, and
# the machine.

# %% tags=["hide-input"]
from fashion_lib.book.provenance import provenance_block

provenance_block(profile)
