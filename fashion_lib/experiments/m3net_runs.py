"""The seven rows of M3-Net's Tables 2-4, trained and evaluated on DeepFashion, FashionAI and DARN.

Public API (stable; chapters 03-05 call it):

- ``ROWS``: ("ASEN", "ASENv2", "ASEN++", "MODC", "M3-Net_a", "M3-Net_c", "M3-Net"), the tables'
  row names; ``DATASETS``: ("DeepFashion", "FashionAI", "DARN").
- ``RUN_SETTINGS[profile]`` / ``run_settings(profile)`` -> ``RunSettings``: backbone, image size,
  frozen or end to end, triplets per epoch, epochs, seeds, batch size of each profile.
- ``run_row(model_name, dataset, seed, profile, variant=None) -> RowResult``: trains one row with
  ``engine.fit`` (checkpoints, resume) and evaluates it, or reads the finished run of the same
  config (a run is reused only when its per-query evidence is there too). ``variant`` names a
  change of the settings (``ROW_VARIANTS``, e.g. "last_stage"). ``RowResult.metrics`` keys are
  ``"<relevance>/<metric>"`` with relevance "single" (all datasets) or "multi" (DeepFashion only)
  and metric "map_all" (query-weighted overall, as the papers), "map_all_macro", "map_100",
  "recall_100", and ``"<relevance>/map_all/<attribute>"``; all in percent.
  ``primary_relevance(dataset)`` says which one the paper's table uses.
- ``run_table(dataset, profile, rows=ROWS, seeds=None, workers=None, variant=None) ->
  pandas.DataFrame``: every row x seed, long format: columns model, dataset, seed, profile,
  relevance, attribute ("overall", "macro" or an attribute name), map_all, map_100, recall_100
  (NaN for single attributes), train_time_s, eval_time_s, cpu_time_s, reused, run_dir. With
  ``workers`` > 1 (default ``RunSettings.workers``) the missing learning-rate selection runs
  train first (`m3net_selection.selection_runs`), then the dataset's feature caches are made once
  in this process, then the unfinished runs train in the same pool of ``workers`` processes, each
  with the profile's threads, the longest rows first (``ROW_SECONDS``); a run's numbers do not
  depend on the process it ran in. When every run is finished no worker is started. The pool
  (`engine.workers`) is spawned once per process and imports the main module: a script calling
  it with workers > 1 needs the usual ``if __name__ == "__main__":`` guard (notebooks and pytest
  need nothing).
- Per-query evidence (``fashion_lib.evidence``): every run writes ``evidence.npz`` beside its
  record, groups "<relevance>/ap_all", "<relevance>/ap_100", "<relevance>/recall_100" (percent,
  NaN for a query without relevant candidates), keyed "<attribute>|<query line index>".
  ``row_evidence(model_name, dataset, profile, group, variant=None, seeds=None) ->
  list[PerQuery]`` reads them over the profile's seeds, in seed order.
- ``load_row_model(model_name, dataset, seed, profile) -> RowModel``: the trained model (weights
  from the run's last checkpoint), the dataset and the evaluation inputs, for figures and sweeps.
- ``encode_rows(model, family, inputs, rows) -> RetrievalSide`` and ``evaluate_model(model,
  spec, data, inputs, k) -> {relevance: RetrievalResult}``: the evaluation itself, reusable with
  other settings, e.g. a gamma sweep on a loaded M3-Net:
  ``rm.model.config = dataclasses.replace(rm.model.config, gamma=g)`` then ``evaluate_model``.
- ``dataset_for(profile, dataset, split="test") -> RetrievalDataset`` (read once per process) and
  ``untrained_references(data, pooled)``: chance level and pooled-backbone reference metrics.

Recipe (one for all rows, so that the comparison is fair): Adam, lr 1e-4 (1e-3 in the smoke
profile; chosen per family on the validation split in the cpu profile, `m3net_selection`), x0.975
per epoch, 16 triplets per step (M3-Net's recipe).
Triplet styles: ASEN/ASENv2 "asen", ASEN++ and MODC "asenpp", M3-Net rows "m3net"
(`data.samplers`). Margins: 0.2 for the ASEN family (their code), 0.4 for MODC and M3-Net. ASEN++
trains in two stages: the first half of the steps on the global branch, the second half on both
branches with the global branch at a tenth of the learning rate (its code).

Frozen backbone (cpu and smoke profiles): the proxy-pre-trained backbone
(`backbone_pretrain`) is frozen and its feature maps are cached once per dataset
(`data.retrieval_data.feature_maps`), so each model trains only what distinguishes it: attention
modules, heads, embeddings, prototypes. The models' backbone modules are replaced by identities
that pass the cached maps through. ASEN++'s local branch then reads a crop of the cached map around
the global attention (resampled to the map's size) instead of re-encoding a pixel crop. The gpu and
paper profiles train end to end from the pre-trained (gpu) or ImageNet (paper) weights.

Training reads only the training split (and the dataset object of the validation split, whose
training rows are the same); the evaluation split (test) is read after training, for the tables.

Evaluation: the ASEN family ranks in the attribute space; MODC and the M3-Net rows use the
multi-granularity protocol (`fashion_lib.retrieval`), M3-Net's class spaces being the head's
high-likelihood classes. MAP@100 is normalised by min(R, 100) (`fashion_lib.metrics`).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from fashion_lib.data.retrieval_data import DATASETS, Inputs, RetrievalDataset
from fashion_lib.data.samplers import TripletSampler
from fashion_lib.engine import (
    derive_seed,
    find_finished_run,
    load_weights,
    run_dir_for,
)
from fashion_lib.engine.records import RunRecord, finish_run, touch_record
from fashion_lib.engine.workers import in_workers
from fashion_lib.errors import ConfigError
from fashion_lib.evidence import PerQuery, has_groups, read_group, write_evidence
from fashion_lib.experiments.backbone_pretrain import (
    PretrainedBackbone,
    dataset_for,
    pretrained_backbone,
    torch_threads,
)
from fashion_lib.experiments.m3net_eval import (
    encode_rows,
    evaluate_model,
    flat_metrics,
    per_query_evidence,
    untrained_references,
)
from fashion_lib.experiments.m3net_selection import select_lr, selection_runs
from fashion_lib.experiments.m3net_settings import (
    ROW_SECONDS,
    ROW_SPECS,
    ROW_VARIANTS,
    ROWS,
    RUN_SETTINGS,
    RowSpec,
    RunSettings,
    primary_relevance,
    run_settings,
    variant_settings,
)
from fashion_lib.experiments.m3net_training import (
    TripletBatches,
    build_row_model,
    row_inputs,
    train_row,
)
from fashion_lib.fingerprint import file_digest

__all__ = [
    "DATASETS",
    "ROWS",
    "ROW_SPECS",
    "ROW_VARIANTS",
    "RUN_SETTINGS",
    "RowModel",
    "RowResult",
    "RowSpec",
    "RunSettings",
    "TripletBatches",
    "build_row_model",
    "dataset_for",
    "encode_rows",
    "evaluate_model",
    "load_row_model",
    "primary_relevance",
    "row_evidence",
    "run_row",
    "run_settings",
    "run_table",
    "untrained_references",
]


@dataclass(frozen=True)
class RowResult:
    """One trained and evaluated row.

    Attributes:
        model: row name; dataset; seed; profile.
        run_dir: the run folder (record.json, checkpoints).
        metrics: evaluation results (see the module docstring for the keys).
        history: per-step loss terms (ASEN++: both stages, with a "stage" entry).
        train_time_s, eval_time_s: wall times of training and evaluation.
        reused: True if the record of an earlier run was read instead of training.
        record: the run record.
    """

    model: str
    dataset: str
    seed: int
    profile: str
    run_dir: Path
    metrics: dict[str, float]
    history: list[dict[str, float]]
    train_time_s: float
    eval_time_s: float
    reused: bool
    record: RunRecord


@dataclass(frozen=True)
class RowModel:
    """A trained row, ready for figures: model in eval mode, its data and evaluation inputs.

    Attributes:
        model: the trained module (backbone replaced by an identity when ``frozen``).
        spec: the row's spec; dataset: the data (evaluation split); settings: the run's settings.
        eval_inputs: (N_split, ...) inputs of the evaluation split's images, in fid order:
            cached float16 maps when frozen, else `LazyImages` (uint8 on demand).
        frozen: whether the inputs are feature maps.
    """

    model: nn.Module
    spec: RowSpec
    dataset: RetrievalDataset
    settings: RunSettings
    eval_inputs: Inputs
    frozen: bool


def _slug(model_name: str) -> str:
    return model_name.lower().replace("++", "pp").replace("-", "")


def _data_key(data: RetrievalDataset, split: str) -> str:
    """Digest of the files a run depends on: training labels and the evaluation split's files."""
    names = ["label_train.txt", f"query_{split}.txt", f"candidate_{split}.txt"]
    if data.multilabel:
        names.append(f"label_{split}.txt")
    return hashlib.sha256(
        "".join(file_digest(data.split_dir / n) for n in names).encode()
    ).hexdigest()


_inputs = row_inputs  # the name `exercises` imports

# Settings that choose how runs are scheduled or how the rate is chosen, not what a run computes.
_NOT_IN_CONFIG = ("seeds", "workers", "lr_grid", "select_dataset", "curve_points")


def settings_config(settings: RunSettings) -> dict[str, Any]:
    """The part of a run's settings that goes into its config (and hash)."""
    return {k: v for k, v in asdict(settings).items() if k not in _NOT_IN_CONFIG}


@dataclass(frozen=True)
class _Row:
    """Everything one row's run needs, resolved from (row, dataset, seed, profile)."""

    model_name: str
    dataset: str
    seed: int
    profile: str
    spec: RowSpec
    settings: RunSettings
    data: RetrievalDataset  # training rows (the validation split's object: no test file read)
    backbone: PretrainedBackbone
    pos_weight: float
    config: dict[str, Any]
    name: str

    @property
    def run_dir(self) -> Path:
        return run_dir_for(self.name, self.config)


def _resolve(
    model_name: str, dataset: str, seed: int, profile: str, variant: str | None = None
) -> _Row:
    if model_name not in ROW_SPECS:
        raise ConfigError(f"unknown row {model_name!r}; choose one of {', '.join(ROWS)}")
    if dataset not in DATASETS:
        raise ConfigError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    spec, settings = ROW_SPECS[model_name], variant_settings(profile, variant)
    if settings.trained_stages and not settings.frozen:
        raise ConfigError(f"variant {variant!r} needs a frozen-backbone profile, not {profile!r}")
    settings = replace(settings, lr=select_lr(spec.family, profile))
    data = dataset_for(profile, dataset, "valid")
    backbone = pretrained_backbone(settings.backbone, profile, settings.backbone_width)
    pos_weight = settings.deepfashion_pos_weight if dataset == "DeepFashion" else 1.0
    config = {
        "row": model_name,
        "spec": asdict(spec),
        "dataset": dataset,
        "seed": seed,
        "profile": profile,
        "settings": settings_config(settings),
        "backbone": backbone.digest,
        "data": _data_key(data, settings.eval_split),
        "pos_weight": pos_weight,
    }
    tag = "" if variant is None else "-" + variant.replace("_", "")
    name = f"m3row-{_slug(model_name)}-{dataset.lower()}{tag}-seed{seed}"
    return _Row(
        model_name, dataset, seed, profile, spec, settings, data, backbone, pos_weight, config, name
    )


def _result(row: _Row, record: RunRecord, reused: bool) -> RowResult:
    m = record.metrics
    return RowResult(
        row.model_name,
        row.dataset,
        row.seed,
        row.profile,
        row.run_dir,
        {k: v for k, v in m.items() if "/" in k},
        record.history,
        m["train_time_s"],
        m["eval_time_s"],
        reused,
        record,
    )


def run_row(
    model_name: str, dataset: str, seed: int, profile: str, variant: str | None = None
) -> RowResult:
    """Train and evaluate one row, or reuse the finished run of the same config.

    Args:
        model_name: one of ``ROWS``.
        dataset: one of ``DATASETS``.
        seed: seed of the sampler, the initialisation and the training loop.
        profile: profile name (smoke, cpu, gpu, paper).
        variant: None, or a name of ``ROW_VARIANTS`` (a targeted experiment).

    Returns:
        The `RowResult` (``reused`` tells whether it was read from an earlier run).
    """
    row = _resolve(model_name, dataset, seed, profile, variant)
    record = find_finished_run(row.config, name=row.name)
    if record is not None and has_groups(row.run_dir):
        return _result(row, record, True)
    with torch_threads(row.settings.threads):
        return _train_and_evaluate(row)


def _evaluate(row: _Row, model: nn.Module) -> tuple[dict[str, float], dict[str, PerQuery]]:
    """Metrics and per-query evidence of a trained row on the evaluation split (read here)."""
    data = dataset_for(row.profile, row.dataset, row.settings.eval_split)
    inputs = _inputs(data, data.split, row.settings, row.backbone)
    results = evaluate_model(model, row.spec, data, inputs, row.settings.k)
    return flat_metrics(results, row.settings.k), per_query_evidence(results, data, row.settings.k)


def _train_and_evaluate(row: _Row) -> RowResult:
    """The body of `run_row` when no finished run exists."""
    spec, settings, data, seed = row.spec, row.settings, row.data, row.seed
    cpu_started = time.process_time()
    train_inputs = _inputs(data, "train", settings, row.backbone)
    torch.manual_seed(derive_seed(seed, 1))  # model initialisation
    model = build_row_model(spec, data, settings, row.backbone)
    batches = TripletBatches(
        TripletSampler(data.train_labels, settings.triplets_per_epoch, seed, spec.style),
        train_inputs,
        data.train_multihot,
        settings.batch_triplets,
    )
    stage2 = None
    if spec.registry == "asenpp":
        sampler2 = TripletSampler(
            data.train_labels, settings.triplets_per_epoch, derive_seed(seed, 2), spec.style
        )
        stage2 = TripletBatches(
            sampler2, train_inputs, data.train_multihot, settings.batch_triplets
        )
    history, train_time = train_row(
        spec, model, batches, stage2, settings, seed, row.pos_weight, row.run_dir
    )
    started = time.perf_counter()
    metrics, evidence = _evaluate(row, model)
    eval_time = time.perf_counter() - started
    cpu_time = time.process_time() - cpu_started  # this process, training and evaluation
    metrics |= {"train_time_s": train_time, "eval_time_s": eval_time, "cpu_time_s": cpu_time}
    write_evidence(row.run_dir, evidence)  # before the record: a finished run has its evidence
    record = finish_run(
        row.run_dir,
        name=row.name,
        config=row.config,
        seed=seed,
        profile=row.profile,
        wall_time_s=train_time + eval_time,
        metrics=metrics,
        history=history,
    )
    if record is None:  # not rank 0
        return RowResult(
            row.model_name,
            row.dataset,
            seed,
            row.profile,
            row.run_dir,
            metrics,
            history,
            train_time,
            eval_time,
            False,
            None,
        )  # type: ignore[arg-type]
    return _result(row, record, False)


def load_row_model(
    model_name: str, dataset: str, seed: int, profile: str, variant: str | None = None
) -> RowModel:
    """The trained model of a finished (or freshly trained) row, with its evaluation inputs."""
    run_row(model_name, dataset, seed, profile, variant)
    row = _resolve(model_name, dataset, seed, profile, variant)
    model = build_row_model(row.spec, row.data, row.settings, row.backbone)
    load_weights(model, row.run_dir)
    model.eval()
    data = dataset_for(profile, dataset, row.settings.eval_split)
    inputs = _inputs(data, data.split, row.settings, row.backbone)
    return RowModel(model, row.spec, data, row.settings, inputs, row.settings.frozen)


def row_evidence(
    model_name: str,
    dataset: str,
    profile: str,
    group: str,
    variant: str | None = None,
    seeds: Sequence[int] | None = None,
) -> list[PerQuery]:
    """One evidence group of a row over seeds (default: the profile's), trained if missing.

    Raises:
        DataError: a run's evidence lacks `group` (naming the file and the groups it has).

    Args:
        model_name, dataset, profile, variant: as for `run_row`.
        group: e.g. "single/ap_all", "multi/ap_100", "single/recall_100".
        seeds: the seeds, in the order of the returned list.

    Returns:
        One `PerQuery` per seed; the same query has the same key in every row and seed.
    """
    seeds = run_settings(profile).seeds if seeds is None else seeds
    return read_group(
        [run_row(model_name, dataset, s, profile, variant).run_dir for s in seeds], group
    )


def _make_caches(dataset: str, profile: str, variant: str | None) -> None:
    """Make once, in this process (all threads), the feature caches the dataset's runs share."""
    settings = variant_settings(profile, variant)
    if not settings.frozen:
        return
    backbone = pretrained_backbone(settings.backbone, profile, settings.backbone_width)
    data = dataset_for(profile, dataset, "valid")  # training rows; test images only encoded
    for part in ("train", settings.eval_split):
        row_inputs(data, part, settings, backbone)


def _finished(model_name: str, dataset: str, seed: int, profile: str, variant: str | None) -> bool:
    row = _resolve(model_name, dataset, seed, profile, variant)
    return find_finished_run(row.config, name=row.name) is not None and has_groups(row.run_dir)


def _row_cost(model_name: str, *_: object) -> float:
    return ROW_SECONDS[model_name]


def _table_rows(r: RowResult, k: int) -> list[dict[str, Any]]:
    """The long-format rows of one run (see the module docstring)."""
    base = {
        "model": r.model,
        "dataset": r.dataset,
        "seed": r.seed,
        "profile": r.profile,
        "train_time_s": r.train_time_s,
        "eval_time_s": r.eval_time_s,
        "cpu_time_s": r.record.metrics.get("cpu_time_s", math.nan),
        "reused": r.reused,
        "run_dir": str(r.run_dir),
    }
    out = []
    for rel in ("single", "multi"):
        if f"{rel}/map_all" not in r.metrics:
            continue
        m = r.metrics
        out.append(
            {
                **base,
                "relevance": rel,
                "attribute": "overall",
                "map_all": m[f"{rel}/map_all"],
                "map_100": m[f"{rel}/map_{k}"],
                "recall_100": m[f"{rel}/recall_{k}"],
            }
        )
        per_attribute = {"macro": m[f"{rel}/map_all_macro"]} | {
            key.split("/", 2)[2]: v for key, v in m.items() if key.startswith(f"{rel}/map_all/")
        }
        for attribute, value in per_attribute.items():
            out.append(
                {
                    **base,
                    "relevance": rel,
                    "attribute": attribute,
                    "map_all": value,
                    "map_100": math.nan,
                    "recall_100": math.nan,
                }
            )
    return out


def run_table(
    dataset: str,
    profile: str,
    rows: Sequence[str] = ROWS,
    seeds: Sequence[int] | None = None,
    workers: int | None = None,
    variant: str | None = None,
) -> pd.DataFrame:
    """Run (or reuse) every row x seed on one dataset; long-format metrics (see module doc)."""
    settings = variant_settings(profile, variant)
    workers = settings.workers if workers is None else workers
    pairs = [(m, s) for m in rows for s in (settings.seeds if seeds is None else seeds)]
    trained: dict[tuple[str, int], RowResult] = {}
    selection_runs(profile, workers=workers)  # the rates first (in the same pool)
    if workers > 1:
        todo = [
            (m, dataset, s, profile, variant)
            for m, s in pairs
            if not _finished(m, dataset, s, profile, variant)
        ]
        if todo:
            _make_caches(dataset, profile, variant)
        for r in in_workers(run_row, todo, workers, cost=_row_cost):
            touch_record(r.record, reused=False)
            trained[r.model, r.seed] = r
    records = []
    for model_name, seed in pairs:
        r = trained.get((model_name, seed)) or run_row(model_name, dataset, seed, profile, variant)
        records += _table_rows(r, settings.k)
    return pd.DataFrame.from_records(records)
