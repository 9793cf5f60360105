"""ASEN's ``meta.json`` and split files for a raw release that comes without them.

DeepFashion and FashionAI are downloaded without ASEN's files. Their readers call `split_source`,
which returns where to read the split files and the meta from:

- ASEN's files in the dataset folder (all eight split files, `asen.SPLIT_FILES`) and its
  ``meta.json`` (inside or beside the folder) are used as they are;
- what is absent is derived from the release's annotation files, deterministically, into
  ``paths.derived_dir()/<Dataset>-<digest>/`` (the project's own data folder, never the data root:
  a reader's copy is only read). The digest covers the release files read and the formats' code,
  so the same release always gives the same files, and an edited release or rule derives afresh.
  The folder holds ``meta.json``, the split files, the format's extra files and ``derived.json``
  (written last: its presence marks a complete folder).
- Some but not all of the split files present is an error naming the first missing one.

The rules shared by the formats: `three_way` (ASEN's 8:1:1 image split) and `query_candidate`
(ASEN's 1:4 query/candidate split of an evaluation split, per attribute). The format modules hold
the rest (`deepfashion.derive_splits`, `fashionai.derive_splits`).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fashion_lib import atomic, paths
from fashion_lib.data.formats.asen import (
    META_FILE,
    SPLIT_FILES,
    AsenSplits,
    EvalItem,
    find_meta,
    merged_meta,
    write_split_files,
)
from fashion_lib.data.formats.lines import write_lines
from fashion_lib.errors import DataError
from fashion_lib.fingerprint import code_fingerprint, file_digest

RECORD = "derived.json"
SEED = 0  # every random choice of a derivation comes from this seed
QUERY_SHARE = 0.2  # ASEN: query:candidate = 1:4
EVAL_SHARE = 0.1  # ASEN: train:valid:test = 8:1:1


@dataclass(frozen=True)
class Derived:
    """What a derivation produces: the split files' content and extra files (name -> lines)."""

    splits: AsenSplits
    extra: Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class SplitSource:
    """Where a dataset's split files and meta are read from.

    Attributes:
        splits: folder holding the split files (the dataset folder or the derived folder).
        meta: the ``meta.json`` to read.
        derived: the derived folder when anything was derived, else None.
    """

    splits: Path
    meta: Path
    derived: Path | None


def has_split_files(folder: Path) -> bool:
    """Whether all of ASEN's split files are in `folder` (False if none is).

    Raises:
        DataError: some are present and some are not; names the first missing file.
    """
    present = [name for name in SPLIT_FILES if (folder / name).is_file()]
    if present and len(present) < len(SPLIT_FILES):
        missing = next(name for name in SPLIT_FILES if name not in present)
        raise DataError(
            folder / missing,
            "missing file; ASEN's split files are used when all are present and derived from the "
            "release when none is: add this one or remove the others",
        )
    return bool(present)


def require(files: Iterable[Path], what: str) -> None:
    """Raise a DataError naming the first of `files` that is absent and `what` to do about it."""
    for path in files:
        if not path.is_file():
            raise DataError(path, f"missing file; {what}")


def release_digest(dataset: str, folder: Path, release: Sequence[Path]) -> str:
    """16 hex digits over the release files' relative names and bytes and the formats' code."""
    digest = hashlib.sha256(f"{dataset}\0{code_fingerprint(('data/formats',))}\0".encode())
    for path in release:
        digest.update(f"{path.relative_to(folder).as_posix()}\0{file_digest(path)}\0".encode())
    return digest.hexdigest()[:16]


def _write(
    dest: Path, dataset: str, folder: Path, release: Sequence[Path], derived: Derived
) -> None:
    try:
        with atomic.atomic_dir(dest) as tmp:
            write_split_files(tmp, derived.splits)
            atomic.write_text(tmp / META_FILE, merged_meta(tmp / META_FILE, [derived.splits.meta]))
            for name, lines in derived.extra.items():
                write_lines(tmp / name, lines)
            record = {
                "dataset": dataset,
                "derived from": str(folder.resolve()),
                "release files": {
                    p.relative_to(folder).as_posix(): file_digest(p) for p in release
                },
                "seed": SEED,
            }
            atomic.write_text(tmp / RECORD, json.dumps(record, indent=2) + "\n")
    except OSError as err:
        raise DataError(
            dest,
            f"cannot write the derived split files ({err.strerror}); "
            "set FASHION_DERIVED_DIR to a writable folder",
        ) from None


def split_source(
    folder: Path,
    dataset: str,
    release: Sequence[Path],
    derive: Callable[[], Derived],
    meta_path: Path | None = None,
) -> SplitSource:
    """Where to read `dataset`'s split files and meta: given ones as they are, else derived.

    Args:
        folder: the dataset folder (images and release files).
        dataset: its key in ``meta.json``.
        release: the release's annotation files the derivation reads (for the digest).
        derive: computes the split files from the release (called only if something is absent
            and no complete derived folder of this release exists).
        meta_path: an explicit ``meta.json``; by default `asen.find_meta(folder)`.
    """
    given = has_split_files(folder)
    meta = Path(meta_path) if meta_path is not None else find_meta(folder)
    if given and meta.is_file():
        return SplitSource(folder, meta, None)
    dest = paths.derived_dir() / f"{dataset}-{release_digest(dataset, folder, release)}"
    if not (dest / RECORD).is_file():
        _write(dest, dataset, folder, release, derive())
    return SplitSource(
        folder if given else dest, meta if meta.is_file() else dest / META_FILE, dest
    )


def three_way(n: int) -> tuple[int, int, int]:
    """(train, valid, test) sizes of `n` images: 8:1:1, with at least 2 each in valid and test
    when there are 6 images or more (so that both get a query and a candidate)."""
    k = round(n * EVAL_SHARE)
    k = max(k, 2) if n >= 6 else n // 3
    return n - 2 * k, k, k


def query_candidate(
    items: Sequence[EvalItem], rng: np.random.Generator
) -> tuple[tuple[EvalItem, ...], tuple[EvalItem, ...]]:
    """Split an evaluation split's items into queries and candidates, 1:4 within each attribute.

    Within an attribute's items (in a random order of `rng`) the first round(n / 5) are queries,
    at least one and at most n - 1 when n >= 2 (a lone item is a candidate). Both outputs are sorted
    by image id.
    """
    by_attr: dict[int, list[EvalItem]] = defaultdict(list)
    for item in items:
        by_attr[item.attr].append(item)
    queries, candidates = [], []
    for attr in sorted(by_attr):
        group = by_attr[attr]
        order = rng.permutation(len(group))
        q = min(max(round(len(group) * QUERY_SHARE), 1), len(group) - 1)
        queries += [group[i] for i in order[:q]]
        candidates += [group[i] for i in order[q:]]
    return (
        tuple(sorted(queries, key=lambda i: i.fid)),
        tuple(sorted(candidates, key=lambda i: i.fid)),
    )
