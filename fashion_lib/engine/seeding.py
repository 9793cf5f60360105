"""Seeds: one integer drives python, numpy and torch; derived seeds for epochs, items and workers.

Random streams that must be reproducible independently of each other (the order of epoch e, the
augmentation of item i) get their own seed derived from a tuple of integers with numpy's
SeedSequence, so that skipping ahead (resume mid-epoch) never depends on how much randomness earlier
steps consumed.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def derive_seed(*parts: int) -> int:
    """Mix integers (e.g. seed, epoch, index) into one well-spread 63-bit seed.

    Args:
        *parts: non-negative integers; the result is a pure function of the tuple.

    Returns:
        An integer in [0, 2**63).
    """
    words = np.random.SeedSequence([int(p) for p in parts]).generate_state(2, dtype=np.uint32)
    return (int(words[0]) << 31) ^ int(words[1])


def make_generator(*parts: int) -> torch.Generator:
    """A CPU torch.Generator seeded with `derive_seed(*parts)`."""
    generator = torch.Generator()
    generator.manual_seed(derive_seed(*parts))
    return generator


def seed_everything(seed: int) -> None:
    """Seed python's `random`, numpy's legacy global RNG and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def seed_worker(worker_id: int) -> None:
    """`worker_init_fn` for DataLoader: derive python/numpy seeds from the worker's torch seed.

    torch seeds each worker with base_seed + worker_id but leaves numpy and python alone, so forked
    workers would otherwise share the parent's numpy stream.
    """
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def capture_rng_state() -> dict[str, Any]:
    """The global RNG states of python, numpy and torch, safe for `torch.load(weights_only=True)`.

    Python's state (a tuple of 625 ints) and numpy's MT19937 key (624 uint32) are stored as int64
    tensors; the remaining fields are plain ints, floats and strings.
    """
    py_version, py_internal, py_gauss = random.getstate()
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": {
            "version": py_version,
            "internal": torch.tensor(py_internal, dtype=torch.int64),
            "gauss_next": py_gauss,
        },
        "numpy": {
            "kind": np_kind,
            "keys": torch.from_numpy(np_keys.astype(np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "cached_gaussian": float(np_gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of `capture_rng_state`."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["internal"]), py["gauss_next"]))
    npy = state["numpy"]
    keys = npy["keys"].numpy().astype(np.uint32)
    np.random.set_state((npy["kind"], keys, npy["pos"], npy["has_gauss"], npy["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
