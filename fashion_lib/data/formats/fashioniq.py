"""FashionIQ (text-modified image retrieval) files.

Folder layout::

    captions/cap.<cat>.<split>.json        [{"target": asin, "candidate": asin,
                                             "captions": [two strings]}, ...]
    image_splits/split.<cat>.<split>.json  [asin, ...]
    images/<asin>.png

with ``<cat>`` in dress, shirt, toptee and ``<split>`` in train, val (the real test files have no
targets and are not read). The writer also writes ``captions/cap.<split>.json``, the three
categories' files merged, which FashionSAP's loader reads (its README asks users to merge them).
Errors inside a JSON array name the line where the offending element starts. Every candidate and
target must be listed in the image split of its category and split.

Records: `FashionIQTriplet`, `FashionIQData`. Functions: `image_path`, `read_fashioniq`,
`validate_fashioniq`, `write_fashioniq(folder, data, images)`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from fashion_lib import atomic
from fashion_lib.data.formats.images import ImageLike, write_images
from fashion_lib.data.formats.lines import read_lines
from fashion_lib.data.taxonomy import FASHIONIQ_CATEGORIES
from fashion_lib.errors import DataError

SPLITS = ("train", "val")


@dataclass(frozen=True)
class FashionIQTriplet:
    """One relative-caption record: the candidate image, the target image and two captions."""

    candidate: str
    target: str
    captions: tuple[str, str]


@dataclass(frozen=True)
class FashionIQData:
    """Captions and image splits, keyed by (category, split)."""

    captions: Mapping[tuple[str, str], tuple[FashionIQTriplet, ...]]
    image_splits: Mapping[tuple[str, str], tuple[str, ...]]

    def asins(self) -> set[str]:
        """Every image id named by the image splits."""
        return {a for ids in self.image_splits.values() for a in ids}


def caption_file(folder: Path, category: str, split: str) -> Path:
    """``folder/captions/cap.<category>.<split>.json``."""
    return folder / "captions" / f"cap.{category}.{split}.json"


def merged_caption_file(folder: Path, split: str) -> Path:
    """``folder/captions/cap.<split>.json``: every category's captions of `split`, merged."""
    return folder / "captions" / f"cap.{split}.json"


def split_file(folder: Path, category: str, split: str) -> Path:
    """``folder/image_splits/split.<category>.<split>.json``."""
    return folder / "image_splits" / f"split.{category}.{split}.json"


def image_path(folder: str | Path, asin: str) -> Path:
    """``folder/images/<asin>.png``."""
    return Path(folder) / "images" / f"{asin}.png"


def load_json_array(path: Path) -> list[tuple[int, object]]:
    """A JSON array as (line where the element starts, element) pairs."""
    text = "\n".join(read_lines(path))
    decoder = json.JSONDecoder()

    def skip(i: int) -> int:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        return i

    def line_of(i: int) -> int:
        return text.count("\n", 0, i) + 1

    i = skip(0)
    if text[i : i + 1] != "[":
        raise DataError(path, "bad JSON: expected an array", line_of(i))
    out: list[tuple[int, object]] = []
    i = skip(i + 1)
    if text[i : i + 1] == "]":
        i = skip(i + 1)
    else:
        while True:
            try:
                element, end = decoder.raw_decode(text, i)
            except json.JSONDecodeError as err:
                raise DataError(path, f"bad JSON: {err.msg}", err.lineno) from None
            out.append((line_of(i), element))
            i = skip(end)
            if text[i : i + 1] == "]":
                i = skip(i + 1)
                break
            if text[i : i + 1] != ",":
                raise DataError(path, "bad JSON: expected ',' or ']'", line_of(i))
            i = skip(i + 1)
    if i != len(text):
        raise DataError(path, "bad JSON: extra data after the array", line_of(i))
    return out


def _triplet(path: Path, line: int, element: object) -> FashionIQTriplet:
    ok = (
        isinstance(element, dict)
        and isinstance(element.get("target"), str)
        and isinstance(element.get("candidate"), str)
        and isinstance(element.get("captions"), list)
        and len(element["captions"]) == 2
        and all(isinstance(c, str) for c in element["captions"])
    )
    if not ok:
        raise DataError(
            path, 'expected {"target": str, "candidate": str, "captions": [str, str]}', line
        )
    return FashionIQTriplet(element["candidate"], element["target"], tuple(element["captions"]))


def read_fashioniq(folder: str | Path) -> FashionIQData:
    """Read and validate the captions and image splits of every category and split."""
    folder = Path(folder)
    captions, image_splits, lines = {}, {}, {}
    for category in FASHIONIQ_CATEGORIES:
        for split in SPLITS:
            path = caption_file(folder, category, split)
            elements = load_json_array(path)
            lines[path] = [line for line, _ in elements]
            captions[category, split] = tuple(_triplet(path, line, e) for line, e in elements)
            path = split_file(folder, category, split)
            elements = load_json_array(path)
            lines[path] = [line for line, _ in elements]
            for line, element in elements:
                if not isinstance(element, str):
                    raise DataError(path, "image ids must be strings", line)
            image_splits[category, split] = tuple(e for _, e in elements)
    data = FashionIQData(captions, image_splits)
    validate_fashioniq(folder, data, lines)
    return data


RECORD_LINES = 8  # lines per caption record in the layout json.dumps(indent=4) writes


def _written_lines(path: Path, count: int) -> list[int]:
    """Line where each element starts in the files `write_fashioniq` writes."""
    step = RECORD_LINES if path.parent.name == "captions" else 1
    return [2 + step * i for i in range(count)]


def validate_fashioniq(
    folder: Path, data: FashionIQData, lines: Mapping[Path, list[int]] | None = None
) -> None:
    """Unique ids per image split; candidates and targets listed in their image split.

    Args:
        folder: the dataset folder, for error messages.
        data: the records.
        lines: per JSON file, the line where each element starts; by default the lines of the
            layout `write_fashioniq` writes.
    """

    def starts(path: Path, count: int) -> list[int]:
        return lines[path] if lines and path in lines else _written_lines(path, count)

    for key in sorted(data.captions.keys() | data.image_splits.keys()):
        category, split = key
        cap_path, split_path = caption_file(folder, *key), split_file(folder, *key)
        if category not in FASHIONIQ_CATEGORIES or split not in SPLITS:
            raise DataError(cap_path, "unknown category or split")
        if key not in data.captions or key not in data.image_splits:
            raise DataError(folder, f"{category}/{split} needs both captions and an image split")
        ids, seen = data.image_splits[key], set()
        for line, asin in zip(starts(split_path, len(ids)), ids, strict=True):
            if asin in seen or not asin or "/" in asin:
                raise DataError(split_path, f"duplicate or bad id {asin!r}", line)
            seen.add(asin)
        triplets = data.captions[key]
        for line, t in zip(starts(cap_path, len(triplets)), triplets, strict=True):
            for asin in (t.candidate, t.target):
                if asin not in seen:
                    raise DataError(cap_path, f"image {asin!r} is not in {split_path.name}", line)


def write_fashioniq(
    folder: str | Path, data: FashionIQData, images: Iterable[tuple[str, ImageLike]]
) -> None:
    """Validate `data`, then write the folder atomically (replacing an existing one).

    Args:
        folder: destination, e.g. ``<root>/FashionIQ``.
        data: captions and image splits for every (category, split) it names.
        images: (asin, uint8 HxWx3 array or PIL image) pairs, one per id of the image splits;
            consumed lazily and written as ``images/<asin>.png``.
    """
    folder = Path(folder)
    validate_fashioniq(folder, data)

    def text(triplets: Iterable[FashionIQTriplet]) -> str:
        records = [
            {"target": t.target, "candidate": t.candidate, "captions": list(t.captions)}
            for t in triplets
        ]
        return json.dumps(records, indent=4)

    with atomic.atomic_dir(folder) as tmp:
        for (category, split), triplets in data.captions.items():
            atomic.write_text(caption_file(tmp, category, split), text(triplets))
        for split in SPLITS:
            merged = [t for c in FASHIONIQ_CATEGORIES for t in data.captions.get((c, split), ())]
            atomic.write_text(merged_caption_file(tmp, split), text(merged))
        for (category, split), ids in data.image_splits.items():
            atomic.write_text(split_file(tmp, category, split), json.dumps(list(ids), indent=4))
        write_images(
            tmp,
            ((f"images/{a}.png", img) for a, img in images),
            {f"images/{a}.png" for a in data.asins()},
        )
