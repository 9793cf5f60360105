"""The training configuration: a frozen dataclass, overrides rejecting unknown keys, a stable hash.

The hash is what names a run (`runs/<name>-<hash>/`) and what decides whether a finished run can be
reused, so it is computed from a canonical JSON text (sorted keys, no whitespace, floats in Python's
shortest round-trip form) that does not depend on dict order, Python version or platform.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from fashion_lib.errors import ConfigError

OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("constant", "exp_decay", "cosine")
AMP_MODES = ("auto", "bf16", "fp16", "off")

C = TypeVar("C")
_UNIONS = (typing.Union, types.UnionType)


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained; defaults are M3-Net's (Adam 1e-4, x0.975 per epoch, fp32).

    Attributes:
        epochs: passes over the batch source (an epoch is `BatchSource.steps_per_epoch` steps).
        max_steps: if set, stop after this many optimizer steps in total (may end mid-epoch).
        lr: peak learning rate (the rate of the first epoch for `exp_decay`).
        optimizer: "adam" (M3-Net, ASEN) or "adamw" (FashionSAP, ALBEF).
        betas: Adam(W) moment coefficients.
        weight_decay: decay of matrices and kernels; 1-D parameters (biases, norms) never decay.
        schedule: "constant", "exp_decay" (lr * gamma**epoch) or "cosine" (to `min_lr` at the end).
        gamma: per-epoch factor of `exp_decay`.
        warmup_steps: linear warm-up from `warmup_lr` to `lr` over this many steps (any schedule).
        warmup_lr: learning rate at step 0 of the warm-up.
        min_lr: final learning rate of `cosine`.
        grad_clip: clip the global gradient norm to this value (None: no clipping).
        amp: "off", "bf16", "fp16" (CUDA only) or "auto" (bf16/fp16 on CUDA, off on CPU).
        checkpoint_every: save a checkpoint every this many steps (0: only at the end).
        keep_checkpoints: how many of the newest checkpoints to keep on disk.
        seed: seeds python, numpy and torch at the start of training (dropout, augmentation).
        log_every: record the loss terms every this many steps.
        ddp_find_unused: passed to DistributedDataParallel (for conditionally used branches).
    """

    epochs: int = 1
    max_steps: int | None = None
    lr: float = 1e-4
    optimizer: str = "adam"
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    schedule: str = "exp_decay"
    gamma: float = 0.975
    warmup_steps: int = 0
    warmup_lr: float = 0.0
    min_lr: float = 0.0
    grad_clip: float | None = None
    amp: str = "off"
    checkpoint_every: int = 0
    keep_checkpoints: int = 2
    seed: int = 0
    log_every: int = 1
    ddp_find_unused: bool = False

    def __post_init__(self) -> None:
        check_types(self)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("amp", self.amp, AMP_MODES)
        positive = {"epochs": self.epochs, "lr": self.lr, "log_every": self.log_every}
        positive["keep_checkpoints"] = self.keep_checkpoints
        for name, value in positive.items():
            if not value > 0:
                raise ConfigError(f"TrainConfig.{name} must be > 0, got {value!r}")
        non_negative = {"weight_decay": self.weight_decay, "warmup_steps": self.warmup_steps}
        non_negative |= {"warmup_lr": self.warmup_lr, "min_lr": self.min_lr}
        non_negative |= {"checkpoint_every": self.checkpoint_every}
        for name, value in non_negative.items():
            if value < 0:
                raise ConfigError(f"TrainConfig.{name} must be >= 0, got {value!r}")
        if self.max_steps is not None and self.max_steps <= 0:
            raise ConfigError(f"TrainConfig.max_steps must be > 0 or None, got {self.max_steps}")
        if not 0.0 < self.gamma <= 1.0:
            raise ConfigError(f"TrainConfig.gamma must be in (0, 1], got {self.gamma}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ConfigError(f"TrainConfig.grad_clip must be > 0 or None, got {self.grad_clip}")

    def hash(self) -> str:
        """Return the sha256 hex digest of this config's canonical JSON."""
        return config_hash(self)


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"TrainConfig.{name}={value!r} is not one of {', '.join(allowed)}")


def _matches(value: Any, hint: Any) -> bool:
    """Whether `value` fits the annotation `hint` (the subset of typing used by config classes)."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in _UNIONS:
        return any(_matches(value, arm) for arm in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_matches(v, args[0]) for v in value)
        return len(args) == len(value) and all(map(_matches, value, args))
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if dataclasses.is_dataclass(hint):
        return isinstance(value, hint)
    return isinstance(value, origin or hint)


def check_types(config: Any) -> None:
    """Check every field of the frozen dataclass `config` against its annotation.

    Ints given to float fields are stored as floats, so that `lr=1` and `lr=1.0` hash alike.

    Raises:
        ConfigError: a field's value does not match its annotation.
    """
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value, hint = getattr(config, f.name), hints[f.name]
        if not _matches(value, hint):
            raise ConfigError(f"{type(config).__name__}.{f.name} must be {hint}, got {value!r}")
        arms = typing.get_args(hint) if typing.get_origin(hint) in _UNIONS else (hint,)
        if type(value) is int and float in arms and int not in arms:
            object.__setattr__(config, f.name, float(value))


def with_overrides(config: C, overrides: Mapping[str, Any]) -> C:
    """Return a copy of the dataclass `config` with `overrides` applied.

    Lists are accepted for tuple fields (JSON and YAML have no tuples); a nested dataclass field
    takes a nested mapping. Types are checked by the config's own `__post_init__`.

    Args:
        config: a frozen dataclass instance.
        overrides: field name -> new value.

    Returns:
        The new config.

    Raises:
        ConfigError: a key is not a field of the config (the message lists the valid ones).
    """
    names = {f.name: f for f in dataclasses.fields(config) if f.init}
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise ConfigError(
            f"unknown {type(config).__name__} key(s) {', '.join(unknown)}; "
            f"valid keys: {', '.join(names)}"
        )
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        current = getattr(config, key)
        if dataclasses.is_dataclass(current) and isinstance(value, Mapping):
            value = with_overrides(current, value)
        elif isinstance(value, list):
            value = tuple(value)
        changes[key] = value
    return dataclasses.replace(config, **changes)


def to_plain(obj: Any) -> Any:
    """Convert dataclasses, mappings, tuples and paths into JSON-ready dicts, lists and strings."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, Path):
        return obj.as_posix()
    if isinstance(obj, float) and not math.isfinite(obj):
        raise ConfigError(f"config values must be finite numbers, got {obj!r}")
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise ConfigError(f"cannot put a {type(obj).__name__} into a config: {obj!r}")


def canonical_json(obj: Any) -> str:
    """The canonical JSON text of a config (sorted keys, compact separators)."""
    return json.dumps(to_plain(obj), sort_keys=True, separators=(",", ":"), allow_nan=False)


def config_hash(obj: Any) -> str:
    """sha256 hex digest of `canonical_json(obj)`; any dataclass or JSON-like mapping works."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()
