"""`fit`: the one training loop of the book, model-agnostic, resumable, single- or multi-process.

The loop knows nothing about fashion: `loss_fn(model, batch)` runs the model and returns named loss
terms, which are summed for the update and logged one by one. Progress is a step counter; the batch
source replays any epoch from any step and the checkpoint holds every RNG state, so a run killed
after a checkpoint and started again ends with bit-identical weights on the CPU.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm  # plain bars: tqdm.auto warns "IProgress not found" in every chapter

from fashion_lib.engine.amp import autocast, make_scaler, resolve_amp
from fashion_lib.engine.batches import BatchSource, to_device
from fashion_lib.engine.checkpoint import CheckpointStore
from fashion_lib.engine.config import TrainConfig
from fashion_lib.engine.distributed import default_device, dist_info, reduce_mean
from fashion_lib.engine.optim import build_optimizer, build_scheduler, total_steps
from fashion_lib.engine.seeding import seed_everything
from fashion_lib.engine.state import Progress, TrainingParts

LossFn = Callable[[nn.Module, Any], Mapping[str, torch.Tensor]]


@dataclass(frozen=True)
class StepEvent:
    """What callbacks see after every step: the step count, logged terms and a new checkpoint."""

    step: int
    epoch: int
    terms: Mapping[str, float] | None
    checkpoint: Path | None


@dataclass(frozen=True)
class FitResult:
    """Outcome of `fit`: total steps, loss history (including steps before a resume), wall time."""

    steps: int
    history: list[dict[str, float]]
    wall_time_s: float
    resumed_from: int | None
    checkpoint: Path | None


def show_progress(is_main: bool) -> bool:
    """Progress bars only on the main rank, on a terminal, and unless TQDM_DISABLE=1."""
    return is_main and sys.stderr.isatty() and os.environ.get("TQDM_DISABLE", "0") in ("", "0")


def fit(
    model: nn.Module,
    loss_fn: LossFn,
    batches: BatchSource,
    config: TrainConfig,
    run_dir: str | Path,
    *,
    device: torch.device | None = None,
    lr_scales: Mapping[str, float] | None = None,
    callbacks: Sequence[Callable[[StepEvent], None]] = (),
) -> FitResult:
    """Train `model` on `batches`, resuming from the newest readable checkpoint in `run_dir`.

    Args:
        model: any module; wrapped in DistributedDataParallel when the world size is > 1, in which
            case `loss_fn` must run it through `model(...)` so that gradients are synchronised.
        loss_fn: (model, batch) -> {term name: scalar tensor}; the terms are summed.
        batches: the data, replayable from (epoch, step) (see `engine.batches`).
        config: optimisation settings; its hash must match the checkpoints' to resume.
        run_dir: folder of this run; checkpoints go to `run_dir/checkpoints/`.
        device: where to train (default: this rank's GPU, else the CPU).
        lr_scales: parameter-name prefix -> learning-rate multiplier.
        callbacks: called with a StepEvent after every step (after its checkpoint, if any).

    Returns:
        The FitResult; the trained weights are in `model`.
    """
    info = dist_info()
    device = device or default_device(info)
    model.to(device)
    spe = batches.steps_per_epoch
    total = total_steps(config, spe)
    optimizer = build_optimizer(model, config, lr_scales)
    policy = resolve_amp(config.amp, device)
    parts = TrainingParts(
        model, optimizer, build_scheduler(optimizer, config, spe, total), make_scaler(policy)
    )
    store = CheckpointStore(Path(run_dir) / "checkpoints", keep=config.keep_checkpoints)
    seed_everything(config.seed)
    progress, checkpoint, resumed_from = Progress(0, [], 0.0), None, None
    loaded = store.load_latest()
    if loaded is not None:
        state, checkpoint = loaded
        progress = parts.restore(state, checkpoint, spe, config)
        resumed_from = progress.step
    step, history = progress.step, progress.history
    net = model
    if info.world_size > 1:
        ids = [device.index] if device.type == "cuda" else None
        net = DistributedDataParallel(model, ids, find_unused_parameters=config.ddp_find_unused)
    net.train()
    started = time.perf_counter()
    bar = tqdm(total=total, initial=step, disable=not show_progress(info.is_main), unit="step")
    while step < total:
        epoch, offset = divmod(step, spe)
        for batch in batches.iter_epoch(epoch, offset):
            lr = optimizer.param_groups[0]["lr"]
            with autocast(policy):
                terms = dict(loss_fn(net, to_device(batch, device)))
                loss = torch.stack([value.float() for value in terms.values()]).sum()
            optimizer.zero_grad(set_to_none=True)
            parts.scaler.scale(loss).backward()
            if config.grad_clip is not None:
                parts.scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            parts.scaler.step(optimizer)
            parts.scaler.update()
            parts.scheduler.step()
            step += 1
            logged = None
            if step % config.log_every == 0 or step == total:
                logged = {name: reduce_mean(value).item() for name, value in terms.items()}
                logged["loss"] = sum(logged.values())
                if not math.isfinite(logged["loss"]):
                    raise FloatingPointError(f"loss is {logged} at step {step} of {run_dir}")
                history.append({"step": step, "epoch": epoch, "lr": lr, **logged})
                bar.set_postfix(loss=f"{logged['loss']:.4f}")
            bar.update(1)
            wall = progress.wall_time_s + time.perf_counter() - started
            saved = None
            due = config.checkpoint_every and step % config.checkpoint_every == 0
            if info.is_main and (due or step == total):
                snapshot = parts.snapshot(Progress(step, history, wall), epoch, spe, config)
                saved = checkpoint = store.save(snapshot, step)
            for callback in callbacks:
                callback(StepEvent(step, epoch, logged, saved))
            if step >= total:
                break
    bar.close()
    wall = progress.wall_time_s + time.perf_counter() - started
    return FitResult(step, history, wall, resumed_from, checkpoint)
