"""FashionAI attribute dataset (Tianchi 2018) with the ASEN split files.

Folder layout::

    Annotations/label.csv         "<path>,<attr>_labels,<marks>" with no header; marks is one of
                                  y/n/m per value ("m" = maybe) and the value is the position of "y"
    Images/<attr>_labels/<name>.jpg
    filenames_*.txt, label_train.txt, query_*.txt, candidate_*.txt   ASEN splits (`asen` module)

Real copies often keep several annotation roots (``fashionAI_attributes_train1/Annotations/...``);
the reader takes ``Annotations/label.csv`` and every ``*/Annotations/label.csv`` and makes their
paths relative to the dataset folder (prefixing the sub-folder), as the ASEN filename lists are.
Each image carries one attribute. Where an image is in both label.csv and the ASEN files, the two
must agree.

Without ASEN's files, `derive_splits` makes them from label.csv (`derived` module): meta.json lists
the attributes in ASEN's order when they are FashionAI's eight (else in order of first appearance)
with as many values as their marks; each attribute's images (sorted by path, then in a seeded
random order) are split 8:1:1 into train/valid/test, and each evaluation split 1:4 into queries and
candidates per attribute, as ASEN's files are. Rows marked "m" (maybe) elsewhere are kept, as ASEN
kept them; the value is the position of "y".

Records: `FashionAILabel`, `FashionAIData`. Functions: `read_fashionai`, `derive_splits`,
`validate_fashionai`, `write_fashionai(folder, data, images)`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fashion_lib.data.formats.asen import (
    EVAL_SPLITS,
    SPLITS,
    AsenMeta,
    AsenSplits,
    AttrValue,
    EvalItem,
    LabelledImage,
    find_meta,
    read_meta,
    read_splits,
    validate_splits,
    write_dataset,
)
from fashion_lib.data.formats.derived import SEED, Derived, query_candidate, split_source, three_way
from fashion_lib.data.formats.images import ImageLike
from fashion_lib.data.formats.lines import read_lines, write_lines
from fashion_lib.data.taxonomy import FASHIONAI
from fashion_lib.errors import DataError

LABEL_CSV = "Annotations/label.csv"
SUFFIX = "_labels"
DATASET = "FashionAI"


@dataclass(frozen=True)
class FashionAILabel:
    """One row of ``label.csv``.

    Attributes:
        path: image path relative to the dataset folder.
        attribute: attribute name without the ``_labels`` suffix (e.g. ``skirt_length``).
        marks: one of "y", "n", "m" per value of the attribute.
    """

    path: str
    attribute: str
    marks: str

    @property
    def value(self) -> int:
        """0-based value: the position of "y"."""
        return self.marks.index("y")

    @classmethod
    def from_value(cls, path: str, attribute: str, value: int, num_values: int) -> FashionAILabel:
        """A certain label: "y" at `value`, "n" elsewhere."""
        return cls(path, attribute, "".join("y" if i == value else "n" for i in range(num_values)))


@dataclass(frozen=True)
class FashionAIData:
    """The annotations and the ASEN splits of one FashionAI folder; `split_dir` is the folder the
    split files were read from (None: the dataset folder)."""

    labels: tuple[FashionAILabel, ...]
    splits: AsenSplits
    split_dir: Path | None = field(default=None, compare=False)


def _label_files(folder: Path) -> list[tuple[str, Path]]:
    files = [("", folder / LABEL_CSV)] if (folder / LABEL_CSV).is_file() else []
    files += [(p.parent.parent.name + "/", p) for p in sorted(folder.glob(f"*/{LABEL_CSV}"))]
    if not files:
        raise DataError(
            folder / LABEL_CSV,
            f"missing file; {DATASET} needs the release as downloaded ({LABEL_CSV}, or "
            f"<part>/{LABEL_CSV} per part, and Images/) in {folder}; ASEN's split files and "
            "meta.json are optional",
        )
    return files


def _parse_row(path: Path, line: int, text: str, prefix: str) -> FashionAILabel:
    fields = [f.strip() for f in text.split(",")]
    if len(fields) != 3:
        raise DataError(
            path, f"expected 3 columns 'path,<attr>_labels,marks', got {len(fields)}", line
        )
    image, attr, marks = fields
    if not attr.endswith(SUFFIX):
        raise DataError(path, f"attribute column must end with {SUFFIX!r}, got {attr!r}", line)
    return FashionAILabel(prefix + image, attr.removesuffix(SUFFIX), marks)


def derive_meta(labels: Iterable[FashionAILabel], sources: list[tuple[Path, int]]) -> AsenMeta:
    """meta.json's FashionAI entry from the labels: ASEN's order for FashionAI's own attributes."""
    counts: dict[str, int] = {}
    for (path, line), label in zip(sources, labels, strict=True):
        n = counts.setdefault(label.attribute, len(label.marks))
        if len(label.marks) != n:
            raise DataError(
                path, f"{len(label.marks)} marks where {label.attribute} has {n} elsewhere", line
            )
    names = FASHIONAI.names if set(counts) == set(FASHIONAI.names) else tuple(counts)
    return AsenMeta(DATASET, names, tuple(counts[n] for n in names))


def derive_splits(labels: tuple[FashionAILabel, ...], meta: AsenMeta) -> Derived:
    """ASEN's split files from validated labels (see the module docstring)."""
    split_of: dict[str, str] = {}
    for attr, name in enumerate(meta.attributes):
        rows = sorted(r.path for r in labels if r.attribute == name)
        order = np.random.default_rng([SEED, attr]).permutation(len(rows))
        n_train, n_valid, _ = three_way(len(rows))
        for rank, i in enumerate(order):
            split_of[rows[i]] = (
                "train" if rank < n_train else "valid" if rank < n_train + n_valid else "test"
            )
    filenames = {s: tuple(sorted(p for p, v in split_of.items() if v == s)) for s in SPLITS}
    fid = {s: {p: i for i, p in enumerate(filenames[s])} for s in SPLITS}
    pairs = {r.path: (meta.attributes.index(r.attribute), r.value) for r in labels}
    train = tuple(
        LabelledImage(i, (AttrValue(*pairs[p]),)) for i, p in enumerate(filenames["train"])
    )
    queries, candidates = {}, {}
    for n, split in enumerate(EVAL_SPLITS):
        items = [EvalItem(fid[split][p], *pairs[p]) for p in filenames[split]]
        rng = np.random.default_rng([SEED, len(meta.attributes) + n])
        queries[split], candidates[split] = query_candidate(items, rng)
    return Derived(AsenSplits(meta, filenames, train, queries, candidates), {})


def read_fashionai(folder: str | Path, meta_path: str | Path | None = None) -> FashionAIData:
    """Read and validate a FashionAI folder: every label.csv, and ASEN's split files and meta
    where given, else derived from the labels (see the module docstring)."""
    folder = Path(folder)
    labels, sources = [], []
    files = _label_files(folder)
    for prefix, path in files:
        for line, text in enumerate(read_lines(path), 1):
            labels.append(_parse_row(path, line, text, prefix))
            sources.append((path, line))
    given = Path(meta_path) if meta_path is not None else find_meta(folder)
    meta = read_meta(given, DATASET) if given.is_file() else derive_meta(labels, sources)
    _validate_labels(meta, tuple(labels), sources)
    source = split_source(
        folder,
        DATASET,
        [path for _, path in files],
        lambda: derive_splits(tuple(labels), meta),
        given,
    )
    splits = read_splits(source.splits, DATASET, source.meta)
    data = FashionAIData(tuple(labels), splits, source.splits)
    validate_fashionai(folder, data, sources)
    return data


def _validate_labels(
    meta: AsenMeta, labels: tuple[FashionAILabel, ...], sources: list[tuple[Path, int]]
) -> dict[str, tuple[int, int]]:
    """Check every label against the meta; returns image path -> (attribute, value)."""
    by_path = {}
    for (csv_path, line), label in zip(sources, labels, strict=True):
        if label.attribute not in meta.attributes:
            raise DataError(csv_path, f"unknown attribute {label.attribute!r}", line)
        attr = meta.attributes.index(label.attribute)
        n = meta.counts[attr]
        if len(label.marks) != n or set(label.marks) - set("ynm") or label.marks.count("y") != 1:
            raise DataError(
                csv_path, f"marks {label.marks!r} must be {n} of y/n/m with one 'y'", line
            )
        if label.path in by_path or not label.path or "," in label.path:
            raise DataError(csv_path, f"duplicate or bad image path {label.path!r}", line)
        by_path[label.path] = (attr, label.value)
    return by_path


def validate_fashionai(
    folder: Path, data: FashionAIData, sources: list[tuple[Path, int]] | None = None
) -> None:
    """Check the labels against the meta and against the ASEN split files.

    Args:
        folder: the dataset folder, for error messages.
        data: the records.
        sources: (file, 1-based line) of each label; by default the lines of one
            ``folder/Annotations/label.csv``.
    """
    split_dir = data.split_dir or folder
    validate_splits(split_dir, data.splits)
    if sources is None:
        sources = [(folder / LABEL_CSV, i) for i in range(1, len(data.labels) + 1)]
    by_path = _validate_labels(data.splits.meta, data.labels, sources)
    s = data.splits
    groups = [
        (
            "label_train.txt",
            "train",
            [(r.fid, (p.attr, p.value)) for r in s.train_labels for p in r.labels],
        )
    ]
    for split in EVAL_SPLITS:
        for kind, items in (("query", s.queries[split]), ("candidate", s.candidates[split])):
            groups.append(
                (f"{kind}_{split}.txt", split, [(i.fid, (i.attr, i.value)) for i in items])
            )
    for name, split, pairs in groups:
        for line, (fid, pair) in enumerate(pairs, 1):
            known = by_path.get(s.filenames[split][fid])
            if known is not None and known != pair:
                raise DataError(
                    split_dir / name,
                    f"(attribute, value) {pair} disagrees with {LABEL_CSV} {known}",
                    line,
                )


def write_fashionai(
    folder: str | Path, data: FashionAIData, images: Iterable[tuple[str, ImageLike]]
) -> None:
    """Validate `data`, then write the folder atomically with one ``Annotations/label.csv``.

    Args:
        folder: destination, e.g. ``<root>/FashionAI``; ``meta.json`` is merged beside it.
        data: the records (label paths relative to `folder`).
        images: (relative path, uint8 HxWx3 array or PIL image) pairs covering every path of the
            ASEN filename lists and of `data.labels`, each once; consumed lazily.
    """
    folder = Path(folder)
    validate_fashionai(folder, data)

    def write_labels(tmp: Path) -> None:
        write_lines(
            tmp / LABEL_CSV, (f"{r.path},{r.attribute}{SUFFIX},{r.marks}" for r in data.labels)
        )

    write_dataset(
        folder,
        data.splits,
        images,
        write_extra=write_labels,
        extra_images=[r.path for r in data.labels],
    )
