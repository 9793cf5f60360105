"""Choosing each family's learning rate on the validation split, with validation learning curves.

Public API (chapter 03 and `m3net_runs` call it):

- ``selection_run(family, lr, profile) -> SelectionRun``: trains the family's probe row
  (``FAMILY_PROBES``) on ``RunSettings.select_dataset`` with seed ``seeds[0]`` and learning rate
  ``lr``, evaluating validation MAP@all (primary relevance) at ``curve_points`` evenly spaced
  steps; recorded like every run (name ``m3lr-<row>-<dataset>-lr<lr>``), reused when finished.
- ``selection_runs(profile, families=all, workers=None) -> list[SelectionRun]``: every run of
  the grid (family-major, rates ascending). The unfinished ones train in ``workers`` processes
  (default ``RunSettings.workers``; `engine.workers`, longest probe first), after the backbone and
  the selection dataset's feature caches are made once in this process; a run's numbers do not
  depend on the process it ran in.
- ``select_lr(family, profile) -> float``: the rate of ``lr_grid`` with the highest final
  validation MAP@all (ties: the smaller rate); ``lr`` when the grid is empty. Every row of the
  family trains with it (`m3net_runs`).
- ``selection_table(profile) -> pandas.DataFrame``: family, probe, lr, validation MAP@all at each
  curve point (columns step, map_all, final), and whether the rate was selected. It trains the
  missing runs of all families in one pool.

Nothing here reads the test split: training uses the training images, evaluation the validation
split's queries and candidates (ASEN's "valid" files). A run resumed from a checkpoint keeps the
curve points evaluated before the interruption only if they were recorded, so a resumed selection
run has a shorter curve; its final point, which decides, is always there.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import pandas as pd
import torch

from fashion_lib.data.retrieval_data import RetrievalDataset
from fashion_lib.data.samplers import TripletSampler
from fashion_lib.engine import derive_seed, find_finished_run, run_dir_for
from fashion_lib.engine.loop import StepEvent
from fashion_lib.engine.records import RunRecord, finish_run, touch_record
from fashion_lib.engine.workers import in_workers
from fashion_lib.errors import ConfigError
from fashion_lib.experiments.backbone_pretrain import (
    PretrainedBackbone,
    dataset_for,
    pretrained_backbone,
    torch_threads,
)
from fashion_lib.experiments.m3net_eval import evaluate_model
from fashion_lib.experiments.m3net_settings import (
    FAMILY_PROBES,
    ROW_SECONDS,
    ROW_SPECS,
    RowSpec,
    RunSettings,
    primary_relevance,
    run_settings,
)
from fashion_lib.experiments.m3net_training import (
    TripletBatches,
    build_row_model,
    row_inputs,
    train_row,
)

__all__ = ["SelectionRun", "select_lr", "selection_run", "selection_runs", "selection_table"]

VALID = "valid"


@dataclass(frozen=True)
class SelectionRun:
    """One probe row trained at one rate: its validation curve and record.

    Attributes:
        family, row, lr: what was trained.
        curve: (step, validation MAP@all in percent) at the curve points, in step order.
        record: the run record (metrics "valid/map_all" and "valid/map_all@<step>").
        reused: True if the record of an earlier run was read instead of training.
    """

    family: str
    row: str
    lr: float
    curve: list[tuple[int, float]]
    record: RunRecord
    reused: bool = True

    @property
    def final(self) -> float:
        """Validation MAP@all at the end of training."""
        return self.record.metrics["valid/map_all"]


def _curve_steps(total: int, points: int) -> list[int]:
    return sorted({max(1, round(total * (i + 1) / points)) for i in range(max(1, points))})


def _settings(profile: str, lr: float) -> RunSettings:
    return replace(run_settings(profile), lr=lr)


@dataclass(frozen=True)
class _Probe:
    """Everything one selection run needs, resolved from (family, lr, profile)."""

    family: str
    lr: float
    spec: RowSpec
    settings: RunSettings
    data: RetrievalDataset  # the validation split's object: training rows and "valid" files
    backbone: PretrainedBackbone
    pos_weight: float
    config: dict[str, Any]
    name: str


def _resolve(family: str, lr: float, profile: str) -> _Probe:
    if family not in FAMILY_PROBES:
        raise ConfigError(f"unknown family {family!r}; choose one of {', '.join(FAMILY_PROBES)}")
    row = FAMILY_PROBES[family]
    spec, settings = ROW_SPECS[row], _settings(profile, lr)
    dataset, seed = settings.select_dataset, settings.seeds[0]
    data = dataset_for(profile, dataset, VALID)
    backbone = pretrained_backbone(settings.backbone, profile, settings.backbone_width)
    pos_weight = settings.deepfashion_pos_weight if dataset == "DeepFashion" else 1.0
    config = {
        "selection": family,
        "row": row,
        "spec": asdict(spec),
        "dataset": dataset,
        "seed": seed,
        "profile": profile,
        "settings": {k: v for k, v in asdict(settings).items() if k not in ("seeds", "lr_grid")},
        "backbone": backbone.digest,
        "split": VALID,
    }
    name = f"m3lr-{family}-{dataset.lower()}-lr{lr:g}"
    return _Probe(family, lr, spec, settings, data, backbone, pos_weight, config, name)


def selection_run(family: str, lr: float, profile: str) -> SelectionRun:
    """Train (or reuse) the family's probe row at ``lr``, scored on the validation split."""
    probe = _resolve(family, lr, profile)
    record = find_finished_run(probe.config, name=probe.name)
    reused = record is not None
    if record is None:
        with torch_threads(probe.settings.threads):
            record = _train_probe(probe)
    curve = sorted(
        (int(k.rsplit("@", 1)[1]), v)
        for k, v in record.metrics.items()
        if k.startswith("valid/map_all@")
    )
    return SelectionRun(family, FAMILY_PROBES[family], lr, curve, record, reused)


def _finished(family: str, lr: float, profile: str) -> bool:
    probe = _resolve(family, lr, profile)
    return find_finished_run(probe.config, name=probe.name) is not None


def _probe_cost(family: str, lr: float, profile: str) -> float:
    return ROW_SECONDS[FAMILY_PROBES[family]]


def selection_runs(
    profile: str, families: Sequence[str] = tuple(FAMILY_PROBES), workers: int | None = None
) -> list[SelectionRun]:
    """Every selection run of ``families`` x ``lr_grid``, the missing ones trained in workers."""
    settings = run_settings(profile)
    workers = settings.workers if workers is None else workers
    grid = [(family, lr, profile) for family in families for lr in sorted(settings.lr_grid)]
    todo = [g for g in grid if not _finished(*g)] if workers > 1 else []
    trained: dict[tuple[str, float, str], SelectionRun] = {}
    if todo:
        backbone = pretrained_backbone(settings.backbone, profile, settings.backbone_width)
        if settings.frozen:  # the feature caches the probes share, made once (all threads)
            data = dataset_for(profile, settings.select_dataset, VALID)
            for part in ("train", VALID):
                row_inputs(data, part, settings, backbone)
        runs = in_workers(selection_run, todo, workers, cost=_probe_cost)
        for g, run in zip(todo, runs, strict=True):
            touch_record(run.record, reused=False)
            trained[g] = run
    return [trained.get(g) or selection_run(*g) for g in grid]


def _train_probe(probe: _Probe) -> RunRecord:
    """Train the probe, evaluating validation MAP@all at the curve steps."""
    spec, data, settings, backbone = probe.spec, probe.data, probe.settings, probe.backbone
    seed, name, config = settings.seeds[0], probe.name, probe.config
    run_dir = run_dir_for(name, config)
    cpu_started = time.process_time()
    train_inputs = row_inputs(data, "train", settings, backbone)
    valid_inputs = row_inputs(data, VALID, settings, backbone)
    torch.manual_seed(derive_seed(seed, 1))  # model initialisation, as `m3net_runs`
    model = build_row_model(spec, data, settings, backbone)
    sampler = TripletSampler(data.train_labels, settings.triplets_per_epoch, seed, spec.style)
    batches = TripletBatches(sampler, train_inputs, data.train_multihot, settings.batch_triplets)
    steps = set(_curve_steps(settings.epochs * batches.steps_per_epoch, settings.curve_points))
    relevance = primary_relevance(data.name)
    curve: dict[str, float] = {}

    def evaluate(step: int) -> None:
        results = evaluate_model(model, spec, data, valid_inputs, settings.k)
        curve[f"valid/map_all@{step}"] = results[relevance].overall["map_all"]
        model.train()

    def on_step(event: StepEvent) -> None:
        if event.step in steps:
            evaluate(event.step)

    history, train_time = train_row(
        spec, model, batches, None, settings, seed, probe.pos_weight, run_dir, (on_step,)
    )
    if f"valid/map_all@{max(steps)}" not in curve:  # resumed after its last step
        evaluate(max(steps))
    final = curve[f"valid/map_all@{max(steps)}"]
    return finish_run(
        run_dir,
        name=name,
        config=config,
        seed=seed,
        profile=config["profile"],
        wall_time_s=train_time,
        metrics={
            "valid/map_all": final,
            **curve,
            "train_time_s": train_time,
            "cpu_time_s": time.process_time() - cpu_started,
        },
        history=history,
    )


def _best(runs: Sequence[SelectionRun]) -> float:
    """The rate of the best final validation MAP@all (ties: the smaller rate)."""
    return max(runs, key=lambda r: (r.final, -r.lr)).lr


def select_lr(family: str, profile: str) -> float:
    """The family's learning rate: best final validation MAP@all over ``lr_grid``."""
    settings = run_settings(profile)
    if not settings.lr_grid:
        return settings.lr
    return _best(selection_runs(profile, [family]))


def selection_table(profile: str) -> pd.DataFrame:
    """Long table of every selection run's validation curve (see the module docstring)."""
    runs = selection_runs(profile)
    rows = []
    for family in FAMILY_PROBES:
        mine = [r for r in runs if r.family == family]
        chosen = _best(mine) if mine else None
        for run in mine:
            for step, value in run.curve:
                rows.append(
                    {
                        "family": family,
                        "probe": run.row,
                        "lr": run.lr,
                        "step": step,
                        "map_all": value,
                        "final": run.final,
                        "selected": run.lr == chosen,
                        "train_time_s": run.record.metrics["train_time_s"],
                        "cpu_time_s": run.record.metrics["cpu_time_s"],
                    }
                )
    return pd.DataFrame.from_records(rows)
