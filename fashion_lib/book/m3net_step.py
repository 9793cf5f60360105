"""One M3-Net training step laid out for a reader (chapter 03's watched step).

`first_step` builds exactly what `m3net_runs.run_row` hands to `engine.fit` for a row (the row's
model with a fresh initialisation, its `TripletSampler`, the batches, M3-Net's loss with the
dataset's w_p and the row's margin, and the engine's optimiser and schedule) and returns the first
batch of epoch 0 beside them, so that a chapter can run forward, the loss terms, backward and the
optimiser step one at a time. Nothing is recorded and nothing trains beyond what the chapter runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from fashion_lib.data.samplers import TripletSampler
from fashion_lib.engine import TrainConfig, derive_seed
from fashion_lib.engine.optim import build_optimizer, build_scheduler, total_steps
from fashion_lib.errors import ConfigError
from fashion_lib.experiments.m3net_runs import _resolve
from fashion_lib.experiments.m3net_training import (
    TripletBatches,
    _targets,
    build_row_model,
    row_inputs,
)
from fashion_lib.losses import M3NetLoss, TripletTargets

__all__ = ["WatchedStep", "first_step", "targets_of"]


@dataclass
class WatchedStep:
    """Everything one training step of a row touches.

    Attributes:
        model: the row's freshly initialised model (backbone an identity in frozen profiles).
        batch: the first batch of epoch 0 (`TripletBatches`: "inputs" (3T, ...), "attr_ids"
            (3T,), "class_ids" (T,), "labels" (3T, M_max), ...).
        loss: M3-Net's loss (Eq. 11) on the model's prototypes.
        optimizer: the engine's optimiser for the row's config.
        scheduler: the engine's per-step schedule.
        sampler: the row's triplet sampler (its style and seed).
        config: the `TrainConfig` the row trains with.
    """

    model: nn.Module
    batch: dict[str, Tensor]
    loss: M3NetLoss
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    sampler: TripletSampler
    config: TrainConfig


def targets_of(batch: dict[str, Tensor]) -> TripletTargets:
    """The `TripletTargets` of a triplet batch, as the training loop builds them."""
    return _targets(batch)


def first_step(model_name: str, dataset: str, profile: str, seed: int = 0) -> WatchedStep:
    """The first step of an M3-Net row as `run_row` would train it (see the module docstring).

    Raises:
        ConfigError: the row is not of the M3-Net family.
    """
    row = _resolve(model_name, dataset, seed, profile)
    if row.spec.family != "m3net":
        raise ConfigError(f"{model_name} is not an M3-Net row; the watched step needs one")
    settings, data = row.settings, row.data
    inputs = row_inputs(data, "train", settings, row.backbone)
    torch.manual_seed(derive_seed(seed, 1))  # the row's model initialisation
    model = build_row_model(row.spec, data, settings, row.backbone)
    sampler = TripletSampler(data.train_labels, settings.triplets_per_epoch, seed, row.spec.style)
    batches = TripletBatches(sampler, inputs, data.train_multihot, settings.batch_triplets)
    config = TrainConfig(epochs=settings.epochs, lr=settings.lr, gamma=settings.lr_decay, seed=seed)
    optimizer = build_optimizer(model, config)
    spe = batches.steps_per_epoch
    scheduler = build_scheduler(optimizer, config, spe, total_steps(config, spe))
    loss = M3NetLoss(model.prototypes, pos_weight=row.pos_weight, margin=row.spec.margin)
    batch = next(batches.iter_epoch(0))
    return WatchedStep(model, batch, loss, optimizer, scheduler, sampler, config)
