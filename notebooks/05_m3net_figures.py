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
# # M3-Net figures: attention and retrieval
#
# M3-Net's qualitative section makes two claims with pictures. Figure 3: "the attribute-conditional
# attention tends to focus on a wider range of regions in an image, while the class-conditional
# attention focuses more narrowly on a region relevant to each class". Figure 4: on multi-label
# queries M3-Net "is able to retrieve images containing multiple class labels" where MODC retrieves
# images with only one of them. This chapter redraws both figures from the models trained in
# chapter 03 and, because the proxy world keeps a mask of every garment part, *measures* the first
# claim: how much of each attention map's mass falls on the part that shows the named class.

# %% [markdown]
# ## Learning objectives
#
# After this chapter you can ...
#
# - redraw Figure 3 from the attention maps the trained models return, and read min-max scaled
#   maps as "where", not "how much";
# - measure the attention mass on the part that shows a class, and judge it against its chance
#   level (the part's area) with the lift;
# - redraw Figure 4 and check a qualitative figure against a precision computed over every query;
# - explain why examples picked by a rule, not by eye, are needed for a figure to support a claim.
#
# Symbols used: {term}`SCA`, {term}`alpha_n`, {term}`A_n`, {term}`C_m`, {term}`attention mass`,
# {term}`lift`, {term}`ASEN`, {term}`MODC`, {term}`multi-granularity retrieval`,
# {term}`multi-label relevance`.


# %% tags=["parameters"]
profile = "smoke"

# %% tags=["hide-input"]
# %matplotlib inline
import numpy as np
import pandas as pd
import torch
from IPython.display import display

from fashion_lib.analysis.attention_score import attention_mass, score_attention
from fashion_lib.analysis.ranking import rank_queries
from fashion_lib.book.m3net_figure_pages import (
    attention_maps,
    figure3,
    figure4,
    first_pairs,
    labelled_pairs,
    mass_by_type,
    mass_scores,
    mass_summary,
    ranking_sides,
    top_k_precision,
)
from fashion_lib.book.teach import check_equal, show_source
from fashion_lib.experiments.m3net_runs import load_row_model, run_settings

torch.set_num_threads(min(2, torch.get_num_threads()))
settings = run_settings(profile)
DATASET = "DeepFashion"
MAX_PAIRS = 3000  # (image, class) pairs per model and seed; smoke has fewer
print(f"profile {profile}: seeds {settings.seeds}, {settings.image_size} px")

# %% [markdown]
# ## The test pairs: every labelled class of every test image
#
# Each evaluation row of the DeepFashion test split is an (image, attribute) pair; each positive
# class of that attribute names a part of the garment (`class_part`: "slit" the slit, "belt" the
# belt, textures and fabrics the torso, shapes the hem line). The pairs below are the inputs of
# both the figure and the measurement.

# %%
seed0 = settings.seeds[0]
data = load_row_model("M3-Net", DATASET, seed0, profile).dataset
tp = labelled_pairs(data, MAX_PAIRS)
pairs, keys, parts, part_masks = tp.pairs, tp.keys, tp.parts, tp.part_masks
has_masks = part_masks is not None  # only a generated world has part masks
n_images = pairs[:, 0].unique().numel()
print(f"{len(pairs)} (image, attribute, class) pairs from {n_images} images")
if has_masks:  # the part that shows each class exists only in the proxy world
    display(pd.Series(parts, name="part").value_counts().to_frame("pairs").T)

# %% [markdown]
# ## The attention maps the models return
#
# M3-Net returns two maps per pair: SCA-A's attribute attention and SCA-C's class attention for the
# named class. M3-Net_a has only the first, M3-Net_c only the second; ASEN and MODC have one
# attribute-conditional map (the global branch's spatial attention). Nothing is recomputed for
# the figures: these are the `attention` fields of the models' outputs.


# %%
MODELS = ("M3-Net", "M3-Net_a", "M3-Net_c", "ASEN", "MODC")
maps = {}
for name in MODELS:
    for seed in settings.seeds:
        row = load_row_model(name, DATASET, seed, profile)
        maps[name, seed] = attention_maps(row, pairs)  # kind -> (P, h, w)
{
    name: {k: tuple(v.shape) for k, v in found.items()}
    for (name, seed), found in maps.items()
    if seed == seed0
}

# %% [markdown]
# ## Attention mass on the named part
#
# For each pair, the share of a map's mass inside the mask of the part that shows the class
# (`fashion_lib.analysis.attention_score`). A uniform map scores the part's area; *lift* is the
# score over that chance level. The paper's claim predicts that M3-Net's class attention puts
# more mass on the part than its attribute attention, and more than ASEN's attribute attention.
#
# > Scoring is exact for maps constant within a cell (the mask is area-pooled to the map's grid).
# > Textures, fabrics and styles are scored against the torso and shapes against the hem line,
# > the parts that show them in the proxy renderer (`fashion_lib.data.atelier.labels`).
#
# With a map $\alpha$ over the $h \times w$ cells (normalised to sum to 1) and
# $\mathrm{cover}_j$ the fraction of cell $j$'s pixels inside the part's mask:
#
# $$\mathrm{mass} = \sum_{j=1}^{h \times w} \alpha_j\, \mathrm{cover}_j, \qquad
#   \mathrm{area} = \frac{|\mathrm{part}|}{H W}, \qquad
#   \mathrm{lift} = \frac{\mathrm{mass}}{\mathrm{area}}$$

# %%
show_source(attention_mass)

# %% [markdown]
# A 2 x 2 map over a 4 x 4 image whose part covers the top-left cell and half of the
# top-right one:

# %% tags=["nbval-check-output"]
alpha = torch.tensor([[[0.5, 0.25], [0.25, 0.0]]])  # (1, h, w)
mask = torch.zeros(1, 4, 4, dtype=torch.bool)  # (1, H, W)
mask[0, :2, :2] = True  # the whole top-left cell
mask[0, :2, 2] = True  # half of the top-right cell
cover = torch.tensor([[1.0, 0.5], [0.0, 0.0]])
found = attention_mass(alpha, mask)
check_equal("mass", (alpha[0] * cover).sum(), found.mass[0])
check_equal("area", 6 / 16, found.area[0])
check_equal("lift", 0.625 / 0.375, found.lift[0])

# %%
if has_masks:
    scores = mass_scores(maps, tp)
    print("attention mass on the named part and the part's area (percent),")
    print("lift = mass / area; mean and std over seeds")
    display(mass_summary(scores).round(2))
else:
    print("no part masks beside this dataset: the score needs the proxy")

# %% [markdown]
# By attribute type, M3-Net's two maps beside ASEN's (mean mass in percent over all pairs and
# seeds): the part-related classes are the ones whose parts are small and far apart (slit, belt,
# pockets, collar), where a narrower map can make the difference.

# %%
if has_masks:
    display(mass_by_type(scores).round(2))

# %% [markdown]
# ## Figure 3: attribute vs class attention
#
# The paper's rows are (part, slit), (style, elegant), (part, contrast trim), (fabric, stretch),
# (part, draped) and (shape, fit). We take the proxy's nearest classes in that order and, for each,
# the *first* test pair that carries it (no picking by eye); a class absent from the test split
# is skipped. The named part is outlined in white; the number under each map is its mass on the
# part. Each panel is min-max scaled, so the colours show where a map puts its mass, the number how
# much of it. {numref}`fig-m3net-figure3` is our version of the paper's Figure 3.

# %% mystnb={"figure": {"caption": "The paper's Figure 3 on the proxy: M3-Net's attribute and class attention and ASEN's attention, with the named part outlined and the attention mass on it.", "name": "fig-m3net-figure3"}}
TARGETS = [
    ("part-related", "slit"),
    ("style-related", None),
    ("part-related", "trim"),
    ("fabric-related", None),
    ("part-related", "drape"),
    ("shape-related", "fitted"),
]
chosen = first_pairs(tp, TARGETS)
panels = {
    "M3-Net attribute attention": maps["M3-Net", seed0]["attribute"][chosen],
    "M3-Net class attention": maps["M3-Net", seed0]["class"][chosen],
    "ASEN attention": maps["ASEN", seed0]["attribute"][chosen],
}
figure3(panels, tp, chosen, data, settings.image_size)

# %% [markdown]
# ## Figure 4: retrieval by M3-Net and MODC
#
# The paper shows single-label queries (a) and multi-label queries (b) on DeepFashion, with true
# positives in green and false ones in red. We rank each query's candidates exactly as the
# evaluation does (M3-Net and MODC both class-first, `fashion_lib.analysis.ranking`) with
# multi-label relevance, for the first two test queries with one positive class and the first two
# with several ({numref}`fig-m3net-figure4`).
#
# > Choice: the queries are the first ones of each kind in the query file, not hand-picked; the
# > precision table under the figure covers every query.

# %% mystnb={"figure": {"caption": "The paper's Figure 4 on the proxy: the top results of M3-Net and MODC for single- and multi-label DeepFashion queries; true positives in green, false ones in red.", "name": "fig-m3net-figure4"}}
K = 6
sides = ranking_sides(profile, seed0)
figure4(sides, data, tp, K, settings.image_size)

# %% [markdown]
# The same comparison over every test query: the share of true positives among the top K results,
# for all queries and for the multi-label ones alone (the case the paper's Figure 4(b) argues).

# %%
everyone = range(len(data.queries))  # every test query
precision = top_k_precision(sides, data, K)
pd.DataFrame(precision).T.round(2)

# %% [markdown]
# ## What this chapter produced
#
# - the attention maps M3-Net, its ablations, ASEN and MODC return on every labelled test pair of
#   DeepFashion, and their mass on the ground-truth part of the named class (mean and spread over
#   seeds, with the chance level);
# - Figure 3 redrawn from the first test pair of each of the paper's classes, with the part
#   outlined;
# - Figure 4 redrawn for the first single- and multi-label queries, and the precision of the top
#   results over all queries, M3-Net beside MODC.

# %% [markdown]
# ## Exercises
#
# Each exercise asks for a prediction and has a try-it cell holding the one value to change. Write
# the prediction down, then open the **Solution**: the prediction and its reasoning in prose, and
# the code that measures what happens at the try-it value (in JupyterLab, change the value and run
# the solution's cells again). Each solution reuses the maps and rankings computed above (no
# training); the attention exercises need the part masks of the proxy world.

# %% [markdown] tags=["exercise"]
# ### Exercise 5.1: a uniform map
#
# Replace M3-Net's class attention by the uniform map $1/(hw)$ for every pair and score it.
# **Predict** its mass on the named part and its lift.

# %% tags=["try-it"]
try_mix = 1.0  # share of the uniform map in the scored map (0: M3-Net's)

# %% [markdown] tags=["solution"]
# **Prediction.** The mass equals the part's area for every pair, so the lift is exactly 1.
#
# **Reasoning.** A uniform map puts the same weight on every cell, so the share of its mass inside a
# mask is the share of the image the mask covers; this is why the lift, mass over area, measures
# attention against chance. A lift above 1 needs a map that favours the part.

# %% tags=["solution"]
if has_masks:
    ex_class = maps[("M3-Net", seed0)]["class"]  # (P, h, w)
    ex_flat = torch.full_like(ex_class, 1.0 / ex_class[0].numel())
    ex_uniform = try_mix * ex_flat + (1 - try_mix) * ex_class
    ex_scores = {
        "M3-Net class attention": score_attention(ex_class, keys, parts, part_masks),
        "uniform map": score_attention(ex_uniform, keys, parts, part_masks),
    }
    gap = (ex_scores["uniform map"].mass - ex_scores["uniform map"].area).abs().max()
    print(f"uniform map: largest |mass - area| over {len(keys)} pairs = {gap.item():.1e}")
    display(
        pd.DataFrame(
            {
                name: {
                    "mass (%)": 100 * float(s.mass.mean()),
                    "area (%)": 100 * float(s.area.mean()),
                    "lift": float(s.mass.mean() / s.area.mean()),
                }
                for name, s in ex_scores.items()
            }
        ).T.round(3)
    )
else:
    print("no part masks beside this dataset: the exercise needs the proxy world")

# %% [markdown] tags=["exercise"]
# ### Exercise 5.2: move the maps off the garment
#
# Shift M3-Net's class attention maps circularly by half their height and half their width, so
# that what was at the centre of the picture lands in its corners, and score them again.
# **Predict** the mass on the named part and the lift.

# %% tags=["try-it"]
try_shift = 0.5  # the circular shift, as a share of the height and width

# %% [markdown] tags=["solution"]
# **Prediction.** The mass on the part falls for nearly every part and the overall lift drops to about
# 1 or below, from above 1 for the maps as returned.
#
# **Reasoning.** The garment fills the middle of a product shot and the corners hold background, so a
# map that has learned to look at the garment puts its mass near the centre; the shift moves that
# mass to the corners, where no part is, and the mass that comes in from the corners is the little
# the map had there. A map that ignored the garment would score about the same before and after.

# %% tags=["solution"]
if has_masks:
    ex_class = maps[("M3-Net", seed0)]["class"]  # (P, h, w)
    ex_h, ex_w = ex_class.shape[-2:]
    ex_moved = {
        "as returned": ex_class,
        f"shifted by {try_shift:g}": ex_class.roll(
            (int(ex_h * try_shift), int(ex_w * try_shift)), dims=(-2, -1)
        ),
    }
    ex_scored = {n: score_attention(m, keys, parts, part_masks) for n, m in ex_moved.items()}
    ex_by_part = pd.DataFrame(
        {n: pd.Series(100 * sc.mass.numpy()).groupby(parts).mean() for n, sc in ex_scored.items()}
    )
    ex_by_part["pairs"] = pd.Series(parts).value_counts()
    ex_by_part.loc["lift, all pairs"] = [
        *(float(sc.mass.mean() / sc.area.mean()) for sc in ex_scored.values()),
        len(parts),
    ]
    display(ex_by_part.round(3))
else:
    print("no part masks beside this dataset: the exercise needs the proxy world")

# %% [markdown] tags=["exercise"]
# ### Exercise 5.3: a longer list of results
#
# Figure 4 shows the top K = 6 results. Raise K to 30 and recompute the share of true positives
# among the top K, for M3-Net and MODC. **Predict** how P@K moves, and whether the gap between the
# two models grows or shrinks.

# %% tags=["try-it"]
try_k = 30  # the length of the list of results (Figure 4: 6)

# %% [markdown] tags=["solution"]
# **Prediction.** P@K falls for both models, towards the share of relevant candidates in the gallery;
# the gap between them shrinks.
#
# **Reasoning.** A ranking better than chance puts its relevant candidates first, so the precision of a
# longer prefix is lower; as K grows towards the whole list, every model's precision tends to the
# same base rate, so differences between models fade.

# %% tags=["solution"]
ex_prec = {}
for name, (q, c) in sides.items():
    ex_ranked = rank_queries(q, c, everyone, "multi_granularity", "multi", try_k)
    ex_prec[name] = {
        f"P@{K} (%)": precision[name][f"P@{K}, all queries"],  # computed above
        f"P@{try_k} (%)": 100 * np.mean([float(r.relevant.float().mean()) for r in ex_ranked]),
    }
ex_prec = pd.DataFrame(ex_prec).T
ex_prec.loc["M3-Net - MODC"] = ex_prec.loc["M3-Net"] - ex_prec.loc["MODC"]
ex_prec.round(2)

# %% [markdown]
# ## Provenance
#
# What produced this page: the profile, the run records this chapter wrote or reused (name,
# configuration hash, seed), the commit of the code, the chapter's wall time and peak memory, and
# the machine.

# %% tags=["hide-input"]
from fashion_lib.book.provenance import provenance_block

provenance_block(profile)
