"""FashionGen h5 files, as read by FashionSAP.

``fashiongen_256_256_{train,validation}.h5`` hold one row per image (several rows per product,
one per pose) under these keys: ``index``, ``index_2``, ``input_brand``, ``input_category``,
``input_composition``, ``input_concat_description``, ``input_department``,
``input_description``, ``input_gender``, ``input_image`` (N, H, W, 3) uint8, ``input_msrpUSD``,
``input_name``, ``input_pose``, ``input_productID``, ``input_season``, ``input_subcategory``.
Metadata columns have shape (N, 1) (or (N,)); text is byte strings decoded as ISO-8859-1;
``input_productID`` is an integer. Real files name categories in upper case ("TOPS"); the
taxonomy lookups are case-insensitive. The proxy keeps the real file names whatever its image
size, so FashionSAP's loaders find them.

Images are read lazily, one row at a time. Records: `FashionGenItem`. Reader: `FashionGenFile`
(``len``, ``item(i)``, ``items()``, ``image(i)``, ``validate()``; picklable for data-loader
workers). Writer: `write_fashiongen(dest, items, images)`. `write_fashionsap_extras(folder)`
adds what FashionSAP's code expects beside the h5 files: ``categorys_to_sign.txt`` (its
48-category -> symbol map, ``category<TAB>[symbol_sign]`` a line) and the empty ``train/`` and
``validation/`` folders its ``prepare_dataset.py`` writes into.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import h5py
import numpy as np

from fashion_lib import atomic
from fashion_lib.data.formats.images import ImageLike, to_array
from fashion_lib.data.taxonomy import (
    FASHIONGEN_CATEGORIES,
    FASHIONGEN_SUBCATEGORIES,
    normalise_category,
    symbol_of,
    symbol_token,
)
from fashion_lib.errors import DataError

SPLITS = ("train", "validation")
SYMBOL_MAP_FILE = "categorys_to_sign.txt"  # FashionSAP's spelling
ENCODING = "iso-8859-1"
IMAGE_KEY = "input_image"


@dataclass(frozen=True)
class FashionGenItem:
    """The metadata of one row; field `x` is h5 key ``input_x``, except ``index``, ``index_2``,
    ``msrp_usd`` (``input_msrpUSD``) and ``product_id`` (``input_productID``)."""

    index: int
    index_2: int
    brand: str
    category: str
    composition: str
    concat_description: str
    department: str
    description: str
    gender: str
    msrp_usd: float
    name: str
    pose: str
    product_id: int
    season: str
    subcategory: str


_FIELDS = tuple(f.name for f in fields(FashionGenItem))
_INTS = ("index", "index_2", "product_id")
_SPECIAL_KEYS = {
    "index": "index",
    "index_2": "index_2",
    "msrp_usd": "input_msrpUSD",
    "product_id": "input_productID",
}


def h5_key(field: str) -> str:
    """The h5 key of a `FashionGenItem` field."""
    return _SPECIAL_KEYS.get(field, f"input_{field}")


KEYS = tuple(sorted([h5_key(f) for f in _FIELDS] + [IMAGE_KEY]))


def h5_path(folder: str | Path, split: str) -> Path:
    """``folder/fashiongen_256_256_<split>.h5`` for split "train" or "validation"."""
    if split not in SPLITS:
        raise ValueError(f"FashionGen splits are {SPLITS}, not {split!r}")
    return Path(folder) / f"fashiongen_256_256_{split}.h5"


def _decode(value: object) -> str:
    return value.decode(ENCODING) if isinstance(value, bytes) else str(value)


class FashionGenFile:
    """Lazy reader of one FashionGen h5 file; checks keys, lengths and the image array on open."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._h5: h5py.File | None = None
        try:
            self._len = self._check_layout(self._file())
        except DataError:
            self.close()
            raise

    def _check_layout(self, h5: h5py.File) -> int:
        missing = [k for k in KEYS if k not in h5]
        if missing:
            raise DataError(self.path, f"missing h5 keys {missing}")
        lengths = {k: h5[k].shape[0] for k in KEYS}
        if len(set(lengths.values())) != 1:
            raise DataError(self.path, f"h5 keys have different lengths {lengths}")
        images = h5[IMAGE_KEY]
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
            raise DataError(
                self.path,
                f"{IMAGE_KEY} must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}",
            )
        return lengths[IMAGE_KEY]

    def _file(self) -> h5py.File:
        if self._h5 is None:
            if not self.path.is_file():
                raise DataError(self.path, "missing file")
            try:
                self._h5 = h5py.File(self.path, "r")
            except OSError as err:
                raise DataError(self.path, f"not a readable h5 file ({err})") from None
        return self._h5

    def __getstate__(self) -> dict:
        return {"path": self.path, "_h5": None, "_len": self._len}

    def __len__(self) -> int:
        return self._len

    def __enter__(self) -> FashionGenFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the h5 handle (it reopens on the next access)."""
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None

    def _row(self, field: str, value: np.ndarray) -> int | float | str:
        scalar = value.reshape(-1)[0] if isinstance(value, np.ndarray) else value
        if field in _INTS:
            return int(scalar)
        return float(scalar) if field == "msrp_usd" else _decode(scalar)

    def item(self, i: int) -> FashionGenItem:
        """Metadata of row `i`."""
        h5 = self._file()
        return FashionGenItem(**{f: self._row(f, h5[h5_key(f)][i]) for f in _FIELDS})

    def items(self) -> list[FashionGenItem]:
        """Metadata of every row (reads each column once; no images)."""
        h5 = self._file()
        columns = {f: h5[h5_key(f)][:] for f in _FIELDS}
        return [
            FashionGenItem(**{f: self._row(f, columns[f][i]) for f in _FIELDS})
            for i in range(self._len)
        ]

    def image(self, i: int) -> np.ndarray:
        """Row `i`'s image, uint8 (H, W, 3)."""
        return self._file()[IMAGE_KEY][i]

    def validate(self) -> list[FashionGenItem]:
        """Check every row's categories; returns the items. Errors name the 0-based h5 row."""
        items = self.items()
        validate_items(self.path, items)
        return items


def validate_items(path: Path, items: Sequence[FashionGenItem]) -> None:
    """Known (sub)categories and ISO-8859-1 text in every row; errors name path and row."""
    for row, item in enumerate(items):
        if normalise_category(item.category) not in FASHIONGEN_CATEGORIES:
            raise DataError(path, f"row {row}: unknown category {item.category!r}", row)
        if normalise_category(item.subcategory) not in FASHIONGEN_SUBCATEGORIES:
            raise DataError(path, f"row {row}: unknown subcategory {item.subcategory!r}", row)
        for f in _FIELDS:
            value = getattr(item, f)
            if isinstance(value, str):
                try:
                    value.encode(ENCODING)
                except UnicodeEncodeError:
                    raise DataError(
                        path, f"row {row}: {h5_key(f)} is not {ENCODING} text", row
                    ) from None


def write_fashiongen(
    dest: str | Path, items: Sequence[FashionGenItem], images: Iterable[ImageLike]
) -> None:
    """Validate `items`, then write one FashionGen h5 file atomically.

    Args:
        dest: the file, normally `h5_path(folder, split)`.
        items: the rows' metadata, in row order.
        images: one uint8 (H, W, 3) array or PIL image per row, all the same size, consumed lazily
            and streamed into the file.
    """
    dest = Path(dest)
    validate_items(dest, items)
    n = len(items)
    if n == 0:
        raise DataError(dest, "no rows to write")
    with atomic.atomic_path(dest, suffix=".h5") as tmp, h5py.File(tmp, "w") as h5:
        for f in _FIELDS:
            values = [getattr(item, f) for item in items]
            if f in _INTS:
                data = np.asarray(values, dtype=np.int64).reshape(n, 1)
            elif f == "msrp_usd":
                data = np.asarray(values, dtype=np.float32).reshape(n, 1)
            else:
                encoded = [v.encode(ENCODING) for v in values]
                width = max(1, max(len(v) for v in encoded))
                data = np.asarray(encoded, dtype=f"S{width}").reshape(n, 1)
            if f == "index_2":
                data = data.reshape(n)
            h5.create_dataset(h5_key(f), data=data)
        written = 0
        for row, image in enumerate(images):
            array = to_array(image)
            if row == 0:
                out = h5.create_dataset(
                    IMAGE_KEY, shape=(n, *array.shape), dtype=np.uint8, chunks=(1, *array.shape)
                )
            if row >= n or array.shape != out.shape[1:]:
                raise DataError(
                    dest,
                    f"image {row}: shape {array.shape}, expected "
                    f"{out.shape[1:]} and at most {n} images",
                    row,
                )
            out[row] = array
            written += 1
        if written != n:
            raise DataError(dest, f"{written} images for {n} rows")


def write_fashionsap_extras(folder: str | Path) -> None:
    """Write ``categorys_to_sign.txt`` and create ``train/`` and ``validation/`` in `folder`."""
    folder = Path(folder)
    lines = [f"{c}\t{symbol_token(symbol_of(c))}" for c in FASHIONGEN_CATEGORIES]
    atomic.write_text(folder / SYMBOL_MAP_FILE, "\n".join(lines) + "\n")
    for split in SPLITS:
        (folder / split).mkdir(parents=True, exist_ok=True)
