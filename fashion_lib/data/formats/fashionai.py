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

Records: `FashionAILabel`, `FashionAIData`. Functions: `read_fashionai`, `validate_fashionai`,
`write_fashionai(folder, data, images)`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fashion_lib.data.formats.asen import (
    EVAL_SPLITS,
    AsenSplits,
    read_splits,
    validate_splits,
    write_dataset,
)
from fashion_lib.data.formats.images import ImageLike
from fashion_lib.data.formats.lines import read_lines, write_lines
from fashion_lib.errors import DataError

LABEL_CSV = "Annotations/label.csv"
SUFFIX = "_labels"


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
    """The annotations and the ASEN splits of one FashionAI folder."""

    labels: tuple[FashionAILabel, ...]
    splits: AsenSplits


def _label_files(folder: Path) -> list[tuple[str, Path]]:
    files = [("", folder / LABEL_CSV)] if (folder / LABEL_CSV).is_file() else []
    files += [(p.parent.parent.name + "/", p) for p in sorted(folder.glob(f"*/{LABEL_CSV}"))]
    if not files:
        raise DataError(folder / LABEL_CSV, "missing file")
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


def read_fashionai(folder: str | Path, meta_path: str | Path | None = None) -> FashionAIData:
    """Read and validate a FashionAI folder (every label.csv and the ASEN splits)."""
    folder = Path(folder)
    labels, sources = [], []
    for prefix, path in _label_files(folder):
        for line, text in enumerate(read_lines(path), 1):
            labels.append(_parse_row(path, line, text, prefix))
            sources.append((path, line))
    data = FashionAIData(tuple(labels), read_splits(folder, "FashionAI", meta_path))
    validate_fashionai(folder, data, sources)
    return data


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
    validate_splits(folder, data.splits)
    meta = data.splits.meta
    if sources is None:
        sources = [(folder / LABEL_CSV, i) for i in range(1, len(data.labels) + 1)]
    by_path = {}
    for (csv_path, line), label in zip(sources, data.labels, strict=True):
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
                    folder / name,
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
