"""Images of the real formats: written from arrays or PIL images, read lazily as paths.

Readers return image *paths*; `load_image` opens one. Writers accept ``uint8`` arrays of shape
(H, W, 3) or PIL images (`ImageLike`) and pick the codec from the file suffix (.jpg/.png).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from fashion_lib import atomic
from fashion_lib.errors import DataError

ImageLike = np.ndarray | Image.Image

JPEG_QUALITY = 95


def to_array(image: ImageLike) -> np.ndarray:
    """The image as a ``uint8`` array of shape (H, W, 3); PIL images are converted to RGB."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected a uint8 (H, W, 3) image, got {array.dtype} {array.shape}")
    return array


def save_image(dest: str | Path, image: ImageLike) -> None:
    """Atomically write `image` to `dest`; the suffix chooses JPEG (quality 95) or PNG."""
    dest = Path(dest)
    suffix = dest.suffix.lower()
    if suffix not in (".jpg", ".jpeg", ".png"):
        raise ValueError(f"{dest}: images are written as .jpg or .png")
    pil = Image.fromarray(to_array(image), mode="RGB")
    with atomic.atomic_path(dest, suffix=suffix) as tmp:
        if suffix == ".png":
            pil.save(tmp, format="PNG")
        else:
            pil.save(tmp, format="JPEG", quality=JPEG_QUALITY)


def load_image(path: str | Path) -> Image.Image:
    """Open an image of a dataset as RGB."""
    with Image.open(path) as img:
        return img.convert("RGB")


def verify_image(path: str | Path) -> tuple[int, int]:
    """Check that `path` exists and decodes completely; returns its (width, height).

    Pillow's ``verify()`` checks the container, but not every truncation of a JPEG, so the pixels
    are also decoded.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "missing image")
    try:
        with Image.open(path) as img:
            img.verify()
        with Image.open(path) as img:
            img.load()
            return img.size
    except Exception as err:  # Pillow raises several unrelated types for a broken file
        raise DataError(path, f"image does not decode ({type(err).__name__}: {err})") from None


def write_images(
    folder: str | Path, images: Iterable[tuple[str, ImageLike]], expected: set[str]
) -> int:
    """Write (relative path, image) pairs under `folder`; they must cover `expected` exactly once.

    Returns:
        The number of images written.
    """
    folder = Path(folder)
    written: set[str] = set()
    for rel, image in images:
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise ValueError(f"image path {rel!r} must stay inside the dataset folder")
        if rel not in expected:
            raise ValueError(f"image {rel!r} is not referenced by the dataset's files")
        if rel in written:
            raise ValueError(f"image {rel!r} given twice")
        save_image(folder / rel, image)
        written.add(rel)
    missing = expected - written
    if missing:
        raise ValueError(f"{len(missing)} referenced images were not given, e.g. {min(missing)!r}")
    return len(written)
