"""Momentum encoders and feature queues (MoCo / ALBEF), runnable in a single process.

A momentum copy follows its online module by an exponential moving average,
theta_m <- m * theta_m + (1 - m) * theta, and never receives gradients. A `FeatureQueue` keeps the
momentum features (and product ids) of past batches as registered buffers, so they travel with
``state_dict`` and ``.to(device)``. Under ``torch.distributed`` the batch is all-gathered before
enqueueing; without a process group (a notebook, a test) the local batch is enqueued as is.
"""

from __future__ import annotations

import copy

import torch
import torch.distributed as dist
from torch import Tensor, nn

from fashion_lib.errors import ConfigError


def momentum_copy(module: nn.Module) -> nn.Module:
    """A frozen deep copy of `module` to be updated by `ema_update` only."""
    twin = copy.deepcopy(module)
    twin.requires_grad_(False)
    return twin


@torch.no_grad()
def ema_update(online: nn.Module, twin: nn.Module, momentum: float) -> None:
    """theta_twin <- momentum * theta_twin + (1 - momentum) * theta_online, parameter by parameter
    (frozen parameters are skipped: their average is themselves)."""
    for p, q in zip(online.parameters(), twin.parameters(), strict=True):
        if p.requires_grad:
            q.mul_(momentum).add_(p.detach(), alpha=1.0 - momentum)


def gather(tensor: Tensor) -> Tensor:
    """All ranks' `tensor` concatenated on dim 0 (the local one without a process group)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=0)


class FeatureQueue(nn.Module):
    """A ring buffer of L2-normalised features with an id per row (the product they show).

    Args:
        size: number of rows kept.
        dim: feature width.
    """

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        if size < 1:
            raise ConfigError(f"queue size must be >= 1, got {size}")
        self.register_buffer("features", torch.zeros(size, dim))  # (K, D)
        self.register_buffer("ids", torch.full((size,), -1, dtype=torch.long))  # (K,)
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @property
    def size(self) -> int:
        """Capacity K."""
        return self.features.shape[0]

    def contents(self) -> tuple[Tensor, Tensor]:
        """The filled rows: features (k, D) and ids (k,), k = min(enqueued, K), as copies."""
        k = int(min(int(self.count), self.size))
        return self.features[:k].clone(), self.ids[:k].clone()

    @torch.no_grad()
    def enqueue(self, features: Tensor, ids: Tensor) -> None:
        """Write a batch (B, D) and its ids (B,) at the pointer, wrapping around the end.

        Rows are gathered from every rank first when a process group is running; a batch larger
        than the queue keeps its last K rows.
        """
        features, ids = gather(features.detach()), gather(ids.detach())
        n = features.shape[0]
        if n > self.size:
            features, ids, n = features[-self.size :], ids[-self.size :], self.size
        rows = (self.ptr + torch.arange(n, device=self.ptr.device)) % self.size  # (n,)
        self.features[rows] = features.to(self.features.dtype)
        self.ids[rows] = ids
        self.ptr.copy_((self.ptr + n) % self.size)
        self.count.add_(n)
