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
# # FashionSAP results: Tables 2-5
#
# FashionSAP is evaluated on four downstream tasks after its pre-training: cross-modal retrieval on
# FashionGen under two protocols (Table 2: 101 candidates per query; Table 3: the full validation
# set), text-modified image retrieval on FashionIQ (Table 4), and category / sub-category
# recognition on FashionGen (Table 5). Each pre-trained variant of chapter 07 is fine-tuned once
# per task and seed (`fashion_lib.experiments.fashionsap_runs`), and every number below is read
# from those runs' records; a missing record is trained first.
#
# Our rows are the variants that stand for the paper's rows: the ALBEF-style baseline ("albef",
# ITS + ITM only, continued for as many steps as FashionSAP), FashionSAP ("full") and FashionSAP
# with the CNN image encoder ("full_r50"). The other rows of the paper's tables are published
# systems we do not re-run; their printed numbers stay in the tables for reference. Every table
# also carries a **linear reference row** that the paper does not have: linear models on the same
# frozen image features that FashionSAP reads (`experiments.fashionsap_reference`). Absolute
# numbers on the proxy world with tiny models are not comparable with the paper's; **the claims**
# (which model beats which) are what this chapter tests.

# %% [markdown]
# ## Learning objectives
#
# After this chapter you can ...
#
# - describe the subset and the full retrieval protocols, and how the subset protocol was scaled
#   to the proxy's few products;
# - read our mean ± standard deviation beside the paper's number, and say why only the orderings,
#   not the absolute values, are compared;
# - judge a claim from per-query evidence paired across models and seeds: a bootstrap interval of
#   the difference, a stated δ, and Holm's correction across the chapter's claims;
# - read every R@K beside what chance and a linear model of the same features score, and say
#   what FashionSAP's machinery buys over that model;
# - recompute a printed Mean R@1 from its I2T and T2I columns and spot an erratum.
#
# Symbols used: {term}`ITS`, {term}`ITM`, {term}`R@K`, {term}`subset protocol`,
# {term}`full protocol`, {term}`TMIR`, {term}`CR`, {term}`SCR`, {term}`H_0`.

# %% tags=["parameters"]
profile = "smoke"

# %% tags=["hide-input"]
# %matplotlib inline
import pandas as pd
from IPython.display import Markdown, display

from fashion_lib.book import sap_figures as sf
from fashion_lib.book import sap_results as sr
from fashion_lib.claims import publish_claims
from fashion_lib.experiments import fashionsap_claims as sc
from fashion_lib.experiments import fashionsap_eval as ev
from fashion_lib.experiments import fashionsap_reference as reference
from fashion_lib.experiments import fashionsap_runs as sap
from fashion_lib.experiments.backbone_pretrain import world_root
from fashion_lib.experiments.fashionsap_pretrain import fashiongen_split
from fashion_lib.experiments.fashionsap_settings import VARIANTS
from fashion_lib.experiments.fashionsap_tables import TABLES
from fashion_lib.experiments.fashionsap_train import build_pretrain_model

settings = sap.sap_settings(profile)
main_encoder, resnet_encoder = (
    build_pretrain_model(settings, VARIANTS[v]).config.image_encoder
    if v in settings.variants
    else None
    for v in ("full", "full_r50")
)
split = fashiongen_split(str(world_root(profile)), "validation")
products = len(split.products())
labels = ev.product_labels(split)
pd.set_option("display.precision", 2)

# %% [markdown]
# ## The protocols at the proxy's scale
#
# The paper's subset protocol draws 1,000 query products, each with 100 negative products of the
# query's sub-category, and averages 5 draws; the full protocol ranks every validation image against
# one text per product. Both rank by the ITS cosine alone, as the released code does (no ITM
# re-ranking). Our validation split is much smaller, so the subset protocol is scaled:

# %%
sr.subset_scaling(profile)

# %% [markdown]
# > **Decision: negatives by tiers.** With a median of a few products per sub-category, 100 (or
# > even 20) negatives of the query's own sub-category do not exist. We take every product of the
# > sub-category first, then of the same category, then of the same fashion symbol, then any; the
# > released FashionSAP code falls back to random sub-categories. The share of negatives that share
# > the query's sub-category is measured and printed with Table 2.
#
# Each table below is printed twice: the paper's whole table, then our rows with paper | ours
# (mean ± standard deviation over the seeds) | difference per metric, and a last row with what
# chance scores on our data (a random ranking; for accuracy, always naming the most frequent
# class).

# %% [markdown]
# ## The linear reference row
#
# Before reading FashionSAP's numbers, ask what the simplest model with the same inputs scores.
# The **linear reference** reads the same frozen image features (the proxy-pre-trained CNN's map,
# average-pooled to a 1x1, 2x2 or 4x4 grid) and the caption as a bag of words (TF-IDF):
#
# - retrieval: one linear map per side into a shared space, trained with a symmetric InfoNCE loss;
# - CR / SCR: a linear classifier on the pooled image features;
# - TMIR: a linear map of the reference image plus one of the edit text, against a linear map of
#   the target image.
#
# > **Decision: the grid is chosen on held-out training data.** The tables report FashionGen's
# > validation split, the paper's test set; the grid of each task is chosen on products (FashionIQ:
# > triplets) held out of the *training* split, then the row is trained on the whole training
# > split once per seed. Nothing else is tuned.

# %% tags=["hide-input"]
grids = pd.DataFrame({t: reference.selection(t, profile).metrics for t in reference.TASKS}).T
grids.rename_axis("task (held-out score per grid side)")

# %% [markdown]
# ## Table 2: cross-modal retrieval, subset protocol

# %%
paper2, ours2 = sr.paper_and_ours("table2", profile)
display(paper2, ours2, sr.same_subcategory(profile))

# %% [markdown]
# ## Table 3: cross-modal retrieval, full protocol

# %%
paper3, ours3 = sr.paper_and_ours("table3", profile)
display(paper3, ours3)

# %% [markdown]
# ## Table 4: text-modified image retrieval on FashionIQ
#
# The query fuses the candidate image with the two relative captions joined by "and"; the gallery
# of each category is the union of the candidate and target images of its validation captions.

# %%
paper4, ours4 = sr.paper_and_ours("table4", profile)
display(paper4, ours4)

# %% [markdown]
# ## Table 5: category and sub-category recognition
#
# A linear layer on the first fused vector H_0, trained with cross-entropy; accuracy and macro-F
# (sklearn) over every validation image, with the 48 categories and 121 sub-categories of
# FashionGen as classes (the proxy uses a subset of them).

# %%
paper5, ours5 = sr.paper_and_ours("table5", profile)
display(paper5, ours5)

# %% [markdown]
# ## What the machinery buys
#
# FashionSAP against the linear reference row on one headline column per task, each query paired
# between the two rows of the same seed (`stats.compare`), with the interval of the difference
# after Holm's correction across these five comparisons (the rule is explained with the paper's
# claims below). The paper makes no such claim, so these verdicts stay out of the ledger.

# %%
versus = sc.versus_reference(profile)
display(versus[["source", *sc.VERDICT_COLUMNS]].round(2))
display(Markdown(sr.machinery_sentence(versus)))

# %% [markdown]
# ## What the models return
#
# Four validation captions of different categories, and the five images FashionSAP (first seed)
# ranks highest for each: green frames show the caption's product, red ones another product; the
# last column is the product's image with the rank of its best view
# ({numref}`fig-sap-t2i`). Below, one FashionIQ query per category: the reference image, the
# edit text, the five gallery images ranked highest and the target with its rank
# ({numref}`fig-sap-tmir`).

# %% tags=["remove-output"]
# Apart from the figures: each figure cell's one output is its figure.
seed0 = settings.seeds[0]
t2i_rows = sf.t2i_example("full", seed0, profile)
tmir_rows = sf.tmir_example("full", seed0, profile)

# %% mystnb={"figure": {"caption": "Text-to-image retrieval on the validation split: the caption, the top five images (green: the caption's product) and the product's image with its rank.", "name": "fig-sap-t2i"}}
sf.result_rows_figure(t2i_rows)

# %% mystnb={"figure": {"caption": "Text-modified image retrieval on FashionIQ: the reference image, the edit text, the top five gallery images (green: the target) and the target with its rank.", "name": "fig-sap-tmir"}}
sf.result_rows_figure(tmir_rows)

# %% [markdown]
# ## Ties or collapse?
#
# Two models can print the same R@1 on every seed for two reasons: their scores *tie* (the
# positive and other candidates get exactly the same cosine, and the book's pessimistic rule
# ranks the positive last among them), or their embeddings *collapse* (every image, or every text,
# maps to nearly one vector, so the ranking carries almost no information). The evaluation
# reports both for every retrieval run: the percent of queries whose positive ties with another
# candidate, and for the image and text embeddings their effective rank (1 when every row is one
# vector; at most the embedding width), mean pairwise cosine (1 when collapsed) and the percent of
# rows that are distinct (`fashionsap_eval.embedding_spread`). Embeddings crowded into a narrow
# cone make *hubs*: a few candidates come first for most queries, and R@1 then counts little more
# than the hubs' own queries, a number that barely depends on the model. The last two rows show
# the percent of candidates that are some query's first choice (`first_choices`).
#
# The check was added after the first cpu build printed a full-protocol I2T R@1 of 2.50 for
# FashionSAP and the ALBEF-style row on every seed: no score tied there, but the text embeddings
# crowded into a narrow cone and a handful of hub texts came first for most images. The table
# below gives the mean over seeds of this profile's runs, and the sentence under it what they show.

# %%
variants = [v for v in TABLES["table3"].rows.values() if v in settings.variants]
ties = sap.tie_report(variants, profile)
means = ties.groupby("variant").mean(numeric_only=True).drop(columns="seed")
display(means.T.round(3), Markdown(sap.tie_sentence(ties, profile)))

# %% [markdown]
# (fashionsap-claims)=
# ## The paper's claims
#
# The paper's "ViT beats ResNet-50" claim compares its two image encoders; on the profile shown here
# the two rows use the encoders printed below (on the cpu profile the main encoder is a small CNN,
# see chapter 07), so the claim is only the paper's own on the gpu and paper profiles.
#
# **How a claim is judged.** Every run stores the outcome of every test query beside its record
# (the rank of the positive per query and direction, per protocol and draw; the correctness of
# every image for CR/SCR; the rank of the target for TMIR), keyed so that the same query of two
# models pairs up. For "A > B" on a column, each query's R@K hit (0 or 100) or correctness is
# paired between A and B of the same seed, and the difference of the means is bootstrapped
# hierarchically: seeds, then queries within a seed, with the same query draws for both sides
# (`fashion_lib.stats`). The verdict is **held** when the interval lies above 0, **reversed** when
# below, **no difference > δ** when it lies inside ±δ (δ per metric family, printed in the table),
# **inconclusive** otherwise; the intervals are corrected for multiplicity across this chapter's
# claims (Holm). A "Mean" column pools its parts so that the pooled mean is the mean of the parts
# (`fashionsap_eval.balanced`); Macro-F is not a mean over images, so claims on it are judged on
# per-image accuracy. The intervals cover the variance of the seeds' fine-tuning and pre-training
# and of the test queries; the warm-up is shared by every seed, so its variance is not covered.

# %%
resnet_row = resnet_encoder or "not trained on this profile"
print(f"FashionSAP row: {main_encoder}; Resnet50 row: {resnet_row}")
claims = sc.results_claims(main_encoder, resnet_encoder)
verdicts = sc.judge_claims(claims, profile)
display(verdicts[["source", *sc.VERDICT_COLUMNS]].round(2))
display(Markdown(sr.verdict_counts(verdicts, profile)))

# %% [markdown]
# The verdicts go to the claims ledger of the profile (`fashion_lib.claims`), with the paper's own
# numbers for both sides where it prints them; the book's scoreboard page reads it.

# %% tags=["hide-input"]
publish_claims("08_fashionsap_results", profile, verdicts, "fashionsap-claims")
print(f"{len(verdicts)} claims of Tables 2-5 published to the {profile} scoreboard")

# %% [markdown]
# ## Errata in the printed tables
#
# Recomputed from the transcribed tables (`fashion_lib/paper_tables/`): "Mean R@1" should be the
# mean of I2T R@1 and T2I R@1.

# %%
sr.printed_errata()

# %% [markdown]
# > - CommerceMM's printed Mean R@1 (62.75) is not the mean of its R@1 values (40.60); ALBEF's
# >   62.20 is 62.245 rounded down. Table 4 prints two DCNet values with one decimal (56.7, 47.3).
# > - The paper's "FashionSAP (ViT-B16)" row is FashionSAP trained from scratch; its
# >   "FashionSAP" row starts from ALBEF. We reproduce the second (from our ALBEF-style warm-up)
# >   and compare it with the CNN row under the same warm-up recipe; the from-scratch ViT row is
# >   not re-run.
# > - The paper says the subset results average 5 draws; the released code draws once. We follow
# >   the paper (FashionViL's {cite}`han2022fashionvil` protocol). Retrieval is scored by the ITS
# >   cosine only, as the code.
# > - Recognition uses plain descriptions and classifies H_0 (the paper); the released code can
# >   also append a "[MASK]" prompt and classify that position.
# > - The linear reference row is ours: the paper compares only with published systems.
#
# **What this chapter produced:** Tables 2-5 with the paper's numbers beside our mean ± std over
# seeds, the linear reference row and chance, FashionSAP against the reference row, a retrieval
# grid and a FashionIQ example, the ties and collapse of every retrieval run, the verdict of each
# claim from paired per-query evidence, and the fine-tuning runs (retrieval, CR, SCR, TMIR) of
# every variant and seed under `runs/`, with their per-query evidence, which chapter 09 reuses for
# Table 6.

# %% [markdown]
# ## Exercises
#
# Each exercise asks for a prediction and has a try-it cell holding the one value to change. Write
# the prediction down, then open the **Solution**: the prediction and its reasoning in prose, and
# the code that measures what happens at the try-it value (in JupyterLab, change the value and run
# the solution's cells again). They share the ITS embeddings of the validation split under the
# retrieval-fine-tuned FashionSAP of the first seed, computed once in the first solution (no
# training; a few seconds on every profile).

# %% [markdown] tags=["exercise"]
# ### Exercise 8.1: fewer negatives in the subset protocol
#
# **Change** the number of negative products per query of the {term}`subset protocol`: 1, 2, 5, 10
# and the profile's own value (as far as the validation split has products). **Predict** how R@1
# moves, and what a model that ranks at random would score. **Observe** I2T and T2I R@1 beside that
# chance level. Budget: one encoding of the validation split, one draw per setting.

# %% tags=["try-it"]
try_negatives = [1, 2, 5, 10]  # negatives per query to try

# %% [markdown] tags=["solution"]
# **Prediction.** R@1 rises as the negatives shrink, because the positive has fewer rivals; a random
# ranking scores 100 / (1 + negatives) (50% with one negative), so a small candidate list inflates
# R@1 even for a weak model. This is why the paper's subset numbers (101 candidates) are far above
# its full-protocol numbers, and why R@1 is only comparable at the same number of negatives.

# %% tags=["solution"]
import torch

from fashion_lib.data.masking import TextProcessor
from fashion_lib.experiments.fashionsap_pretrain import plain_text, tokenizer

seed0 = settings.seeds[0]
retrieval_full = sap.load_retrieval_model("full", seed0, profile)
plain = TextProcessor(tokenizer(), plain_text(profile))
image_emb, text_emb, owner = ev.encode_retrieval(
    retrieval_full, split, plain, settings.image_size, settings.eval_batch
)
negatives_sweep = []
for n in sorted({*try_negatives, settings.subset_negatives} & set(range(1, products))):
    r = ev.subset_protocol(image_emb, text_emb, owner, labels, settings.subset_queries, n, 1, seed0)
    negatives_sweep.append(
        {"negatives": n, "I2T R@1": r["i2t_r1"], "T2I R@1": r["t2i_r1"], "chance": 100 / (n + 1)}
    )
negatives_sweep = pd.DataFrame(negatives_sweep).set_index("negatives")
axes = negatives_sweep.plot(marker="o", figsize=(5, 3), ylabel="R@1 (%)", title="subset protocol")
negatives_sweep.round(2)

# %% [markdown] tags=["exercise"]
# ### Exercise 8.2: negatives drawn from any product
#
# **Change** how the subset protocol picks its negatives: uniformly among all other products
# instead of the query's sub-category first (then category, symbol, anything). One way is to give
# every product its own sub-category, category and symbol label, so that every other product falls
# in the last tier. **Predict** the share of negatives that share the query's sub-category and the
# R@1 under each rule; what happens when the profile asks for as many negatives as there are other
# products? **Observe** both rules with the profile's protocol (queries, negatives, draws).
# Budget: the embeddings of Exercise 8.1.

# %% tags=["try-it"]
try_rule = "uniform"  # how negatives are drawn: "uniform" or "tiers"

# %% [markdown] tags=["solution"]
# **Prediction.** Uniform negatives rarely share the query's sub-category, so they are easier to tell
# apart and R@1 rises. When the protocol asks for every other product (as on the smoke world, where
# the validation split has only a handful of products), both rules return the same set of negatives
# and the numbers must be identical: the rule only matters when it has to choose. The "tiers" row
# repeats this seed's Table 2 numbers, since it is the same protocol with the same seed.

# %% tags=["solution"]
anywhere = torch.arange(len(labels))[:, None].expand(-1, 3)  # (P, 3) every product its own labels
negatives_rule = {}
ex_rules = {"tiers": labels, "uniform": anywhere}
for name, rule_labels in (("tiers", labels), (try_rule, ex_rules[try_rule])):
    r = ev.subset_protocol(
        image_emb, text_emb, owner, rule_labels, settings.subset_queries,
        settings.subset_negatives, settings.subset_draws, seed0,
    )  # fmt: skip
    g = torch.Generator().manual_seed(seed0)
    shared = 0.0
    for q in range(products):  # scored with the true sub-categories, whatever the rule saw
        drawn = ev.subset_negatives(q, rule_labels, settings.subset_negatives, g)
        shared += (labels[drawn, 0] == labels[q, 0]).float().mean().item() / products
    negatives_rule[name] = {
        "negatives of the same sub-category (%)": 100 * shared,
        "I2T R@1": r["i2t_r1"],
        "T2I R@1": r["t2i_r1"],
        "mean R@1": r["mean_r1"],
    }
print(f"negatives asked: {settings.subset_negatives}; other products: {products - 1}")
pd.DataFrame(negatives_rule).T.round(2)

# %% [markdown] tags=["exercise"]
# ### Exercise 8.3: one relevant image per product in T2I
#
# **Change** what counts as a hit in the full protocol's text-to-image direction: only the
# product's first image instead of any of its images. **Predict** which of T2I's R@1, R@5 and R@10
# can move, in which direction, and what happens to I2T. **Observe** T2I R@K under both
# definitions. Budget: the embeddings of Exercise 8.1.

# %% tags=["try-it"]
try_relevant = "first"  # which images of the product count: "any" or "first"

# %% [markdown] tags=["solution"]
# **Prediction.** With fewer relevant images a text can only rank its target lower, so every T2I R@K
# can only fall or stay (it falls most at R@1, where a second view of the product often ranks
# first). I2T is untouched: an image still has exactly one relevant text. The paper's "any image"
# rule (FashionSAP's code) is the kinder one, and it must be stated to compare numbers.

# %% tags=["solution"]
similarity = image_emb @ text_emb.t()  # (N, P)
any_image = owner[:, None] == torch.arange(len(text_emb))[None, :]  # (N, P)
first_image = torch.zeros_like(any_image)
for p, rows in enumerate(split.products().values()):
    first_image[rows[0], p] = True
hit_rule = pd.DataFrame(
    {
        "any image of the product": ev.hits_at_k(similarity.t(), any_image.t(), ev.KS),
        f"{try_relevant} image(s)": ev.hits_at_k(
            similarity.t(), {"any": any_image, "first": first_image}[try_relevant].t(), ev.KS
        ),
    }
).T.add_prefix("T2I R@")
hit_rule.round(2)

# %% [markdown]
# ## Provenance
#
# What produced this page: the profile, the run records this chapter wrote or reused (name,
# configuration hash, seed), the commit of the code, the chapter's wall time and peak memory, and
# the machine.

# %% tags=["hide-input"]
from fashion_lib.book.provenance import provenance_block

provenance_block(profile)
