"""Mixed precision: which autocast dtype and whether a GradScaler is needed, from config and device.

`auto` picks bf16 on CUDA devices that support it, fp16 (with loss scaling) on older GPUs, and full
precision on the CPU: CPU bf16 autocast is only faster on CPUs with AMX/AVX512-BF16 and changes the
numbers the book reports, so a CPU run uses bf16 only when asked for explicitly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from fashion_lib.errors import ConfigError


@dataclass(frozen=True)
class AmpPolicy:
    """The resolved mixed-precision choice.

    Attributes:
        device_type: "cpu" or "cuda".
        dtype: autocast dtype, or None for full precision.
        use_scaler: whether gradients need a GradScaler (fp16 only).
    """

    device_type: str
    dtype: torch.dtype | None
    use_scaler: bool


def resolve_amp(mode: str, device: torch.device) -> AmpPolicy:
    """Turn a config's `amp` mode into a policy for `device`.

    Args:
        mode: "off", "bf16", "fp16" or "auto".
        device: where the model runs.

    Returns:
        The policy.

    Raises:
        ConfigError: fp16 was asked for on a non-CUDA device, or the mode is unknown.
    """
    kind = device.type
    if mode == "auto":
        mode = "off" if kind != "cuda" else "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if mode == "off":
        return AmpPolicy(kind, None, False)
    if mode == "bf16":
        return AmpPolicy(kind, torch.bfloat16, False)
    if mode == "fp16":
        if kind != "cuda":
            raise ConfigError(f"amp='fp16' needs a CUDA device, not {kind}; use 'bf16' or 'off'")
        return AmpPolicy(kind, torch.float16, True)
    raise ConfigError(f"unknown amp mode {mode!r}; choose auto, bf16, fp16 or off")


@contextlib.contextmanager
def autocast(policy: AmpPolicy) -> Iterator[None]:
    """Run the block under `torch.autocast` with the policy's dtype (a no-op for full precision)."""
    if policy.dtype is None:
        yield
        return
    with torch.autocast(device_type=policy.device_type, dtype=policy.dtype):
        yield


def make_scaler(policy: AmpPolicy) -> torch.amp.GradScaler:
    """A GradScaler active only for fp16 (a pass-through otherwise, so the loop has one path)."""
    return torch.amp.GradScaler(policy.device_type, enabled=policy.use_scaler)


def wide(t: Tensor) -> Tensor:
    """`t` in float32 at least (bf16 and fp16 widened, float64 kept)."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


def full_precision(like: Tensor) -> contextlib.AbstractContextManager:
    """Autocast off on `like`'s device, for the few operations whose results differ by less than
    bf16 can tell apart (contrastive embeddings and their logits: cosines a few thousandths
    apart)."""
    return torch.autocast(device_type=like.device.type, enabled=False)
