"""The seven rows of M3-Net's Tables 2-4, trained and evaluated on DeepFashion, FashionAI and DARN.

Public API (stable; chapters 03-05 call it):

- ``ROWS``: ("ASEN", "ASENv2", "ASEN++", "MODC", "M3-Net_a", "M3-Net_c", "M3-Net"), the tables'
  row names; ``DATASETS``: ("DeepFashion", "FashionAI", "DARN").
- ``RUN_SETTINGS[profile]`` / ``run_settings(profile)`` -> ``RunSettings``: backbone, image size,
  frozen or end to end, triplets per epoch, epochs, seeds, batch size of each profile.
- ``run_row(model_name, dataset, seed, profile) -> RowResult``: trains one row with
  ``engine.fit`` (checkpoints, resume) and evaluates it, or reads the finished run of the same
  config. ``RowResult.metrics`` keys are ``"<relevance>/<metric>"`` with relevance "single" (all
  datasets) or "multi" (DeepFashion only) and metric "map_all" (query-weighted overall, as the
  papers), "map_all_macro", "map_100", "recall_100", and ``"<relevance>/map_all/<attribute>"``;
  all in percent. ``primary_relevance(dataset)`` says which one the paper's table uses.
- ``run_table(dataset, profile, rows=ROWS, seeds=None) -> pandas.DataFrame``: every row x seed,
  long format: columns model, dataset, seed, profile, relevance, attribute ("overall", "macro" or
  an attribute name), map_all, map_100, recall_100 (NaN for single attributes), train_time_s,
  eval_time_s, reused, run_dir.
- ``load_row_model(model_name, dataset, seed, profile) -> RowModel``: the trained model (weights
  from the run's last checkpoint), the dataset and the evaluation inputs, for figures and sweeps.
- ``encode_rows(model, family, inputs, rows) -> RetrievalSide`` and ``evaluate_model(model,
  spec, data, inputs, k) -> {relevance: RetrievalResult}``: the evaluation itself, reusable with
  other settings, e.g. a gamma sweep on a loaded M3-Net:
  ``rm.model.config = dataclasses.replace(rm.model.config, gamma=g)`` then ``evaluate_model``.
- ``dataset_for(profile, dataset, split="test") -> RetrievalDataset`` (read once per process) and
  ``untrained_references(data, pooled)``: chance level and pooled-backbone reference metrics.

Recipe (one for all rows, so that the comparison is fair): Adam, lr 1e-4 (1e-3 in the smoke and
cpu profiles, see `m3net_settings`), x0.975 per epoch, 16 triplets per step (M3-Net's recipe).
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

Evaluation: the ASEN family ranks in the attribute space; MODC and the M3-Net rows use the
multi-granularity protocol (`fashion_lib.retrieval`), M3-Net's class spaces being the head's
high-likelihood classes. MAP@100 is normalised by min(R, 100) (`fashion_lib.metrics`).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from fashion_lib.data.retrieval_data import (
    DATASETS,
    Inputs,
    LazyImages,
    RetrievalDataset,
    feature_maps,
)
from fashion_lib.data.samplers import TripletSampler
from fashion_lib.engine import (
    derive_seed,
    find_finished_run,
    load_weights,
    run_dir_for,
)
from fashion_lib.engine.records import RunRecord, finish_run
from fashion_lib.errors import ConfigError
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
    untrained_references,
)
from fashion_lib.experiments.m3net_settings import (
    ROW_SPECS,
    ROWS,
    RUN_SETTINGS,
    RowSpec,
    RunSettings,
    primary_relevance,
    run_settings,
)
from fashion_lib.experiments.m3net_training import (
    TripletBatches,
    build_row_model,
    train_row,
)
from fashion_lib.fingerprint import file_digest

__all__ = [
    "DATASETS",
    "ROWS",
    "ROW_SPECS",
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
        spec: the row's spec; dataset: the data; settings: the profile's settings.
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


def _data_key(data: RetrievalDataset) -> str:
    names = ["label_train.txt", f"query_{data.split}.txt", f"candidate_{data.split}.txt"]
    if data.multilabel:
        names.append(f"label_{data.split}.txt")
    return hashlib.sha256(
        "".join(file_digest(data.split_dir / n) for n in names).encode()
    ).hexdigest()


def _inputs(
    data: RetrievalDataset, split: str, settings: RunSettings, backbone: PretrainedBackbone
) -> Inputs:
    if settings.frozen:
        return feature_maps(backbone.build(), backbone.digest, data, split, settings.image_size)
    return LazyImages(data.folder, data.filenames[split], settings.image_size)


@dataclass(frozen=True)
class _Row:
    """Everything one row's run needs, resolved from (row, dataset, seed, profile)."""

    model_name: str
    dataset: str
    seed: int
    profile: str
    spec: RowSpec
    settings: RunSettings
    data: RetrievalDataset
    backbone: PretrainedBackbone
    pos_weight: float
    config: dict[str, Any]
    name: str

    @property
    def run_dir(self) -> Path:
        return run_dir_for(self.name, self.config)


def _resolve(model_name: str, dataset: str, seed: int, profile: str) -> _Row:
    if model_name not in ROW_SPECS:
        raise ConfigError(f"unknown row {model_name!r}; choose one of {', '.join(ROWS)}")
    if dataset not in DATASETS:
        raise ConfigError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    spec, settings = ROW_SPECS[model_name], run_settings(profile)
    data = dataset_for(profile, dataset, settings.eval_split)
    backbone = pretrained_backbone(settings.backbone, profile, settings.backbone_width)
    pos_weight = settings.deepfashion_pos_weight if dataset == "DeepFashion" else 1.0
    config = {
        "row": model_name,
        "spec": asdict(spec),
        "dataset": dataset,
        "seed": seed,
        "profile": profile,
        "settings": {k: v for k, v in asdict(settings).items() if k != "seeds"},
        "backbone": backbone.digest,
        "data": _data_key(data),
        "pos_weight": pos_weight,
    }
    name = f"m3row-{_slug(model_name)}-{dataset.lower()}-seed{seed}"
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


def run_row(model_name: str, dataset: str, seed: int, profile: str) -> RowResult:
    """Train and evaluate one row, or reuse the finished run of the same config.

    Args:
        model_name: one of ``ROWS``.
        dataset: one of ``DATASETS``.
        seed: seed of the sampler, the initialisation and the training loop.
        profile: profile name (smoke, cpu, gpu, paper).

    Returns:
        The `RowResult` (``reused`` tells whether it was read from an earlier run).
    """
    row = _resolve(model_name, dataset, seed, profile)
    record = find_finished_run(row.config, name=row.name)
    if record is not None:
        return _result(row, record, True)
    with torch_threads(row.settings.threads):
        return _train_and_evaluate(row)


def _train_and_evaluate(row: _Row) -> RowResult:
    """The body of `run_row` when no finished run exists."""
    spec, settings, data, seed = row.spec, row.settings, row.data, row.seed
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
    eval_inputs = _inputs(data, data.split, settings, row.backbone)
    started = time.perf_counter()
    results = evaluate_model(model, spec, data, eval_inputs, settings.k)
    eval_time = time.perf_counter() - started
    metrics = flat_metrics(results, settings.k)
    metrics |= {"train_time_s": train_time, "eval_time_s": eval_time}
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


def load_row_model(model_name: str, dataset: str, seed: int, profile: str) -> RowModel:
    """The trained model of a finished (or freshly trained) row, with its evaluation inputs."""
    run_row(model_name, dataset, seed, profile)
    row = _resolve(model_name, dataset, seed, profile)
    model = build_row_model(row.spec, row.data, row.settings, row.backbone)
    load_weights(model, row.run_dir)
    model.eval()
    inputs = _inputs(row.data, row.data.split, row.settings, row.backbone)
    return RowModel(model, row.spec, row.data, row.settings, inputs, row.settings.frozen)


def run_table(
    dataset: str, profile: str, rows: Sequence[str] = ROWS, seeds: Sequence[int] | None = None
) -> pd.DataFrame:
    """Run (or reuse) every row x seed on one dataset; long-format metrics (see module doc)."""
    settings = run_settings(profile)
    records = []
    for model_name in rows:
        for seed in settings.seeds if seeds is None else seeds:
            r = run_row(model_name, dataset, seed, profile)
            base = {
                "model": model_name,
                "dataset": dataset,
                "seed": seed,
                "profile": profile,
                "train_time_s": r.train_time_s,
                "eval_time_s": r.eval_time_s,
                "reused": r.reused,
                "run_dir": str(r.run_dir),
            }
            for rel in ("single", "multi"):
                if f"{rel}/map_all" not in r.metrics:
                    continue
                records.append(
                    {
                        **base,
                        "relevance": rel,
                        "attribute": "overall",
                        "map_all": r.metrics[f"{rel}/map_all"],
                        "map_100": r.metrics[f"{rel}/map_{settings.k}"],
                        "recall_100": r.metrics[f"{rel}/recall_{settings.k}"],
                    }
                )
                records.append(
                    {
                        **base,
                        "relevance": rel,
                        "attribute": "macro",
                        "map_all": r.metrics[f"{rel}/map_all_macro"],
                        "map_100": math.nan,
                        "recall_100": math.nan,
                    }
                )
                prefix = f"{rel}/map_all/"
                for key, value in r.metrics.items():
                    if key.startswith(prefix):
                        records.append(
                            {
                                **base,
                                "relevance": rel,
                                "attribute": key[len(prefix) :],
                                "map_all": value,
                                "map_100": math.nan,
                                "recall_100": math.nan,
                            }
                        )
    return pd.DataFrame.from_records(records)
