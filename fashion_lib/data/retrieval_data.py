"""The bridge from the ASEN-style format records to tensors: images, labels, feature-map cache.

DeepFashion, FashionAI and DARN all come as ASEN split files (`formats.asen`); this module turns
one of them into what training and evaluation read:

- `load_retrieval_dataset(root, name, split)` -> `RetrievalDataset`: attribute names and value
  counts, the training rows as `samplers.AttributeLabels` (image = training fid), the multi-hot
  (N_train, A, M_max) table of every training image's values, and the query and candidate rows of
  one evaluation split (`EvalRows`), with multi-hot positives of the row's attribute. On DeepFashion
  the positives are every class of the attribute from ``label_<split>.txt`` (multi-label); on
  FashionAI and DARN, where the format has one value per row, they are the row's value (one-hot).
- `load_images(folder, paths, size)` -> (N, 3, S, S) uint8, decoded once (PIL) and resized to a
  square (`LazyImages` reads them on demand instead); `normalise` turns a uint8 batch into
  ImageNet-normalised floats (timm's constants).
- `feature_maps(backbone, key, dataset, split, size)`: the frozen backbone's (N, C, h, w) maps of a
  split, computed once per (backbone checkpoint digest, dataset files, split, image size), stored in
  float16 (half the memory; maps are ReLU outputs of order 1, so the rounding is ~1e-3 relative)
  with an atomic write under ``<runs>/cache/``. The key includes the size and modification time of
  every image file, so regenerated data or a new checkpoint invalidates the cache. `cached_maps`
  is the same cache for any images (FashionSAP's frozen image side uses it).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torch import Tensor, nn

from fashion_lib import atomic, paths
from fashion_lib.data.formats.asen import AsenSplits, EvalItem
from fashion_lib.data.formats.darn import read_darn
from fashion_lib.data.formats.deepfashion import read_deepfashion
from fashion_lib.data.formats.fashionai import read_fashionai
from fashion_lib.data.samplers import AttributeLabels
from fashion_lib.errors import ConfigError, DataError

__all__ = [
    "DATASETS",
    "EvalRows",
    "Inputs",
    "LazyImages",
    "RetrievalDataset",
    "feature_maps",
    "load_images",
    "load_retrieval_dataset",
    "normalise",
]

DATASETS = ("DeepFashion", "FashionAI", "DARN")
CACHE_DIR = "cache"
_MEAN = torch.tensor(IMAGENET_DEFAULT_MEAN)[:, None, None]  # (3, 1, 1)
_STD = torch.tensor(IMAGENET_DEFAULT_STD)[:, None, None]


@dataclass(frozen=True, eq=False)
class EvalRows:
    """Query or candidate rows of one evaluation split, one evaluated attribute per row.

    Attributes:
        fid: (n,) int64 image ids in the split's filename list.
        attr: (n,) int64 evaluated attribute.
        value: (n,) int64 evaluated value (single-value relevance).
        labels: (n, M_max) bool, every positive class of the row's attribute (multi-label
            relevance; one-hot where the format has a single value).
    """

    fid: Tensor
    attr: Tensor
    value: Tensor
    labels: Tensor

    def __len__(self) -> int:
        return len(self.fid)


@dataclass(frozen=True, eq=False)
class RetrievalDataset:
    """One ASEN-style dataset, ready for triplet training and retrieval evaluation.

    Attributes:
        name: "DeepFashion", "FashionAI" or "DARN".
        folder: the dataset folder (image paths are relative to it).
        attributes: attribute names (meta.json order).
        classes_per_attribute: number of values of each attribute.
        multilabel: True when evaluation positives come from a multi-label file (DeepFashion).
        filenames: split -> relative image paths (index = fid).
        train_labels: training rows for `samplers.TripletSampler`.
        train_multihot: (N_train, A, M_max) bool, the values of every training image.
        split: the evaluation split of `queries` and `candidates` ("test" or "valid").
        queries: the query rows; candidates: the candidate rows.
        split_dir: the folder of the split files read (the dataset folder, or the folder derived
            from a raw release, `formats.derived`).
    """

    name: str
    folder: Path
    attributes: tuple[str, ...]
    classes_per_attribute: tuple[int, ...]
    multilabel: bool
    filenames: dict[str, tuple[str, ...]]
    train_labels: AttributeLabels
    train_multihot: Tensor
    split: str
    queries: EvalRows
    candidates: EvalRows
    split_dir: Path

    @property
    def max_classes(self) -> int:
        """M_max, the largest number of values of an attribute."""
        return max(self.classes_per_attribute)

    @property
    def num_train(self) -> int:
        """Number of training images."""
        return len(self.filenames["train"])


def _multihot(n: int, pairs: Sequence[tuple[int, int, int]], shape: tuple[int, int]) -> Tensor:
    """(n, A, M) bool from (fid, attribute, value) triples."""
    table = torch.zeros(n, *shape, dtype=torch.bool)
    if pairs:
        idx = torch.tensor(pairs, dtype=torch.long)  # (P, 3)
        table[idx[:, 0], idx[:, 1], idx[:, 2]] = True
    return table


def _eval_rows(items: Sequence[EvalItem], positives: Tensor) -> EvalRows:
    """Rows of a query/candidate file; `positives` (N_split, A, M_max) gives the multi-hot."""
    fid = torch.tensor([i.fid for i in items], dtype=torch.long)
    attr = torch.tensor([i.attr for i in items], dtype=torch.long)
    value = torch.tensor([i.value for i in items], dtype=torch.long)
    labels = positives[fid, attr].clone()  # (n, M_max)
    labels[torch.arange(len(items)), value] = True  # the row's own value is always positive
    return EvalRows(fid, attr, value, labels)


def load_retrieval_dataset(root: str | Path, name: str, split: str = "test") -> RetrievalDataset:
    """Read one ASEN-style dataset under `root` through its format reader.

    Args:
        root: folder holding ``<name>/`` and ``meta.json`` (a proxy world or a real copy).
        name: "DeepFashion", "FashionAI" or "DARN".
        split: evaluation split of the queries and candidates ("test" or "valid").

    Returns:
        The `RetrievalDataset`.

    Raises:
        ConfigError: unknown dataset or split; DataError: the files are malformed.
    """
    if name not in DATASETS:
        raise ConfigError(f"unknown retrieval dataset {name!r}; choose one of {DATASETS}")
    if split not in ("test", "valid"):
        raise ConfigError(f"evaluation split must be 'test' or 'valid', got {split!r}")
    folder = Path(root) / name
    multilabels, split_dir = None, folder
    if name == "DeepFashion":
        data = read_deepfashion(folder)
        splits: AsenSplits = data.splits
        multilabels, split_dir = data.multilabels[split], data.split_dir
    elif name == "FashionAI":
        fai = read_fashionai(folder)
        splits, split_dir = fai.splits, fai.split_dir
    else:
        splits = read_darn(folder)
    counts = tuple(splits.meta.counts)
    shape = (len(counts), max(counts))
    train = [(r.fid, p.attr, p.value) for r in splits.train_labels for p in r.labels]
    labels = AttributeLabels(
        image=np.array([t[0] for t in train], dtype=np.int64),
        attribute=np.array([t[1] for t in train], dtype=np.int64),
        value=np.array([t[2] for t in train], dtype=np.int64),
        num_values=counts,
        source=str(folder / "label_train.txt"),
    )
    n_split = len(splits.filenames[split])
    if multilabels is not None:
        pairs = [(r.fid, p.attr, p.value) for r in multilabels for p in r.labels]
    else:
        items = [*splits.queries[split], *splits.candidates[split]]
        pairs = [(i.fid, i.attr, i.value) for i in items]
    positives = _multihot(n_split, pairs, shape)
    return RetrievalDataset(
        name=name,
        folder=folder,
        attributes=tuple(splits.meta.attributes),
        classes_per_attribute=counts,
        multilabel=multilabels is not None,
        filenames={k: tuple(v) for k, v in splits.filenames.items()},
        train_labels=labels,
        train_multihot=_multihot(len(splits.filenames["train"]), train, shape),
        split=split,
        queries=_eval_rows(splits.queries[split], positives),
        candidates=_eval_rows(splits.candidates[split], positives),
        split_dir=split_dir,
    )


def load_images(folder: str | Path, rel_paths: Sequence[str], size: int) -> Tensor:
    """Decode images into one (N, 3, size, size) uint8 tensor (bilinear resize if needed).

    Args:
        folder: the dataset folder the paths are relative to.
        rel_paths: relative image paths.
        size: output side in pixels (the proxy world is square; real photos are squashed to a
            square, as ASEN's Resize + CenterCrop would crop them: we keep the whole garment).

    Raises:
        DataError: an image is missing or does not decode.
    """
    out = torch.empty(len(rel_paths), 3, size, size, dtype=torch.uint8)
    for i, rel in enumerate(rel_paths):
        path = Path(folder) / rel
        try:
            with Image.open(path) as img:
                rgb = img.convert("RGB")
        except (OSError, ValueError) as err:
            raise DataError(path, f"cannot read image ({type(err).__name__}: {err})") from None
        if rgb.size != (size, size):
            rgb = rgb.resize((size, size), Image.BILINEAR)
        out[i] = torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1)  # (3, S, S)
    return out


class LazyImages:
    """A split's images read on demand: ``lazy[fids]`` -> (n, 3, size, size) uint8.

    Indexed like the in-memory tensor of `load_images`, so training batches and evaluation read
    either; the end-to-end profiles use it because a real DeepFashion split does not fit in memory.

    Args:
        folder: the dataset folder; rel_paths: the split's image paths (index = fid); size: side.
    """

    def __init__(self, folder: str | Path, rel_paths: Sequence[str], size: int) -> None:
        self.folder, self.rel_paths, self.size = Path(folder), tuple(rel_paths), size
        self.dtype = torch.uint8

    def __len__(self) -> int:
        return len(self.rel_paths)

    def __getitem__(self, fids: Tensor) -> Tensor:
        return load_images(self.folder, [self.rel_paths[int(i)] for i in fids], self.size)


Inputs = Tensor | LazyImages  # what training batches and evaluation index by fid


def normalise(images: Tensor) -> Tensor:
    """(B, 3, S, S) uint8 -> float32 normalised with ImageNet mean and std."""
    return (images.float() / 255.0 - _MEAN) / _STD


def _files_key(folder: Path, rel_paths: Sequence[str]) -> str:
    """Digest of the paths and each file's size and modification time (cheap stat calls)."""
    digest = hashlib.sha256()
    for rel in rel_paths:
        st = os.stat(folder / rel)
        digest.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


@torch.no_grad()
def _compute_maps(backbone: nn.Module, images: Tensor, batch_size: int) -> Tensor:
    """Run the backbone in eval mode over uint8 images -> (N, C, h, w) float16."""
    was_training = backbone.training
    backbone.eval()
    parts = [
        backbone(normalise(images[i : i + batch_size])).to(torch.float16)  # (b, C, h, w)
        for i in range(0, len(images), batch_size)
    ]
    backbone.train(was_training)
    return torch.cat(parts)


def feature_maps(
    backbone: nn.Module,
    backbone_key: str,
    dataset: RetrievalDataset,
    split: str,
    image_size: int,
    batch_size: int = 128,
    cache_root: str | Path | None = None,
) -> Tensor:
    """The frozen backbone's feature maps of every image of a split, cached on disk.

    Args:
        backbone: the (frozen) backbone, mapping (B, 3, S, S) to (B, C, h, w).
        backbone_key: identifies its weights, e.g. the sha256 of its checkpoint file.
        dataset: the dataset whose images are encoded.
        split: "train", "valid" or "test".
        image_size: input side in pixels.
        batch_size: images per forward pass.
        cache_root: folder of the cache files (default ``<runs>/cache``).

    Returns:
        (N_split, C, h, w) float16 maps in fid order.
    """
    names = dataset.filenames[split]
    return cached_maps(
        backbone,
        [backbone_key, dataset.name, split, str(image_size), _files_key(dataset.folder, names)],
        f"{dataset.name}-{split}",
        lambda: load_images(dataset.folder, names, image_size),
        batch_size,
        cache_root,
    )


def cached_maps(
    backbone: nn.Module,
    key_parts: Sequence[str],
    label: str,
    images: Callable[[], Tensor],
    batch_size: int = 128,
    cache_root: str | Path | None = None,
) -> Tensor:
    """Feature maps of a frozen backbone over some images, computed once and cached on disk.

    Args:
        backbone: the (frozen) backbone, mapping (B, 3, S, S) to (B, C, h, w).
        key_parts: everything the maps depend on (weights, files, image side): the cache key.
        label: readable part of the cache file's name.
        images: returns the (N, 3, S, S) uint8 images; called only when the cache misses.
        batch_size: images per forward pass.
        cache_root: folder of the cache files (default ``<runs>/cache``).

    Returns:
        (N, C, h, w) float16 maps, in the order `images` returns them.
    """
    key = hashlib.sha256("\n".join(key_parts).encode()).hexdigest()[:20]
    folder = Path(cache_root) if cache_root is not None else paths.runs_dir() / CACHE_DIR
    path = folder / f"features-{label}-{key}.pt"
    if path.is_file():
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError):  # a damaged cache file is recomputed
            pass
    maps = _compute_maps(backbone, images(), batch_size)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic.atomic_path(path, suffix=".pt") as tmp, tmp.open("wb") as f:
        torch.save(maps, f)  # a file object: same bytes for the same maps (see backbone_pretrain)
    return maps
