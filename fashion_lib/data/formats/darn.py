"""DARN (street-to-shop attribute dataset) in the ASEN split format.

DARN is published only through ASEN's split files (`asen` module) and image URLs: the folder holds
``filenames_*.txt``, ``label_train.txt`` (all 9 attributes per training image, e.g.
``0 0 4 1 12 2 4 ...``), ``query_*.txt``, ``candidate_*.txt`` and the images under
``pic/<id>/<name>.jpg``. Its value names were never published.

Functions: `image_path`, `read_darn`, `write_darn(folder, splits, images)`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from fashion_lib.data.formats.asen import AsenSplits, read_splits, write_dataset
from fashion_lib.data.formats.images import ImageLike

DATASET = "DARN"


def image_path(product: str | int, name: str) -> str:
    """Relative path of a DARN image: ``pic/<product>/<name>.jpg``."""
    return f"pic/{product}/{name}.jpg"


def read_darn(folder: str | Path, meta_path: str | Path | None = None) -> AsenSplits:
    """Read and validate a DARN folder."""
    return read_splits(folder, DATASET, meta_path)


def write_darn(
    folder: str | Path, splits: AsenSplits, images: Iterable[tuple[str, ImageLike]]
) -> None:
    """Validate `splits`, then write the folder atomically (see `asen.write_dataset`).

    Args:
        folder: destination, e.g. ``<root>/DARN``; ``meta.json`` is merged beside it.
        splits: the split files' content; ``splits.meta.dataset`` must be "DARN".
        images: (relative path, uint8 HxWx3 array or PIL image) pairs, one per listed path.
    """
    if splits.meta.dataset != DATASET:
        raise ValueError(f"DARN splits carry meta of {splits.meta.dataset!r}")
    write_dataset(folder, splits, images)
