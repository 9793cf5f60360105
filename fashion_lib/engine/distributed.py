"""Data-parallel plumbing: process-group setup from torchrun's environment, rank helpers, gathers.

Every helper also works in a plain single process (no process group): `all_gather` returns its
input, `reduce_mean` too, and `dist_info()` reports rank 0 of 1, so library code never branches on
"is distributed".
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from fashion_lib.errors import ConfigError

BACKEND_ENV = "FASHION_DIST_BACKEND"


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job.

    Attributes:
        rank: global rank (0 is the main process).
        world_size: number of processes.
        local_rank: rank on this machine (selects the GPU).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0 (the one that writes files and shows progress)."""
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name}={raw!r} is not an integer") from None


def dist_info() -> DistInfo:
    """Rank and world size of the initialised process group, else torchrun's variables, else 0/1."""
    local_rank = _env_int("LOCAL_RANK", 0)
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank)
    return DistInfo(_env_int("RANK", 0), _env_int("WORLD_SIZE", 1), local_rank)


def is_main() -> bool:
    """Whether this process is rank 0."""
    return dist_info().is_main


def init_distributed() -> DistInfo:
    """Join the process group described by torchrun's RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT.

    Uses NCCL when CUDA is available, gloo otherwise; `FASHION_DIST_BACKEND` overrides the choice
    (gloo lets several ranks share one GPU, which NCCL refuses: `gpu_check` does so on a one-GPU
    machine). With CUDA, this process is pinned to GPU LOCAL_RANK (modulo the GPUs present). A
    single process (WORLD_SIZE unset or 1) initialises nothing.

    Returns:
        This process's DistInfo.
    """
    info = dist_info()
    if info.world_size > 1 and not dist.is_initialized():
        default = "nccl" if torch.cuda.is_available() else "gloo"
        backend = os.environ.get(BACKEND_ENV) or default
        if torch.cuda.is_available():
            torch.cuda.set_device(default_device(info))
        dist.init_process_group(backend, rank=info.rank, world_size=info.world_size)
    return dist_info()


def cleanup() -> None:
    """Leave the process group, if one was joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def default_device(info: DistInfo | None = None) -> torch.device:
    """This process's GPU (local rank modulo the GPUs present) if CUDA is available, else the CPU."""
    info = info or dist_info()
    if not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", info.local_rank % torch.cuda.device_count())


def _group_active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def barrier() -> None:
    """Wait until every rank gets here (a no-op in a single process)."""
    if _group_active():
        dist.barrier()


@torch.no_grad()
def all_gather(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate `tensor` from every rank along dim 0, in rank order, without gradient.

    Args:
        tensor: (N, ...) with the same shape on every rank.

    Returns:
        (world_size * N, ...); the detached input itself in a single process.
    """
    tensor = tensor.detach()
    if not _group_active():
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=0)  # (W*N, ...)


@torch.no_grad()
def reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Average a tensor over ranks (a detached copy of it in a single process)."""
    tensor = tensor.detach().clone()
    if _group_active():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        tensor /= dist.get_world_size()
    return tensor


def shard_bounds(global_batch: int, info: DistInfo) -> tuple[int, int]:
    """The [start, stop) slice of a global batch that this rank processes.

    Contiguous, equal shards: DDP averages gradients over ranks, so with equal shards the update is
    the one a single process would make on the whole global batch (the loss must be a batch mean).

    Raises:
        ConfigError: the global batch does not divide evenly by the world size.
    """
    if global_batch % info.world_size:
        raise ConfigError(
            f"global batch {global_batch} is not divisible by world size {info.world_size}"
        )
    per_rank = global_batch // info.world_size
    return info.rank * per_rank, (info.rank + 1) * per_rank
