"""The cost helpers: the per-query reference evaluation equals the vectorised one, timings."""

from __future__ import annotations

import json
from itertools import count

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import average_precision_score

from fashion_lib.analysis.cost import (
    chapter_costs,
    eval_scaling,
    exact_embeddings,
    reference_retrieval,
    retrieval_problem,
    time_call,
    time_steps,
)
from fashion_lib.analysis.cost_pages import BUDGETS, budget_table
from fashion_lib.analysis.step_times import world_rates
from fashion_lib.retrieval import RetrievalSide, evaluate_retrieval

torch.set_num_threads(1)


def test_exact_embeddings_are_unit_and_tied() -> None:
    emb = exact_embeddings(300, dim=16, seed=3)
    assert emb.dtype == np.float32
    np.testing.assert_array_equal(np.linalg.norm(emb.astype(np.float64), axis=1), 1.0)
    f32 = torch.from_numpy(emb) @ torch.from_numpy(emb).T  # float32 matrix product
    f64 = emb.astype(np.float64) @ emb.astype(np.float64).T
    np.testing.assert_array_equal(f32.numpy().astype(np.float64), f64)  # bit-identical cosines
    off_diagonal = f64[np.triu_indices(300, 1)]
    assert len(np.unique(off_diagonal)) < len(off_diagonal)  # ties exist


@pytest.mark.parametrize("k", [1, 5, 50])
def test_reference_equals_vectorised_with_ties(k: int) -> None:
    queries, candidates = retrieval_problem(40, 400, 3, 4, seed=1, dim=8, levels=3)
    ref = reference_retrieval(queries, candidates, k=k)
    fast = evaluate_retrieval(queries, candidates, k=k).per_query
    for metric in ("ap_all", "ap_k", "recall_k"):
        np.testing.assert_allclose(ref[metric], fast[metric], rtol=0, atol=1e-12)
    assert ref["ap_all"].std() > 0  # not a degenerate case


def test_reference_multi_label_equals_vectorised() -> None:
    rng = np.random.default_rng(2)
    emb = exact_embeddings(250, dim=8, seed=2, levels=3)
    labels = rng.random((250, 5)) < 0.3
    attr = rng.integers(0, 2, 250)
    q = RetrievalSide(emb[:50], attr[:50], np.zeros(50), labels=labels[:50])
    c = RetrievalSide(emb[50:], attr[50:], np.zeros(200), labels=labels[50:])
    ref = reference_retrieval(q, c, k=10, relevance="multi")
    fast = evaluate_retrieval(q, c, relevance="multi", k=10).per_query
    for metric in ("ap_all", "ap_k", "recall_k"):
        np.testing.assert_allclose(ref[metric], fast[metric], rtol=0, atol=1e-12)


def test_ties_are_ranked_by_candidate_index() -> None:
    # Two candidates with the same embedding: the relevant one second, then first.
    emb = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    q = RetrievalSide(emb[:1], np.zeros(1), np.array([1]))
    late = reference_retrieval(q, RetrievalSide(emb[1:], np.zeros(2), np.array([0, 1])), k=1)
    early = reference_retrieval(q, RetrievalSide(emb[1:], np.zeros(2), np.array([1, 0])), k=1)
    assert late["ap_all"][0] == pytest.approx(0.5) and late["recall_k"][0] == 0.0
    assert early["ap_all"][0] == pytest.approx(1.0) and early["recall_k"][0] == 1.0


def test_reference_matches_sklearn_without_ties() -> None:
    rng = np.random.default_rng(5)
    emb = rng.standard_normal((61, 8))
    values = rng.integers(0, 3, 61)
    q = RetrievalSide(emb[:1], np.zeros(1), values[:1])
    c = RetrievalSide(emb[1:], np.zeros(60), values[1:])
    ap = reference_retrieval(q, c, k=60)["ap_all"][0]
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    sims = unit[1:] @ unit[0]
    assert len(np.unique(sims)) == 60  # no ties
    assert ap == pytest.approx(average_precision_score(values[1:] == values[0], sims), abs=1e-12)


def test_eval_scaling_reports_agreement() -> None:
    table = eval_scaling([50, 200], queries=10, repeats=2, k=20)
    assert list(table["gallery"]) == [50, 200]
    assert (table["max_abs_diff"] < 1e-12).all()
    assert (table["vectorised_s"] > 0).all() and (table["speed_ratio"] > 0).all()


def test_time_call_returns_the_median_of_the_timed_calls() -> None:
    ticks = iter([0.0, 5.0, 10.0, 11.0, 20.0, 23.0, 30.0, 31.5])  # durations 5, 1, 3, 1.5
    calls = count()
    timing = time_call(lambda: next(calls), repeats=4, warmup=1, clock=lambda: next(ticks))
    assert timing.seconds == (5.0, 1.0, 3.0, 1.5)
    assert timing.median == pytest.approx(2.25)
    assert timing.value == 4  # one untimed warm-up call, then four timed ones
    with pytest.raises(ValueError):
        time_call(lambda: None, repeats=0)


def test_time_steps_skips_warmup_and_needs_enough_batches() -> None:
    seen = []
    timing = time_steps(seen.append, range(10), steps=3, warmup=2)
    assert seen == [0, 1, 2, 3, 4] and len(timing.seconds) == 3
    with pytest.raises(ValueError, match="ran out"):
        time_steps(seen.append, range(2), steps=3, warmup=1)


def test_chapter_costs_reads_the_runner_metadata(tmp_path) -> None:
    def publish(name: str, meta: dict) -> None:
        nb = {"cells": [], "metadata": {"fashion_book": meta}, "nbformat": 4, "nbformat_minor": 5}
        (tmp_path / f"{name}.ipynb").write_text(json.dumps(nb), encoding="utf-8")

    publish("00_a", {"profile": "cpu", "seconds": 12.5, "peak_rss_mb": 800.0})
    publish("01_b", {"profile": "smoke", "seconds": 3.0})
    publish("02_c", {"profile": "cpu", "seconds": 4.0})
    table = chapter_costs(tmp_path, "cpu", ["00_a", "01_b", "02_c", "03_d"]).set_index("chapter")
    assert table.loc["00_a", "seconds"] == 12.5 and table.loc["00_a", "peak_rss_mb"] == 800.0
    assert np.isnan(table.loc["02_c", "peak_rss_mb"]) and table.loc["02_c", "status"] == "run"
    assert list(table["status"][["01_b", "03_d"]]) == ["not run under cpu"] * 2
    assert table.loc[["01_b", "03_d"], "seconds"].isna().all()


def test_world_rates_time_every_format() -> None:
    table = world_rates("smoke", images=2, repeats=1).set_index("dataset")
    assert list(table.index) == ["DeepFashion", "FashionAI", "DARN", "FashionGen", "FashionIQ"]
    assert list(table["images"]) == [2, 2, 2, 4, 10]  # FashionGen: 2 views; FashionIQ: 2 families
    assert (table["images_per_s"] > 0).all() and (table["render_s"] > 0).all()


def test_budget_table_sums_each_part_and_says_whether_it_is_within_its_goal() -> None:
    chapters = pd.DataFrame(
        {
            "chapter": ["00_a", "02_b", "03_c", "04_d", "04_e", "05_f", "06_g", "07_h"],
            "status": ["run"] * 7 + ["not run under cpu"],
            "seconds": [60.0, 300.0, 600.0, 120.0, 60.0, 120.0, 30.0, np.nan],
        }
    )
    table = budget_table(chapters, "cpu", world_seconds=120.0).set_index("part")
    m3 = table.loc["M3-Net (chapters 02-05)"]
    assert m3["minutes"] == pytest.approx(20.0) and m3["within goal"] == "yes"
    sap = table.loc["FashionSAP (chapters 06-09)"]
    assert np.isnan(sap["minutes"]) and sap["within goal"] == "not measured"
    assert list(table.index) == [b.part for b in BUDGETS["cpu"]]
    every = pd.DataFrame(
        {"chapter": [f"0{i}_x" for i in range(10)], "status": "run", "seconds": 60.0}
    )
    book = budget_table(every, "cpu", world_seconds=120.0).iloc[-1]
    assert book["minutes"] == pytest.approx(12.0)  # ten chapters and the world
    slow = chapters.assign(seconds=chapters["seconds"] * 2)
    assert budget_table(slow, "cpu", 0.0).set_index("part").loc[m3.name, "within goal"] == "no"
    assert budget_table(chapters, "smoke", 0.0).empty
