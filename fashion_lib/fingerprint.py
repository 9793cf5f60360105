"""Fingerprints of files and of the code that produces numbers, so stale work is never reused.

A generated world records the fingerprint of the generator (the atelier and the format writers);
a run's folder name and record carry the fingerprint of everything that shapes its numbers (data,
models, losses, engine, experiments, metrics). Editing any of those files therefore makes
`data make --if-missing` regenerate the world and every chapter train afresh instead of showing
numbers that the current code did not compute. Docs, notebooks and the book tooling are left out.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

__all__ = ["RUN_CODE", "WORLD_CODE", "code_fingerprint", "file_digest"]

PACKAGE = Path(__file__).resolve().parent
WORLD_CODE = ("data/atelier", "data/formats", "data/taxonomy.py")
RUN_CODE = (
    "data",
    "models",
    "losses",
    "engine",
    "evidence.py",
    "experiments",
    "metrics.py",
    "retrieval.py",
    "profiles.py",
)


def file_digest(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks (checkpoints, weights, sources)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@functools.cache
def code_fingerprint(parts: tuple[str, ...], package: Path = PACKAGE) -> str:
    """sha256 (16 hex) over the relative paths and bytes of the `.py` files under `parts`.

    Args:
        parts: folders or files relative to the package, e.g. `WORLD_CODE`.
        package: the package folder (tests point it at a copy).
    """
    digest = hashlib.sha256()
    for part in parts:
        path = package / part
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            digest.update(file.relative_to(package).as_posix().encode() + b"\0")
            digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
