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
# # Scoreboard: the papers' claims and their verdicts
#
# Each claim of the two papers ("A beats B", "A is comparable to B") gets a verdict from
# per-query evidence paired across models and seeds: an interval of our difference against a
# stated margin δ, corrected for the number of claims ({ref}`the rule <verdict-rule>`). The
# judging chapters write their verdicts to a claims ledger as they run; this page is read from it,
# with a link from each claim to its evidence. {doc}`The reproducibility report <98_report>` sums
# the verdicts up, and {doc}`the landing page <97_landing>` says where to start reading.

# %% tags=["parameters"]
profile = "smoke"

# %% tags=["hide-input"]
# %matplotlib inline
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from IPython.display import HTML, Markdown, display

from fashion_lib import stats
from fashion_lib.claims import (
    NOT_RUN,
    family_sizes,
    scoreboard,
    scoreboard_html,
    verdict_counts,
)
from fashion_lib.profiles import get_profile

board = scoreboard(profile)
judged = board[board["verdict"] != NOT_RUN]
seed_counts = sorted({a for a, _ in judged["seeds"]})  # seeds are paired: A and B have as many
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
# Claims per paper and verdict. A chapter that was not run under this profile, or was last run by
# older code, shows as "not run". With one seed (the smoke profile) an interval covers only the
# sampling of test queries, not retraining: those numbers show that the pipeline runs, and the cpu
# profile's five seeds are the book's evidence.

# %% tags=["hide-input"]
counts = verdict_counts(board)
display(counts)
display(
    Markdown(
        "Every verdict on this page applies Holm's correction across all judged claims of its "
        f"paper ({family_sizes(judged)}), at a family confidence of 95%, so it can be more "
        "cautious than on its chapter's page, which corrects only across the claims of one "
        "section."
    )
)
sns.set_theme(style="whitegrid")
# held, reversed, no difference > δ, not held, inconclusive, not run
palette = ["#2a9d55", "#d1495b", "#4f81bd", "#e07b39", "#9e9e9e", "#d9d9d9"]
ax = (
    counts[[*stats.VERDICTS, NOT_RUN]]
    .iloc[::-1]
    .plot.barh(stacked=True, color=palette, width=0.6, figsize=(7, 1.0 + 0.5 * len(counts)))
)
ax.set(xlabel="claims", ylabel="", title=f"Verdicts on the papers' claims ({profile} profile)")
ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
plt.tight_layout()
plt.show()

# %% [markdown]
# (verdict-rule)=
# ## How a claim is judged
#
# Every chapter and this page use one rule (`fashion_lib.stats`, where its tests live).
#
# - **Paired evidence.** Each run keeps its value for every test query (AP of a retrieval query,
#   whether a product was recognised, whether a caption found its image in the top k). Seed i of
#   model A is paired with seed i of model B, and each query with the same query. A query with no
#   relevant candidate has no value; it is dropped from the comparison and counted.
# - **The difference and its interval.** Ours is the mean of A minus the mean of B. Its 95%
#   interval comes from a paired, hierarchical bootstrap: redraw the seeds, then the test queries
#   (the same draw for both models and every seed, since all were scored on one test set). Five
#   seeds are few, so the bootstrap's seed part is corrected for its small size and the interval
#   uses Student's t with the degrees of freedom that the seeds and queries give. The interval
#   covers retraining and another draw of the test set; stages that all seeds share (the proxy
#   pre-training and the cached features in the cpu profile) are not covered, as their chapters
#   say.
# - **The verdict.** For "A > B": *held* when the interval lies above 0, *reversed* when below 0,
#   *no difference > δ* when it lies inside ±δ, *inconclusive* otherwise. For "A ~ B" (the paper
#   calls them comparable): *held* when the interval lies inside ±δ, *not held* when it lies
#   entirely beyond ±δ, *inconclusive* otherwise; overlapping ranges are not evidence that two
#   models are alike. δ is the smallest difference the book calls a difference (table below);
#   ranks are judged as Recall@k hits.
# - **Many claims.** With dozens of claims some intervals would miss by chance, so Holm's
#   procedure widens each claim's interval according to its rank among the p-values of its family:
#   on a chapter's page, the claims of its section; on this page, all claims of the paper.

# %% tags=["hide-input"]
pd.DataFrame({"δ (points)": stats.DELTAS}).rename_axis("metric family")

# %% [markdown]
# ## M3-Net
#
# Tables 2-4 (the orderings of the seven rows on each dataset, the ablations included), the
# co-occurring classes of Sec. 4.3.1 and the share of classes excluded by the threshold gamma.
# "paper A-B" is the difference of the paper's printed numbers, "ours A-B" our difference with its
# interval at the claim's Holm level, "seeds" the seeds per model, and the last column links to the
# chapter section that computes the verdict.

# %% tags=["hide-input"]
display(HTML(scoreboard_html(board, "M3-Net")))

# %% [markdown]
# ## FashionSAP
#
# Tables 2-5 (FashionSAP against the ALBEF-style baseline, the two image encoders), the steps of
# the Table 6 ablation and Figure 4's Grad-CAM comparison measured on the proxy's part masks.

# %% tags=["hide-input"]
display(HTML(scoreboard_html(board, "FashionSAP")))

# %% [markdown]
# ## Provenance

# %% tags=["hide-input"]
from fashion_lib.book.provenance import provenance_block

provenance_block(profile)
