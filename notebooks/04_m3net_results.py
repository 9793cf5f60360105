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
# # M3-Net results: Tables 2-4
#
# M3-Net reports fine-grained retrieval on three datasets: DeepFashion (multi-label, Table 2),
# FashionAI and DARN (single-label, Tables 3 and 4), for seven rows: ASEN, ASENv2, ASEN++, MODC
# and M3-Net with its two ablations M3-Net_a (attribute-conditional attention only) and M3-Net_c
# (class-conditional attention only). This chapter puts our numbers beside the printed ones, gives
# a verdict on each claim, and repeats the paper's two analyses: retrieval on co-occurring classes
# and the sensitivity to the multi-label threshold gamma.
#
# Nothing here trains a model that chapter 03 already trained: every row is read from its run
# record (`fashion_lib.experiments.m3net_runs.run_table`), and a missing record is trained first.

# %% [markdown]
# ## Learning objectives
#
# After this chapter you can ...
#
# - read our Tables 2-4 beside the printed ones, as mean ± std over seeds, and say which
#   differences the proxy world can and cannot speak to;
# - state the rule behind each verdict on the paper's claims (an interval of the paired per-query
#   difference against δ) and apply it to a pair of rows;
# - explain why multi-label relevance raises MAP on DeepFashion, and check whether the ordering of
#   the rows survives the change;
# - explain how the threshold gamma and the positive weight w_p together decide how many class
#   spaces an image opens.
#
# Symbols used: {term}`MAP@all`, {term}`R@100`, {term}`ASEN`, {term}`MODC`, {term}`C_m`,
# {term}`multi-label relevance`, {term}`multi-granularity retrieval`, {term}`P_n(I)`,
# {term}`x_mn`, {term}`gamma`, {term}`w_p`, {term}`CCA`, {term}`varphi_mn`.


# %% tags=["parameters"]
profile = "smoke"

# %%
# %matplotlib inline
import numpy as np
import pandas as pd
import torch
from IPython.display import display

from fashion_lib import stats, viz
from fashion_lib.analysis import cooccurrence as co
from fashion_lib.analysis import gamma as gm
from fashion_lib.analysis import tables as tb
from fashion_lib.claims import publish_claims
from fashion_lib.data.formats.deepfashion import read_deepfashion, within_type
from fashion_lib.data.retrieval_data import normalise
from fashion_lib.data.samplers import TripletSampler
from fashion_lib.data.taxonomy import RETRIEVAL_DATASETS
from fashion_lib.evidence import PerQuery
from fashion_lib.experiments import m3net_claims
from fashion_lib.experiments.backbone_pretrain import world_root
from fashion_lib.experiments.m3net_eval import query_keys
from fashion_lib.experiments.m3net_runs import (
    DATASETS,
    ROW_SPECS,
    ROWS,
    encode_rows,
    load_row_model,
    primary_relevance,
    run_settings,
    run_table,
)
from fashion_lib.results import paper_table
from fashion_lib.retrieval import RetrievalSide, evaluate_retrieval

torch.set_num_threads(min(2, torch.get_num_threads()))
settings = run_settings(profile)
PAPER = {
    "DeepFashion": "m3net_table2_deepfashion",
    "FashionAI": "m3net_table3_fashionai",
    "DARN": "m3net_table4_darn",
}
print(
    f"profile {profile}: seeds {settings.seeds}, {settings.epochs} epoch(s) of "
    f"{settings.triplets_per_epoch} triplets, backbone {settings.backbone} "
    f"({'frozen, cached maps' if settings.frozen else 'trained end to end'})"
)

# %% [markdown]
# ## How the numbers are made
#
# > **Our choices where the paper is silent** (the same in every table of this chapter):
# >
# > - **MAP@all** is ASEN's average precision over the whole ranking, averaged over queries.
# >   **MAP@100** sums precision at the relevant positions of the top 100 and divides by
# >   min(R, 100), R = the query's relevant candidates: the paper prints MAP@100 *above* MAP@all,
# >   which ASEN's truncated scorer (dividing by R) cannot give. **Recall@100** is the share of a
# >   query's relevant candidates found in the top 100.
# > - **overall** is the mean over all queries pooled (query-weighted): it reproduces the printed
# >   FashionAI "overall" from the per-attribute values to 0.01, the macro mean does not
# >   (`fashion_lib/paper_tables/README.md`). We also keep the macro mean in the run records.
# > - **Retrieval protocol.** ASEN, ASENv2 and ASEN++ rank in the attribute space. MODC and the
# >   three M3-Net rows rank class-first (MODC's multi-granularity protocol): candidates sharing a
# >   class space with the query (M3-Net: a class among both images' high-likelihood classes; MODC:
# >   the same nearest prototype) come first, then the rest by attribute similarity.
# > - **Class prototypes** of M3-Net's prototypical triplet loss ("akin to MODC"): one exponential
# >   moving average per (attribute, class) of the normalised class representations
# >   (`fashion_lib.losses.m3net`).
# > - **Relevance on DeepFashion.** The paper's Table 2 is multi-label: a candidate is relevant when
# >   it shares *any* positive class of the attribute with the query. ASEN++ evaluated DeepFashion
# >   with single-value relevance (the query's one listed value); we report both.
# > - **Spread and verdicts.** Each row is trained with every seed of the profile; tables show
# >   mean ± standard deviation over seeds. A claim is judged on per-query evidence paired across
# >   rows and seeds ({ref}`verdict-rule`): *held*, *reversed*, *no difference > δ* or
# >   *inconclusive*, from the 95% interval of the difference. The smoke profile has one seed and a
# >   few steps: its verdicts mean nothing beyond "the pipe runs".

# %%
tables = {ds: run_table(ds, profile) for ds in DATASETS}
provenance = pd.DataFrame(
    [
        {
            "dataset": ds,
            "runs": df["run_dir"].nunique(),
            "reused from records": int(df.drop_duplicates("run_dir")["reused"].sum()),
            "seeds": sorted(df["seed"].unique().tolist()),
            "train time (s, all runs)": df.drop_duplicates("run_dir")["train_time_s"].sum(),
        }
        for ds, df in tables.items()
    ]
).set_index("dataset")
provenance

# %% [markdown]
# ## Tables 2-4, beside the paper
#
# For each dataset: our table in the paper's layout (mean ± std over seeds, percent), then the
# difference ours - paper for every cell (green: ours higher). The proxy world is not the real
# data, so the absolute levels are not expected to match; what can be compared is the *ordering*
# of the rows and the size of the gaps, judged in the next section.


# %%
def layout(dataset, relevance=None):
    """Our table for one dataset in the paper's columns (mean and std over seeds)."""
    attributes = RETRIEVAL_DATASETS[dataset].names  # in the paper's column order
    return tb.paper_layout(
        tables[dataset], relevance or primary_relevance(dataset), attributes, ROWS
    )


for dataset in DATASETS:
    ours = layout(dataset)
    paper = paper_table(PAPER[dataset])
    print(f"{dataset} ({primary_relevance(dataset)}-label relevance) - ours:")
    display(tb.mean_pm_std(ours))
    print(f"{dataset}: ours - paper")
    diff = tb.difference(ours.mean, paper)
    display(viz.highlight_differences(diff, list(diff.columns)))

# %% [markdown]
# (m3net-claims)=
# ## The paper's claims, judged
#
# The claims of Sec. 4.3, each on the overall metric of the dataset's table, with the paper's own
# numbers beside ours:
#
# - M3-Net beats MODC and the ASEN family on every dataset (MAP@all, MAP@100, Recall@100);
# - on multi-label data, M3-Net > M3-Net_c > M3-Net_a ("complementary granularities");
# - on FashionAI, M3-Net beats both ablations; on DARN, M3-Net is "comparable" to M3-Net_c.
#
# Each claim is judged on the per-query evidence of every seed, paired across the two rows (the
# same test query of both models), with the book's rule ({ref}`verdict-rule`): the mean difference
# A - B, its 95% interval from a hierarchical bootstrap over seeds and queries, and a verdict
# against δ, with Holm's correction across the claims of this section.
#
# > "Comparable" has no rule in the paper; we read it as equivalence: *held* when the interval of
# > M3-Net - M3-Net_c lies inside ±δ, never because two seed ranges overlap.

# %%
verdict_table = m3net_claims.judge_claims(m3net_claims.TABLE_CLAIMS, profile)
publish_claims("04_m3net_results", profile, verdict_table, "m3net-claims")
shown = ["dataset", "claim", "metric", "paper_a", "paper_b"]
shown += ["mean_a", "mean_b", "diff", "lo", "hi", "delta", "verdict"]
verdict_table[shown].round(2)

# %% [markdown]
# ### Relative gains over MODC
#
# The paper quotes M3-Net's gains over MODC as relative changes: on DeepFashion +70.42% MAP@all,
# +57.95% MAP@100, +112.5% Recall@100; on DARN +16.35%, +14.59%, +18.24%. All rows below are
# computed from the tables (the paper's from its printed numbers), for M3-Net and for M3-Net_c.
#
# > **Erratum.** Computed from Table 4, M3-Net's DARN gains on MAP@all and Recall@100 are not the
# > quoted +16.35% and +18.24%: those are M3-Net_c's gains over MODC, while the quoted +14.59%
# > MAP@100 is M3-Net's. The text mixes the two rows; the assertion below checks this on the
# > transcribed table, and the "paper, M3-Net" and "paper, M3-Net_c" rows of DARN show it.

# %%
gains = pd.DataFrame(
    {
        (dataset, f"{source}, {model_name}"): tb.relative_gain(table, model_name, "MODC")[
            list(tb.OVERALL.values())
        ]
        for dataset in DATASETS
        for source, table in (
            ("paper", paper_table(PAPER[dataset])),
            ("ours", layout(dataset).mean),
        )
        for model_name in ("M3-Net", "M3-Net_c")
    }
).T
darn_c = gains.loc[("DARN", "paper, M3-Net_c")].round(2)
darn_m3 = gains.loc[("DARN", "paper, M3-Net")].round(2)
assert (darn_c["MAP@all overall"], darn_c["Recall@100 overall"]) == (16.35, 18.24)
assert darn_m3["MAP@100 overall"] == 14.59 and darn_m3["MAP@all overall"] != 16.35
gains.round(2)

# %% [markdown]
# ## Multi-label vs single-value relevance on DeepFashion
#
# The same rankings scored two ways: "single" counts a candidate relevant only if it has the query's
# listed value (ASEN++'s protocol), "multi" if it shares any positive class of the attribute
# (M3-Net's Table 2). Multi-label relevance marks more candidates relevant, so MAP rises; what
# matters is whether the ordering of the rows survives the change.

# %%
df = tables["DeepFashion"]
both = (
    df[df["attribute"] == "overall"]
    .groupby(["model", "relevance"])["map_all"]
    .mean()
    .unstack()
    .reindex(ROWS)
)
both["multi - single"] = both["multi"] - both["single"]
both["rank (single)"] = both["single"].rank(ascending=False, method="min").astype(int)
both["rank (multi)"] = both["multi"].rank(ascending=False, method="min").astype(int)
both.round(2)

# %% [markdown]
# (m3net-cooccurrence)=
# ## Retrieval on co-occurring classes (Sec. 4.3.1)
#
# The paper computes the pairwise co-occurrence rate of all DeepFashion classes (two classes
# co-occur when one image carries both) and keeps the pairs with a rate of at least 0.002 (rates
# range over [0, 0.03]): 468 of about 1M pairs, 122 unique classes. M3-Net's MAP@all on those
# classes is 35.61, 63.50% above its average over all classes, which the paper reads as M3-Net
# capturing inter-dependencies between classes. {numref}`fig-m3net-cooccurrence` shows the
# proxy's rates.
#
# > **Our choices (and an erratum).** The proxy has 51 classes instead of 1000, each on 2-40% of
# > the images, so its rates are far higher and denser than DeepFashion's. The first version of this
# > chapter kept the paper's cut-off at the same fraction of the largest rate (0.002 / 0.03 = 1/15):
# > that keeps nearly every class (last column of the table below), so the "co-occurring classes"
# > were all the classes that have queries, and the comparison set a number against itself (53.31
# > vs 53.31 on the first cpu build). The cut-off now keeps the paper's *share of the classes*:
# > pairs are taken by decreasing rate until they cover 122 / 1000 = 12.2% of the classes
# > (`co.class_share_cutoff`; on the real data this gives back about the paper's cut-off, which
# > keeps exactly that share). A class's MAP
# > is the mean AP@all of the queries whose positives include it; "all classes" is the mean over
# > every class with a query (`fashion_lib.analysis.cooccurrence`). Rates are computed on all
# > images of the dataset's attribute file, as "in the dataset" says.

# %% mystnb={"figure": {"caption": "Pairwise co-occurrence rates of the proxy DeepFashion classes, grouped by attribute type; pairs at or above the cut-off are the co-occurring ones.", "name": "fig-m3net-cooccurrence"}}
root = world_root(profile)
df_data = read_deepfashion(root / "DeepFashion")
kinds = within_type(df_data.attributes)
sizes = tuple(int(c) for c in np.bincount([v.attr for v in kinds.values()]))
offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
column = {g: offsets[v.attr] + v.value for g, v in kinds.items()}  # global index -> table column
labels = np.zeros((len(df_data.images), sum(sizes)), dtype=bool)
for i, image in enumerate(df_data.images):
    labels[i, [column[g] for g in image.positives]] = True
names = [""] * sum(sizes)
for g, attribute in enumerate(df_data.attributes):
    names[column[g]] = attribute.name
pairs = co.cooccurring_pairs(labels)
within = co.cooccurring_pairs(
    labels, groups=np.repeat(np.arange(len(sizes)), sizes), within_attribute=True
)
old_rule = co.cooccurring_pairs(labels, cutoff=pairs.max_rate * co.PAPER_CUTOFF / co.PAPER_MAX_RATE)
within_column = "ours (pairs within an attribute)"
summary = pd.DataFrame(
    {
        "paper": co.PAPER_FINDINGS,
        **{
            column_name: {
                "max rate": found.max_rate,
                "cut-off": found.cutoff,
                "pairs kept": len(found.pairs),
                "unique classes": len(found.classes),
            }
            for column_name, found in (
                ("ours (all pairs)", pairs),
                (within_column, within),
                ("first version (1/15 of the max rate)", old_rule),
            )
        },
    }
)
assert len(pairs.classes) < labels.shape[1], "the co-occurring classes must be a strict subset"
print(f"{len(labels)} images, {labels.shape[1]} classes, {pairs.num_candidate_pairs} class pairs")
print("co-occurring classes (all pairs):", ", ".join(names[c] for c in pairs.classes))
viz.cooccurrence_heatmap(pairs.rates, names, pairs.cutoff, np.repeat(np.arange(len(sizes)), sizes))

# %% [markdown]
# M3-Net's class MAP on the co-occurring classes against all classes, for each seed, with MODC
# beside it (a row that does not model classes jointly) as the contrast the paper does not show.


# %%
def recorded(model_name, seed, relevance="multi", metric="map_all"):
    """One overall DeepFashion metric of one run, as its run record holds it."""
    df = tables["DeepFashion"]
    pick = (df["model"] == model_name) & (df["seed"] == seed) & (df["relevance"] == relevance)
    return df.loc[pick & (df["attribute"] == "overall"), metric].item()


def per_query_ap(model_name, seed):
    """Per-query AP@all (%, multi-label relevance) of one run and its overall MAP@all.

    Keyed "<attribute>|<query index>" as the runs' evidence files (`fashion_lib.evidence`).
    """
    row = load_row_model(model_name, "DeepFashion", seed, profile)
    data = row.dataset
    q = encode_rows(row.model, row.spec.family, row.eval_inputs, data.queries)
    c = encode_rows(row.model, row.spec.family, row.eval_inputs, data.candidates)
    protocol = "attribute" if row.spec.family == "asen" else "multi_granularity"
    result = evaluate_retrieval(q, c, protocol, "multi", k=settings.k)
    ap = PerQuery(query_keys(data), 100 * result.per_query["ap_all"])
    return ap, result.overall["map_all"], data


cooc_rows, evidence = [], {}
for model_name in ("M3-Net", "MODC"):
    for seed in settings.seeds:
        ap, overall, data = per_query_ap(model_name, seed)
        # the per-query evaluation here must reproduce the run record's overall number
        assert abs(overall - recorded(model_name, seed)) < 1e-6, (model_name, seed)
        evidence[model_name, seed] = ap
        queries = data.queries
        per_class = co.class_map(
            ap.values, queries.attr.numpy(), queries.labels.numpy(), data.classes_per_attribute
        )
        for scope, chosen in (("all pairs", pairs), ("within attribute", within)):
            found = co.compare_class_map(per_class, chosen.classes)
            cooc_rows.append({"model": model_name, "seed": seed, "pairs": scope, **vars(found)})
cooc = pd.DataFrame(cooc_rows)
print("each run's per-query evaluation reproduced its record's overall MAP@all")
ours_m3 = cooc[cooc["model"] == "M3-Net"].groupby("pairs")[["map_cooccurring", "relative_gain"]]
for scope, column in (("all pairs", "ours (all pairs)"), ("within attribute", within_column)):
    means = ours_m3.mean().loc[scope]
    summary.loc["MAP@all on co-occurring classes", column] = means["map_cooccurring"]
    summary.loc["gain over all classes (%)", column] = means["relative_gain"]
display(summary.round(3))
cooc

# %% [markdown]
# The paper's figure, M3-Net's class MAP on the co-occurring classes against its mean over all
# classes, is in the summary table above, and MODC's beside it in the runs' table. It is not
# judged as a claim, because it cannot tell M3-Net's modelling from the data: the co-occurring
# classes tend to be the frequent ones (a class on many images co-occurs with many others), and a
# frequent class has more relevant candidates, hence a higher AP, for *any* model.
#
# The paper's reading, "M3-Net is able to incorporate the inter-dependencies between these
# classes", predicts something the frequency of a class does not: M3-Net should gain *more* over a
# baseline on the co-occurring classes than elsewhere. We measure it per query: the gain of M3-Net
# over MODC (the best baseline, which models no class jointly) in AP@all, on the queries whose
# positives include a co-occurring class (`co.cooccurring_queries`) against the other queries
# (`co.gain_by_cooccurrence`, keyed "attribute|query index" as the runs' evidence files). The two
# models answer the same queries, so each gain is paired, and a class's frequency lifts both
# models' AP alike.
#
# > The claim compares the mean gains of two disjoint sets of queries. `co.gain_gap_values` writes
# > it in its linearised (delta-method) form, one value per query and seed, so that the book's
# > paired bootstrap (`fashion_lib.stats`) judges it like every other claim, with δ of MAP.

# %%
flags = co.cooccurring_queries(
    data.queries.attr.numpy(),
    data.queries.labels.numpy(),
    data.classes_per_attribute,
    pairs.classes,
)
gain_groups = [
    co.gain_by_cooccurrence(evidence["M3-Net", seed], evidence["MODC", seed], flags)
    for seed in settings.seeds
]
gains_by_seed = pd.DataFrame(
    [
        {"seed": seed, "queries": group, "n": len(g.values), "gain": float(np.nanmean(g.values))}
        for seed, groups in zip(settings.seeds, gain_groups, strict=True)
        for group, g in groups.items()
    ]
)
display(gains_by_seed.pivot(index="seed", columns="queries", values=["n", "gain"]).round(2))
gap = stats.compare_values(*co.gain_gap_values(gain_groups))
reading_claim = stats.judge([gap], [">"], [stats.delta_for("map_all")]).assign(
    paper="M3-Net",
    source="Sec. 4.3.1, DeepFashion",
    metric="AP@all gain of M3-Net over MODC per query",
    claim="M3-Net gains more over MODC on co-occurring classes than on the others",
    a="queries with a co-occurring class",
    b="other queries",
)
publish_claims("04_m3net_results", profile, reading_claim, "m3net-cooccurrence")
reading_claim[["claim", "mean_a", "mean_b", "diff", "lo", "hi", "delta", "verdict", "seeds"]]

# %% [markdown]
# (m3net-gamma)=
# ## Sensitivity to the threshold gamma
#
# M3-Net opens a class-specific space only for the classes its head scores above gamma: "with
# gamma = 0.8, we can exclude on average 94% of classes for an image". We sweep gamma on trained
# M3-Net weights, without retraining and with a single forward pass: every (image, class) pair is
# encoded once, and each gamma keeps the pairs the model's rule would open
# (`fashion_lib.analysis.gamma`). Two shares are shown: the paper's (classes with p <= gamma) and
# the model's (after its top-1 floor, the one retrieval actually uses).
# {numref}`fig-m3net-gamma` plots them with the three metrics.
#
# > **Errata and choices.**
# >
# > - *The cap.* The first version also capped the class spaces at 8 per image. That cap
# >   contradicts the paper's own figure: on DeepFashion's ~200 classes per attribute, keeping 6%
# >   means about 12 classes per image, which a cap of 8 cannot keep (it alone excludes 96%). The
# >   model now follows the paper, every class above gamma (`M3NetConfig.max_classes = None`); the
# >   top-1 floor stays (a row with no class above gamma would have no class space). The table
# >   after the figure shows, on the same trained weights, what the old cap changed. The cost:
# >   the class branch encodes one pair per opened space, so the evaluation grows with the
# >   "class spaces per row" of that table (`benchmarks/bench_m3net_cap.py` times the worst
# >   case).
# > - *Eq. 7's sign.* The paper prints $L_M = \frac{1}{M_n}\sum_m [-w_p y \log x + (1 - y)
# >   \log(1 - x)]$; minimising the second term as printed would push every negative class's
# >   probability *up*. We use the standard weighted binary cross-entropy, both terms negative:
# >   $-w_p y \log x - (1 - y) \log(1 - x)$ (`fashion_lib.losses.m3net`).
# >
# > The share also depends on how often the head sees each class. Eq. 7 weights positives by w_p
# > (100 on DeepFashion), and a head that knew nothing but a class's positive rate pi would settle
# > at p* = w_p pi / (w_p pi + 1 - pi) (`gamma.weighted_bce_optimum`): about 0.5 for pi = 1%,
# > above 0.9 for pi = 20%. That pi is the rate *in the rows Eq. 7 is trained on*, not in the
# > training images: each triplet draws its value uniformly among the attribute's values, and two of
# > its three rows carry it. `gamma.sampled_positive_rate` counts the classes over exactly the rows
# > of the run (its sampler, seed and epochs), where a rate-only head minimises Eq. 7 exactly. The
# > curve "rate-only head (sampler rows)" is that prior; "rate-only head (all images)", the first
# > version's, took pi over the training images and is kept for contrast. Where the measured curve
# > follows the prior, the head has learned little beyond the rates it was shown.

# %%
GAMMAS = (0.05, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95)
FIRST_VERSION_CAP = 8  # the first version's max_classes


def rate_only_excluded(rate, pos_weight, gamma):
    """Share (%) of an evaluated row's classes that a head knowing only ``rate`` excludes."""
    rows = torch.cat([data.queries.attr, data.candidates.attr])  # every evaluated row
    share = gm.prior_excluded_share(rate, rows, data.classes_per_attribute, pos_weight, gamma)
    return 100 * share


sweeps, caps, excluded_rows = [], [], []
for seed in settings.seeds:
    row = load_row_model("M3-Net", "DeepFashion", seed, profile)
    data, model = row.dataset, row.model
    sides = []
    for rows in (data.queries, data.candidates):
        inputs = row.eval_inputs[rows.fid]
        x = inputs.float() if row.frozen else normalise(inputs)
        emb = gm.embed_all_classes(model, x, rows.attr)
        sides.append(
            (RetrievalSide(emb.attribute_embeddings, rows.attr, rows.value, rows.labels), emb)
        )
    points = gm.gamma_sweep(
        sorted({*GAMMAS, model.config.gamma}),
        model.config.max_classes,
        sides[0],
        sides[1],
        relevance="multi",
        k=settings.k,
    )
    at_model = next(p for p in points if p.gamma == model.config.gamma)
    record = recorded("M3-Net", seed)
    assert abs(at_model.metrics["map_all"] - record) < 1e-3, (at_model.metrics, record)
    logits, mask = (
        torch.cat([side[1].logits for side in sides]),
        torch.cat([side[1].mask for side in sides]),
    )
    excluded_rows.append(100 * gm.excluded_per_row(logits, mask, gm.PAPER_GAMMA).numpy())
    capped = gm.gamma_sweep(
        [model.config.gamma], FIRST_VERSION_CAP, *sides, relevance="multi", k=settings.k
    )
    for label, point in (("no cap (the paper's rule)", at_model), ("cap of 8", capped[0])):
        caps.append({"seed": seed, "class spaces": label, **gm.as_table([point])[0]})
    # the prior of a rate-only head: class rates over the rows the head was trained on
    sampler = TripletSampler(
        data.train_labels, settings.triplets_per_epoch, seed, ROW_SPECS["M3-Net"].style
    )
    sampled = gm.sampled_positive_rate(
        sampler, data.train_multihot, settings.epochs, settings.batch_triplets
    )
    table = gm.as_table(points)
    for entry, point in zip(table, points, strict=True):
        entry["excluded % (rate-only head, sampler rows)"] = rate_only_excluded(
            sampled, settings.deepfashion_pos_weight, point.gamma
        )
    sweeps += [{"seed": seed, **r} for r in table]
image_rate = data.train_multihot.float().mean(dim=0)  # (A, M_max) the first version's pi
sweep = pd.DataFrame(sweeps).groupby("gamma").mean().drop(columns="seed")
sweep["excluded % (rate-only head, all images)"] = [
    rate_only_excluded(image_rate, settings.deepfashion_pos_weight, g) for g in sweep.index
]
print(f"the sweep at the model's gamma = {model.config.gamma} reproduces the run records' MAP@all")
sweep.round(2)

# %% mystnb={"figure": {"caption": "Sensitivity to gamma on DeepFashion (mean over seeds): share of classes excluded and the retrieval metrics, with the paper's point.", "name": "fig-m3net-gamma"}}
viz.gamma_curve(
    sweep.index.tolist(),
    {name: sweep[name].tolist() for name in sweep.columns if name.startswith("excluded")},
    metrics={
        "MAP@all": sweep["map_all"].tolist(),
        "MAP@100": sweep["map_k"].tolist(),
        "Recall@100": sweep["recall_k"].tolist(),
    },
    paper_point=(gm.PAPER_GAMMA, gm.PAPER_EXCLUDED),
)

# %% [markdown]
# What the first version's cap of 8 class spaces per image changed, at the model's gamma, on the
# same trained weights (mean over seeds): the paper's rule opens every class above gamma; the cap
# keeps the 8 most likely. The proxy's attributes have 6-16 classes, so the cap only binds on the
# larger ones; on DeepFashion's ~200 classes per attribute it would bind on most images.

# %%
cap_table = pd.DataFrame(caps).drop(columns=["seed", "gamma"]).groupby("class spaces").mean()
cap_table.round(2)

# %% [markdown]
# The paper's figure as a judged claim. The paper gives no tolerance; our rule: the claim holds
# when the share excluded at the paper's gamma (classes with p <= gamma, the paper's measure, per
# evaluated image) is above the paper's share minus `TOLERANCE` points, judged per image and seed
# with the book's paired bootstrap (`fashion_lib.stats`) against that bound; δ is one point, as
# for every share in percent.

# %%
TOLERANCE = 10.0
bound = gm.PAPER_EXCLUDED - TOLERANCE
shares = np.stack(excluded_rows)  # (seeds, evaluated rows), percent
gamma_claim = stats.judge(
    [stats.compare_values(shares, np.full_like(shares, bound))], [">"], [stats.DELTAS["mass"]]
).assign(
    paper="M3-Net",
    source="Sec. 3.1, DeepFashion",
    metric="excluded % (p <= gamma)",
    claim=f"gamma = {gm.PAPER_GAMMA} excludes at least {bound:g}% of an image's classes",
    a=f"share excluded at gamma = {gm.PAPER_GAMMA}",
    b=f"the paper's {gm.PAPER_EXCLUDED:g}% - {TOLERANCE:g} points",
    paper_a=gm.PAPER_EXCLUDED,
    paper_b=bound,
)
publish_claims("04_m3net_results", profile, gamma_claim, "m3net-gamma")
gamma_claim[["claim", "mean_a", "diff", "lo", "hi", "verdict", "seeds", "paper_a"]].round(2)

# %% [markdown]
# ## Is the gap to the paper's margins a frozen-backbone effect?
#
# Our rows train on a frozen, cached backbone; the paper trains its backbone end to end. Chapter 03
# answers the question with a targeted experiment ({ref}`m3net-last-stage`): M3-Net and MODC on
# FashionAI with the backbone's last stage trained, five seeds, judged with the same rule as the
# claims above.

# %% [markdown]
# ## What this chapter produced
#
# - Tables 2-4 in the paper's layout (mean ± std over the profile's seeds) and their differences
#   from the printed numbers, read from the run records of chapter 03;
# - a verdict on each claim of Sec. 4.3 and the relative gains over MODC, ours beside the paper's;
# - DeepFashion under multi-label and single-value relevance;
# - the co-occurring classes of the proxy DeepFashion (the paper's share of the classes), the
#   class MAP of M3-Net (and MODC) on them, checked against the run records, and M3-Net's per-query
#   gain over MODC on the queries of co-occurring classes against the others;
# - the gamma sweep: classes excluded per image and retrieval quality, on trained weights, beside
#   the prior of a head that knows only the class rates of its training rows, and what the first
#   version's cap of 8 class spaces changed.

# %% [markdown]
# ## Exercises
#
# Each exercise asks for a prediction and has a try-it cell holding the one value to change. Write
# the prediction down, then open the **Solution**: the prediction and its reasoning in prose, and
# the code that measures what happens at the try-it value (in JupyterLab, change the value and run
# the solution's cells again). Each solution reuses what the chapter computed above (no training, no
# new encoding).

# %% [markdown] tags=["exercise"]
# ### Exercise 4.1: w_p = 1 on DeepFashion
#
# The gamma curve "rate-only head (sampler rows)" is the head that only knows each class's rate in
# its training rows, trained with w_p = 100. Set w_p to 1 (FashionAI's and DARN's weight) and
# recompute the share of classes that head excludes at every gamma of the sweep. **Predict** the
# share at the paper's gamma = 0.8.


# %% tags=["try-it"]
try_pos_weight = 1.0  # w_p of Eq. 7 (DeepFashion's: 100)

# %% [markdown] tags=["solution"]
# **Prediction.** With w_p = 1 the rate-only head excludes (almost) every class at gamma = 0.8, and many
# more than with w_p = 100 at every gamma.
#
# **Reasoning.** With w_p = 1, Eq. 7's optimum is p* = pi, the class's rate in the head's rows, and no
# proxy class is on 80% of its attribute's rows; w_p = 100 lifts p* to 100 pi / (100 pi + 1 - pi),
# above 0.8 for any class on more than about 4% of the rows.

# %% tags=["solution"]
print(f"largest rate of a proxy class in the head's rows: {float(sampled.max()):.2f}")
pd.DataFrame(
    {
        f"w_p = {w:g}": [rate_only_excluded(sampled, w, g) for g in sweep.index]
        for w in (settings.deepfashion_pos_weight, try_pos_weight)
    },
    index=sweep.index,
).round(1)

# %% [markdown] tags=["exercise"]
# ### Exercise 4.2: judge the claims on one seed
#
# Keep only the first seed of every row and judge the MAP@all claims of the verdict table again
# with the same rule. **Predict** whether the intervals get wider or narrower with one seed, and
# what that makes of the verdicts.

# %% tags=["try-it"]
try_seeds = 1  # seeds kept per row

# %% [markdown] tags=["solution"]
# **Prediction.** Narrower, and more claims come out "held" or "reversed". Reasoning: with one seed the
# interval covers only the sampling of test queries, not the spread between trainings (the result
# says so in its note), so it is too narrow for a claim about the method; a decisive verdict on one
# seed is not a more reliable one. In the smoke profile there is one seed, so both columns agree.

# %% tags=["solution"]
from fashion_lib.experiments.m3net_runs import row_evidence

ex_claims = [c for c in m3net_claims.TABLE_CLAIMS if c.metric == "MAP@all overall"]
ex_width = {}
for ex_seeds in {
    len(settings.seeds): settings.seeds,
    try_seeds: settings.seeds[:try_seeds],
}.values():
    ex_judged = m3net_claims.judge_claims(
        ex_claims,
        profile,
        lambda m, d, p, g, s=tuple(ex_seeds): row_evidence(m, d, p, g, seeds=s),
    )
    ex_width[f"{len(ex_seeds)} seed(s)"] = {
        "mean interval width": (ex_judged["hi"] - ex_judged["lo"]).mean(),
        **ex_judged["verdict"].value_counts().to_dict(),
    }
pd.DataFrame(ex_width).fillna(0).round(2)

# %% [markdown] tags=["exercise"]
# ### Exercise 4.3: a cut-off past the end of the list
#
# Score the last seed's M3-Net in its attribute space (the embeddings of the gamma sweep) with
# the cut-off k of MAP@k and Recall@k raised from 100 to the number of candidates. **Predict**
# Recall@k, and how MAP@k relates to MAP@all.

# %% tags=["try-it"]
try_k = 10**6  # the cut-off k (capped at the number of candidates)

# %% [markdown] tags=["solution"]
# **Prediction.** Recall@k is 100 % for every query, MAP@k equals MAP@all, and MAP@all itself does not
# change with k.
#
# **Reasoning.** With k at least the number of a query's candidates, the top k is the whole ranking, so
# every relevant candidate is found; MAP@k sums precision at the relevant positions of the top k
# and divides by min(R, k) = R, which is the average precision of the full ranking.

# %% tags=["solution"]
ex_q, ex_c = sides[0][0], sides[1][0]  # attribute-space queries and candidates
ex_metrics = {}
for ex_k in (settings.k, min(try_k, len(ex_c.attr_ids))):
    ex_found = evaluate_retrieval(ex_q, ex_c, protocol="attribute", relevance="multi", k=ex_k)
    ex_metrics[f"k = {ex_k}"] = {
        "MAP@all": ex_found.overall["map_all"],
        "MAP@k": ex_found.overall["map_k"],
        "Recall@k": ex_found.overall["recall_k"],
    }
pd.DataFrame(ex_metrics).T.round(4)

# %% [markdown]
# ## Provenance
#
# What produced this page: the profile, the run records this chapter wrote or reused (name,
# configuration hash, seed), the commit of the code, the chapter's wall time and peak memory, and
# the machine.

# %%
from fashion_lib.book.provenance import provenance_block

provenance_block(profile)
