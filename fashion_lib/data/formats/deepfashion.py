"""DeepFashion, Category & Attribute Prediction benchmark, as used by ASEN++ and M3-Net.

One folder holds the benchmark as downloaded and, optionally, ASEN's split files (`asen` module)::

    Anno/list_attr_cloth.txt      count line, header, then "<name> <type>" (names contain spaces,
                                  type 1..5 = texture, fabric, shape, part, style); row i (0-based)
                                  is global attribute i
    Anno/list_attr_img.txt        count line, header, then "<path> l_0 ... l_{K-1}", l in -1/0/1
                                  (1 = positive, -1 = negative, 0 = unknown)
    Eval/list_eval_partition.txt  count line, header, then "<path> train|val|test"
    img/...                       the images (paths as in the lists)
    filenames_*.txt, label_train.txt, query_*.txt, candidate_*.txt   ASEN splits (within-type ids)
    label_{valid,test}.txt        "fid type(1-based) globalIdx [type globalIdx ...]": every
                                  positive attribute of each evaluation image (tab-separated)

Index rule (verified on all 27,625 images of both public splits): the within-type value of a
global attribute is its rank among the global indices of its type, sorted ascending. Records hold
within-type 0-based pairs (`AttrValue`); readers and writers convert.

Without ASEN's files, `derive_splits` makes them from the benchmark (`derived` module): the
multi-label protocol on the official partition. train/val/test of ``list_eval_partition.txt`` are
the train/valid/test splits, in the file's order, without the images that have no positive
attribute; every training image carries all its positives; each evaluation image gets one
(type, value) pair drawn uniformly from its positives (ASEN's observed rule) and is a query or a
candidate (1:4 per type); ``label_{valid,test}.txt`` list all its positives. Without
``label_{split}.txt`` beside given ASEN splits, the positives come from ``list_attr_img.txt``.

Records: `DFAttribute`, `DFImage`, `DeepFashionData`. Functions: `within_type`, `read_deepfashion`,
`derive_splits`, `validate_deepfashion`, `write_deepfashion(folder, data, images)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
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
    parse_pairs,
    read_splits,
    validate_labelled,
    validate_splits,
    write_dataset,
)
from fashion_lib.data.formats.derived import SEED, Derived, query_candidate, require, split_source
from fashion_lib.data.formats.images import ImageLike
from fashion_lib.data.formats.lines import iter_lines, read_lines, write_lines
from fashion_lib.data.taxonomy import DEEPFASHION, DEEPFASHION_TYPES
from fashion_lib.errors import DataError

ATTR_CLOTH = "Anno/list_attr_cloth.txt"
ATTR_IMG = "Anno/list_attr_img.txt"
PARTITION = "Eval/list_eval_partition.txt"
PARTITIONS = ("train", "val", "test")
RELEASE = (ATTR_CLOTH, ATTR_IMG, PARTITION)
DATASET = "DeepFashion"
HEADER_LINES = 2  # the count line and the column header


@dataclass(frozen=True)
class DFAttribute:
    """One row of ``list_attr_cloth.txt``; `type_id` is 1-based as in the file."""

    name: str
    type_id: int


@dataclass(frozen=True)
class DFImage:
    """One image of ``list_attr_img.txt`` joined with its ``list_eval_partition.txt`` status.

    Attributes:
        path: relative image path.
        positives: global attribute indices labelled 1, ascending.
        partition: "train", "val" or "test" (the benchmark's partition, not ASEN's split).
    """

    path: str
    positives: tuple[int, ...]
    partition: str


@dataclass(frozen=True)
class DeepFashionData:
    """Everything of one DeepFashion folder; `multilabels` maps "valid"/"test" to within-type
    pairs of every positive attribute of each evaluation image (from ``label_{split}.txt``);
    `split_dir` is the folder the split files were read from (None: the dataset folder)."""

    attributes: tuple[DFAttribute, ...]
    images: tuple[DFImage, ...]
    splits: AsenSplits
    multilabels: Mapping[str, tuple[LabelledImage, ...]]
    split_dir: Path | None = field(default=None, compare=False)


def within_type(attributes: tuple[DFAttribute, ...]) -> dict[int, AttrValue]:
    """Global attribute index -> (0-based type, rank of the index within its type)."""
    ranks: dict[int, int] = {}
    out = {}
    for g, attribute in enumerate(attributes):
        rank = ranks.get(attribute.type_id, 0)
        ranks[attribute.type_id] = rank + 1
        out[g] = AttrValue(attribute.type_id - 1, rank)
    return out


def _body(path: Path) -> Iterator[tuple[int, str]]:
    """Stream the numbered lines after the count line and header; the count must match."""
    lines = iter_lines(path)
    first = next(lines, None)
    if first is None or next(lines, None) is None:
        raise DataError(path, "needs a count line and a header line")
    try:
        count = int(first[1].strip())
    except ValueError:
        raise DataError(path, f"first line must be the row count, got {first[1]!r}", 1) from None
    rows = 0
    for number, text in lines:
        rows += 1
        yield number, text
    if rows != count:
        raise DataError(path, f"count line says {count} rows, the file has {rows}", 1)


def _read_attributes(path: Path) -> tuple[DFAttribute, ...]:
    out = []
    for line, text in _body(path):
        parts = text.rsplit(None, 1)
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise DataError(path, "expected '<attribute name> <type>'", line)
        out.append(DFAttribute(parts[0].strip(), int(parts[1])))
    return tuple(out)


def _read_images(folder: Path, n_attributes: int) -> tuple[DFImage, ...]:
    path = folder / ATTR_IMG
    rows = []
    for line, text in _body(path):
        fields = text.split()
        if len(fields) != n_attributes + 1:
            raise DataError(
                path, f"expected a path and {n_attributes} labels, got {len(fields)} columns", line
            )
        if not set(fields[1:]) <= {"-1", "0", "1"}:
            raise DataError(path, "labels must be -1, 0 or 1", line)
        rows.append((fields[0], tuple(i for i, f in enumerate(fields[1:]) if f == "1")))
    path = folder / PARTITION
    status = {}
    for line, text in _body(path):
        fields = text.split()
        if len(fields) != 2:
            raise DataError(path, "expected '<path> <train|val|test>'", line)
        status[fields[0]] = (line, fields[1])
    missing = [p for p, _ in rows if p not in status]
    if missing:
        raise DataError(
            path, f"{len(missing)} images of {ATTR_IMG} have no status, e.g. {missing[0]}"
        )
    return tuple(DFImage(p, pos, status[p][1]) for p, pos in rows)


def _read_multilabel(path: Path, attributes: tuple[DFAttribute, ...]) -> tuple[LabelledImage, ...]:
    mapping = within_type(attributes)
    out = []
    for line, text in enumerate(read_lines(path), 1):
        raw = parse_pairs(path, line, text)
        pairs = []
        for pair in raw.labels:
            # The file stores (1-based type, global index); check that they agree, then convert.
            if pair.value not in mapping or mapping[pair.value].attr != pair.attr - 1:
                raise DataError(
                    path,
                    f"(type {pair.attr}, attribute {pair.value}) does not match {ATTR_CLOTH}",
                    line,
                )
            pairs.append(mapping[pair.value])
        out.append(LabelledImage(raw.fid, tuple(pairs)))
    return tuple(out)


def _positives(
    path: Path, filenames: tuple[str, ...], images: tuple[DFImage, ...], mapping: dict
) -> tuple[LabelledImage, ...]:
    """Every positive of each image of a filename list, from ``list_attr_img.txt``."""
    by_path = {i.path: i.positives for i in images}
    out = []
    for fid, name in enumerate(filenames):
        if not by_path.get(name):
            raise DataError(path, f"{name} has no positive attribute in {ATTR_IMG}", fid + 1)
        out.append(LabelledImage(fid, tuple(mapping[g] for g in by_path[name])))
    return tuple(out)


def derive_splits(attributes: tuple[DFAttribute, ...], images: tuple[DFImage, ...]) -> Derived:
    """ASEN's files from the benchmark: the multi-label protocol on the official partition."""
    mapping = within_type(attributes)
    counts = tuple(
        sum(a.type_id == t + 1 for a in attributes) for t in range(len(DEEPFASHION_TYPES))
    )
    meta = AsenMeta(DATASET, DEEPFASHION.names, counts)
    split_of = dict(zip(PARTITIONS, SPLITS, strict=True))
    rows: dict[str, list[DFImage]] = {s: [] for s in SPLITS}
    for image in images:
        if image.positives:
            rows[split_of[image.partition]].append(image)
    filenames = {s: tuple(i.path for i in rows[s]) for s in SPLITS}

    def labelled(split: str) -> tuple[LabelledImage, ...]:
        return tuple(
            LabelledImage(fid, tuple(mapping[g] for g in i.positives))
            for fid, i in enumerate(rows[split])
        )

    queries, candidates, extra = {}, {}, {}
    for n, split in enumerate(EVAL_SPLITS):
        rng = np.random.default_rng([SEED, n])
        records = labelled(split)
        items = [EvalItem(r.fid, *_pair(r.labels[rng.integers(len(r.labels))])) for r in records]
        queries[split], candidates[split] = query_candidate(items, rng)
        extra[f"label_{split}.txt"] = multilabel_lines(records, attributes)
    splits = AsenSplits(meta, filenames, labelled("train"), queries, candidates)
    return Derived(splits, extra)


def _pair(pair: AttrValue) -> tuple[int, int]:
    return pair.attr, pair.value


def read_deepfashion(folder: str | Path, meta_path: str | Path | None = None) -> DeepFashionData:
    """Read and validate a DeepFashion folder: the benchmark, and ASEN's split files and
    multi-labels where given, else derived from the benchmark (see the module docstring)."""
    folder = Path(folder)
    require(
        (folder / name for name in RELEASE),
        f"{DATASET} needs the Attribute Prediction benchmark as downloaded ({', '.join(RELEASE)} "
        f"and img/) in {folder}; ASEN's split files and meta.json are optional",
    )
    attributes = _read_attributes(folder / ATTR_CLOTH)
    images = _read_images(folder, len(attributes))
    _validate_release(folder, attributes, images)
    source = split_source(
        folder,
        DATASET,
        [folder / name for name in RELEASE],
        lambda: derive_splits(attributes, images),
        Path(meta_path) if meta_path is not None else None,
    )
    splits = read_splits(source.splits, DATASET, source.meta)
    mapping = within_type(attributes)
    multilabels = {}
    for split in EVAL_SPLITS:
        path = source.splits / f"label_{split}.txt"
        multilabels[split] = (
            _read_multilabel(path, attributes)
            if path.is_file()
            else _positives(
                source.splits / f"filenames_{split}.txt", splits.filenames[split], images, mapping
            )
        )
    data = DeepFashionData(attributes, images, splits, multilabels, source.splits)
    validate_deepfashion(folder, data)
    return data


def _validate_release(
    folder: Path, attributes: tuple[DFAttribute, ...], images: tuple[DFImage, ...]
) -> None:
    """Check the benchmark files alone: attribute types, image paths, label indices, statuses."""
    for line, attribute in enumerate(attributes, HEADER_LINES + 1):
        if not attribute.name or not 1 <= attribute.type_id <= len(DEEPFASHION_TYPES):
            raise DataError(folder / ATTR_CLOTH, f"bad attribute {attribute}", line)
    seen: set[str] = set()
    for line, image in enumerate(images, HEADER_LINES + 1):
        if image.path in seen or not image.path or any(c.isspace() for c in image.path):
            raise DataError(folder / ATTR_IMG, f"duplicate or bad image path {image.path!r}", line)
        seen.add(image.path)
        if any(not 0 <= g < len(attributes) for g in image.positives):
            raise DataError(folder / ATTR_IMG, "attribute index out of range", line)
        if image.partition not in PARTITIONS:
            raise DataError(folder / PARTITION, f"unknown status {image.partition!r}", line)


def validate_deepfashion(folder: Path, data: DeepFashionData) -> None:
    """Cross-check the benchmark files, the ASEN splits and the multi-labels."""
    split_dir = data.split_dir or folder
    validate_splits(split_dir, data.splits)
    _validate_release(folder, data.attributes, data.images)
    cloth = folder / ATTR_CLOTH
    per_type = tuple(
        sum(a.type_id == t for a in data.attributes) for t in range(1, len(DEEPFASHION_TYPES) + 1)
    )
    if per_type != tuple(data.splits.meta.counts):
        raise DataError(
            cloth,
            f"attributes per type {per_type} differ from meta.json "
            f"{tuple(data.splits.meta.counts)}",
        )
    for split in EVAL_SPLITS:
        path = split_dir / f"label_{split}.txt"
        records = data.multilabels[split]
        validate_labelled(path, records, data.splits.meta, len(data.splits.filenames[split]))
        positives = {r.fid: set(r.labels) for r in records}
        for kind, items in (
            ("query", data.splits.queries[split]),
            ("candidate", data.splits.candidates[split]),
        ):
            for line, item in enumerate(items, 1):
                if AttrValue(item.attr, item.value) not in positives.get(item.fid, ()):
                    raise DataError(
                        split_dir / f"{kind}_{split}.txt",
                        f"pair ({item.attr}, "
                        f"{item.value}) is not a positive of image {item.fid} in "
                        f"{path.name}",
                        line,
                    )


def _write_benchmark(folder: Path, data: DeepFashionData) -> None:
    width = max((len(a.name) for a in data.attributes), default=0) + 2
    write_lines(
        folder / ATTR_CLOTH,
        [str(len(data.attributes)), "attribute_name  attribute_type"]
        + [f"{a.name.ljust(width)}{a.type_id}" for a in data.attributes],
    )
    k = len(data.attributes)

    def label_rows() -> Iterator[str]:
        yield from (str(len(data.images)), "image_name  attribute_labels")
        for image in data.images:
            labels = ["-1"] * k
            for g in image.positives:
                labels[g] = "1"
            yield f"{image.path} {' '.join(labels)}"

    write_lines(folder / ATTR_IMG, label_rows())
    write_lines(
        folder / PARTITION,
        [str(len(data.images)), "image_name  evaluation_status"]
        + [f"{i.path} {i.partition}" for i in data.images],
    )
    for split in EVAL_SPLITS:
        write_lines(
            folder / f"label_{split}.txt",
            multilabel_lines(data.multilabels[split], data.attributes),
        )


def multilabel_lines(
    records: Iterable[LabelledImage], attributes: tuple[DFAttribute, ...]
) -> list[str]:
    """``label_{split}.txt`` lines: "fid<TAB>type<TAB>global ..." (1-based type, ascending index)."""
    to_global = {v: g for g, v in within_type(attributes).items()}
    lines = []
    for record in records:
        pairs = sorted((to_global[p], p.attr + 1) for p in record.labels)
        lines.append("\t".join([str(record.fid)] + [f"{t}\t{g}" for g, t in pairs]))
    return lines


def write_deepfashion(
    folder: str | Path, data: DeepFashionData, images: Iterable[tuple[str, ImageLike]]
) -> None:
    """Validate `data`, then write the folder atomically (see `asen.write_dataset`).

    Args:
        folder: destination, e.g. ``<root>/DeepFashion``; ``meta.json`` is merged beside it.
        data: the records; `images` must supply every path of the ASEN filename lists and of
            `data.images`, each once.
        images: (relative path, uint8 HxWx3 array or PIL image) pairs, consumed lazily.
    """
    folder = Path(folder)
    validate_deepfashion(folder, data)
    write_dataset(
        folder,
        data.splits,
        images,
        write_extra=lambda tmp: _write_benchmark(tmp, data),
        extra_images=[i.path for i in data.images],
    )
