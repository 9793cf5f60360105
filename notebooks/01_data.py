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
# # Data: the real taxonomies, a procedural proxy, and the real formats
#
# Both papers train on datasets that cannot be downloaded here: DeepFashion
# {cite}`liu2016deepfashion`, FashionAI {cite}`zou2019fashionai` and DARN {cite}`huang2015darn`
# for M3-Net {cite}`jiao2023m3net`; FashionGen {cite}`rostamzadeh2018fashiongen` and FashionIQ
# {cite}`wu2021fashioniq` for FashionSAP {cite}`han2023fashionsap`. This chapter shows the three
# layers that stand in for them:
#
# 1. the **taxonomies** of the real datasets (attribute names, value names, the 48 FashionGen
#    categories and their 9 fashion symbols), as data in `fashion_lib.data.taxonomy`;
# 2. **atelier**, a procedural world that renders garments with known attributes and known part
#    masks, in `fashion_lib.data.atelier`;
# 3. the **real on-disk formats**, written and read by `fashion_lib.data.formats`. The proxy is
#    written in exactly these formats, so every later chapter reads data through the same readers
#    a real copy would go through.

# %% [markdown]
# ## Learning objectives
#
# After this chapter you can ...
#
# - list the attributes and classes of the real datasets' taxonomies, and the fashion symbol of a
#   FashionGen category;
# - explain how the atelier draws a garment with known labels and part masks, and what its knobs
#   (nuisance strength, label noise) change;
# - find each dataset's files in its real on-disk format, and validate a real copy with
#   `data check` before training on it;
# - judge from the learnability probe whether an attribute is learnable, but not trivially.
#
# Symbols used: {term}`A_n`, {term}`C_m`, {term}`atelier`, {term}`label noise`, {term}`profile`,
# {term}`fashion symbol`.


# %% tags=["parameters"]
profile = "smoke"

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from fashion_lib.data import taxonomy
from fashion_lib.data.atelier import category_probe, gallery, overview
from fashion_lib.data.formats.check import check
from fashion_lib.experiments.backbone_pretrain import world_root
from fashion_lib.profiles import get_profile

settings = get_profile(profile)
size = settings.data.image_size
root = world_root(profile)  # the paper profile reads the real copies
print(f"profile: {settings.name} ({size} px); world: {overview.relative(root)}")

# %% [markdown]
# ## The taxonomies
#
# FashionAI labels *one* attribute per image, with named values; value 0 is always "Invisible"
# (the part is out of the picture). DARN has 9 attributes whose value names were never
# published; DeepFashion groups 1000 attributes into 5 *types* and labels every positive
# attribute of an image (multi-label).

# %%
display(overview.fashionai_table(), overview.retrieval_sizes())

# %% [markdown]
# FashionSAP prepends one of nine *fashion symbols* to every caption; the symbol of a product is
# a fixed function of its FashionGen category (48 categories, 121 subcategories).

# %%
print(overview.symbols_by_category())

# %% [markdown]
# ## The proxy world
#
# Each product is a typed `GarmentSpec`: category, colours, pattern, fabric, the cut of every
# part, and details. The renderer builds the garment from parts (torso, sleeves, skirt or legs,
# neckline, collar, lapel, hem, pockets, buttons, slit, trim, belt, drape) in the model's own body
# coordinates, so that the camera nuisances (scale, shift, rotation, mirror) are a change of
# coordinates and every part's mask comes for free. Lighting, clutter behind the model, an
# occluder in front and sensor noise complete the picture; `strength` scales them all.
#
# Every category is also drawn with the construction that defines it
# (`fashion_lib.data.atelier.cues`), as a shop's photographs show it: ribbed knit bands at a
# sweater's hem, cuffs and neckline; a shirt's collar, button placket, cuffs and curved
# shirttail; a blazer's notched or peak lapels, suiting cloth, pocket square and hip flaps; a
# bomber jacket's rib collar and contrasting ribbed waistband; the topstitching, rivets and
# faded thighs of jeans against the pressed crease and slanted pockets of trousers; coats that
# reach the knee; a print on half of the tees. Tops are photographed close, bottoms from the
# waist down.
#
# Generating the profile's world takes seconds for `smoke` and minutes for `cpu`; an existing
# world with the same settings and generator code is reused.

# %%
if settings.proxy:
    print(overview.world_counts(root))

# %% [markdown]
# ### Every class of every FashionAI attribute
#
# One row per value ("Invisible" first), eight products each, at the book's image size and with
# the dataset's nuisances. Fine differences are meant to matter: knee versus midi length is a few
# pixels of hem, a notched lapel differs from a shawl by its notch.

# %%
for attribute in taxonomy.FASHIONAI.names:
    gallery.class_grid_figure(attribute, size=size)
    plt.show()

# %% [markdown]
# ### What an attribute-conditioned triplet looks like
#
# M3-Net and its ASEN baselines learn one embedding space per attribute from triplets: an
# *anchor*, a *positive* that shares the anchor's value of the attribute, and a *negative* that
# does not. Everything else is free to differ, so the model must learn to look at the one part
# the attribute is about. {numref}`fig-data-triplet` draws such a triplet on purpose: the
# positive shares only the sleeve length, while the negative is the anchor's own product with
# only its sleeve length changed. Closer in the sleeve-length space means "same sleeves", not
# "same garment".

# %% mystnb={"figure": {"caption": "An attribute-conditioned triplet for sleeve length: the anchor (left), a positive of another category that shares its sleeve length (middle), and a negative that is the anchor's own product with only the sleeve length changed (right). Each title gives the image's FashionAI value.", "name": "fig-data-triplet"}}
triplet = gallery.attribute_triplet("sleeve_length", settings.seed, size)
gallery.triplet_figure(triplet)
plt.show()

# %% [markdown]
# ### Part masks
#
# Every image is stored with one boolean mask per part (`atelier_parts.npz` beside the data), so
# later chapters can measure how much attention falls on the part a class is about, something
# neither paper could measure on real photographs. {numref}`fig-data-part-masks` shows a
# few training images above their masks (a real copy has none: its panels stay empty).

# %% mystnb={"figure": {"caption": "Proxy FashionAI training images (top row) and their part masks (bottom row), one colour per garment part.", "name": "fig-data-part-masks"}}
gallery.part_mask_figure(root / "FashionAI")
plt.show()

# %% [markdown]
# ## The formats on disk
#
# The world's folder has the layout a real copy has under `FASHION_DATA_ROOT`: ASEN's
# {cite}`ma2020asen` shared `meta.json` and split files for DeepFashion, FashionAI and DARN,
# DeepFashion's benchmark
# annotation files, FashionAI's `label.csv`, FashionGen's two h5 files and FashionIQ's captions,
# image splits and images.

# %%
print(overview.format_tour(root))

# %% [markdown]
# ### Galleries, value counts, and what the papers' own loaders need
#
# Each attribute is ranked within its own gallery: the candidates of the evaluation split that
# carry that attribute. Recall@100 and MAP@100 only measure something when a gallery holds well
# over 100 candidates, so the proxy's FashionAI and DARN evaluation splits are larger than ASEN's
# 8:1:1 would make them: in the cpu profile every attribute has 1,040 test candidates and 260 test
# queries (the real test sets have about 1,800 and 450 per attribute), and 520 candidates and 130
# queries in validation, where learning rates and training lengths are chosen. The training
# splits keep their 8:1:1 size (6,400 images each in the cpu profile). DeepFashion stays 8:1:1.
# Value counts never exceed the real datasets' (FashionAI's are the real ones; the atelier cannot
# draw DARN's 55 colours or 28 patterns apart at this size). The last line checks what ASEN's,
# ASEN++'s and FashionSAP's own data code need of the world (`invariants.world_problems`): two
# training images per value, a query and a candidate per attribute and split, 101 validation
# products; beside the world, `asenpp/<Dataset>.yaml` runs ASEN++ on it with
# `--cfg <world>/asenpp/FashionAI.yaml config/FashionAI/s1.yaml`.

# %%
display(overview.gallery_table(root))
if settings.proxy:  # a real copy is read as it is: nothing is written to it
    print(overview.loaders_needs(root))

# %% [markdown]
# ## Class frequencies and co-occurrence
#
# FashionAI's values are drawn uniformly (value 0 = "Invisible" included); DARN's follow from the
# garments. In the DeepFashion-like set several classes of one type often hold together (two
# textures, a length *and* a silhouette, several parts, several styles); styles are defined as
# combinations of classes of other types, so they co-occur with those classes by construction.
# {numref}`fig-data-darn-values` shows the DARN value shares and
# {numref}`fig-data-deepfashion-cooccurrence` the DeepFashion-like co-occurrences.

# %% mystnb={"figure": {"caption": "Share of each value within its attribute in the proxy DARN training split, one box per attribute.", "name": "fig-data-darn-values"}}
overview.darn_value_shares(root)
plt.show()

# %% mystnb={"figure": {"caption": "Co-occurrence in the proxy DeepFashion set: the probability of the column class given the row class, classes named with their attribute type.", "name": "fig-data-deepfashion-cooccurrence"}}
fig, several = overview.cooccurrence(root)
plt.show()
print(f"(image, type) pairs with more than one positive class: {several:.0%}")

# %% [markdown]
# ## Is the proxy learnable, and not trivially?
#
# A proxy that a network solves perfectly would make every method look the same; one that is
# noise would make them all fail. The probe trains one plain small CNN (a head per attribute) on
# each single-label dataset's training split, read back through the real readers, and scores it on
# the held-out images. Every attribute should land well above chance (both the majority-class rate
# and 1/K are shown) and well below perfect. The smoke world is too small to say much; the cpu
# world is the one the book's numbers rest on.

# %%
probe_epochs = 1 if profile == "smoke" else 6
probe_table = overview.learnability(root, probe_epochs, settings.seed)
above = (probe_table["held-out accuracy"] > probe_table["majority rate"]).mean()
below = (probe_table["held-out accuracy"] < 0.95).mean()
print(f"{probe_epochs} epoch(s) per dataset on the {profile} world")
print(f"attributes above majority: {above:.0%}; below 95%: {below:.0%}")
probe_table.round(3)

# %% [markdown]
# ### Can the categories be told apart from the pictures?
#
# Real FashionGen's categories can: FashionSAP's category recognition reaches 98%. A proxy whose
# blazers look like jackets would cap every category result of chapters 06-09 for a reason that
# has nothing to do with the model. So the same small CNN, with one head (the category), is
# trained from scratch on FashionGen's training images and scored on every validation image. The
# world is built for at least 90% (`category_probe.TARGET`); the first line says whether this
# world meets it, the table which categories are still taken for which. The run is recorded, so
# a re-run of the chapter reuses it.
#
# Two lessons from building it. The probe must see enough pictures: trained on a quarter of the
# training products, the same CNN stopped at 73%, and on all of them it reached 88% on the same
# images, so the first gap was data, not cues. The rest came from the cues: knitted sweaters with
# deep ribbed bands, a breast pocket on shirts, a chest print on tees, creases and a waistband on
# jumpsuits' legs, and coats shot whole, since their length is what tells them from a blazer.

# %%
config = category_probe.CONFIGS[profile]
categories = category_probe.category_probe(root / "FashionGen", config)
print(category_probe.summary(categories))
category_probe.recall_table(categories).round(2)

# %% [markdown]
# ## Pointing the book at a real copy
#
# Put the real datasets under one folder with the layout above and set `FASHION_DATA_ROOT`;
# the `paper` profile reads from there. Validate each dataset *before* spending GPU hours on it:
#
# ```
# export FASHION_DATA_ROOT=/data/fashion
# python -m fashion_lib data check --format deepfashion $FASHION_DATA_ROOT/DeepFashion
# python -m fashion_lib data check --format fashiongen  $FASHION_DATA_ROOT/FashionGen
# ```
#
# A malformed file is reported as one line naming the file and the line. The same check passes on
# the generated world:

# %%
formats = {
    "deepfashion": "DeepFashion",
    "fashionai": "FashionAI",
    "darn": "DARN",
    "fashiongen": "FashionGen",
    "fashioniq": "FashionIQ",
}
for fmt, name in formats.items():
    report = str(check(fmt, root / name)).splitlines()[0]
    print(report.replace(str(root), overview.relative(root)))

# %% [markdown]
# > **Choices we made where the papers and datasets are silent.**
# > DARN's value names and DeepFashion's 1000 attribute names are not usable here, so the atelier
# > names its own values (DARN: 13 categories, 5 closures, 24 colours, 7 lengths, 7 patterns,
# > 9 shapes, 23 neck shapes, 8 sleeve lengths, 6 sleeve shapes, against the real 20, 13, 55, 7,
# > 28, 11, 26, 8, 17; DeepFashion: 7 textures, 6 fabrics, 13 shapes, 16 parts, 9 styles) and
# > writes them into the real file formats. DARN's "sleeveless" also covers strapless garments
# > and bottoms, which keeps its 8 sleeve lengths.
# > FashionAI keeps its real names; "Invisible" is produced by a framing that leaves the part out
# > of the picture. FashionAI's "Micro Length" coat is taken as shorter than "High Waist Length".
# > Splits follow image ids with 1 query per 4 candidates, as in ASEN's files: 8:1:1 for
# > DeepFashion, larger evaluation splits for FashionAI and DARN (above). Each evaluation image
# > carries one (attribute, value) pair; the attribute takes turns image by image, so every
# > attribute has as many queries and candidates (the real files are close to balanced too), and
# > DeepFashion's value is drawn uniformly from the image's classes of that type. The first
# > images of each dataset cycle through every value twice, so that even the smoke world has two
# > training images of each. Label noise (5 % by default) touches training labels only.
# > FashionGen uses 18 of the 48 categories (clothes, shoes, bags, hats; no "others") at the
# > book's image size under the real file names, with a tenth of the products, and at least 101,
# > for validation (in the cpu profile a thousand, so that the full retrieval protocol's chance
# > level is at most 0.1%). Each category keeps the construction that defines it whatever style a
# > product follows (jeans stay plain denim, shirts keep their placket, blazers their buttoned
# > front); a dataset that asks for a value (FashionAI's tasks) still gets it on any category.
# > FashionIQ pairs are drawn within families of five products that differ in one to three
# > attributes, and the two captions split the differences between them.

# %% [markdown]
# ## What this chapter produced
#
# The profile's proxy world under `data/atelier-<profile>/` (five datasets in their real formats,
# part masks and `atelier.json`), validated by the same `check` a real copy goes through, and the
# recorded category probe (`runs/category-probe-*`).

# %% [markdown]
# ## Exercises
#
# Each exercise asks for a prediction and has a try-it cell holding the one value to change. Write
# the prediction down, then open the **Solution**: the prediction and its reasoning in prose, and
# the code that measures what happens at the try-it value (in JupyterLab, change the value and run
# the solution's cells again). Its budget is fixed: 200 DARN products at 32 px, the same in every
# profile.

# %% [markdown] tags=["exercise"]
# ### Exercise 1.1: more label noise
#
# Raise the world's label noise from 5 % to 30 % (`draw.Knobs(label_noise=0.3)`) and draw the same
# DARN products again. **Predict** the share of written training labels that differ from the
# truth, and whether the rendered images change.

# %% tags=["try-it"]
try_noise = 0.3  # the world's label noise (its default: 0.05)

# %% [markdown] tags=["solution"]
# **Prediction.** About 30 % of the written labels differ from the truth (about 5 % at the default),
# and the images are identical pixel for pixel.
#
# **Reasoning.** Each (attribute, value) pair is replaced with probability label_noise by a value drawn
# among the *other* values, so every replacement is a change; the noise comes from a generator of
# its own (seeded like the image's), so the pixels do not depend on it. Evaluation lines
# carry the truth, so more noise makes training harder but leaves the measurement intact.

# %% tags=["solution"]
from fashion_lib.data.atelier import draw

EX_PRODUCTS, EX_SIZE = 200, 32
ex_rows, ex_images = [], {}
for ex_noise in (0.05, try_noise):
    ex_knobs = draw.Knobs(seed=settings.seed, size=EX_SIZE, label_noise=ex_noise)
    ex_samples = [draw.draw_darn(ex_knobs, i) for i in range(EX_PRODUCTS)]
    ex_images[ex_noise] = np.stack([s.images[0] for s in ex_samples])
    ex_changed = [
        dict(s.noisy)[a] != v for s in ex_samples for a, v in s.labels
    ]  # one (attribute, value) pair per DARN attribute
    ex_rows.append(
        {"label_noise": ex_noise, "written labels differing from truth": np.mean(ex_changed)}
    )
print("images identical:", bool((ex_images[0.05] == ex_images[try_noise]).all()))
pd.DataFrame(ex_rows).set_index("label_noise").round(3)

# %% [markdown]
# ## Provenance
#
# What produced this page: the profile, the run records this chapter wrote or reused (name,
# configuration hash, seed), the commit of the code, the chapter's wall time and peak memory, and
# the machine.


# %% tags=["hide-input"]
from fashion_lib.book.provenance import provenance_block

provenance_block(profile)
