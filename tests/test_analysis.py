"""Analyses: co-occurrence on a hand-made label matrix, gamma exclusion, attention mass on masks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from fashion_lib import stats
from fashion_lib.analysis import attention_score as score
from fashion_lib.analysis import cooccurrence as co
from fashion_lib.analysis import gamma as gm
from fashion_lib.analysis import tables as tb
from fashion_lib.analysis.ranking import rank_queries
from fashion_lib.data.samplers import AttributeLabels, TripletSampler
from fashion_lib.evidence import PerQuery
from fashion_lib.losses import weighted_multilabel_bce
from fashion_lib.models import create_model
from fashion_lib.retrieval import RetrievalSide, evaluate_retrieval

# 5 images x 4 classes (classes 0, 1 in attribute 0; classes 2, 3 in attribute 1).
LABELS = np.array(
    [
        [1, 1, 0, 0],
        [1, 1, 1, 0],
        [1, 0, 1, 0],
        [0, 0, 0, 1],
        [1, 1, 0, 1],
    ]
)


def test_cooccurrence_rates_by_hand() -> None:
    rates = co.cooccurrence_rates(LABELS)
    # pair (0, 1): images 0, 1, 4 -> 3/5; (0, 2): images 1, 2 -> 2/5; (1, 2): image 1 -> 1/5
    assert rates[0, 1] == pytest.approx(0.6) and rates[1, 0] == pytest.approx(0.6)
    assert rates[0, 2] == pytest.approx(0.4)
    assert rates[1, 2] == pytest.approx(0.2)
    assert rates[2, 3] == 0.0 and np.all(np.diag(rates) == 0)
    ref = np.array(
        [[np.mean(LABELS[:, i] & LABELS[:, j]) for j in range(4)] for i in range(4)], dtype=float
    )
    np.fill_diagonal(ref, 0)
    np.testing.assert_allclose(rates, ref)


def test_cooccurring_pairs_cutoff_and_scaling() -> None:
    got = co.cooccurring_pairs(LABELS, cutoff=0.4)
    assert got.pairs.tolist() == [[0, 1], [0, 2]]  # by decreasing rate
    assert got.classes.tolist() == [0, 1, 2]
    assert got.num_candidate_pairs == 6
    within = co.cooccurring_pairs(
        LABELS, cutoff=0.2, groups=np.array([0, 0, 1, 1]), within_attribute=True
    )
    assert within.pairs.tolist() == [[0, 1]] and within.num_candidate_pairs == 2
    # default cut-off: the kept pairs cover the paper's share of the classes (122 of 1000), so
    # on dense rates the co-occurring classes are a strict subset, not every class
    auto = co.cooccurring_pairs(LABELS)
    assert pytest.approx(0.122) == co.PAPER_CLASS_SHARE
    assert auto.cutoff == pytest.approx(0.6) and auto.classes.tolist() == [0, 1]
    assert co.class_share_cutoff(auto.rates, share=0.75) == pytest.approx(0.4)  # 3 of 4 classes
    assert co.class_share_cutoff(auto.rates, share=1.0) == pytest.approx(0.2)
    assert co.class_share_cutoff(np.zeros((3, 3))) == 0.0


def test_cooccurring_subset_differs_from_all_classes_on_dense_rates() -> None:
    # 60 images, 12 classes: every class co-occurs with every other on some image (the proxy's
    # dense rates), and classes 0-2 co-occur far more often. The old cut-off at 1/15 of the
    # largest rate kept every class; the class-share cut-off keeps the frequent trio.
    rng = np.random.default_rng(0)
    labels = rng.random((60, 12)) < 0.25
    labels[:30, :3] = True
    labels[np.arange(12), np.arange(12)] = labels[np.arange(12), (np.arange(12) + 1) % 12] = True
    pairs = co.cooccurring_pairs(labels)
    old_rule = co.cooccurring_pairs(labels, cutoff=pairs.max_rate / 15)  # 0.002 / 0.03 of max
    assert len(old_rule.classes) == 12
    assert 0 < len(pairs.classes) < 12 and set(pairs.classes.tolist()) <= {0, 1, 2}
    per_class = np.arange(12, dtype=float)  # class MAPs differ, so the two means must differ
    cmp = co.compare_class_map(per_class, pairs.classes)
    assert cmp.map_cooccurring != cmp.map_all_classes


def test_cooccurring_queries_and_paired_gain() -> None:
    attr = np.array([0, 0, 1, 1])
    labels = np.array([[1, 1, 0], [0, 1, 0], [0, 1, 0], [1, 0, 1]])  # M = (2, 3)
    # global classes: query 0 -> {0, 1}, query 1 -> {1}, query 2 -> {3}, query 3 -> {2, 4}
    chosen = co.cooccurring_queries(attr, labels, (2, 3), np.array([0, 4]))
    assert chosen.tolist() == [True, False, False, True]
    keys = np.array(["a|0", "a|1", "b|2", "b|3"])
    m3 = PerQuery(keys, np.array([80.0, 50.0, 40.0, np.nan]))
    base = PerQuery(keys[::-1].copy(), np.array([30.0, 45.0, 50.0, 60.0]))  # other order
    split = co.gain_by_cooccurrence(m3, base, chosen)
    assert split["cooccurring"].keys.tolist() == ["a|0", "b|3"]
    np.testing.assert_array_equal(split["cooccurring"].values, [20.0, np.nan])
    assert split["other"].keys.tolist() == ["a|1", "b|2"]
    np.testing.assert_array_equal(split["other"].values, [0.0, -5.0])
    with pytest.raises(ValueError, match="same query keys"):
        co.gain_by_cooccurrence(m3, PerQuery(keys[:3], np.zeros(3)), chosen)
    with pytest.raises(ValueError, match="flags"):
        co.gain_by_cooccurrence(m3, base, chosen[:3])


def test_class_map_and_comparison() -> None:
    ap = np.array([0.5, 1.0, 0.2, 0.4])
    attr = np.array([0, 0, 1, 1])
    labels = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 0], [1, 1, 1]])  # M = (2, 3): col 2 invalid
    per_class = co.class_map(ap, attr, labels, (2, 3))
    # class 0: queries 0, 1 -> 0.75; class 1: query 0 -> 0.5; class 2 (attr 1, m 0): query 3;
    # class 3 (attr 1, m 1): queries 2, 3 -> 0.3; class 4 (attr 1, m 2): query 3 -> 0.4
    np.testing.assert_allclose(per_class, [0.75, 0.5, 0.4, 0.3, 0.4])
    cmp = co.compare_class_map(per_class, np.array([0, 1]))
    assert cmp.map_cooccurring == pytest.approx(0.625)
    assert cmp.map_all_classes == pytest.approx(np.mean([0.75, 0.5, 0.4, 0.3, 0.4]))
    assert cmp.relative_gain == pytest.approx(100 * (0.625 / 0.47 - 1))
    assert cmp.num_classes == (2, 5)
    per_class[1] = np.nan  # a class without queries is skipped in both means
    assert co.compare_class_map(per_class, np.array([0, 1])).num_classes == (1, 4)


def test_excluded_share_on_known_logits() -> None:
    probs = torch.tensor([[0.9, 0.5, 0.1, 0.0], [0.95, 0.85, 0.2, 0.7]])
    logits = torch.logit(probs.clamp(1e-6, 1 - 1e-6))
    mask = torch.tensor([[True, True, True, False], [True, True, True, True]])
    # row 0: 2 of 3 classes <= 0.8; row 1: 2 of 4 -> mean(2/3, 1/2)
    assert gm.excluded_share(logits, mask, 0.8) == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert gm.excluded_per_row(logits, mask, 0.8).tolist() == pytest.approx([2 / 3, 1 / 2])
    assert gm.excluded_share(logits, mask, 0.99) == pytest.approx(1.0)
    points = gm.gamma_sweep([0.8, 0.99], max_classes=4, logits=(logits, mask))
    # model rule: the top-1 always stays, so at 0.99 one class per row is kept
    assert points[1].excluded_model == pytest.approx((2 / 3 + 3 / 4) / 2)
    assert points[1].classes_kept == pytest.approx(1.0)
    assert points[0].classes_kept == pytest.approx(1.5)
    assert points[0].metrics == {}


def test_all_class_ids_and_select_spaces() -> None:
    ids = gm.all_class_ids(torch.tensor([1, 0]), (2, 3))
    assert ids.tolist() == [[0, 1, 2], [0, 1, -1]]
    side = gm.AllClassEmbedding(
        attribute_embeddings=torch.eye(2),
        logits=torch.tensor([[3.0, -3.0, 2.0], [-1.0, -3.0, 0.0]]),
        mask=torch.tensor([[True, True, True], [True, True, False]]),
        spaces=gm.ClassSpaces(
            torch.tensor([0, 0, 0, 1, 1]), torch.tensor([0, 1, 2, 0, 1]), torch.eye(5)
        ),
    )
    kept = gm.select_spaces(side, gamma=0.8, max_classes=3)
    # row 0: p = (0.95, 0.05, 0.88) -> classes 0 and 2; row 1: nothing above 0.8 -> top-1 (0)
    assert list(zip(kept.image.tolist(), kept.class_id.tolist(), strict=True)) == [
        (0, 0),
        (0, 2),
        (1, 0),
    ]


def test_gamma_sweep_reuses_one_forward_pass() -> None:
    torch.manual_seed(0)
    sizes = (3, 2)
    model = create_model(
        "m3net_small",
        classes_per_attribute=sizes,
        backbone_width=4,
        attention_dim=8,
        label_dim=8,
        head_hidden=8,
        max_classes=3,
    ).eval()
    images, attr = torch.rand(6, 3, 16, 16), torch.tensor([0, 1, 0, 1, 0, 1])
    emb = gm.embed_all_classes(model, images, attr, batch_size=4)
    assert len(emb.spaces.image) == 3 + 2 + 3 + 2 + 3 + 2  # every (row, class) pair
    labels = torch.tensor([[1, 0, 0], [0, 1, 0], [1, 1, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0]])
    side = RetrievalSide(emb.attribute_embeddings, attr, labels.argmax(1), labels=labels)
    points = gm.gamma_sweep([0.0, 0.99], 3, queries=(side, emb), candidates=(side, emb))
    assert points[0].classes_kept == pytest.approx(2.5)  # gamma 0: every class (3 or 2)
    # the same pairs encoded directly by the model at its own gamma give the same metrics
    model_out = model(images, attr, class_ids=model.predict_classes(emb.logits, emb.mask))
    direct = gm.ClassSpaces(model_out.pair_image, model_out.pair_class, model_out.class_embeddings)
    base = RetrievalSide(
        emb.attribute_embeddings, attr, labels.argmax(1), labels=labels, class_spaces=direct
    )
    ref = evaluate_retrieval(base, base, "multi_granularity", "multi")
    mine = gm.gamma_sweep([model.config.gamma], 3, queries=(side, emb), candidates=(side, emb))
    for key, value in ref.overall.items():
        assert mine[0].metrics[key] == pytest.approx(value, abs=1e-4)


def test_attention_mass_inside_outside_and_uniform() -> None:
    mask = torch.zeros(1, 8, 8, dtype=torch.bool)
    mask[0, :4, :4] = True  # top-left quarter of the image
    inside = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])  # all mass on the top-left cell
    outside = torch.tensor([[[0.0, 0.0], [0.0, 1.0]]])
    uniform = torch.full((1, 2, 2), 0.25)
    assert float(score.attention_mass(inside, mask).mass) == pytest.approx(1.0)
    assert float(score.attention_mass(outside, mask).mass) == pytest.approx(0.0)
    uni = score.attention_mass(uniform, mask)
    assert float(uni.mass) == pytest.approx(0.25) and float(uni.area) == pytest.approx(0.25)
    assert float(uni.lift) == pytest.approx(1.0)
    half = torch.zeros(1, 8, 8, dtype=torch.bool)
    half[0, :2, :4] = True  # covers half of the top-left cell
    assert float(score.attention_mass(inside, half).mass) == pytest.approx(0.5)
    empty = score.attention_mass(uniform, torch.zeros(1, 8, 8, dtype=torch.bool))
    assert math.isnan(float(empty.lift))
    with pytest.raises(ValueError):
        score.attention_mass(uniform[0], mask)


def test_class_part_names() -> None:
    assert score.class_part("DeepFashion", 3, 12) == "slit"
    assert score.class_part("DeepFashion", 0, 0) == "torso"
    assert score.class_part("FashionAI", 0, 3) == "hem"
    assert score.class_part("DARN", 7, 0) == "sleeves"
    with pytest.raises(Exception, match="no part map"):
        score.class_part("FashionGen", 0, 0)


def test_rank_queries_reproduces_evaluation_ap() -> None:
    g = torch.Generator().manual_seed(3)
    n_q, n_c = 5, 12
    q_attr, c_attr = torch.tensor([0, 1, 0, 1, 0]), torch.arange(n_c) % 2
    q_lab = torch.rand(n_q, 3, generator=g) > 0.5
    c_lab = torch.rand(n_c, 3, generator=g) > 0.5
    q_lab[:, 0] = True  # every query has a relevant class
    queries = RetrievalSide(torch.randn(n_q, 4, generator=g), q_attr, q_lab.long().argmax(1), q_lab)
    cands = RetrievalSide(torch.randn(n_c, 4, generator=g), c_attr, c_lab.long().argmax(1), c_lab)
    res = evaluate_retrieval(queries, cands, "attribute", "multi")
    ranked = rank_queries(queries, cands, range(n_q), "attribute", "multi", k=n_c)
    for r in ranked:
        assert bool((c_attr[r.candidates] == q_attr[r.query]).all()) and len(r.candidates) == 6
        hits = r.relevant.double()
        precision = hits.cumsum(0) / torch.arange(1, len(hits) + 1)
        ap = float((precision * hits).sum() / hits.sum()) if hits.sum() > 0 else 0.0
        assert ap == pytest.approx(res.per_query["ap_all"][r.query])
    top2 = rank_queries(queries, cands, [1], "attribute", "single", k=2)[0]
    assert len(top2.candidates) == 2
    expected = cands.values[top2.candidates] == queries.values[1]
    assert top2.relevant.tolist() == expected.tolist()


def test_paper_layout_difference_and_gain() -> None:
    rows = []
    for model, base in (("A", 10.0), ("B", 20.0)):
        for seed, shift in ((0, 0.0), (1, 2.0)):
            common = {"model": model, "seed": seed, "relevance": "single"}
            rows.append(
                {
                    **common,
                    "attribute": "overall",
                    "map_all": base + shift,
                    "map_100": base + 1,
                    "recall_100": base + 2,
                }
            )
            rows.append(
                {
                    **common,
                    "attribute": "skirt_length",
                    "map_all": base + 3 + shift,
                    "map_100": np.nan,
                    "recall_100": np.nan,
                }
            )
            rows.append(
                {
                    **common,
                    "attribute": "macro",
                    "map_all": 0.0,
                    "map_100": np.nan,
                    "recall_100": np.nan,
                }
            )
    rows.append(
        {
            "model": "A",
            "seed": 0,
            "relevance": "multi",
            "attribute": "overall",
            "map_all": 99.0,
            "map_100": 99.0,
            "recall_100": 99.0,
        }
    )
    lay = tb.paper_layout(pd.DataFrame(rows), "single", ["skirt_length"], ["B", "A"])
    assert list(lay.mean.index) == ["B", "A"]
    assert list(lay.mean.columns) == [
        "MAP@all skirt length",
        "MAP@all overall",
        "MAP@100 overall",
        "Recall@100 overall",
    ]
    assert lay.mean.loc["A", "MAP@all overall"] == pytest.approx(11.0)  # mean of 10 and 12
    assert lay.std.loc["A", "MAP@all overall"] == pytest.approx(np.std([10, 12], ddof=1))
    assert lay.mean.loc["B", "MAP@all skirt length"] == pytest.approx(24.0)
    assert lay.seeds.tolist() == [2, 2]
    assert tb.mean_pm_std(lay).loc["A", "MAP@100 overall"] == "11.00 ± 0.00"
    paper = pd.DataFrame({"MAP@all overall": [10.0], "MAP@all texture": [1.0]}, index=["A"])
    diff = tb.difference(lay.mean, paper)
    assert diff.loc["A", "MAP@all overall"] == pytest.approx(1.0)
    assert np.isnan(diff.loc["B", "MAP@all overall"])
    gain = tb.relative_gain(lay.mean, "B", "A")
    assert gain["MAP@all overall"] == pytest.approx(100 * (21 / 11 - 1))
    assert tb.attribute_column("texture-related") == "MAP@all texture"


def test_weighted_bce_optimum_minimises_the_loss() -> None:
    rates = torch.tensor([0.01, 0.2, 0.5], dtype=torch.float64)
    for weight in (1.0, 100.0):
        best = gm.weighted_bce_optimum(rates, weight)
        grid = torch.linspace(1e-4, 1 - 1e-4, 20001, dtype=torch.float64)
        p = grid[:, None]  # grid search, a plain reference
        loss = -weight * rates * torch.log(p) - (1 - rates) * torch.log(1 - p)
        torch.testing.assert_close(best, p[loss.argmin(dim=0), 0], atol=1e-4, rtol=0)
    torch.testing.assert_close(gm.weighted_bce_optimum(rates, 1.0), rates)


def test_sampled_positive_rate_is_the_prior_eq7_induces_on_the_trained_rows() -> None:
    # 40 images, 2 attributes: attribute 0 multi-label over 4 classes, attribute 1 single-label
    # with a frequent value (0 on 30 images, 1 and 2 on 5 each)
    rng = np.random.default_rng(1)
    rows = [(i, 0, v) for i in range(40) for v in range(4) if rng.random() < 0.3 or v == i % 4]
    rows += [(i, 1, 0 if i < 30 else 1 + i % 2) for i in range(40)]
    labels = AttributeLabels.from_rows(rows, (4, 3))
    multihot = torch.zeros(40, 2, 4, dtype=torch.bool)
    for i, a, v in rows:
        multihot[i, a, v] = True
    sampler = TripletSampler(labels, num_triplets=50, seed=3, style="m3net")
    rate = gm.sampled_positive_rate(sampler, multihot, epochs=2, batch_triplets=16)
    # brute force: every row of the 3 x 48 triplets used per epoch (the last 2 make no batch)
    total, count = torch.zeros(2, 4, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    for epoch in range(2):
        ep = sampler.epoch(epoch)
        for t in range(48):
            for image in (ep.anchor[t], ep.positive[t], ep.negative[t]):
                total[ep.attribute[t]] += multihot[image, ep.attribute[t]].double()
                count[ep.attribute[t]] += 1
    torch.testing.assert_close(rate.double(), total / count[:, None], rtol=0, atol=1e-6)
    # values are drawn uniformly and carried by 2 of 3 rows: the frequent value, on 75% of the
    # images, is on (2/3 + 2/3 x 30/35) / 3 = 41% of the rows in expectation
    assert float(rate[1, :3].sum()) == pytest.approx(1.0)  # one value per row
    image_rate = multihot.double().mean(dim=0)  # (2, 4) over all training images
    assert float(image_rate[1, 0]) == 0.75 and 0.3 < float(rate[1, 0]) < 0.55
    # Eq. 7 with one constant logit per class, on exactly these rows, is minimised at the
    # optimum of the sampled rate (zero gradient) and not at the all-images rate
    ep_rows = [sampler.epoch(e) for e in range(2)]
    image = torch.cat(
        [torch.from_numpy(x[:48]) for ep in ep_rows for x in (ep.anchor, ep.positive, ep.negative)]
    )
    attr = torch.cat([torch.from_numpy(ep.attribute[:48]).repeat(3) for ep in ep_rows])
    valid = torch.tensor([[True] * 4, [True] * 3 + [False]])  # (A, M_max) real classes

    def grad_at(prior: torch.Tensor) -> torch.Tensor:
        logit = torch.logit(gm.weighted_bce_optimum(prior, 100.0)).requires_grad_(True)
        weighted_multilabel_bce(logit[attr], multihot[image, attr], valid[attr], 100.0).backward()
        return logit.grad[valid]

    assert grad_at(rate.double()).abs().max() < 1e-6
    assert grad_at(image_rate).abs().max() > 1e-4


def test_gain_gap_values_judge_the_difference_of_two_group_means() -> None:
    rng = np.random.default_rng(0)
    keys_c = np.array([f"a|{i}" for i in range(300)])
    keys_o = np.array([f"b|{i}" for i in range(500)])
    groups = []
    for seed in range(3):  # gains of 3 points on C, 1 on O, with a seed shift
        gain_c = 3.0 + seed * 0.1 + rng.normal(0, 10, 300)
        gain_o = 1.0 + rng.normal(0, 20, 500)
        gain_o[7] = np.nan if seed == 1 else gain_o[7]  # undefined in one seed: dropped
        order = rng.permutation(500)  # seeds may list the queries in any order
        groups.append(
            {
                "cooccurring": PerQuery(keys_c, gain_c),
                "other": PerQuery(keys_o[order], gain_o[order]),
            }
        )
    a, b = co.gain_gap_values(groups)
    assert a.shape == b.shape == (3, 799)
    found = stats.compare_values(a, b)
    per_seed = [
        np.nanmean(g["cooccurring"].values)
        - np.nanmean(np.delete(g["other"].values, np.flatnonzero(g["other"].keys == "b|7")))
        for g in groups
    ]
    assert found.diff == pytest.approx(np.mean(per_seed))
    assert found.mean_a == pytest.approx(np.mean([g["cooccurring"].values.mean() for g in groups]))
    # one seed: the query part is the two-sample (Welch) standard error of the difference
    one = stats.compare_values(a[:1], b[:1])
    c = groups[0]["cooccurring"].values
    o = groups[0]["other"].values[groups[0]["other"].keys != "b|7"]
    welch = np.sqrt(c.var(ddof=1) / len(c) + o.var(ddof=1) / len(o))
    assert one.se == pytest.approx(welch, rel=0.02)
    with pytest.raises(ValueError, match="different"):
        co.gain_gap_values(
            [groups[0], {**groups[1], "other": PerQuery(keys_o[:-1], np.zeros(499))}]
        )
