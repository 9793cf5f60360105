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

# %% tags=["parameters"]
profile = "smoke"

# %%
import platform
import sys
from dataclasses import asdict

import pandas as pd
import torch

import fashion_lib
from fashion_lib import paths
from fashion_lib.book.runner import discover
from fashion_lib.profiles import PROFILES, get_profile

settings = get_profile(profile)
print(f"profile: {settings.name} - {settings.description}")

# %% [markdown]
# ## The chapters
#
# The list below is read from the notebook sources, so it cannot drift from what is actually run.
# Each chapter's title is the first heading of its source.


# %%
def chapter_title(source):
    """First markdown heading of a jupytext percent source."""
    for line in source.read_text(encoding="utf-8").splitlines():
        if line.startswith("# # "):
            return line[4:].strip()
    return source.stem


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
profiles = pd.DataFrame(
    [
        {"profile": p.name, "proxy data": p.proxy, **asdict(p.data), "purpose": p.description}
        for p in PROFILES.values()
    ]
).set_index("profile")
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
    "executable": sys.executable,
}
pd.Series(environment, name="value").to_frame()
