"""Evaluation protocols on tiny hand-made galleries whose metrics are worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fashion_lib.retrieval import (
    TIER_OFFSET,
    ClassSpaces,
    RetrievalSide,
    evaluate_retrieval,
    multi_granularity_scores,
)


def gallery() -> tuple[RetrievalSide, RetrievalSide]:
    queries = RetrievalSide(
        embeddings=np.array([[0.6, 0.8], [0.0, 1.0], [0.0, 1.0]]),
        attr_ids=np.array([0, 1, 1]),
        values=np.array([0, 1, 0]),
        labels=np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0]], dtype=bool),
    )
    candidates = RetrievalSide(
        embeddings=np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7], [0.0, 1.0], [1.0, 0.0]]),
        attr_ids=np.array([0, 0, 0, 1, 1]),
        values=np.array([0, 1, 0, 1, 0]),
        labels=np.array([[1, 0, 0], [0, 1, 1], [1, 0, 0], [0, 1, 0], [1, 0, 0]], dtype=bool),
    )
    return queries, candidates


def test_attribute_protocol_single_value_by_hand():
    q, c = gallery()
    res = evaluate_retrieval(q, c, k=1)
    a0, a1 = res.per_attribute
    # attr 0: q0 ranks c2 (0.99), c1 (0.8), c0 (0.6); relevant c2, c0 -> AP (1 + 2/3) / 2
    assert a0.map_all == pytest.approx(100 * (1 + 2 / 3) / 2)
    assert a0.recall_k == pytest.approx(50.0)  # 1 of 2 relevant in the top 1
    assert a0.map_k == pytest.approx(100.0)  # min(R, k) = 1 and the top 1 is relevant
    # attr 1: q1 finds c3 first (AP 1), q2's only relevant c4 comes second (AP 1/2)
    assert a1.map_all == pytest.approx(75.0)
    assert (a0.num_queries, a0.num_candidates, a1.num_queries, a1.num_candidates) == (1, 3, 2, 2)
    assert res.overall["map_all"] == pytest.approx((a0.map_all + 2 * 75.0) / 3)
    assert res.macro["map_all"] == pytest.approx((a0.map_all + 75.0) / 2)
    np.testing.assert_allclose(res.per_query["ap_all"], [(1 + 2 / 3) / 2, 1.0, 0.5])


def test_multi_label_relevance_counts_any_shared_class():
    q, c = gallery()
    q.labels[0] = [1, 1, 0]  # q0 now also has class 1, which c1 carries
    res = evaluate_retrieval(q, c, relevance="multi")
    # attr 0 ranking c2, c1, c0: all three relevant -> AP 1
    assert res.per_attribute[0].map_all == pytest.approx(100.0)
    single = evaluate_retrieval(q, c, relevance="single")
    assert single.per_attribute[0].map_all < 100.0


def test_multi_granularity_puts_shared_class_space_first():
    q, c = gallery()
    # q0 and c1 share class space 2; c1 is not relevant, so it now leads the ranking
    q.class_spaces = ClassSpaces(np.array([0]), np.array([2]), np.array([[1.0, 0.0]]))
    c.class_spaces = ClassSpaces(np.array([1, 3]), np.array([2, 1]), np.array([[1.0, 0.0], [0, 1]]))
    res = evaluate_retrieval(q, c, protocol="multi_granularity")
    # attr 0 ranking c1 (tier 1), then c2, c0 by attribute cosine: relevant at 2 and 3
    assert res.per_attribute[0].map_all == pytest.approx(100 * (1 / 2 + 2 / 3) / 2)
    # attr 1: no query pair there, so the attribute ranking stands
    assert res.per_attribute[1].map_all == pytest.approx(75.0)


def test_multi_granularity_scores_tiers_and_best_space():
    attr = torch.tensor([[0.9, 0.1, -0.2]])
    qs = ClassSpaces(np.array([0, 0]), np.array([0, 1]), np.array([[1.0, 0.0], [0.0, 1.0]]))
    cs = ClassSpaces(
        np.array([1, 1, 2]), np.array([0, 1, 1]), np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 1.0]])
    )
    s = multi_granularity_scores(attr, torch.tensor([0]), torch.tensor([0, 1, 2]), qs, cs)
    # c1 shares classes 0 (cos 0) and 1 (cos 1): best is 1; c2 shares class 1: cos 1/sqrt(2)
    expected = torch.tensor([[0.9, TIER_OFFSET + 1.0, TIER_OFFSET + 2**-0.5]])
    torch.testing.assert_close(s, expected)


def test_class_spaces_concat_offsets_rows_and_result_rows():
    a = ClassSpaces(np.array([0, 1]), np.array([2, 0]), np.ones((2, 2)))
    b = ClassSpaces(np.array([0]), np.array([1]), np.zeros((1, 2)))
    joined = ClassSpaces.concat([a, b], batch_sizes=[3, 1])
    assert joined.image.tolist() == [0, 1, 3] and joined.class_id.tolist() == [2, 0, 1]
    q, c = gallery()
    rows = evaluate_retrieval(q, c).rows()
    assert [r["attribute"] for r in rows] == ["attr0", "attr1", "overall", "macro"]
    assert rows[2]["num_queries"] == 3 and rows[2]["map_all"] == pytest.approx(
        (100 * (1 + 2 / 3) / 2 + 2 * 75.0) / 3
    )


def test_missing_inputs_are_reported():
    q, c = gallery()
    with pytest.raises(ValueError, match="class_spaces"):
        evaluate_retrieval(q, c, protocol="multi_granularity")
    q.labels = None
    with pytest.raises(ValueError, match="labels"):
        evaluate_retrieval(q, c, relevance="multi")
