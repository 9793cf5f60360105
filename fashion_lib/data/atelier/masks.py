"""Ground-truth part masks kept beside each generated dataset (``atelier_parts.npz``).

The file holds ``keys`` (N,) the image keys (relative path for DeepFashion/FashionAI/DARN,
``<split>/<row>`` for FashionGen, the ASIN for FashionIQ), ``parts`` (P,) the part names and
``masks`` (N, P, H, ceil(W/8)) uint8, the boolean masks bit-packed along the width. A real copy of
a dataset has no such file: the masks are a measurement only the proxy world allows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fashion_lib import atomic
from fashion_lib.data.atelier.render import PARTS
from fashion_lib.errors import DataError

PARTS_FILE = "atelier_parts.npz"


def save_part_masks(
    dest: str | Path, keys: Sequence[str], packed: Sequence[np.ndarray], width: int
) -> None:
    """Atomically write packed masks (each (P, H, ceil(W/8))) under their keys."""
    with atomic.atomic_path(dest, suffix=".npz") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(
            fh,
            keys=np.asarray(keys),
            parts=np.asarray(PARTS),
            masks=np.stack(packed),
            width=np.int64(width),
        )


class PartMasks:
    """Read access to an ``atelier_parts.npz``: ``masks[key]`` -> (P, H, W) bool.

    Args:
        path: the file.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(self.path, "missing part-mask file (only generated worlds have one)")
        with np.load(self.path) as data:
            self.keys = tuple(str(k) for k in data["keys"])
            self.parts = tuple(str(p) for p in data["parts"])
            self._packed = data["masks"]
            self._width = int(data["width"])
        self._index = {k: i for i, k in enumerate(self.keys)}

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, key: str) -> bool:
        return key in self._index

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._index:
            raise KeyError(f"{self.path}: no masks for {key!r}")
        packed = self._packed[self._index[key]]
        return np.unpackbits(packed, axis=-1, count=self._width).astype(bool)  # (P, H, W)

    def part(self, key: str, part: str) -> np.ndarray:
        """The (H, W) mask of one part of one image."""
        return self[key][self.parts.index(part)]
