"""Per-query evidence beside a run record (minimal placeholder; the `stats` branch owns this module).

Each group ``"<context>/<metric>"`` holds one value per test query, keyed so that the same query of
two models pairs up; NaN marks a query where the metric is undefined.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fashion_lib.atomic import write_bytes
from fashion_lib.errors import DataError

__all__ = ["EVIDENCE_FILE", "PerQuery", "read_evidence", "write_evidence"]

EVIDENCE_FILE = "evidence.npz"


@dataclass(frozen=True)
class PerQuery:
    """Per-query values of one metric: keys (Q,) str, values (Q,) float64 (NaN = undefined)."""

    keys: np.ndarray
    values: np.ndarray


def write_evidence(run_dir: Path, groups: Mapping[str, PerQuery]) -> Path:
    """Write every group to ``run_dir/evidence.npz`` atomically; returns the file."""
    arrays = {}
    for name, group in groups.items():
        keys, values = np.asarray(group.keys, dtype=str), np.asarray(group.values, dtype=float)
        if keys.shape != values.shape or keys.ndim != 1 or len(set(keys)) != len(keys):
            raise ValueError(f"group {name!r}: keys must be unique and match the values' shape")
        arrays[f"{name}:keys"], arrays[f"{name}:values"] = keys, values
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    path = Path(run_dir) / EVIDENCE_FILE
    write_bytes(path, buffer.getvalue())
    return path


def read_evidence(run_dir: Path) -> dict[str, PerQuery]:
    """Every group of ``run_dir/evidence.npz``; DataError naming the file if missing or bad."""
    path = Path(run_dir) / EVIDENCE_FILE
    try:
        with np.load(path, allow_pickle=False) as data:
            names = sorted({k.rsplit(":", 1)[0] for k in data.files})
            return {n: PerQuery(data[f"{n}:keys"], data[f"{n}:values"]) for n in names}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise DataError(path, f"not a readable evidence file ({exc})") from None
