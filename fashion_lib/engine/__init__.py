"""The training engine shared by both papers: config, seeding, AMP, DDP, checkpoints, loop, records.

It imports no model and no dataset: `fit` takes a module, a loss callable returning named terms and
a replayable batch source, as minGPT's trainer takes any model.
"""

from __future__ import annotations

from fashion_lib.engine.amp import AmpPolicy, autocast, make_scaler, resolve_amp
from fashion_lib.engine.batches import BatchSource, ItemBatches, TensorBatches, to_device
from fashion_lib.engine.checkpoint import CheckpointStore, load_weights
from fashion_lib.engine.config import TrainConfig, canonical_json, config_hash, with_overrides
from fashion_lib.engine.distributed import (
    DistInfo,
    all_gather,
    barrier,
    cleanup,
    dist_info,
    init_distributed,
    is_main,
    reduce_mean,
)
from fashion_lib.engine.loop import FitResult, StepEvent, fit
from fashion_lib.engine.records import RunRecord, find_finished_run, run_dir_for, write_record
from fashion_lib.engine.seeding import derive_seed, make_generator, seed_everything

__all__ = [
    "AmpPolicy",
    "BatchSource",
    "CheckpointStore",
    "DistInfo",
    "FitResult",
    "ItemBatches",
    "RunRecord",
    "StepEvent",
    "TensorBatches",
    "TrainConfig",
    "all_gather",
    "autocast",
    "barrier",
    "canonical_json",
    "cleanup",
    "config_hash",
    "derive_seed",
    "dist_info",
    "find_finished_run",
    "fit",
    "init_distributed",
    "is_main",
    "load_weights",
    "make_generator",
    "make_scaler",
    "reduce_mean",
    "resolve_amp",
    "run_dir_for",
    "seed_everything",
    "to_device",
    "with_overrides",
    "write_record",
]
