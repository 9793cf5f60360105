"""The resumable state of a training run: what a checkpoint holds and how it is put back.

A checkpoint is a plain dict (tensors, numbers, strings, lists) so that it loads with
`torch.load(weights_only=True)`: model, optimizer, scheduler and scaler state dicts, the step
counter and the batch source's position (epoch, steps per epoch: the sampler is a pure function of
its seed and the epoch, so its state is its position), every global RNG state, the loss history,
the config with its hash and the wall time spent so far.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fashion_lib.engine.config import TrainConfig, to_plain
from fashion_lib.engine.seeding import capture_rng_state, restore_rng_state
from fashion_lib.errors import ConfigError


@dataclass(frozen=True)
class Progress:
    """Where a run stands: steps done, loss history so far and wall time so far."""

    step: int
    history: list[dict[str, float]]
    wall_time_s: float


@dataclass(frozen=True)
class TrainingParts:
    """The objects whose state a checkpoint captures."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler

    def snapshot(
        self, progress: Progress, epoch: int, steps_per_epoch: int, config: TrainConfig
    ) -> dict[str, Any]:
        """The checkpoint dict of the current state (call between steps)."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": progress.step,
            "epoch": epoch,
            "steps_per_epoch": steps_per_epoch,
            "rng": capture_rng_state(),
            "history": progress.history,
            "config": to_plain(config),
            "config_hash": config.hash(),
            "wall_time_s": progress.wall_time_s,
        }

    def restore(
        self, state: dict[str, Any], source: Path, steps_per_epoch: int, config: TrainConfig
    ) -> Progress:
        """Load a checkpoint dict back into the parts and the global RNGs.

        Raises:
            ConfigError: the checkpoint belongs to another config or another epoch length.
        """
        if state["config_hash"] != config.hash() or state["steps_per_epoch"] != steps_per_epoch:
            raise ConfigError(
                f"{source} was written by another config or data size; "
                "train into a fresh run folder"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        restore_rng_state(state["rng"])
        return Progress(state["step"], list(state["history"]), state["wall_time_s"])
