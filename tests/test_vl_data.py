"""The FashionGen / FashionIQ bridge on a smoke world: records, images, batches, galleries."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import pytest
import torch

from fashion_lib.data.atelier.make import make_world
from fashion_lib.data.masking import PLAIN_TEXT, TextProcessor
from fashion_lib.data.prompts import build_tokenizer
from fashion_lib.data.taxonomy import FASHIONGEN_CATEGORIES, FASHIONGEN_SUBCATEGORIES
from fashion_lib.data.vl_data import (
    CLIP_MEAN,
    CLIP_STD,
    FashionGenSplit,
    FashionIQSplit,
    PairBatches,
    TripletBatches,
    model_input,
)
from fashion_lib.errors import ConfigError, DataError
from fashion_lib.profiles import get_profile


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("vl") / "world"
    make_world(get_profile("smoke"), out=root, workers=1)
    return root


@pytest.fixture(scope="module")
def plain() -> TextProcessor:
    return TextProcessor(build_tokenizer(), PLAIN_TEXT)


def test_fashiongen_records_match_the_h5_file(world: Path) -> None:
    split = FashionGenSplit(world / "FashionGen", "validation")
    with h5py.File(split.path, "r") as h5:
        n = len(h5["input_image"])
        assert len(split) == n
        for i in (0, n - 1):
            record = split.records[i]
            category = h5["input_category"][i][0].decode("iso-8859-1")
            sub = h5["input_subcategory"][i][0].decode("iso-8859-1")
            assert FASHIONGEN_CATEGORIES[record.category] == category.lower()
            assert FASHIONGEN_SUBCATEGORIES[record.subcategory] == sub.lower()
            assert record.product_id == int(h5["input_productID"][i][0])
            assert record.sample.caption == h5["input_description"][i][0].decode("iso-8859-1")
            image = split.images([i])[0]  # (3, H, W)
            assert torch.equal(image, torch.from_numpy(h5["input_image"][i]).permute(2, 0, 1))
    groups = split.products()
    assert sum(len(rows) for rows in groups.values()) == len(split)
    for pid, rows in groups.items():
        assert all(split.records[r].product_id == pid for r in rows)


def test_model_input_normalises_and_augments_reproducibly() -> None:
    images = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    plain = model_input(images, 8)
    expected = (images.float() / 255 - CLIP_MEAN) / CLIP_STD
    assert torch.allclose(plain, expected, atol=1e-6)
    a = model_input(images, 6, True, torch.Generator().manual_seed(3))
    b = model_input(images, 6, True, torch.Generator().manual_seed(3))
    assert a.shape == (2, 3, 6, 6) and torch.equal(a, b)


def test_pair_batches_replay_and_per_product_views(world: Path, plain: TextProcessor) -> None:
    split = FashionGenSplit(world / "FashionGen", "train")
    batches = PairBatches(split, plain, 8, seed=5, image_size=16)
    first = list(batches.iter_epoch(1))
    again = list(batches.iter_epoch(1, start_step=1))
    assert len(first) == batches.steps_per_epoch == len(split) // 8
    assert torch.equal(first[1].images, again[0].images)
    assert torch.equal(first[1].text.input_ids, again[0].text.input_ids)
    assert first[1].step == batches.steps_per_epoch + 1
    seen = torch.cat([b.product_ids for b in first])
    assert len(set(seen.tolist())) < len(seen)  # every image: products repeat across views
    views = PairBatches(split, plain, 8, seed=5, image_size=16, per_product=True)
    ids = torch.cat([b.product_ids for b in views.iter_epoch(0)])
    assert len(set(ids.tolist())) == len(ids)  # one view per product per epoch
    assert views.steps_per_epoch == len(split.products()) // 8
    b = first[0]
    assert b.images.shape == (8, 3, 16, 16) and b.text.input_ids.shape[0] == 8
    category_of = {r.product_id: r.category for r in split.records}
    assert b.categories.tolist() == [category_of[int(p)] for p in b.product_ids]


def test_fashioniq_split_gallery_is_the_union_of_caption_ids(world: Path) -> None:
    folder = world / "FashionIQ"
    split = FashionIQSplit(folder, "val", 16)
    total = 0
    for category in ("dress", "shirt", "toptee"):
        records = json.loads((folder / "captions" / f"cap.{category}.val.json").read_text())
        total += len(records)
        union = {r["candidate"] for r in records} | {r["target"] for r in records}
        assert {split.asins[i] for i in split.gallery(category)} == union
    assert len(split.triplets) == total
    assert split.pixels.shape == (len(split.asins), 3, 16, 16)
    t = split.triplets[0]
    assert t.sample.caption.count(" and ") >= 1


def test_triplet_batches_pair_reference_text_and_target(world: Path, plain: TextProcessor) -> None:
    split = FashionIQSplit(world / "FashionIQ", "train", 16)
    batches = TripletBatches(split, plain, 4, seed=0, image_size=16, augment=False)
    batch = next(batches.iter_epoch(0))
    assert batch.reference.shape == batch.target.shape == (4, 3, 16, 16)
    assert torch.allclose(batch.target, model_input(split.pixels[batch.target_ids], 16))


def test_missing_fashioniq_image_names_the_file(world: Path, tmp_path: Path) -> None:
    copy = tmp_path / "FashionIQ"
    shutil.copytree(world / "FashionIQ", copy)
    first = json.loads((copy / "captions" / "cap.dress.val.json").read_text())[0]
    victim = copy / "images" / f"{first['candidate']}.png"
    victim.write_bytes(b"not a png")
    with pytest.raises(DataError, match=victim.name):
        FashionIQSplit(copy, "val", 16)


def test_fashiongen_split_rejects_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises((DataError, OSError)):
        FashionGenSplit(tmp_path, "train")


def test_batches_carry_cached_maps_in_row_order(world: Path, plain: TextProcessor) -> None:
    split = FashionGenSplit(world / "FashionGen", "train")
    maps = torch.arange(len(split), dtype=torch.float16)[:, None, None, None].expand(-1, 2, 3, 3)
    batch = next(PairBatches(split, plain, 8, seed=5, image_size=16, maps=maps).iter_epoch(0))
    images = next(PairBatches(split, plain, 8, seed=5, image_size=16).iter_epoch(0))
    rows = batch.images[:, 0, 0, 0].long()  # each map holds its own row number
    assert batch.images.dtype == torch.float32 and batch.images.shape == (8, 2, 3, 3)
    assert torch.equal(split.product_ids[rows], batch.product_ids)
    assert torch.equal(batch.product_ids, images.product_ids)  # same order with or without maps
    iq = FashionIQSplit(world / "FashionIQ", "train", 16)
    iq_maps = torch.arange(len(iq.asins), dtype=torch.float32)[:, None, None, None]
    triplet = next(TripletBatches(iq, plain, 4, seed=0, image_size=16, maps=iq_maps).iter_epoch(0))
    assert triplet.target[:, 0, 0, 0].long().tolist() == triplet.target_ids.tolist()
    with pytest.raises(ConfigError):
        PairBatches(split, plain, 8, seed=5, image_size=16, maps=maps[:-1])
