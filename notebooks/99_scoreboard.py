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
# recognition and text-modified image retrieval on FashionGen and FashionIQ. Neither the real
# datasets nor the papers' weights are needed: a procedural proxy world, *atelier*, renders garments
# with known attributes and writes them in the real datasets' on-disk formats, so the same readers
# serve the proxy and a real copy, and every number is computed in a recorded run.
#
# Each chapter is one executed notebook: what the paper says, the code that implements it (a thin
# call into the tested library `fashion_lib`), a small example, and what it produced; our comments
# on the papers and our choices where they are silent are set apart in quote blocks, and
# {doc}`the overview <00_overview>` is the map of the book. The papers' numbers stand beside ours, and each claim
# ("A beats B") gets a verdict over the profile's seeds: *held* when every seed of A beats every
# seed of B, *not held* when every seed of B beats every seed of A, *inconclusive* when the ranges
# overlap. This page gathers those verdicts: the chapters write them to a claims ledger as they
# run, and the scoreboard below is read from it, with a link from each claim to its evidence.
#
# ```bash
# make book                # set up .venv on first use, run every chapter (cpu profile), build the HTML
# make book PROFILE=smoke  # the same in a few minutes, on tiny data
# make test                # lint and the whole test suite
# ```

# %% tags=["parameters"]
profile = "smoke"

# %% tags=["hide-input"]
# %matplotlib inline
import matplotlib.pyplot as plt
import seaborn as sns
from IPython.display import HTML, Markdown, display

from fashion_lib.claims import NOT_RUN, VERDICTS, scoreboard, scoreboard_html, verdict_counts
from fashion_lib.profiles import get_profile

board = scoreboard(profile)
judged = board[board["verdict"] != NOT_RUN]
seed_counts = sorted({a for a, _ in judged["seeds"]})  # side A is always our measurement
display(
    Markdown(
        f"**Profile `{profile}`**: {get_profile(profile).description}. "
        f"{len(judged)} judged claims from {judged['chapter'].nunique()} chapters; "
        f"seeds per claim: {', '.join(map(str, seed_counts)) or 'none'}."
    )
)

# %% [markdown]
# ## The verdicts at a glance
#
# Claims per paper and verdict. With one seed per side (the smoke profile) the rule is a plain
# comparison, and the numbers only show that the pipeline runs; the cpu profile's several seeds are
# the book's evidence. A chapter that was not run under this profile shows as "not run".

# %% tags=["hide-input"]
counts = verdict_counts(board)
display(counts)
sns.set_theme(style="whitegrid")
palette = ["#2a9d55", "#d1495b", "#9e9e9e", "#d9d9d9"]  # held, not held, inconclusive, not run
ax = (
    counts[[*VERDICTS, NOT_RUN]]
    .iloc[::-1]
    .plot.barh(stacked=True, color=palette, width=0.6, figsize=(7, 1.0 + 0.5 * len(counts)))
)
ax.set(xlabel="claims", ylabel="", title=f"Verdicts on the papers' claims ({profile} profile)")
ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## M3-Net
#
# Tables 2-4 (the orderings of the seven rows on each dataset, the ablations included), the
# co-occurring classes of Sec. 4.3.1 and the share of classes excluded by the threshold gamma.
# "ours" is the mean over seeds with the range (min..max); "paper" is the printed number and its
# direction; the last column links to the chapter section that computes the verdict.

# %% tags=["hide-input"]
display(HTML(scoreboard_html(board, "M3-Net")))

# %% [markdown]
# ## FashionSAP
#
# Tables 2-5 (FashionSAP against the ALBEF-style baseline, the two image encoders), the steps of
# the Table 6 ablation and Figure 4's Grad-CAM comparison measured on the proxy's part masks.

# %% tags=["hide-input"]
display(HTML(scoreboard_html(board, "FashionSAP")))
