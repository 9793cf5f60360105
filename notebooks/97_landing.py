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
# # Fine-grained fashion retrieval, reproduced
#
# This book re-implements and re-runs two papers on fine-grained fashion representation learning.
# **M3-Net** (Jiao et al., CVPR 2023) learns *attribute-specific* and *class-specific* retrieval
# embeddings with spatial and channel attention, a multi-label head and prototypical and instance
# triplet losses, and is compared with ASEN, ASENv2, ASEN++ and MODC on DeepFashion, FashionAI and
# DARN. **FashionSAP** (Han et al., CVPR 2023) pre-trains an ALBEF-style vision-language model with
# *fashion symbols* and *attribute prompts*, then fine-tunes it for cross-modal retrieval, category
# recognition and text-modified image retrieval on FashionGen and FashionIQ.
#
# Neither the real datasets nor the papers' weights are needed: a procedural proxy world,
# *atelier*, renders garments with known attributes and writes them in the real datasets' on-disk
# formats, so the same readers serve the proxy and a real copy, and every number is computed in a
# recorded run. Each chapter is one executed notebook: what the paper says, the code that
# implements it (a thin call into the tested library `fashion_lib`), a small example, what it
# produced, and exercises to try. Each claim of the papers ("A beats B", "A is comparable to B")
# gets a verdict from per-query evidence: {doc}`the scoreboard <99_scoreboard>` gathers them, and
# {doc}`the reproducibility report <98_report>` sums the reproduction up.

# %% tags=["parameters"]
profile = "smoke"

# %% tags=["hide-input"]
# %matplotlib inline
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import HTML, Markdown, display

from fashion_lib.book import landing
from fashion_lib.claims import NOT_RUN, scoreboard
from fashion_lib.profiles import get_profile

settings = get_profile(profile)
pd.set_option("display.max_colwidth", None)  # whole titles and paths
print(f"profile: {settings.name}")

# %% [markdown]
# ## The task in one picture
#
# Both papers learn what makes two garments alike *in one respect*. M3-Net answers a query image
# and an attribute: rank the gallery so that the images with the query's value of that attribute
# come first, whatever their colour, pattern or pose. FashionSAP learns one space for images and
# texts, in which a product's picture lies near its description. The images below are drawn by the
# proxy world as you read: the first row is what a perfect retriever returns for the query (green:
# the same value, red: another one), the second a product with its description.

# %% mystnb={"figure": {"caption": "The two tasks on proxy images: attribute-specific retrieval (M3-Net) and image-text matching (FashionSAP).", "name": "fig-task"}}
landing.task_figure(seed=settings.seed)
plt.show()

# %% [markdown]
# ## Where to start
#
# Pick the row that fits you; each chapter number links to its page (98 is the reproducibility
# report).

# %% tags=["hide-input"]
display(HTML(landing.reading_paths_html()))

# %% [markdown]
# **Prerequisites.** Python with numpy and pandas; PyTorch modules, autograd and optimisers; what a
# convolutional feature map and a softmax are. Attention and transformers help for FashionSAP
# (chapter 06 builds them up shape by shape), and the retrieval metrics are defined where they are
# used (chapter 04). Every chapter runs on a laptop's CPU in the `smoke` and `cpu` profiles; the
# `gpu` and `paper` profiles need a GPU, the latter the real datasets (see the appendix).
#
# **Running it.** `make book PROFILE=smoke` runs every chapter on tiny data and builds this book;
# `make book` does the same in the `cpu` profile, whose numbers the published book shows;
# `make book SOLUTIONS=0` builds it for instructors, without the exercises' solutions. Chapter 00
# explains the profiles.

# %% [markdown]
# ## The chapters and their time
#
# The wall time of each chapter as the book's runner recorded it on the machine that built this
# book, per profile (`runs/book-times/`); a profile that never ran here is "not measured". A
# chapter reuses finished runs, so a second build takes less.

# %% tags=["hide-input"]
landing.chapter_table()

# %% tags=["hide-input"]
board = scoreboard(profile)
judged = board[board["verdict"] != NOT_RUN]
counts = judged["verdict"].value_counts()
summary = ", ".join(f"{n} {verdict}" for verdict, n in counts.items())
display(
    Markdown(
        f"In the `{profile}` profile, {len(judged)} claims of the two papers are judged "
        f"({summary or 'none yet'}); {len(board) - len(judged)} chapters with claims "
        "did not run."
    )
)

# %% [markdown]
# The {doc}`scoreboard <99_scoreboard>` lists every verdict with its evidence, and
# {doc}`the report <98_report>` puts them in the ML Reproducibility Challenge's frame.

# %% [markdown]
# ## Provenance

# %% tags=["hide-input"]
from fashion_lib.book.provenance import provenance_block

provenance_block(profile)
