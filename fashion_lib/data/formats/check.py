"""Validate a real or generated copy of one dataset before anyone trains on it.

`check(format_name, path)` reads the copy with the format's reader (which already rejects bad
encodings, column counts, out-of-range labels, duplicate ids and bad JSON, naming file and line),
then adds what a reader does not need: no split may be empty, every referenced image must exist
and decode, FashionIQ caption files must name known categories, FashionGen rows must name known
categories. It returns a `CheckSummary` whose ``str()`` lists the counts per split and attribute.

Paths: DeepFashion, FashionAI, DARN take the dataset folder (``meta.json`` inside or beside it;
DeepFashion and FashionAI also as downloaded, without ASEN's files, which are then derived);
FashionGen takes the folder with ``fashiongen_256_256_{train,validation}.h5`` or one h5 file;
FashionIQ takes the folder holding ``captions/``, ``image_splits/`` and ``images/``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from fashion_lib.data.formats import darn, deepfashion, fashionai, fashiongen, fashioniq
from fashion_lib.data.formats.asen import EVAL_SPLITS, SPLITS, AsenSplits
from fashion_lib.data.formats.images import verify_image
from fashion_lib.data.taxonomy import FASHIONIQ_CATEGORIES, SYMBOLS, symbol_of
from fashion_lib.errors import ConfigError, DataError

FORMATS = ("deepfashion", "fashionai", "darn", "fashiongen", "fashioniq")
#: Dataset folder name under a data root -> format name.
DATASET_FORMATS = {
    "DeepFashion": "deepfashion",
    "FashionAI": "fashionai",
    "DARN": "darn",
    "FashionGen": "fashiongen",
    "FashionIQ": "fashioniq",
}
_ASEN = "filenames_{train,valid,test}.txt, label_train.txt, query_/candidate_{valid,test}.txt"
#: What each format's folder holds, in a few words (book/real_data.md has the details).
LAYOUTS = {
    "deepfashion": "the Attribute Prediction benchmark as downloaded: Anno/list_attr_cloth.txt, "
    "Anno/list_attr_img.txt, Eval/list_eval_partition.txt, img/ (ASEN's split files optional)",
    "fashionai": "the release as downloaded: Annotations/label.csv, Images/ "
    "(ASEN's split files optional)",
    "darn": f"ASEN's files: {_ASEN} and meta.json beside or inside the folder, and pic/",
    "fashiongen": "fashiongen_256_256_train.h5 and fashiongen_256_256_validation.h5",
    "fashioniq": "captions/cap.<category>.<split>.json, image_splits/split.<category>.<split>.json, "
    "images/",
}


@dataclass(frozen=True)
class CheckSummary:
    """What `check` found: named sections of counts, e.g. ``{"images": {"train": 120}}``, and
    the folder of split files derived from a raw release (None when the copy had ASEN's)."""

    format: str
    path: Path
    counts: Mapping[str, Mapping[str, int]]
    images_verified: int
    derived: Path | None = None

    def __str__(self) -> str:
        lines = [f"{self.format} at {self.path}: OK ({self.images_verified} images verified)"]
        if self.derived is not None:
            lines.append(f"  ASEN's split files absent: derived from the release in {self.derived}")
        for section, counts in self.counts.items():
            body = ", ".join(f"{k} {v}" for k, v in counts.items())
            lines.append(f"  {section}: {body}")
        return "\n".join(lines)


def _verify(files: Iterable[tuple[Path, int, Path]]) -> int:
    """Verify images given as (listing file, 1-based line, image path); errors name the listing."""
    n = 0
    for listing, line, image in files:
        try:
            verify_image(image)
        except DataError as err:
            raise DataError(listing, f"{image.name}: {err.message}", line) from None
        n += 1
    return n


def _not_empty(path: Path, items: object) -> None:
    if not items:
        raise DataError(path, "empty split")


def _asen_counts(
    folder: Path, split_dir: Path, splits: AsenSplits, images: bool
) -> tuple[dict, int]:
    """Counts of the split files read from `split_dir`; images are relative to `folder`."""
    meta = splits.meta
    for split in SPLITS:
        _not_empty(split_dir / f"filenames_{split}.txt", splits.filenames[split])
    _not_empty(split_dir / "label_train.txt", splits.train_labels)
    counts = {"images": {s: len(splits.filenames[s]) for s in SPLITS}}
    train = Counter(p.attr for r in splits.train_labels for p in r.labels)
    counts["train labels per attribute"] = {a: train[i] for i, a in enumerate(meta.attributes)}
    for split in EVAL_SPLITS:
        for kind, items in (
            ("query", splits.queries[split]),
            ("candidate", splits.candidates[split]),
        ):
            _not_empty(split_dir / f"{kind}_{split}.txt", items)
            per = Counter(i.attr for i in items)
            counts[f"{kind} {split} per attribute"] = {
                a: per[i] for i, a in enumerate(meta.attributes)
            }
    verified = 0
    if images:
        verified = _verify(
            (split_dir / f"filenames_{s}.txt", line, folder / name)
            for s in SPLITS
            for line, name in enumerate(splits.filenames[s], 1)
        )
    return counts, verified


Found = tuple[dict, int, Path | None]  # counts, images verified, derived folder


def _check_deepfashion(folder: Path, images: bool) -> Found:
    data = deepfashion.read_deepfashion(folder)
    _not_empty(folder / deepfashion.ATTR_IMG, data.images)
    counts, verified = _asen_counts(folder, data.split_dir, data.splits, images)
    counts["benchmark"] = {
        "attributes": len(data.attributes),
        "images": len(data.images),
        **Counter(i.partition for i in data.images),
    }
    for split in EVAL_SPLITS:
        _not_empty(data.split_dir / f"label_{split}.txt", data.multilabels[split])
        pairs = [len(r.labels) for r in data.multilabels[split]]
        counts[f"label_{split} positives"] = {"images": len(pairs), "pairs": sum(pairs)}
    if images:
        listed = set().union(*data.splits.filenames.values())
        verified += _verify(
            (folder / deepfashion.ATTR_IMG, line, folder / i.path)
            for line, i in enumerate(data.images, deepfashion.HEADER_LINES + 1)
            if i.path not in listed
        )
    return counts, verified, data.split_dir if data.split_dir != folder else None


def _check_fashionai(folder: Path, images: bool) -> Found:
    data = fashionai.read_fashionai(folder)
    _not_empty(folder / fashionai.LABEL_CSV, data.labels)
    counts, verified = _asen_counts(folder, data.split_dir, data.splits, images)
    per = Counter(r.attribute for r in data.labels)
    counts["label.csv per attribute"] = {a: per[a] for a in data.splits.meta.attributes}
    if images:
        listed = set().union(*data.splits.filenames.values())
        verified += _verify(
            (folder / fashionai.LABEL_CSV, line, folder / r.path)
            for line, r in enumerate(data.labels, 1)
            if r.path not in listed
        )
    return counts, verified, data.split_dir if data.split_dir != folder else None


def _check_darn(folder: Path, images: bool) -> Found:
    return *_asen_counts(folder, folder, darn.read_darn(folder), images), None


def _check_fashiongen(path: Path, images: bool) -> Found:
    files = (
        [path] if path.suffix == ".h5" else [fashiongen.h5_path(path, s) for s in fashiongen.SPLITS]
    )
    counts: dict[str, dict[str, int]] = {}
    for file in files:
        with fashiongen.FashionGenFile(file) as h5:
            items = h5.validate()
            _not_empty(file, items)
            shape = h5.image(0).shape
        counts[file.stem] = {
            "rows": len(items),
            "products": len({i.product_id for i in items}),
            "image side": shape[0],
        }
        per = Counter(symbol_of(i.category) for i in items)
        counts[f"{file.stem} per symbol"] = {s: per[s] for s in SYMBOLS if per[s]}
    return counts, 0, None


def _check_fashioniq(folder: Path, images: bool) -> Found:
    for path in sorted((folder / "captions").glob("cap.*.json")):
        parts = path.name.split(".")
        if len(parts) == 3 and parts[1] in fashioniq.SPLITS:
            continue  # cap.<split>.json: the categories merged, for FashionSAP's loader
        if len(parts) != 4 or parts[1] not in FASHIONIQ_CATEGORIES:
            raise DataError(
                path, f"unknown category {parts[1]!r}; expected one of {FASHIONIQ_CATEGORIES}"
            )
    data = fashioniq.read_fashioniq(folder)
    counts: dict[str, dict[str, int]] = {"triplets": {}, "images": {}}
    for (category, split), triplets in data.captions.items():
        _not_empty(fashioniq.caption_file(folder, category, split), triplets)
        _not_empty(
            fashioniq.split_file(folder, category, split), data.image_splits[category, split]
        )
        counts["triplets"][f"{category}.{split}"] = len(triplets)
        counts["images"][f"{category}.{split}"] = len(data.image_splits[category, split])
    verified = 0
    if images:
        seen: set[str] = set()
        for key in data.image_splits:
            path = fashioniq.split_file(folder, *key)
            located = [(line, a) for line, a in fashioniq.load_json_array(path) if a not in seen]
            seen.update(a for _, a in located)
            verified += _verify(
                (path, line, fashioniq.image_path(folder, asin)) for line, asin in located
            )
    return counts, verified, None


_CHECKS = {
    "deepfashion": _check_deepfashion,
    "fashionai": _check_fashionai,
    "darn": _check_darn,
    "fashiongen": _check_fashiongen,
    "fashioniq": _check_fashioniq,
}


def check(format_name: str, path: str | Path, images: bool = True) -> CheckSummary:
    """Validate one dataset copy.

    Args:
        format_name: one of `FORMATS`.
        path: the dataset folder (or one FashionGen h5 file).
        images: also open and fully decode every referenced image (FashionGen images are checked
            for dtype and shape only).

    Returns:
        The counts found.

    Raises:
        DataError: naming the file and the 1-based line (h5: the 0-based row) of the first fault.
    """
    if format_name not in _CHECKS:
        raise ConfigError(f"unknown format {format_name!r}; expected one of {FORMATS}")
    path = Path(path)
    if not path.exists():
        raise DataError(path, "missing file or folder")
    counts, verified, derived = _CHECKS[format_name](path, images)
    return CheckSummary(format_name, path, counts, verified, derived)
