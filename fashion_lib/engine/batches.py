"""Batch sources: the data of a run as a pure function of (seed, epoch, step).

The loop never iterates a DataLoader it cannot rewind. It asks a `BatchSource` for the batches of
epoch `e` starting at step `s`; because the order of an epoch and the randomness of every item are
derived from (seed, epoch, position), a run resumed at step s sees exactly the batches an
uninterrupted run would have seen. Under DDP each rank receives its contiguous shard of every
global batch (`distributed.shard_bounds`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info

from fashion_lib.engine.distributed import DistInfo, dist_info, shard_bounds
from fashion_lib.engine.seeding import derive_seed, make_generator, seed_worker
from fashion_lib.errors import ConfigError

T = TypeVar("T")


class BatchSource(Protocol):
    """What `fit` trains on: a fixed number of steps per epoch, replayable from any step."""

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps in one epoch (the same for every epoch)."""
        ...

    def iter_epoch(self, epoch: int, start_step: int = 0) -> Iterator[Any]:
        """Yield this rank's batches of `epoch` for steps start_step, ..., steps_per_epoch - 1."""
        ...


def _steps(num_items: int, global_batch: int) -> int:
    steps = num_items // global_batch
    if steps == 0:
        raise ConfigError(
            f"an epoch of {num_items} items is smaller than one batch of {global_batch}"
        )
    return steps


class TensorBatches:
    """Shuffled mini-batches over in-memory tensors (cached features, synthetic data).

    An epoch is a permutation drawn from a generator seeded by (seed, epoch); the ragged tail of
    `num_items % batch_size` items is dropped so every step (and every DDP shard) has equal size.

    Args:
        tensors: name -> (N, ...) tensors with the same first dimension; batches are dicts of them.
        batch_size: global batch size (split over ranks).
        seed: data-order seed.
        shuffle: permute each epoch (False: natural order).
        info: the rank layout (default: the current process group or torchrun environment).
    """

    def __init__(
        self,
        tensors: Mapping[str, torch.Tensor],
        batch_size: int,
        seed: int,
        shuffle: bool = True,
        info: DistInfo | None = None,
    ) -> None:
        sizes = {name: len(t) for name, t in tensors.items()}
        if len(set(sizes.values())) != 1:
            raise ConfigError(f"tensors must share their first dimension, got {sizes}")
        self.tensors = dict(tensors)
        self.num_items = next(iter(sizes.values()))
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.bounds = shard_bounds(batch_size, info or dist_info())
        self.steps_per_epoch = _steps(self.num_items, batch_size)

    def iter_epoch(self, epoch: int, start_step: int = 0) -> Iterator[dict[str, torch.Tensor]]:
        """Yield this rank's share of the batches of `epoch` from `start_step` on."""
        if self.shuffle:
            order = torch.randperm(self.num_items, generator=make_generator(self.seed, epoch))
        else:
            order = torch.arange(self.num_items)
        lo, hi = self.bounds
        for step in range(start_step, self.steps_per_epoch):
            index = order[step * self.batch_size + lo : step * self.batch_size + hi]  # (B/W,)
            yield {name: t[index] for name, t in self.tensors.items()}


@contextlib.contextmanager
def _preserved_global_rng() -> Iterator[None]:
    py, npy, pt = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        yield
    finally:
        random.setstate(py)
        np.random.set_state(npy)
        torch.set_rng_state(pt)


class _EpochItems(Dataset):
    """Items of one epoch at given positions, each loaded with global RNGs seeded by position."""

    def __init__(
        self,
        items: Sequence[Any],
        load: Callable[[Any], Any],
        seed: int,
        epoch: int,
        positions: list[int],
    ) -> None:
        self.items, self.load, self.seed, self.epoch = items, load, seed, epoch
        self.positions = positions

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, i: int) -> Any:
        position = self.positions[i]
        item_seed = derive_seed(self.seed, self.epoch, position)
        # In a worker the global RNGs belong to the item; in the main process they are borrowed.
        guard = contextlib.nullcontext() if get_worker_info() else _preserved_global_rng()
        with guard:
            random.seed(item_seed)
            np.random.seed(item_seed % 2**32)
            torch.manual_seed(item_seed)
            return self.load(self.items[position])


class ItemBatches:
    """DataLoader-backed batches over an epoch plan, e.g. the triplets a sampler draws for epoch e.

    `plan(epoch)` returns an indexable sequence of items (the same length every epoch) and
    `load(item)` turns one item into a sample (reads and augments images). Augmentations may use
    python/numpy/torch global randomness: it is reseeded from (seed, epoch, position) for every
    item, so batches do not depend on the number of workers or on where a run was resumed.

    Args:
        plan: epoch -> items of that epoch, a pure function of the epoch (and its own seed).
        load: item -> sample, run in the DataLoader workers.
        batch_size: global batch size (split over ranks); the ragged tail of an epoch is dropped.
        seed: seed of the per-item randomness.
        num_workers: DataLoader worker processes.
        collate: DataLoader collate function (default: torch's default_collate).
        pin_memory: pin host memory for faster transfers to the GPU.
        info: the rank layout (default: the current process group or torchrun environment).
    """

    def __init__(
        self,
        plan: Callable[[int], Sequence[T]],
        load: Callable[[T], Any],
        batch_size: int,
        seed: int,
        num_workers: int = 0,
        collate: Callable[[list[Any]], Any] | None = None,
        pin_memory: bool = False,
        info: DistInfo | None = None,
    ) -> None:
        self.plan, self.load, self.batch_size, self.seed = plan, load, batch_size, seed
        self.num_workers, self.collate, self.pin_memory = num_workers, collate, pin_memory
        self.bounds = shard_bounds(batch_size, info or dist_info())
        self.steps_per_epoch = _steps(len(plan(0)), batch_size)

    def iter_epoch(self, epoch: int, start_step: int = 0) -> Iterator[Any]:
        """Yield this rank's share of the batches of `epoch` from `start_step` on."""
        items = self.plan(epoch)
        lo, hi = self.bounds
        positions = [
            step * self.batch_size + k
            for step in range(start_step, self.steps_per_epoch)
            for k in range(lo, hi)
        ]
        loader = DataLoader(
            _EpochItems(items, self.load, self.seed, epoch, positions),
            batch_size=hi - lo,
            shuffle=False,
            num_workers=self.num_workers,
            collate_fn=self.collate,
            pin_memory=self.pin_memory,
            worker_init_fn=seed_worker,
            generator=make_generator(self.seed, epoch, start_step),
        )
        yield from loader


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor inside dicts, lists, tuples and dataclasses of `batch` to `device`."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        fields = [f.name for f in dataclasses.fields(batch) if f.init]
        return dataclasses.replace(
            batch, **{n: to_device(getattr(batch, n), device) for n in fields}
        )
    if isinstance(batch, Mapping):
        return {key: to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(to_device(value, device) for value in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(value, device) for value in batch)
    return batch
