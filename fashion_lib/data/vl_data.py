"""The bridge from FashionGen h5 rows and FashionIQ records to FashionSAP's training batches.

- `FashionGenSplit(folder, split)`: one h5 file read lazily (metadata once, images row by row), its
  rows as `VLRecord`s (product id, category and sub-category labels over FashionGen's full 48 / 121
  class lists, the raw `TextSample`), and `images(rows, size)` -> (B, 3, S, S) uint8.
- `FashionIQSplit(folder, split)`: the relative-caption triplets of the three categories with the
  candidate and target images (PNG, decoded once per split and kept: the FashionIQ sets are small).
- `model_input(uint8, size, augment, generator)`: resize, optional augmentation (FashionSAP's
  RandomResizedCrop(scale 0.5-1) and horizontal flip, drawn from `generator`), CLIP mean/std as the
  released code normalises.
- Batch sources for `engine.fit`: `PairBatches` (image-text pairs: every image per epoch, or one
  random view per product as FashionSAP's retrieval fine-tuning) and `TripletBatches` (FashionIQ).
  Every batch is a pure function of (seed, epoch, step): the order, the augmentation and the text
  corruption (`TextProcessor.collate` with an rng seeded from (seed, epoch, step)).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.nn import functional as F
from torchvision.transforms.v2 import functional as TF

from fashion_lib.data.formats.fashiongen import FashionGenFile, h5_path
from fashion_lib.data.formats.fashioniq import image_path, read_fashioniq
from fashion_lib.data.masking import TextBatch, TextProcessor
from fashion_lib.data.prompts import TextSample, fashiongen_sample, fashioniq_text
from fashion_lib.data.taxonomy import FASHIONIQ_CATEGORIES, category_index, subcategory_index
from fashion_lib.engine.distributed import dist_info, shard_bounds
from fashion_lib.engine.seeding import derive_seed, make_generator
from fashion_lib.errors import ConfigError, DataError

__all__ = [
    "FashionGenSplit",
    "FashionIQSplit",
    "PairBatch",
    "PairBatches",
    "TripletBatch",
    "TripletBatches",
    "VLRecord",
    "model_input",
]

# CLIP's constants: FashionSAP's released code normalises with them (dataset/__init__.py).
CLIP_MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073])[:, None, None]  # (3, 1, 1)
CLIP_STD = torch.tensor([0.26862954, 0.26130258, 0.27577711])[:, None, None]


@dataclass(frozen=True)
class VLRecord:
    """One FashionGen row: h5 row, product id, category / sub-category label, raw text."""

    row: int
    product_id: int
    category: int
    subcategory: int
    sample: TextSample


class FashionGenSplit:
    """One FashionGen split (``train`` or ``validation``), images read lazily from the h5 file.

    Args:
        folder: the FashionGen folder (holding ``fashiongen_256_256_<split>.h5``).
        split: "train" or "validation".
    """

    def __init__(self, folder: str | Path, split: str) -> None:
        self.path = h5_path(folder, split)
        self.file = FashionGenFile(self.path)
        items = self.file.items()
        records = []
        for item in items:
            try:
                cat, sub = category_index(item.category), subcategory_index(item.subcategory)
            except ConfigError as error:
                raise DataError(self.path, f"row {item.index}: {error}") from None
            records.append(VLRecord(item.index, item.product_id, cat, sub, fashiongen_sample(item)))
        self.records: tuple[VLRecord, ...] = tuple(records)
        self.product_ids = torch.tensor([r.product_id for r in records])  # (N,)
        self.categories = torch.tensor([r.category for r in records])  # (N,)
        self.subcategories = torch.tensor([r.subcategory for r in records])  # (N,)

    def __len__(self) -> int:
        return len(self.records)

    def products(self) -> dict[int, list[int]]:
        """Product id -> its rows, in file order (the first row gives the product's text)."""
        groups: dict[int, list[int]] = {}
        for i, r in enumerate(self.records):
            groups.setdefault(r.product_id, []).append(i)
        return groups

    def images(self, rows: Sequence[int]) -> Tensor:
        """Rows' images as (B, 3, H, W) uint8, read from the h5 file one row at a time."""
        arrays = np.stack([self.file.image(int(i)) for i in rows])  # (B, H, W, 3)
        return torch.from_numpy(arrays).permute(0, 3, 1, 2).contiguous()


@dataclass(frozen=True)
class IQTriplet:
    """One FashionIQ record as indices into `FashionIQSplit.asins` and the modifying text."""

    category: str
    candidate: int
    target: int
    sample: TextSample


class FashionIQSplit:
    """The relative-caption triplets of one split over the three categories, with their images.

    Args:
        folder: the FashionIQ folder (captions/, image_splits/, images/).
        split: "train" or "val".
        size: side the images are resized to once, at load time.
    """

    def __init__(self, folder: str | Path, split: str, size: int) -> None:
        folder = Path(folder)
        data = read_fashioniq(folder)
        names: dict[str, int] = {}
        triplets = []
        for category in FASHIONIQ_CATEGORIES:
            for t in data.captions[category, split]:
                for asin in (t.candidate, t.target):
                    names.setdefault(asin, len(names))
                sample = fashioniq_text(t.captions)
                triplets.append(IQTriplet(category, names[t.candidate], names[t.target], sample))
        self.triplets: tuple[IQTriplet, ...] = tuple(triplets)
        self.asins: tuple[str, ...] = tuple(names)
        self.pixels = torch.stack([_read_png(image_path(folder, a), size) for a in self.asins])

    def gallery(self, category: str) -> list[int]:
        """The category's gallery: union of its candidate and target images (sorted indices)."""
        ids = {i for t in self.triplets if t.category == category for i in (t.candidate, t.target)}
        return sorted(ids)


def _steps(num_items: int, batch_size: int) -> int:
    if num_items < batch_size:
        raise ConfigError(f"{num_items} training items are fewer than one batch of {batch_size}")
    return num_items // batch_size


def _read_png(path: Path, size: int) -> Tensor:
    try:
        with Image.open(path) as img:
            rgb = img.convert("RGB").resize((size, size), Image.BILINEAR)
    except (OSError, ValueError) as err:
        raise DataError(path, f"cannot read image ({type(err).__name__}: {err})") from None
    return torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1)  # (3, S, S)


def model_input(
    images: Tensor, size: int, augment: bool = False, generator: torch.Generator | None = None
) -> Tensor:
    """(B, 3, H, W) uint8 -> (B, 3, size, size) float, CLIP-normalised, optionally augmented.

    Augmentation (training only): a crop of 50-100% of the area with aspect ratio in [3/4, 4/3],
    resized back, and a horizontal flip with probability 0.5, all drawn from `generator`.
    """
    x = images.float() / 255.0  # (B, 3, H, W)
    if augment:
        out = []
        h, w = x.shape[-2:]
        for img in x:
            u = torch.rand(4, generator=generator).tolist()
            area = h * w * (0.5 + 0.5 * u[0])
            ratio = float(np.exp(np.log(3 / 4) + u[1] * np.log(16 / 9)))
            ch = min(h, round((area / ratio) ** 0.5))
            cw = min(w, round((area * ratio) ** 0.5))
            top, left = round(u[2] * (h - ch)), round(u[3] * (w - cw))
            crop = TF.resized_crop(img, top, left, ch, cw, [size, size], antialias=True)
            flip = torch.rand(1, generator=generator).item() < 0.5
            out.append(crop.flip(-1) if flip else crop)
        x = torch.stack(out)
    elif x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
    return (x.clamp(0, 1) - CLIP_MEAN) / CLIP_STD


@dataclass
class PairBatch:
    """Image-text pairs: images (B, 3, S, S), text, product ids, labels (B,), global step."""

    images: Tensor
    text: TextBatch
    product_ids: Tensor
    categories: Tensor
    subcategories: Tensor
    step: int


class PairBatches:
    """FashionGen image-text batches for `engine.fit`, replayable from (epoch, step).

    Args:
        split: the training split.
        processor: text processing (corrupted pre-training text or plain fine-tuning text).
        batch_size: global batch size (split over ranks); an epoch's ragged tail is dropped.
        seed: seed of the order, the augmentation and the text corruption.
        image_size: model input side.
        per_product: one random view per product per epoch (fine-tuning) instead of every image.
        augment: random crop and flip.
        maps: a frozen image encoder's cached maps (N, C, h, w) in row order: batches carry
            these rows (as float, not augmented) instead of images.
    """

    def __init__(
        self,
        split: FashionGenSplit,
        processor: TextProcessor,
        batch_size: int,
        seed: int,
        image_size: int,
        per_product: bool = False,
        augment: bool = True,
        maps: Tensor | None = None,
    ) -> None:
        self.split, self.processor, self.batch_size, self.seed = split, processor, batch_size, seed
        self.image_size, self.per_product, self.augment = image_size, per_product, augment
        self.maps = _checked_maps(maps, len(split))
        self.groups = list(split.products().values())
        self.bounds = shard_bounds(batch_size, dist_info())
        self.steps_per_epoch = _steps(len(self._plan(0)), batch_size)

    def _plan(self, epoch: int) -> list[int]:
        g = make_generator(self.seed, epoch)
        if self.per_product:
            rows = [grp[int(torch.randint(len(grp), (1,), generator=g))] for grp in self.groups]
            order = torch.randperm(len(rows), generator=g).tolist()
            return [rows[i] for i in order]
        return torch.randperm(len(self.split), generator=g).tolist()

    def iter_epoch(self, epoch: int, start_step: int = 0) -> Iterator[PairBatch]:
        """Yield this rank's batches of `epoch` from `start_step` on."""
        plan, (lo, hi) = self._plan(epoch), self.bounds
        for step in range(start_step, self.steps_per_epoch):
            rows = plan[step * self.batch_size + lo : step * self.batch_size + hi]
            seed = derive_seed(self.seed, epoch, step)
            if self.maps is not None:
                images = self.maps[rows].float()  # (B, C, h, w)
            else:
                images = model_input(
                    self.split.images(rows), self.image_size, self.augment, make_generator(seed)
                )  # (B, 3, S, S)
            text = self.processor.collate(
                [self.split.records[i].sample for i in rows], np.random.default_rng(seed)
            )
            yield PairBatch(
                images,
                text,
                self.split.product_ids[rows],
                self.split.categories[rows],
                self.split.subcategories[rows],
                epoch * self.steps_per_epoch + step,
            )


@dataclass
class TripletBatch:
    """FashionIQ triplets: reference images, modifying text, target images, target ids (B,)."""

    reference: Tensor
    text: TextBatch
    target: Tensor
    target_ids: Tensor


class TripletBatches:
    """FashionIQ training batches for `engine.fit`, replayable from (epoch, step).

    Args:
        split: the training split.
        processor: plain text processing.
        batch_size: global batch size.
        seed: seed of the order, the augmentation and the text processing.
        image_size: model input side.
        augment: random crop and flip of both images.
        maps: cached maps (A, C, h, w) in `split.asins` order, used instead of the images.
    """

    def __init__(
        self,
        split: FashionIQSplit,
        processor: TextProcessor,
        batch_size: int,
        seed: int,
        image_size: int,
        augment: bool = True,
        maps: Tensor | None = None,
    ) -> None:
        self.split, self.processor, self.batch_size, self.seed = split, processor, batch_size, seed
        self.image_size, self.augment = image_size, augment
        self.maps = _checked_maps(maps, len(split.asins))
        self.bounds = shard_bounds(batch_size, dist_info())
        self.steps_per_epoch = _steps(len(split.triplets), batch_size)

    def iter_epoch(self, epoch: int, start_step: int = 0) -> Iterator[TripletBatch]:
        """Yield this rank's batches of `epoch` from `start_step` on."""
        order = torch.randperm(len(self.split.triplets), generator=make_generator(self.seed, epoch))
        lo, hi = self.bounds
        for step in range(start_step, self.steps_per_epoch):
            picked = [self.split.triplets[int(i)] for i in order[step * self.batch_size :][lo:hi]]
            seed = derive_seed(self.seed, epoch, step)
            g = make_generator(seed)
            candidates = [t.candidate for t in picked]
            target_ids = torch.tensor([t.target for t in picked])  # (B,)
            text = self.processor.collate([t.sample for t in picked], np.random.default_rng(seed))
            if self.maps is not None:
                reference, target = self.maps[candidates].float(), self.maps[target_ids].float()
            else:
                pixels = self.split.pixels  # (A, 3, S, S) uint8
                reference = model_input(pixels[candidates], self.image_size, self.augment, g)
                target = model_input(pixels[target_ids], self.image_size, self.augment, g)
            yield TripletBatch(reference, text, target, target_ids)


def _checked_maps(maps: Tensor | None, rows: int) -> Tensor | None:
    if maps is not None and len(maps) != rows:
        raise ConfigError(f"{len(maps)} cached maps for {rows} images")
    return maps
