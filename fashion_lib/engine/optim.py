"""Optimizer and learning-rate schedule from a TrainConfig.

The schedule is a pure function of the step (`lr_factor`), as in nanoGPT's `get_lr`, wrapped in a
LambdaLR so that it is checkpointed with the run. Parameter groups are built by hand rather than
with timm's `param_groups_weight_decay` because they also carry per-prefix learning-rate scales
(ASEN++ stage 2 trains its global branch at a tenth of the local branch's rate), which timm's
helper lacks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

from fashion_lib.engine.config import TrainConfig
from fashion_lib.errors import ConfigError


def total_steps(config: TrainConfig, steps_per_epoch: int) -> int:
    """Optimizer steps of the whole run: all epochs, capped by `max_steps`."""
    steps = config.epochs * steps_per_epoch
    return min(steps, config.max_steps) if config.max_steps is not None else steps


def param_groups(
    model: nn.Module, config: TrainConfig, lr_scales: Mapping[str, float] | None = None
) -> list[dict]:
    """Split trainable parameters by (learning-rate scale, decays or not).

    Matrices and kernels (ndim >= 2) get `config.weight_decay`; biases and 1-D parameters (norm
    scales, prototypes' temperatures) get none, as in ALBEF/FashionSAP.

    Args:
        model: the module whose trainable parameters are optimized.
        config: supplies lr and weight_decay.
        lr_scales: parameter-name prefix -> learning-rate multiplier (first matching prefix wins).

    Returns:
        torch.optim parameter groups, in the order their parameters first appear.

    Raises:
        ConfigError: a prefix of `lr_scales` matches no trainable parameter.
    """
    lr_scales = dict(lr_scales or {})
    groups: dict[tuple[float, bool], list[nn.Parameter]] = {}
    used: set[str] = set()
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        prefix = next((p for p in lr_scales if name.startswith(p)), None)
        if prefix is not None:
            used.add(prefix)
        scale = lr_scales.get(prefix, 1.0)
        decays = param.ndim >= 2 and not name.endswith(".bias")
        groups.setdefault((scale, decays), []).append(param)
    unused = sorted(set(lr_scales) - used)
    if unused:
        raise ConfigError(f"lr_scales prefixes match no trainable parameter: {', '.join(unused)}")
    return [
        {
            "params": params,
            "lr": config.lr * scale,
            "weight_decay": config.weight_decay if decays else 0.0,
        }
        for (scale, decays), params in groups.items()
    ]


def build_optimizer(
    model: nn.Module, config: TrainConfig, lr_scales: Mapping[str, float] | None = None
) -> torch.optim.Optimizer:
    """Adam or AdamW over `param_groups(model, config, lr_scales)`, fused into one kernel per
    step where every parameter lives on the CPU or a CUDA device (on the CPU a third of a small
    model's step otherwise goes to the per-tensor update loop; fused is deterministic too)."""
    groups = param_groups(model, config, lr_scales)
    if not groups:
        raise ConfigError("the model has no trainable parameters")
    cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    fused = all(p.device.type in ("cpu", "cuda") for g in groups for p in g["params"])
    return cls(groups, lr=config.lr, betas=config.betas, fused=fused)


def lr_factor(step: int, config: TrainConfig, steps_per_epoch: int, total: int) -> float:
    """Learning rate at `step` (0-based, before that step's update) as a multiple of `config.lr`.

    Warm-up is linear from `warmup_lr` to `lr` over `warmup_steps`; then `exp_decay` multiplies by
    `gamma` once per completed epoch (M3-Net: 0.975), `cosine` anneals to `min_lr` at the last step
    (FashionSAP), `constant` stays at 1.
    """
    if step < config.warmup_steps:
        start = config.warmup_lr / config.lr
        return start + (1.0 - start) * step / config.warmup_steps
    if config.schedule == "exp_decay":
        return config.gamma ** (step // steps_per_epoch)
    if config.schedule == "cosine":
        floor = config.min_lr / config.lr
        progress = (step - config.warmup_steps) / max(1, total - config.warmup_steps)
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    return 1.0


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int, total: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step LambdaLR following `lr_factor` (call `.step()` after every optimizer step)."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, config, steps_per_epoch, total)
    )
