"""Per-query evidence beside a run record: the values a claim's verdict is computed from.

A run that feeds a claim keeps, next to its ``record.json``, one file ``evidence.npz`` with one
*group* per measured quantity, named ``"<context>/<metric>"`` (M3-Net ``"single/ap_all"``,
FashionSAP ``"full/i2t_rank"``, ``"cr/correct"`` ...). A group is a `PerQuery`: the keys that
identify each test query, so that the same query of two models pairs up (M3-Net
``"<attribute>|<query line index>"``, FashionSAP ``"<product id>|<view or draw>"``), and one value
per key (percent for AP, recall and correctness, 1-based ranks for ranks; NaN where the value is
undefined, e.g. a query without any relevant candidate).

- `write_evidence(run_dir, groups)` / `read_evidence(run_dir)`: the file, written atomically; a
  missing or malformed file or group raises `DataError` naming the file.
- `read_group(run_dirs, group)`: one group from several runs (the seeds of one model).
- `has_groups(run_dir, groups)`: whether a run's evidence is readable and holds the groups.
- `hits_at(ranks, k)`: ranks turned into Recall@k hits (100 or 0 per query), the form in which
  rank evidence is judged (`fashion_lib.stats`).
- `align(a, b)`: the seeds of two models as (S, Q) matrices over the same queries.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fashion_lib.atomic import atomic_path
from fashion_lib.errors import ConfigError, DataError

__all__ = [
    "EVIDENCE_FILE",
    "PerQuery",
    "align",
    "has_groups",
    "hits_at",
    "read_evidence",
    "read_group",
    "write_evidence",
]

EVIDENCE_FILE = "evidence.npz"
_PARTS = ("keys", "values")  # a group "g" is stored as the arrays "g/keys" and "g/values"


@dataclass(frozen=True, eq=False)
class PerQuery:
    """One model's value per test query (one seed, one metric).

    Attributes:
        keys: (Q,) unique strings naming the queries.
        values: (Q,) float64; NaN where the metric is undefined for that query.

    Raises:
        ConfigError: not one-dimensional, different lengths, repeated keys or an infinite value.
    """

    keys: np.ndarray
    values: np.ndarray

    def __post_init__(self) -> None:
        keys, values = np.asarray(self.keys).astype(str), np.asarray(self.values, dtype=np.float64)
        if keys.ndim != 1 or values.ndim != 1 or keys.shape != values.shape:
            raise ConfigError(
                f"keys {keys.shape} and values {values.shape} must be one-dimensional and "
                "equally long"
            )
        unique, counts = np.unique(keys, return_counts=True)
        if (counts > 1).any():
            raise ConfigError(f"repeated query keys, e.g. {unique[counts > 1][:3].tolist()}")
        if np.isinf(values).any():
            raise ConfigError("a per-query value is infinite (use NaN for an undefined value)")
        object.__setattr__(self, "keys", keys)
        object.__setattr__(self, "values", values)


def write_evidence(run_dir: str | Path, groups: Mapping[str, PerQuery]) -> Path:
    """Write `groups` to ``<run_dir>/evidence.npz`` atomically and return the file's path."""
    arrays = {}
    for name, group in groups.items():
        arrays[f"{name}/keys"], arrays[f"{name}/values"] = group.keys, group.values
    path = Path(run_dir) / EVIDENCE_FILE
    with atomic_path(path) as tmp, tmp.open("wb") as out:  # a file object: savez adds no suffix
        np.savez_compressed(out, **arrays)
    return path


def read_evidence(run_dir: str | Path) -> dict[str, PerQuery]:
    """Every group of ``<run_dir>/evidence.npz``.

    Raises:
        DataError: the file is missing or unreadable, or a group lacks keys or values, or is
            malformed (the message names the file and the group).
    """
    path = Path(run_dir) / EVIDENCE_FILE
    if not path.is_file():
        raise DataError(path, "no per-query evidence: run the chapter that records this run")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(path, f"not a readable evidence file ({exc})") from None
    for name, array in arrays.items():
        if not isinstance(array, np.ndarray):  # np.load hands back a non-.npy member as bytes
            raise DataError(path, f"not a readable evidence file ({name} is not an array)")
    groups = {}
    for name in sorted({key.rpartition("/")[0] for key in arrays}):
        missing = [part for part in _PARTS if f"{name}/{part}" not in arrays]
        if not name or missing:
            raise DataError(path, f"group {name!r} lacks {' and '.join(missing) or 'a name'}")
        try:
            groups[name] = PerQuery(arrays[f"{name}/keys"], arrays[f"{name}/values"])
        except ConfigError as exc:
            raise DataError(path, f"group {name!r}: {exc}") from None
    stray = sorted(set(arrays) - {f"{name}/{part}" for name in groups for part in _PARTS})
    if stray:
        raise DataError(path, f"arrays outside any group: {', '.join(stray)}")
    return groups


def read_group(run_dirs: Sequence[str | Path], group: str) -> list[PerQuery]:
    """One group of several runs' evidence, e.g. the seeds of one model, in the runs' order.

    Raises:
        DataError: a run has no readable evidence or no such group (naming its file).
    """
    out = []
    for run_dir in run_dirs:
        groups = read_evidence(run_dir)
        if group not in groups:
            path = Path(run_dir) / EVIDENCE_FILE
            raise DataError(path, f"no group {group!r}; it has {', '.join(groups) or 'none'}")
        out.append(groups[group])
    return out


def has_groups(run_dir: str | Path, groups: Sequence[str] = ()) -> bool:
    """Whether `run_dir` holds a readable evidence file with every group of `groups`.

    A finished run whose evidence is missing, damaged or lacks a group is not reused.
    """
    try:
        return set(groups) <= set(read_evidence(run_dir))
    except DataError:
        return False


def hits_at(ranks: PerQuery, k: int) -> PerQuery:
    """Recall@k hits of rank evidence: 100 where the 1-based rank is at most `k`, else 0.

    NaN ranks stay NaN. The mean of the hits is R@k in percent for one positive per query.
    """
    hits = np.where(ranks.values <= k, 100.0, 0.0)
    return PerQuery(ranks.keys, np.where(np.isnan(ranks.values), np.nan, hits))


def _few(keys: set[str]) -> str:
    return ", ".join(sorted(keys)[:3]) + (" ..." if len(keys) > 3 else "")


def align(
    a: Sequence[PerQuery], b: Sequence[PerQuery]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The seeds of A and B as (S, Q) matrices over the same queries, paired by position.

    Args:
        a, b: seed i's evidence of model A and of model B at position i.

    Returns:
        keys (Q,) sorted, values of A (S, Q) and values of B (S, Q), columns in the keys' order.

    Raises:
        ConfigError: no seed, different numbers of seeds, or a seed whose query keys differ from
            those of A's first seed (the message counts and names a few of the differing keys).
    """
    if not a or len(a) != len(b):
        raise ConfigError(f"need the same number of seeds for A and B, not {len(a)} and {len(b)}")
    first = np.argsort(a[0].keys)
    keys = a[0].keys[first]
    rows = []
    for side, seeds in (("A", a), ("B", b)):
        for i, evidence in enumerate(seeds):
            same = np.array_equal(evidence.keys, a[0].keys)  # the usual case: one query file
            order = first if same else np.argsort(evidence.keys)
            if not (same or np.array_equal(evidence.keys[order], keys)):
                ours, first = set(evidence.keys.tolist()), set(keys.tolist())
                raise ConfigError(
                    f"{side}, seed {i}: query keys differ from A's first seed "
                    f"({len(ours - first)} extra: {_few(ours - first)}; "
                    f"{len(first - ours)} missing: {_few(first - ours)})"
                )
            rows.append(evidence.values[order])
    values = np.stack(rows)
    return keys, values[: len(a)], values[len(a) :]
