"""FashionSAP's protocols against hand computations, and the pipeline end to end on a smoke world."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score

from fashion_lib.errors import ConfigError, DataError
from fashion_lib.evidence import EVIDENCE_FILE, PerQuery, hits_at, read_evidence
from fashion_lib.experiments import fashionsap_data as data
from fashion_lib.experiments import fashionsap_eval as ev
from fashion_lib.experiments import fashionsap_pretrain as pre
from fashion_lib.experiments import fashionsap_runs as runs
from fashion_lib.experiments import fashionsap_train
from fashion_lib.experiments.fashionsap_tables import TABLES
from fashion_lib.paths import dataset_root
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


def test_tie_rules_on_a_constructed_example() -> None:
    # query 0: positive (col 2) ties with cols 0 and 3, col 1 above; query 1: no tie, rank 1
    scores = torch.tensor([[0.5, 0.9, 0.5, 0.5], [0.1, 0.2, 0.3, 0.9]])
    relevant = torch.tensor([[False, False, True, False], [False, False, False, True]])
    pessimistic = ev.positive_ranks(scores, relevant)
    average = ev.positive_ranks(scores, relevant, ties="average")
    assert pessimistic.rank.tolist() == [4.0, 1.0]  # 1 above + 2 tied come first
    assert average.rank.tolist() == [3.0, 1.0]  # middle of positions 2..4
    assert pessimistic.tied.tolist() == [2, 0]
    with pytest.raises(ConfigError):
        ev.positive_ranks(scores, relevant, ties="optimistic")


def test_collapsed_embeddings_are_reported_as_ties_and_rank_one() -> None:
    gen = torch.Generator().manual_seed(0)
    text = torch.nn.functional.normalize(torch.randn(4, 8, generator=gen))
    owner = torch.tensor([0, 0, 1, 2, 3])
    collapsed = text[:1].expand(5, -1)  # every image is the same vector
    out = ev.full_protocol(collapsed, text, owner)
    assert out["t2i_tied"] == 100.0 and out["t2i_r1"] == 0.0  # all images tie for every text
    assert out["i2t_tied"] == 0.0  # the texts differ, so I2T ranks do not tie
    assert out["i2t_r1"] == pytest.approx(40.0)  # every image ranks product 0's text first
    spread = ev.embedding_spread(collapsed)
    assert spread["effective_rank"] == pytest.approx(1.0)
    assert spread["mean_cos"] == pytest.approx(1.0) and spread["distinct"] == pytest.approx(20.0)
    assert ev.first_choices(collapsed @ text.t()) == 25.0  # one hub text for every image
    assert ev.first_choices(torch.eye(4)) == 100.0
    assert ev.chance_first_choices(400, 200) == pytest.approx(100 * (1 - (199 / 200) ** 400))
    fine = ev.embedding_spread(torch.eye(4))
    assert fine["effective_rank"] == pytest.approx(4.0) and fine["mean_cos"] == pytest.approx(0.0)


def test_chance_matches_every_random_ranking() -> None:
    owner = torch.tensor([0, 1, 1, 2])  # 3 products, 4 images
    chance = ev.chance_full(owner, (1, 2))
    hits = {"i2t_r1": [], "t2i_r1": [], "i2t_r2": [], "t2i_r2": []}
    relevant = owner[:, None] == torch.arange(3)[None, :]
    for order in itertools.permutations(range(4)):  # every ranking of the images
        t2i = ev.positive_ranks(-torch.tensor(order, dtype=float)[None].expand(3, -1), relevant.t())
        for k in (1, 2):
            hits[f"t2i_r{k}"].append(ev.recall_at(t2i.rank, (k,))[k])
    for order in itertools.permutations(range(3)):  # every ranking of the texts
        i2t = ev.positive_ranks(-torch.tensor(order, dtype=float)[None].expand(4, -1), relevant)
        for k in (1, 2):
            hits[f"i2t_r{k}"].append(ev.recall_at(i2t.rank, (k,))[k])
    for key, values in hits.items():
        assert chance[key] == pytest.approx(np.mean(values))
    assert ev.chance_subset(20, (1, 5))["t2i_r5"] == pytest.approx(500 / 21)


def test_rank_hits_and_balanced_pooling() -> None:
    ranks = PerQuery(np.array(["a|0", "b|0", "c|0"]), np.array([1.0, 3.0, np.nan]))
    hits = hits_at(ranks, 2)
    assert hits.values[:2].tolist() == [100.0, 0.0] and np.isnan(hits.values[2])
    i2t = PerQuery(np.array(["1|0", "1|1", "2|0", "2|1"]), np.array([100.0, 100, 0, 0]))  # 50%
    t2i = PerQuery(np.array(["1|0", "2|0"]), np.array([100.0, 100.0]))  # 100%
    pooled = ev.balanced({"i2t": i2t, "t2i": t2i})
    assert pooled.values.mean() == pytest.approx(75.0)  # the mean of the two directions
    assert len(set(pooled.keys)) == 6 and "t2i|1|0" in pooled.keys


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


def test_subset_draws_pair_up_across_models() -> None:
    n = 12
    labels = torch.stack([torch.arange(n) % 4, torch.arange(n) % 2, torch.zeros(n, dtype=int)], 1)
    owner = torch.cat([torch.arange(n), torch.arange(n)])
    gen = torch.Generator().manual_seed(3)
    runs_of = [
        ev.subset_ranks(torch.randn(2 * n, 4, generator=gen), torch.randn(n, 4, generator=gen),
                        owner, labels, queries=5, negatives=3, draws=2, seed=7)
        for _ in range(2)
    ]  # fmt: skip
    assert torch.equal(runs_of[0].products, runs_of[1].products)  # same queries for both models
    assert runs_of[0].products.shape == (2, 5) and len(runs_of[0].i2t.rank) == 10


#: What a process reads once per world (`fashionsap_data`).
CACHES = (data.fashiongen_split, data.fashioniq_split, data._digest, data.decoder_vocabulary)
SIZE = runs.sap_settings("smoke").image_size


@pytest.fixture(scope="module")
def smoke_env(smoke_env: Path) -> Iterator[Path]:
    """conftest's smoke world, with the data caches of earlier worlds cleared, on one thread."""
    for cached in CACHES:
        cached.cache_clear()
    torch.set_num_threads(1)
    yield smoke_env
    for cached in CACHES:
        cached.cache_clear()


def test_pipeline_end_to_end_then_reused(smoke_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warm = runs.warmup("smoke")
    assert set(warm.metrics) == {"itm_acc", "its_i2t_r1", "val_mean_r1"} and not warm.reused
    first = runs.pretrain("full", 0, "smoke")
    assert {"ptp", "trp", "fsis", "its", "itm"} <= set(first.history[-1])
    assert {"ptp_acc", "trp_acc", "fsis_cos", "fsis_cos_mismatched"} <= set(first.metrics)
    assert first.record.config["start"] == pre.pretrain_config("warmup", 0, "smoke")[1]

    retrieval = runs.evaluate_retrieval("full", 0, "smoke")
    for protocol in ("subset", "full"):
        for key in ("i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10"):
            assert 0.0 <= retrieval[f"{protocol}/{key}"] <= 100.0
        assert retrieval[f"{protocol}/i2t_r1"] <= retrieval[f"{protocol}/i2t_r10"]
    run = runs.finetune_retrieval("full", 0, "smoke")
    evidence = read_evidence(run.run_dir)
    assert set(runs.EVIDENCE["retrieval"]) <= set(evidence)
    for protocol in ("full", "subset"):
        for direction in ("i2t", "t2i"):
            ranks = evidence[f"{protocol}/{direction}_rank"]
            assert hits_at(ranks, 5).values.mean() == pytest.approx(
                retrieval[f"{protocol}/{direction}_r5"]
            )
    (run.run_dir / EVIDENCE_FILE).unlink()  # a record without its evidence is not reused
    redone = runs.finetune_retrieval("full", 0, "smoke")
    assert not redone.reused and redone.metrics == retrieval
    assert (run.run_dir / EVIDENCE_FILE).is_file()
    [full_ranks], [albef_ranks] = (
        runs.variant_evidence(v, "retrieval", "smoke", "subset/t2i_rank", (0,))
        for v in ("full", "albef")
    )
    assert full_ranks.keys.tolist() == albef_ranks.keys.tolist()  # the same queries pair up
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
    emb = ev.encode_retrieval(tuned, split, text, SIZE, 16)
    assert ev.full_protocol(*emb)["mean_r1"] == pytest.approx(retrieval["full/mean_r1"])


def test_recognition_metrics_agree_with_sklearn(smoke_env: Path) -> None:
    base, _ = pre.downstream_base("full", 0, "smoke")
    model = runs.FashionSAPClassifier(base, 48)
    split = pre.fashiongen_split(str(dataset_root("smoke", True)), "validation")
    text = pre.TextProcessor(pre.tokenizer(), pre.plain_text("smoke"))
    scored = ev.score_recognition(model, split, text, split.categories, SIZE, 16, "cr/correct")
    out, correct = scored.metrics, scored.evidence["cr/correct"]
    model.eval()
    tb = text.collate([r.sample for r in split.records], np.random.default_rng(0))
    images = ev.model_input(split.images(range(len(split))), SIZE)
    with torch.no_grad():
        pred = model(images, tb.input_ids, tb.attention_mask).logits.argmax(1).numpy()
    truth = split.categories.numpy()
    assert out["acc"] == pytest.approx(100 * (pred == truth).mean())
    assert out["macro_f"] == pytest.approx(100 * f1_score(truth, pred, average="macro"))
    assert correct.values.tolist() == (100.0 * (pred == truth)).tolist()
    assert correct.keys[0] == f"{split.records[0].product_id}|0"


def test_tables_use_the_paper_columns() -> None:
    for spec in TABLES.values():
        paper = paper_table(spec.paper)
        assert set(spec.columns) <= set(paper.columns)
    assert fashionsap_train.train_config(runs.sap_settings("paper").pretrain, 0).lr == 6e-5


def test_long_stages_checkpoint_on_the_way() -> None:
    """A killed cpu warm-up resumes from its last checkpoint, not from step 0."""
    warmup = runs.sap_settings("cpu").warmup
    every = fashionsap_train.train_config(warmup, 0).checkpoint_every
    assert 0 < every < warmup.steps


def test_a_resumed_stage_keeps_the_curve_points_measured_before_the_kill(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stand-in `fit` dies after step 6 (checkpoint at 5) the first time, then resumes."""
    measured: list[int] = []
    model = torch.nn.Linear(1, 1)
    state = {"step": 0}

    def point(model, probe) -> dict[str, float]:
        measured.append(state["step"])
        return {"val_mean_r1": float(state["step"])}

    def fake_fit(model, loss_fn, batches, config, run_dir, callbacks=()):
        start = 5 if state.get("killed") else 0
        for step in range(start + 1, 11):
            state["step"] = step
            for callback in callbacks:
                callback(SimpleNamespace(step=step))
            if step == 6 and not state.get("killed"):
                state["killed"] = True
                raise KeyboardInterrupt
        rows = [{"step": float(s), "loss": 1.0} for s in range(1, 11)]
        return SimpleNamespace(history=rows, wall_time_s=0.0)

    monkeypatch.setattr(pre, "fit", fake_fit)
    monkeypatch.setattr(pre, "curve_point", point)
    stage = runs.sap_settings("smoke").warmup
    batches = SimpleNamespace(steps_per_epoch=10)
    stage = dataclasses.replace(stage, steps=10)
    args = (model, None, batches, stage, 0, tmp_path / "run", object(), 5)
    due = fashionsap_train.curve_steps(10, 5)
    with pytest.raises(KeyboardInterrupt):
        pre.fit_stage(*args)
    history, _ = pre.fit_stage(*args)
    curve = {int(r["step"]): r["val_mean_r1"] for r in history if "val_mean_r1" in r}
    assert sorted(curve) == due and all(curve[s] == s for s in due)
    before_kill = [s for s in due if s <= 6]
    after_resume = [s for s in due if s > 5]
    assert measured == before_kill + after_resume  # nothing up to the checkpoint twice
    (tmp_path / "run" / pre.CURVE_FILE).write_text("[1, 2]")
    with pytest.raises(DataError, match=pre.CURVE_FILE):
        pre.fit_stage(*args)


def test_cpu_profile_judges_claims_over_five_seeds() -> None:
    seeds = runs.sap_settings("cpu").seeds
    assert len(set(seeds)) == len(seeds) >= 5


def test_reuse_or_train_trains_on_the_threads_asked(smoke_env: Path) -> None:
    """The warm-ups train alone on `warmup_threads`; every other run on the settings' threads."""
    seen: list[int] = []

    def train(run_dir: Path):
        seen.append(torch.get_num_threads())
        return {"acc": 1.0}, [], 0.0, {}

    before = torch.get_num_threads()
    for threads, name in ((2, "threads-two"), (None, "threads-default")):
        pre.reuse_or_train(
            name, {"kind": "thread-check", "name": name}, "smoke", 0, train, threads=threads
        )
    assert seen == [2, pre.sap_settings("smoke").threads] and torch.get_num_threads() == before
    assert pre.sap_settings("cpu").warmup_threads == 2
