"""FashionSAP's protocols against hand computations, and the pipeline end to end on a smoke world."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score

from fashion_lib.data.atelier.make import make_world
from fashion_lib.experiments import fashionsap_eval as ev
from fashion_lib.experiments import fashionsap_pretrain as pre
from fashion_lib.experiments import fashionsap_runs as runs
from fashion_lib.experiments import fashionsap_train
from fashion_lib.experiments.fashionsap_tables import TABLES
from fashion_lib.paths import dataset_root
from fashion_lib.profiles import get_profile
from fashion_lib.results import paper_table


def test_hits_at_k_by_hand() -> None:
    scores = torch.tensor([[0.9, 0.1, 0.5], [0.2, 0.8, 0.7], [0.3, 0.4, 0.6]])
    relevant = torch.tensor([[False, False, True], [True, False, True], [True, False, False]])
    # best relevant ranks: row 0 -> 1 (0.9 above), row 1 -> 1 (0.8 above 0.7), row 2 -> 2
    assert ev.hits_at_k(scores, relevant, (1, 2, 3)) == pytest.approx(
        {1: 0.0, 2: 200 / 3, 3: 100.0}
    )
    tied = ev.hits_at_k(torch.zeros(2, 3), torch.eye(2, 3, dtype=torch.bool), (1, 3))
    assert tied == {1: 0.0, 3: 100.0}  # ties count against the query


def test_full_protocol_counts_any_view_for_t2i() -> None:
    text = torch.eye(2)  # two products
    image = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1]])  # image 2 shows product 1
    owner = torch.tensor([0, 1, 1])
    out = ev.full_protocol(image, text, owner)
    assert out["i2t_r1"] == pytest.approx(200 / 3)  # image 2 ranks product 0's text first
    assert out["t2i_r1"] == pytest.approx(100.0)  # product 1's best view (image 1) is first
    assert out["mean_r1"] == pytest.approx((200 / 3 + 100) / 2)


def test_subset_negatives_share_the_query_subcategory_first() -> None:
    # (sub-category, category, symbol) of 8 products
    labels = torch.tensor(
        [[0, 0, 0], [0, 0, 0], [0, 0, 0], [1, 0, 0], [2, 1, 0], [3, 2, 1], [0, 0, 0], [4, 3, 2]]
    )
    g = torch.Generator().manual_seed(0)
    picked = ev.subset_negatives(0, labels, 6, g).tolist()
    assert sorted(picked[:3]) == [1, 2, 6]  # same sub-category
    assert picked[3:] == [3, 4, picked[5]] and picked[5] in (5, 7)  # category, symbol, any
    assert 0 not in picked


def test_subset_protocol_perfect_embeddings_and_shared_subcategories() -> None:
    n = 30
    labels = torch.stack([torch.arange(n) % 3, torch.arange(n) % 3, torch.zeros(n, dtype=int)], 1)
    text = torch.nn.functional.normalize(
        torch.randn(n, 8, generator=torch.Generator().manual_seed(1))
    )
    image = torch.cat([text, text])  # two views per product
    owner = torch.cat([torch.arange(n), torch.arange(n)])
    out = ev.subset_protocol(image, text, owner, labels, queries=10, negatives=5, draws=3)
    assert out["i2t_r1"] == out["t2i_r1"] == 100.0
    assert out["same_subcategory"] == 100.0  # 10 products per sub-category >= 5 negatives


@pytest.fixture(scope="module")
def smoke_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("sap")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FASHION_DATA_ROOT", str(root / "data"))
        mp.setenv("FASHION_RUNS_DIR", str(root / "runs"))
        make_world(get_profile("smoke"), out=dataset_root("smoke", True), workers=1)
        for cached in (pre.fashiongen_split, pre.fashioniq_split, pre._digest):
            cached.cache_clear()
        torch.set_num_threads(1)
        yield root
    for cached in (pre.fashiongen_split, pre.fashioniq_split, pre._digest):
        cached.cache_clear()


def test_pipeline_end_to_end_then_reused(smoke_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warm = runs.warmup("smoke")
    assert set(warm.metrics) == {"itm_acc", "its_i2t_r1"} and not warm.reused
    first = runs.pretrain("full", 0, "smoke")
    assert {"ptp", "trp", "fsis", "its", "itm"} <= set(first.history[-1])
    assert {"ptp_acc", "trp_acc", "fsis_cos"} <= set(first.metrics)
    assert first.record.config["start"] == pre.pretrain_config("warmup", 0, "smoke")[1]

    retrieval = runs.evaluate_retrieval("full", 0, "smoke")
    for protocol in ("subset", "full"):
        for key in ("i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10"):
            assert 0.0 <= retrieval[f"{protocol}/{key}"] <= 100.0
        assert retrieval[f"{protocol}/i2t_r1"] <= retrieval[f"{protocol}/i2t_r10"]
    cr = runs.recognition("full", 0, "smoke", "category")
    assert set(cr) == {"acc", "macro_f", "micro_f"} and cr["micro_f"] == pytest.approx(cr["acc"])
    iq = runs.tmir("full", 0, "smoke")
    means = np.mean([iq[f"{c}/r10"] for c in ("dress", "shirt", "toptee")])
    assert iq["mean/r10"] == pytest.approx(means) and iq["dress/r50"] >= iq["dress/r10"]

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished run must not train again")

    monkeypatch.setattr(pre, "fit", boom)
    again = runs.pretrain("full", 0, "smoke")
    assert again.reused and again.metrics == first.metrics
    assert runs.evaluate_retrieval("full", 0, "smoke") == retrieval
    assert runs.recognition("full", 0, "smoke", "category") == cr
    model = runs.load_pretrained("full", 0, "smoke")
    assert not model.training and model.config.fsis
    tuned = runs.load_retrieval_model("full", 0, "smoke")  # the checkpoint reproduces the record
    split = pre.fashiongen_split(str(dataset_root("smoke", True)), "validation")
    text = pre.TextProcessor(pre.tokenizer(), pre.plain_text("smoke"))
    emb = ev.encode_retrieval(tuned, split, text, 32, 16)
    assert ev.full_protocol(*emb)["mean_r1"] == pytest.approx(retrieval["full/mean_r1"])


def test_recognition_metrics_agree_with_sklearn(smoke_env: Path) -> None:
    base, _ = pre.downstream_base("full", 0, "smoke")
    model = runs.FashionSAPClassifier(base, 48)
    split = pre.fashiongen_split(str(dataset_root("smoke", True)), "validation")
    text = pre.TextProcessor(pre.tokenizer(), pre.plain_text("smoke"))
    out = ev.recognition_metrics(model, split, text, split.categories, 32, 16)
    model.eval()
    tb = text.collate([r.sample for r in split.records], np.random.default_rng(0))
    images = ev.model_input(split.images(range(len(split))), 32)
    with torch.no_grad():
        pred = model(images, tb.input_ids, tb.attention_mask).logits.argmax(1).numpy()
    truth = split.categories.numpy()
    assert out["acc"] == pytest.approx(100 * (pred == truth).mean())
    assert out["macro_f"] == pytest.approx(100 * f1_score(truth, pred, average="macro"))


def test_tables_use_the_paper_columns() -> None:
    for spec in TABLES.values():
        paper = paper_table(spec.paper)
        assert set(spec.columns) <= set(paper.columns)
    assert fashionsap_train.train_config(runs.sap_settings("paper").pretrain, 0).lr == 6e-5
