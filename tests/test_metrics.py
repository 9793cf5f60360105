"""Ranking metrics against sklearn, hand-worked rankings and a plain per-query loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from fashion_lib.metrics import (
    _ranks_by_search,
    _ranks_by_sort,
    average_precision,
    ranking_metrics,
    recall_at_k,
)


def loop_reference(scores: np.ndarray, relevant: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """One query at a time, ranking by (score descending, index ascending) with Python's sort."""
    out = {name: [] for name in ("ap_all", "min", "hits", "all", "recall")}
    for s, r in zip(scores, relevant, strict=True):
        order = sorted(range(len(s)), key=lambda c: (-s[c], c))
        total, hits, precisions = int(r.sum()), 0, []
        for position, c in enumerate(order, start=1):
            if r[c]:
                hits += 1
                precisions.append((position, hits / position))
        top = [p for pos, p in precisions if pos <= k]
        out["ap_all"].append(sum(p for _, p in precisions) / total if total else 0.0)
        out["min"].append(sum(top) / min(total, k) if total else 0.0)
        out["hits"].append(sum(top) / len(top) if top else 0.0)
        out["all"].append(sum(top) / total if total else 0.0)
        out["recall"].append(len(top) / total if total else 0.0)
    return {name: np.array(v) for name, v in out.items()}


def random_case(seed: int, q: int = 40, c: int = 200, rounding: int | None = None):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(q, c))
    if rounding is not None:  # force many ties
        scores = np.round(scores, rounding)
    relevant = rng.random((q, c)) < 0.08
    relevant[0] = False  # a query without relevant candidates
    return scores, relevant


def test_ap_all_matches_sklearn():
    scores, relevant = random_case(0)
    ap = average_precision(scores, relevant)
    expected = [
        average_precision_score(r, s) if r.any() else 0.0
        for s, r in zip(scores, relevant, strict=True)
    ]
    np.testing.assert_allclose(ap, expected, rtol=0, atol=1e-12)
    assert ap[0] == 0.0


def test_hand_worked_ranking():
    scores = np.array([[0.9, 0.8, 0.7, 0.6, 0.5]])
    relevant = np.array([[1, 0, 1, 0, 1]], dtype=bool)
    assert average_precision(scores, relevant)[0] == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    assert average_precision(scores, relevant, k=2)[0] == pytest.approx(1 / 2)  # min(R, k) = 2
    assert average_precision(scores, relevant, k=2, normalize="hits")[0] == pytest.approx(1.0)
    assert average_precision(scores, relevant, k=2, normalize="all")[0] == pytest.approx(1 / 3)
    assert recall_at_k(scores, relevant, k=2)[0] == pytest.approx(1 / 3)
    assert recall_at_k(scores, relevant, k=5)[0] == pytest.approx(1.0)


def test_ties_break_by_candidate_index():
    scores = np.array([[0.5, 0.5, 0.5], [0.5, 0.5, 0.5], [1.0, 1.0, 0.0], [0.2, 0.7, 0.7]])
    relevant = np.array([[0, 1, 0], [1, 0, 0], [1, 1, 0], [1, 0, 1]], dtype=bool)
    ap = average_precision(scores, relevant)
    # row 3 ranks 1 (0.7, idx 1), 2 (0.7, idx 2), 0: relevant at ranks 2 and 3
    np.testing.assert_allclose(ap, [1 / 2, 1.0, 1.0, (1 / 2 + 2 / 3) / 2])
    np.testing.assert_allclose(recall_at_k(scores, relevant, k=1), [0, 1, 0.5, 0])


def test_map_at_k_can_exceed_map_all_with_min_rule():
    scores = np.array([[0.9, 0.8, 0.1, 0.0]])
    relevant = np.array([[1, 0, 0, 1]], dtype=bool)  # R = 2, one hit in the top 1
    assert average_precision(scores, relevant, k=1)[0] == 1.0
    assert average_precision(scores, relevant)[0] == pytest.approx((1 + 2 / 4) / 2)


@pytest.mark.parametrize("rounding", [None, 1])
def test_matches_loop_reference(rounding):
    scores, relevant = random_case(1, q=30, c=150, rounding=rounding)
    ref = loop_reference(scores, relevant, k=20)
    for norm in ("min", "hits", "all"):
        got = ranking_metrics(scores, relevant, k=20, normalize=norm)
        np.testing.assert_allclose(got.ap_k, ref[norm], atol=1e-12)
    got = ranking_metrics(scores, relevant, k=20)
    np.testing.assert_allclose(got.ap_all, ref["ap_all"], atol=1e-12)
    np.testing.assert_allclose(got.recall_k, ref["recall"], atol=1e-12)
    np.testing.assert_array_equal(got.num_relevant, relevant.sum(1))


def test_chunked_equals_unchunked():
    scores, relevant = random_case(2, q=37, c=120, rounding=1)
    full = ranking_metrics(scores, relevant, k=10, chunk_size=1000)
    for chunk in (1, 5, 36):
        part = ranking_metrics(scores, relevant, k=10, chunk_size=chunk)
        for name in ("ap_all", "ap_k", "recall_k", "num_relevant"):
            np.testing.assert_array_equal(getattr(part, name), getattr(full, name))


def test_fast_and_exact_paths_agree_without_ties():
    scores, relevant = random_case(3, q=20, c=300)
    s, r = torch.from_numpy(scores), torch.from_numpy(relevant)
    row, rank, hits, tied = _ranks_by_search(s, r)
    assert not tied.any()
    row2, rank2, hits2 = _ranks_by_sort(s, r)
    key = lambda a, b, c: sorted(zip(a.tolist(), b.tolist(), c.tolist(), strict=True))  # noqa: E731
    assert key(row, rank, hits) == key(row2, rank2, hits2)


def test_torch_in_torch_out_and_numpy_in_numpy_out():
    scores, relevant = random_case(4, q=5, c=30)
    t = average_precision(torch.from_numpy(scores).float(), torch.from_numpy(relevant))
    n = average_precision(scores.astype(np.float32), relevant)
    assert isinstance(t, torch.Tensor) and isinstance(n, np.ndarray)
    np.testing.assert_allclose(t.numpy(), n)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="must be equal"):
        average_precision(np.zeros((2, 3)), np.zeros((2, 4), dtype=bool))
    with pytest.raises(ValueError, match="NaN or infinite"):
        average_precision(np.array([[np.nan, 1.0]]), np.array([[True, False]]))
    with pytest.raises(ValueError, match="normalize"):
        average_precision(np.zeros((1, 2)), np.ones((1, 2), dtype=bool), k=1, normalize="bad")


def test_empty_galleries_and_no_relevant_rows():
    none = ranking_metrics(np.zeros((3, 5)), np.zeros((3, 5), dtype=bool), k=2)
    np.testing.assert_array_equal(none.ap_all, [0, 0, 0])
    np.testing.assert_array_equal(none.recall_k, [0, 0, 0])
    no_candidates = ranking_metrics(np.zeros((2, 0)), np.zeros((2, 0), dtype=bool))
    np.testing.assert_array_equal(no_candidates.ap_k, [0, 0])
    assert len(ranking_metrics(np.zeros((0, 4)), np.zeros((0, 4), dtype=bool)).ap_all) == 0
