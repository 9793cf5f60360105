"""One row end to end on a tiny world, its reuse, evidence, workers, lr selection, variants."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from fashion_lib import results
from fashion_lib.data.retrieval_data import LazyImages
from fashion_lib.data.samplers import TripletSampler
from fashion_lib.engine import workers
from fashion_lib.errors import ConfigError
from fashion_lib.evidence import EVIDENCE_FILE, read_evidence
from fashion_lib.experiments import backbone_pretrain, m3net_training
from fashion_lib.experiments import m3net_runs as runs
from fashion_lib.experiments import m3net_selection as selection

METRICS = ("ap_all", "ap_100", "recall_100")


def test_row_end_to_end_then_reused(smoke_env, monkeypatch: pytest.MonkeyPatch) -> None:
    first = runs.run_row("M3-Net", "DeepFashion", 0, "smoke")
    assert not first.reused and (first.run_dir / "record.json").is_file()
    data = runs.dataset_for("smoke", "DeepFashion")
    for rel in ("single", "multi"):
        for metric in ("map_all", "map_all_macro", "map_100", "recall_100"):
            assert 0.0 <= first.metrics[f"{rel}/{metric}"] <= 100.0
        counts = np.bincount(data.queries.attr.numpy(), minlength=len(data.attributes))
        names = [a for a, c in zip(data.attributes, counts, strict=True) if c > 0]
        per_attr = [first.metrics[f"{rel}/map_all/{a}"] for a in names]
        weighted = np.average(per_attr, weights=counts[counts > 0])
        assert first.metrics[f"{rel}/map_all"] == pytest.approx(weighted)
    # multi-label relevance counts more candidates as relevant, so it cannot lower recall
    assert first.metrics["multi/recall_100"] >= first.metrics["single/recall_100"] - 1e-9
    assert first.history and all(np.isfinite(h["loss"]) for h in first.history)

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished row must not train again")

    monkeypatch.setattr(runs, "train_row", boom)
    monkeypatch.setattr(m3net_training, "fit", boom)
    again = runs.run_row("M3-Net", "DeepFashion", 0, "smoke")
    assert again.reused and again.metrics == first.metrics and again.run_dir == first.run_dir

    loaded = runs.load_row_model("M3-Net", "DeepFashion", 0, "smoke")  # weights from checkpoint
    res = runs.evaluate_model(loaded.model, loaded.spec, loaded.dataset, loaded.eval_inputs)
    assert res["multi"].overall["map_all"] == pytest.approx(first.metrics["multi/map_all"])


def test_table_is_long_format(smoke_env) -> None:
    table = runs.run_table("FashionAI", "smoke", rows=["MODC"])
    data = runs.dataset_for("smoke", "FashionAI")
    assert set(table["relevance"]) == {"single"}  # one value per row: no multi-label relevance
    overall = table[table.attribute == "overall"]
    assert len(overall) == 1 and overall.iloc[0].model == "MODC"
    assert table[table.attribute == "macro"].map_all.iloc[0] == pytest.approx(
        table[~table.attribute.isin(["overall", "macro"])].map_all.mean()
    )
    assert set(table.attribute) - {"overall", "macro"} <= set(data.attributes)
    assert (table.train_time_s > 0).all()


def test_triplet_batches_layout(smoke_env) -> None:
    data = runs.dataset_for("smoke", "DARN")
    inputs = torch.arange(data.num_train, dtype=torch.float16)[:, None]  # input = its fid
    sampler = TripletSampler(data.train_labels, 32, seed=3, style="m3net")
    batches = runs.TripletBatches(sampler, inputs, data.train_multihot, batch_triplets=8)
    assert batches.steps_per_epoch == 4
    batch = next(iter(batches.iter_epoch(1, start_step=2)))
    epoch = sampler.epoch(1)
    t, v, a = 8, batch["class_ids"], batch["attr_ids"][:8]
    assert torch.equal(batch["sample_ids"][:t], torch.from_numpy(epoch.anchor[16:24]))
    assert torch.equal(batch["inputs"][:, 0].long(), batch["sample_ids"])
    assert torch.equal(
        batch["labels"], data.train_multihot[batch["sample_ids"], batch["attr_ids"]].float()
    )
    rows = torch.arange(t)
    assert batch["labels"][rows, v].all() and batch["labels"][rows + t, v].all()
    assert not batch["labels"][rows + 2 * t, v].any()  # the negative lacks the value
    assert torch.equal(batch["attr_ids"], a.repeat(3))


def test_frozen_models_take_feature_maps(smoke_env) -> None:
    data = runs.dataset_for("smoke", "FashionAI")
    settings = runs.run_settings("smoke")
    backbone = runs.pretrained_backbone(settings.backbone, "smoke", settings.backbone_width)
    maps = torch.randn(6, backbone.build().out_channels, 8, 8)
    attr = torch.tensor([0, 1, 2, 3, 4, 5])
    for name in runs.ROWS:
        model = runs.build_row_model(runs.ROW_SPECS[name], data, settings, backbone).eval()
        assert not any(
            isinstance(m, torch.nn.Conv2d) and m.in_channels == 3 for m in model.modules()
        )
        emb = model.encode_attribute(maps, attr)  # (6, D), unit norm
        assert emb.shape[0] == 6 and torch.allclose(emb.norm(dim=1), torch.ones(6), atol=1e-4)


def test_paper_numbers_and_summaries() -> None:
    table = results.paper_table("m3net_table2_deepfashion")
    assert table.loc["M3-Net", "MAP@all overall"] == pytest.approx(21.78)
    assert "m3net_table3_fashionai" in results.paper_tables()
    ours = pd.DataFrame(
        {"model": ["M3-Net"] * 3 + ["MODC"] * 3, "map_all": [20.0, 22.0, 24.0, 10.0, 11.0, 12.0]}
    )
    summary = results.seed_summary(ours, ["model"], "map_all").set_index("model")
    assert summary.loc["M3-Net", "mean"] == pytest.approx(22.0)
    assert summary.loc["M3-Net", "std"] == pytest.approx(2.0)  # ddof = 1
    assert summary.loc["MODC", "seeds"] == 3
    side = results.beside_paper(ours, table, {"map_all": "MAP@all overall"}).set_index("model")
    assert side.loc["M3-Net", "difference"] == pytest.approx(22.0 - 21.78)
    assert side.loc["MODC", "paper"] == pytest.approx(12.78)


def test_untrained_references(smoke_env) -> None:
    data = runs.dataset_for("smoke", "FashionAI")
    n = len(data.filenames["test"])
    oracle = torch.zeros(n, len(data.attributes) * data.max_classes)
    for rows in (data.queries, data.candidates):
        oracle[rows.fid, rows.attr * data.max_classes + rows.value] = 1.0  # its own label
    refs = runs.untrained_references(data, oracle)
    q, c = data.queries, data.candidates
    same = (q.attr[:, None] == c.attr[None, :]) & (q.value[:, None] == c.value[None, :])
    answerable = 100.0 * same.any(dim=1).float().mean().item()  # AP is 1, or 0 without positives
    assert refs["pooled backbone"]["map_all"] == pytest.approx(answerable)
    assert 0.0 <= refs["random"]["map_all"] < 100.0
    assert refs == runs.untrained_references(data, oracle)  # seeded


def test_end_to_end_row_trains_the_backbone(smoke_env, monkeypatch: pytest.MonkeyPatch) -> None:
    """The gpu/paper path at smoke size: images read on demand, the backbone is trained."""
    smoke = runs.RUN_SETTINGS["smoke"]
    monkeypatch.setitem(runs.RUN_SETTINGS, "smoke", dataclasses.replace(smoke, frozen=False))
    row = runs.run_row("ASENv2", "DARN", 0, "smoke")
    assert not row.reused and 0.0 <= row.metrics["single/map_all"] <= 100.0
    loaded = runs.load_row_model("ASENv2", "DARN", 0, "smoke")
    assert isinstance(loaded.eval_inputs, LazyImages) and not loaded.frozen
    trained = loaded.model.global_branch.backbone.body.state_dict()
    backbone = runs.pretrained_backbone(smoke.backbone, "smoke", smoke.backbone_width).build()
    start = backbone.body.state_dict()
    conv = next(k for k in start if k.endswith("weight") and start[k].dim() == 4)
    assert not torch.equal(trained[conv], start[conv])  # fine-tuned from the pre-trained weights


def test_evidence_beside_the_record(smoke_env) -> None:
    """Per-query values whose means are the table's, keyed so that two rows pair up."""
    m3 = runs.run_row("M3-Net", "DeepFashion", 0, "smoke")
    asen = runs.run_row("ASEN", "DeepFashion", 0, "smoke")
    a, b = read_evidence(m3.run_dir), read_evidence(asen.run_dir)
    assert set(a) == {f"{r}/{m}" for r in ("single", "multi") for m in METRICS}
    data = runs.dataset_for("smoke", "DeepFashion")
    for group, values in a.items():
        rel, metric = group.split("/")
        assert np.array_equal(values.keys, b[group].keys) and len(values.keys) == len(data.queries)
        name = {"ap_all": "map_all", "ap_100": "map_100", "recall_100": "recall_100"}[metric]
        # a query without relevant candidates is NaN here and counts 0 in the table's mean
        assert np.nan_to_num(values.values).mean() == pytest.approx(m3.metrics[f"{rel}/{name}"])
    first = a["single/ap_all"].keys[0]
    assert first == f"{data.attributes[int(data.queries.attr[0])]}|0"
    listed = runs.row_evidence("M3-Net", "DeepFashion", "smoke", "multi/ap_all")
    assert len(listed) == len(runs.run_settings("smoke").seeds)
    assert np.array_equal(listed[0].values, a["multi/ap_all"].values, equal_nan=True)


def test_a_record_without_evidence_is_not_reused(smoke_env) -> None:
    first = runs.run_row("ASENv2", "FashionAI", 0, "smoke")
    (first.run_dir / EVIDENCE_FILE).unlink()
    again = runs.run_row("ASENv2", "FashionAI", 0, "smoke")
    assert not again.reused and (again.run_dir / EVIDENCE_FILE).is_file()
    assert again.metrics == first.metrics  # resumed from the last checkpoint, evaluated again
    assert runs.run_row("ASENv2", "FashionAI", 0, "smoke").reused


def test_training_and_selection_never_read_the_test_split(
    smoke_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From an empty runs folder: pre-training, lr selection and training see no test file."""
    monkeypatch.setenv("FASHION_RUNS_DIR", str(tmp_path / "runs"))
    backbone_pretrain._cached_dataset.cache_clear()
    evaluating = []
    read_load, real_maps, real_eval = (
        backbone_pretrain.load_retrieval_dataset,
        m3net_training.feature_maps,
        runs._evaluate,
    )

    def guard(split: str) -> None:
        if split == "test" and not evaluating:
            raise AssertionError("the test split was read outside the evaluation")

    def load(root, name, split="test"):
        guard(split)
        return read_load(root, name, split)

    def maps(backbone, key, data, split, *args, **kwargs):
        guard(split)
        return real_maps(backbone, key, data, split, *args, **kwargs)

    def evaluate(row, model):
        evaluating.append(row.name)
        try:
            return real_eval(row, model)
        finally:
            evaluating.clear()

    monkeypatch.setattr(backbone_pretrain, "load_retrieval_dataset", load)
    monkeypatch.setattr(m3net_training, "feature_maps", maps)
    monkeypatch.setattr(runs, "_evaluate", evaluate)
    table = selection.selection_table("smoke")  # trains the backbone and the probes
    assert set(table.family) == set(selection.FAMILY_PROBES) and table.selected.any()
    row = runs.run_row("MODC", "DARN", 0, "smoke")
    assert not row.reused and 0.0 <= row.metrics["single/map_all"] <= 100.0
    with pytest.raises(AssertionError, match="test split"):
        runs.dataset_for("smoke", "FashionAI", "test")
    backbone_pretrain._cached_dataset.cache_clear()


def test_selection_picks_the_best_validation_rate(
    smoke_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    smoke = runs.RUN_SETTINGS["smoke"]
    monkeypatch.setitem(
        runs.RUN_SETTINGS, "smoke", dataclasses.replace(smoke, lr_grid=(1e-3, 1e-2))
    )
    scores = {1e-3: 30.0, 1e-2: 40.0}

    def fake_run(family: str, lr: float, profile: str) -> selection.SelectionRun:
        record = runs.RunRecord(
            "x", {}, "", 0, profile, "", None, 0.0, {}, {"valid/map_all": scores[lr]}
        )
        return selection.SelectionRun(family, "M3-Net", lr, [], record)

    monkeypatch.setattr(selection, "selection_run", fake_run)
    assert selection.select_lr("m3net", "smoke") == 1e-2
    scores[1e-3] = 40.0  # a tie: the smaller rate
    assert selection.select_lr("m3net", "smoke") == 1e-3


def test_selection_runs_go_through_the_pool(
    smoke_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2 spawned workers: every missing (family, rate) run is one task of the pool, started after
    the selection dataset's caches exist, the longest probe first; the serial numbers."""
    smoke = runs.RUN_SETTINGS["smoke"]
    rates = (1e-3, 3e-3)  # the rate is the task's argument: the workers need no patched grid
    monkeypatch.setitem(runs.RUN_SETTINGS, "smoke", dataclasses.replace(smoke, lr_grid=rates))
    monkeypatch.setenv("FASHION_RUNS_DIR", str(tmp_path / "serial"))
    serial = selection.selection_table("smoke")  # the profile's 1 worker: in this process
    monkeypatch.setenv("FASHION_RUNS_DIR", str(tmp_path / "pooled"))
    real, tasks = workers.in_workers, []

    def in_workers(task, args, n, cost=None):
        cache = tmp_path / "pooled" / "cache"
        assert {p.name.split("-")[2] for p in cache.glob("*FashionAI*")} == {"train", "valid"}
        tasks.extend((task, args[i]) for i in workers.submission_order(args, cost))
        return real(task, args, n, cost)

    monkeypatch.setattr(selection, "in_workers", in_workers)
    pooled = selection.selection_runs("smoke", workers=2)
    families = list(selection.FAMILY_PROBES)
    assert {a for _, a in tasks} == {(f, lr, "smoke") for f in families for lr in rates}
    assert all(t is selection.selection_run for t, _ in tasks) and len(tasks) == 6
    assert tasks[0][1][0] == "m3net"  # the longest probe first
    assert [(r.family, r.lr) for r in pooled] == [(f, lr) for f in families for lr in rates]
    assert not any(r.reused for r in pooled)
    table = selection.selection_table("smoke")  # all finished: nothing more goes to the pool
    assert len(tasks) == 6
    same = ["family", "probe", "lr", "step", "map_all", "final", "selected"]
    pd.testing.assert_frame_equal(serial[same], table[same])


def test_workers_give_the_serial_numbers(
    smoke_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2 spawned workers: the same table and evidence; the selection runs go through the pool
    first, each dataset's caches are made before its rows start, the longest rows first."""
    rows = ["ASEN", "M3-Net"]
    serial = runs.run_table("DARN", "smoke", rows=rows, seeds=[0, 1], workers=1)
    monkeypatch.setenv("FASHION_RUNS_DIR", str(tmp_path / "runs"))
    real, pooled = workers.in_workers, []

    def in_workers(task, args, n, cost=None):
        pooled.append((task, workers.submission_order(args, cost), list(args)))
        if task is runs.run_row:
            cached = {p.name.split("-")[2] for p in (tmp_path / "runs" / "cache").glob("*DARN*")}
            assert cached == {"train", "test"}, cached
        return real(task, args, n, cost)

    monkeypatch.setattr(runs, "in_workers", in_workers)
    monkeypatch.setattr(selection, "in_workers", in_workers)
    parallel = runs.run_table("DARN", "smoke", rows=rows, seeds=[0, 1], workers=2)
    assert not parallel.reused.any()
    assert [p[0] for p in pooled] == [selection.selection_run, runs.run_row]
    order, args = pooled[1][1:]
    assert [args[i][0] for i in order] == ["M3-Net", "M3-Net", "ASEN", "ASEN"]
    same = ["model", "seed", "relevance", "attribute", "map_all", "map_100", "recall_100"]
    pd.testing.assert_frame_equal(serial[same], parallel[same])
    for a, b in zip(serial.run_dir.unique(), parallel.run_dir.unique(), strict=True):
        ea, eb = read_evidence(Path(a)), read_evidence(Path(b))
        assert all(np.array_equal(ea[g].values, eb[g].values, equal_nan=True) for g in ea)


def test_last_stage_variant_trains_the_last_stage(smoke_env) -> None:
    row = runs.run_row("M3-Net", "FashionAI", 0, "smoke", variant="last_stage")
    frozen = runs.run_row("M3-Net", "FashionAI", 0, "smoke")
    assert row.run_dir != frozen.run_dir and "laststage" in row.run_dir.name
    assert (row.run_dir / EVIDENCE_FILE).is_file()
    loaded = runs.load_row_model("M3-Net", "FashionAI", 0, "smoke", variant="last_stage")
    settings = runs.run_settings("smoke")
    backbone = runs.pretrained_backbone(settings.backbone, "smoke", settings.backbone_width)
    _, last = m3net_training.split_last_stage(backbone.build())
    assert loaded.eval_inputs.shape[1] == last[0].in_channels  # maps of the frozen stages
    trained, start = loaded.model.backbone.state_dict(), last.state_dict()
    assert trained.keys() == start.keys()
    conv = next(k for k in start if start[k].dim() == 4)
    assert not torch.equal(trained[conv], start[conv])  # fine-tuned
    with pytest.raises(ConfigError, match="ASEN\\+\\+"):
        runs.run_row("ASEN++", "FashionAI", 0, "smoke", variant="last_stage")


def test_bf16_backbone_pretraining_is_deterministic(
    smoke_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same seed, same weights, in the bf16 and NHWC settings the smoke and cpu profiles use."""
    settings = backbone_pretrain.PRETRAIN_SETTINGS["smoke"]
    assert settings.amp == "bf16" and settings.channels_last
    digests = []
    for name in ("a", "b"):
        monkeypatch.setenv("FASHION_RUNS_DIR", str(tmp_path / name))
        trained = backbone_pretrain.pretrained_backbone("small_cnn", "smoke", 16)
        assert trained.record.config["train"]["amp"] == "bf16"
        digests.append(trained.digest)
        state = torch.load(trained.weights, weights_only=True)
        assert all(v.is_contiguous() for v in state.values())  # saved in the default layout
        trained.build()  # the weights load into a fresh backbone
    assert digests[0] == digests[1]


def test_nhwc_encoder_gives_the_backbone_maps_in_nchw() -> None:
    from fashion_lib.models.backbones import create_cnn_backbone

    torch.manual_seed(0)
    plain = create_cnn_backbone("small_cnn", width=4).eval()
    images = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        expected = plain(images)
        maps = backbone_pretrain.nhwc_encoder(plain).eval()(images)
    assert maps.is_contiguous()  # NCHW, as the caches and the rows expect
    torch.testing.assert_close(maps, expected, rtol=1e-4, atol=1e-5)
