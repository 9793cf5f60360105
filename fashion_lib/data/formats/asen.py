"""ASEN / ASEN++ split files, shared by DeepFashion, FashionAI and DARN.

Layout (ASEN++ README)::

    <root>/meta.json                      {Dataset: {"ATTRIBUTES": [...], "ATTRIBUTES_NUM": {...}}}
    <root>/<Dataset>/filenames_{train,valid,test}.txt   one relative image path a line; the
                                          0-based line number is the image id (fid) of that split
    <root>/<Dataset>/label_train.txt      "fid a v [a v ...]"   (0-based attribute, 0-based value)
    <root>/<Dataset>/query_{valid,test}.txt and candidate_{valid,test}.txt   "fid a v"

Image paths are relative to ``<root>/<Dataset>/``. Readers accept CRLF and tabs; writers write LF
and single spaces (ASEN v1 splits ``label_train.txt`` on one space). Every index is 0-based in the
records; `validate_splits` checks fids, attributes and values against the files and the meta, so a
bad record raises `DataError` naming the file and the 1-based line, whether it was read or is about
to be written.

Records: `AttrValue`, `LabelledImage` (a ``label_train.txt`` line), `EvalItem` (a query or
candidate line), `AsenMeta`, `AsenSplits` (everything of one dataset). Functions: `read_meta`,
`write_meta` (merges into an existing file; `merged_meta` gives its text), `find_meta`,
`read_splits`, `validate_splits`, `write_split_files`, `write_dataset` (split files + images +
format-specific files into one atomic folder, then meta).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from fashion_lib import atomic
from fashion_lib.data.formats.images import ImageLike, write_images
from fashion_lib.data.formats.lines import parse_ints, read_lines, write_lines
from fashion_lib.data.taxonomy import AttributeSet
from fashion_lib.errors import DataError

SPLITS = ("train", "valid", "test")
EVAL_SPLITS = ("valid", "test")
META_FILE = "meta.json"
SPLIT_FILES = (
    *(f"filenames_{s}.txt" for s in SPLITS),
    "label_train.txt",
    *(f"{kind}_{s}.txt" for s in EVAL_SPLITS for kind in ("query", "candidate")),
)


@dataclass(frozen=True)
class AttrValue:
    """One (attribute, value) pair, both 0-based."""

    attr: int
    value: int


@dataclass(frozen=True)
class LabelledImage:
    """One line of a multi-pair label file: an image id and its (attribute, value) pairs."""

    fid: int
    labels: tuple[AttrValue, ...]


@dataclass(frozen=True)
class EvalItem:
    """One query or candidate line: the image id and its single (attribute, value)."""

    fid: int
    attr: int
    value: int


@dataclass(frozen=True)
class AsenMeta:
    """One dataset's entry of ``meta.json``."""

    dataset: str
    attributes: tuple[str, ...]
    counts: tuple[int, ...]

    @classmethod
    def from_attribute_set(cls, attribute_set: AttributeSet) -> AsenMeta:
        """The meta of a taxonomy `AttributeSet`."""
        return cls(attribute_set.dataset, attribute_set.names, attribute_set.counts)


@dataclass(frozen=True)
class AsenSplits:
    """All split files of one dataset.

    Attributes:
        meta: attribute names and value counts.
        filenames: split ("train", "valid", "test") -> relative image paths; index = fid.
        train_labels: the ``label_train.txt`` lines.
        queries: eval split ("valid", "test") -> query lines.
        candidates: eval split -> candidate lines.
    """

    meta: AsenMeta
    filenames: Mapping[str, tuple[str, ...]]
    train_labels: tuple[LabelledImage, ...]
    queries: Mapping[str, tuple[EvalItem, ...]]
    candidates: Mapping[str, tuple[EvalItem, ...]]

    def image_path(self, folder: str | Path, split: str, fid: int) -> Path:
        """Path of image `fid` of `split` in the dataset folder; open it with `load_image`."""
        return Path(folder) / self.filenames[split][fid]


def find_meta(folder: str | Path) -> Path:
    """``meta.json`` of a dataset folder: inside it if present, else beside it (ASEN layout)."""
    folder = Path(folder)
    inside = folder / META_FILE
    return inside if inside.is_file() else folder.parent / META_FILE


def _load_json(path: Path) -> object:
    text = "\n".join(read_lines(path))
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(path, f"bad JSON: {err.msg}", err.lineno) from None


def read_meta(path: str | Path, dataset: str) -> AsenMeta:
    """Read `dataset`'s entry of a ``meta.json``."""
    path = Path(path)
    data = _load_json(path)
    entry = data.get(dataset) if isinstance(data, dict) else None
    if not isinstance(entry, dict):
        raise DataError(path, f"no entry for dataset {dataset!r}")
    names, nums = entry.get("ATTRIBUTES"), entry.get("ATTRIBUTES_NUM")
    if not isinstance(names, list) or not isinstance(nums, dict):
        raise DataError(path, f"{dataset}: needs ATTRIBUTES (list) and ATTRIBUTES_NUM (object)")
    missing = [n for n in names if not isinstance(nums.get(n), int) or nums[n] < 1]
    if missing:
        raise DataError(path, f"{dataset}: no positive ATTRIBUTES_NUM for {missing}")
    return AsenMeta(dataset, tuple(names), tuple(nums[n] for n in names))


def merged_meta(path: str | Path, metas: Iterable[AsenMeta]) -> str:
    """Text of ``meta.json`` with `metas` merged into the datasets already in the file."""
    path = Path(path)
    data = _load_json(path) if path.is_file() else {}
    if not isinstance(data, dict):
        raise DataError(path, "meta.json is not a JSON object")
    for meta in metas:
        data[meta.dataset] = {
            "ATTRIBUTES": list(meta.attributes),
            "ATTRIBUTES_NUM": dict(zip(meta.attributes, meta.counts, strict=True)),
        }
    return json.dumps(data, indent=2) + "\n"


def write_meta(path: str | Path, metas: Iterable[AsenMeta]) -> None:
    """Atomically write `metas` into ``meta.json``, keeping other datasets already in the file."""
    atomic.write_text(path, merged_meta(path, metas))


def _eval_item(path: Path, lineno: int, text: str) -> EvalItem:
    ints = parse_ints(path, lineno, text)
    if len(ints) != 3:
        raise DataError(path, f"expected 3 columns 'fid attr value', got {len(ints)}", lineno)
    return EvalItem(*ints)


def parse_pairs(path: Path, lineno: int, text: str) -> LabelledImage:
    """Parse "fid a v [a v ...]" (no index conversion)."""
    ints = parse_ints(path, lineno, text)
    if len(ints) < 3 or len(ints) % 2 == 0:
        raise DataError(path, f"expected 'fid a v [a v ...]', got {len(ints)} columns", lineno)
    pairs = tuple(AttrValue(a, v) for a, v in zip(ints[1::2], ints[2::2], strict=True))
    return LabelledImage(ints[0], pairs)


def read_splits(
    folder: str | Path, dataset: str, meta_path: str | Path | None = None
) -> AsenSplits:
    """Read and validate the split files of one dataset folder.

    Args:
        folder: the dataset folder (e.g. ``data/FashionAI``).
        dataset: its key in ``meta.json`` ("DeepFashion", "FashionAI", "DARN").
        meta_path: ``meta.json``; by default `find_meta(folder)`.

    Returns:
        The validated `AsenSplits`.
    """
    folder = Path(folder)
    meta = read_meta(meta_path or find_meta(folder), dataset)
    filenames = {}
    for split in SPLITS:
        path = folder / f"filenames_{split}.txt"
        filenames[split] = tuple(line.strip() for line in read_lines(path))
    path = folder / "label_train.txt"
    train = tuple(parse_pairs(path, i, t) for i, t in enumerate(read_lines(path), 1))
    queries, candidates = {}, {}
    for split in EVAL_SPLITS:
        for kind, into in (("query", queries), ("candidate", candidates)):
            path = folder / f"{kind}_{split}.txt"
            into[split] = tuple(_eval_item(path, i, t) for i, t in enumerate(read_lines(path), 1))
    splits = AsenSplits(meta, filenames, train, queries, candidates)
    validate_splits(folder, splits)
    return splits


def _check_pair(path: Path, line: int, meta: AsenMeta, attr: int, value: int) -> None:
    if not 0 <= attr < len(meta.counts):
        raise DataError(path, f"attribute {attr} out of range 0..{len(meta.counts) - 1}", line)
    if not 0 <= value < meta.counts[attr]:
        raise DataError(
            path,
            f"value {value} out of range 0..{meta.counts[attr] - 1} of {meta.attributes[attr]!r}",
            line,
        )


def _check_fid(path: Path, line: int, fid: int, n: int, seen: set[int]) -> None:
    if not 0 <= fid < n:
        raise DataError(path, f"image id {fid} out of range 0..{n - 1}", line)
    if fid in seen:
        raise DataError(path, f"duplicate image id {fid}", line)
    seen.add(fid)


def validate_labelled(
    path: Path, records: Iterable[LabelledImage], meta: AsenMeta, n_images: int
) -> None:
    """Check multi-pair lines: fids in range and unique, pairs in range and not repeated."""
    seen: set[int] = set()
    for line, rec in enumerate(records, 1):
        _check_fid(path, line, rec.fid, n_images, seen)
        if not rec.labels:
            raise DataError(path, "no (attribute, value) pair", line)
        for pair in rec.labels:
            _check_pair(path, line, meta, pair.attr, pair.value)
        if len(set(rec.labels)) != len(rec.labels):
            raise DataError(path, "repeated (attribute, value) pair", line)


def validate_splits(folder: Path, splits: AsenSplits) -> None:
    """Check `splits` against itself; errors name ``folder/<file>`` and the 1-based line."""
    meta = splits.meta
    if len(meta.attributes) != len(meta.counts) or min(meta.counts, default=0) < 1:
        raise DataError(folder / META_FILE, f"{meta.dataset}: bad attribute counts")
    for split in SPLITS:
        for line, name in enumerate(splits.filenames[split], 1):
            if not name or name != name.strip():
                raise DataError(folder / f"filenames_{split}.txt", "empty or padded path", line)
    validate_labelled(
        folder / "label_train.txt", splits.train_labels, meta, len(splits.filenames["train"])
    )
    for split in EVAL_SPLITS:
        n, seen = len(splits.filenames[split]), set()
        for kind, items in (
            ("query", splits.queries[split]),
            ("candidate", splits.candidates[split]),
        ):
            path = folder / f"{kind}_{split}.txt"
            for line, item in enumerate(items, 1):
                _check_fid(path, line, item.fid, n, seen)
                _check_pair(path, line, meta, item.attr, item.value)


def write_split_files(folder: str | Path, splits: AsenSplits) -> None:
    """Validate, then write the split files of `splits` into `folder` (not ``meta.json``)."""
    folder = Path(folder)
    validate_splits(folder, splits)
    for split in SPLITS:
        write_lines(folder / f"filenames_{split}.txt", splits.filenames[split])
    write_lines(
        folder / "label_train.txt",
        (
            " ".join([str(r.fid)] + [f"{p.attr} {p.value}" for p in r.labels])
            for r in splits.train_labels
        ),
    )
    for split in EVAL_SPLITS:
        for kind, items in (
            ("query", splits.queries[split]),
            ("candidate", splits.candidates[split]),
        ):
            write_lines(
                folder / f"{kind}_{split}.txt", (f"{i.fid} {i.attr} {i.value}" for i in items)
            )


def referenced_images(splits: AsenSplits) -> set[str]:
    """Every relative image path named by the filename lists."""
    return {name for split in SPLITS for name in splits.filenames[split]}


def write_dataset(
    folder: str | Path,
    splits: AsenSplits,
    images: Iterable[tuple[str, ImageLike]],
    write_extra: Callable[[Path], None] | None = None,
    extra_images: Iterable[str] = (),
) -> None:
    """Write one ASEN-layout dataset folder atomically, then merge its entry into ``meta.json``.

    Everything is validated before the first byte is written; the folder is built under a
    temporary name and renamed into place only when complete, so a failure leaves no partial
    folder. ``meta.json`` goes beside the folder (``folder.parent/meta.json``).

    Args:
        folder: destination dataset folder (replaced if it exists).
        splits: the split files' content.
        images: (relative path, image) pairs, consumed lazily; together they must cover every
            path of the filename lists and `extra_images`, each exactly once.
        write_extra: writes format-specific files (annotations) into the temporary folder;
            it must validate its records before writing.
        extra_images: image paths referenced only by the format-specific files.
    """
    folder = Path(folder)
    validate_splits(folder, splits)
    expected = referenced_images(splits) | set(extra_images)
    meta_path = folder.parent / META_FILE
    meta_text = merged_meta(meta_path, [splits.meta])  # a broken meta.json fails here, first
    with atomic.atomic_dir(folder) as tmp:
        if write_extra is not None:
            write_extra(tmp)
        write_split_files(tmp, splits)
        write_images(tmp, images, expected)
    atomic.write_text(meta_path, meta_text)
