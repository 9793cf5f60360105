"""Grad-CAM of FashionSAP's first fusion layer and its score against ground-truth part masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fashion_lib.analysis.gradcam import (
    GradCAM,
    encode_captions,
    gradcam,
    gradcam_scores,
    named_parts,
    score_gradcam,
    upsample,
)
from fashion_lib.data.atelier.masks import PartMasks, save_part_masks
from fashion_lib.data.atelier.render import PARTS
from fashion_lib.data.formats.fashiongen import FashionGenItem, h5_path, write_fashiongen
from fashion_lib.data.masking import PLAIN_TEXT, TextProcessor
from fashion_lib.data.prompts import TextSample
from fashion_lib.data.vl_data import FashionGenSplit, model_input
from fashion_lib.errors import ConfigError
from fashion_lib.models.fashionsap_tasks import fashionsap_tiny

CAPTIONS = ["Red dress. Long sleeves with pockets.", "Blue trousers, slim leg."]


@pytest.fixture(scope="module")
def setup(tokenizer):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = fashionsap_tiny(fsis=False, ptp=False, trp=False)  # 32 px ViT, patch 8 -> 4 x 4
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    enc = encode_captions(tokenizer, CAPTIONS, max_length=32)
    yield model, images, enc
    torch.set_num_threads(threads)


def test_gradcam_grid_nonnegative_and_gradients_flow(setup):
    model, images, enc = setup
    model.train()
    cam = gradcam(model, images, enc["input_ids"], enc["attention_mask"])
    assert model.training  # the mode is restored
    assert all(p.grad is None for p in model.parameters())  # no parameter gradients left behind
    assert cam.maps.shape == (2, enc["input_ids"].shape[1], 4, 4)
    assert (cam.maps >= 0).all()
    assert cam.maps[enc["attention_mask"].bool()].sum() > 0  # the gradients reached the maps
    assert (cam.maps[~enc["attention_mask"].bool()] == 0).all()  # padding of the shorter row
    assert cam.caption().shape == (2, 4, 4) and upsample(cam.caption(), 32).shape == (2, 32, 32)


def test_gradcam_matches_retain_grad_reference(setup):
    """The same maps as ALBEF's way: retain_grad on the probabilities, backward, A * relu(grad)."""
    model, images, enc = setup
    cam = gradcam(model, images, enc["input_ids"], enc["attention_mask"])
    model.eval()
    fused = model.fusion(
        model.text_encoder(enc["input_ids"], enc["attention_mask"]),
        enc["attention_mask"],
        model.image_encoder(images),
    )
    probs = fused.cross_attention[0]
    probs.retain_grad()
    model.itm_head(fused.hidden[:, 0])[:, 1].sum().backward()
    ref = (probs * probs.grad.clamp(min=0)).mean(1)[..., 1:].detach()
    ref = ref * enc["attention_mask"][..., None]
    model.zero_grad(set_to_none=True)
    torch.testing.assert_close(cam.maps.flatten(2), ref, rtol=1e-4, atol=1e-7)
    # each pair's map depends on that pair only
    one = gradcam(model, images[1:], enc["input_ids"][1:], enc["attention_mask"][1:])
    torch.testing.assert_close(one.maps[0], cam.maps[1], rtol=1e-4, atol=1e-7)
    with pytest.raises(ConfigError):
        gradcam(model, images, enc["input_ids"], enc["attention_mask"], layer=5)


def test_named_parts_follow_the_word_pieces(tokenizer):
    enc = encode_captions(tokenizer, CAPTIONS, max_length=32)
    found = [(n.row, n.word, n.part) for n in named_parts(CAPTIONS, enc)]
    assert found == [(0, "sleeves", "sleeves"), (0, "pockets", "pockets"),
                     (1, "trousers", "legs"), (1, "leg", "legs")]  # fmt: skip
    first = named_parts(CAPTIONS, enc)[0]
    ids = enc["input_ids"][0, list(first.positions)].tolist()
    assert tokenizer.decode(ids).replace(" ", "") == "sleeves"
    (neck,) = named_parts(["Square neck."], encode_captions(tokenizer, ["Square neck."], 8))
    assert neck.parts == ("neckline", "collar") and neck.part == "neckline/collar"


def test_score_all_inside_is_one_none_is_zero(tmp_path, tokenizer):
    size = 16
    masks = np.zeros((2, len(PARTS), size, size), dtype=bool)
    masks[:, PARTS.index("sleeves"), :8, :8] = True  # top-left quarter
    masks[:, PARTS.index("pockets"), 8:, 8:] = True  # bottom-right quarter
    save_part_masks(tmp_path / "parts.npz", ["a", "b"], list(np.packbits(masks, axis=-1)), size)
    part_masks = PartMasks(tmp_path / "parts.npz")
    captions = ["long sleeves", "pockets"]
    enc = encode_captions(tokenizer, captions, max_length=8)  # [CLS] w1 (w2) [SEP]
    maps = torch.zeros(2, enc["input_ids"].shape[1], 4, 4)
    maps[0, 2, :2, :2] = 1.0  # "sleeves" looks at the top-left quarter: inside its part
    maps[0, 1, :2, 2:] = 1.0  # "long" (no part) looks at the top-right: no part there
    maps[1, 1, :2, :2] = 1.0  # "pockets" looks at the top-left: outside its part
    cam = GradCAM(maps, torch.zeros(2), enc["attention_mask"])
    rows = score_gradcam(cam, captions, enc, ["a", "b"], part_masks)
    words = {(r["row"], r["word"]): r for r in rows if r["kind"] == "word"}
    assert words[(0, "sleeves")]["mass"] == pytest.approx(1.0)
    assert words[(1, "pockets")]["mass"] == pytest.approx(0.0)
    assert words[(0, "sleeves")]["area"] == pytest.approx(0.25)
    captions_rows = {r["row"]: r for r in rows if r["kind"] == "caption"}
    # caption map of row 0 = mean of "long" and "sleeves": half its mass on the sleeve quarter
    # (product), half on the empty top-right; row 1's quarter is a sleeve, inside the product
    assert captions_rows[0]["mass"] == pytest.approx(0.5)
    assert captions_rows[0]["area"] == pytest.approx(0.5)
    assert captions_rows[1]["mass"] == pytest.approx(1.0)


def test_caption_encoding_is_the_plain_fine_tuning_text(tokenizer):
    plain = TextProcessor(tokenizer, PLAIN_TEXT, lambda w: [], lambda w: [])
    batch = plain.collate([TextSample(c) for c in CAPTIONS], np.random.default_rng(0))
    enc = encode_captions(tokenizer, CAPTIONS, max_length=32)
    assert torch.equal(enc["input_ids"], batch.input_ids)
    assert torch.equal(enc["attention_mask"], batch.attention_mask)


def test_gradcam_scores_on_a_written_fashiongen_split(tmp_path, setup, tokenizer):
    model, _, _ = setup
    size = 16
    items = [
        FashionGenItem(index=i, index_2=i, brand="b", category="DRESSES", composition="cotton",
                       concat_description=c, department="CLOTHING", description=c, gender="WOMEN",
                       msrp_usd=1.0, name="dress", pose="id_gridfs_1", product_id=7 + i,
                       season="SS2017", subcategory="SHORT DRESSES")
        for i, c in enumerate(CAPTIONS)
    ]  # fmt: skip
    pixels = np.random.default_rng(0).integers(0, 256, (2, size, size, 3), dtype=np.uint8)
    write_fashiongen(h5_path(tmp_path, "validation"), items, list(pixels))
    masks = np.zeros((2, len(PARTS), size, size), dtype=bool)
    masks[:, PARTS.index("sleeves"), :, :4] = True
    masks[:, PARTS.index("legs"), 8:, :] = True  # "pockets" has an empty mask: not scored
    keys = ["validation/0", "validation/1"]
    save_part_masks(tmp_path / "parts.npz", keys, list(np.packbits(masks, axis=-1)), size)
    split = FashionGenSplit(tmp_path, "validation")
    table = gradcam_scores(model, tokenizer, split, "validation", PartMasks(tmp_path / "parts.npz"),
                           [1, 0], image_size=32, max_length=32)  # fmt: skip
    scored = sorted(zip(table["row"], table["kind"], table["word"], strict=True))
    assert scored == [(0, "caption", ""), (0, "word", "sleeves"), (1, "caption", ""),
                      (1, "word", "leg"), (1, "word", "trousers")]  # fmt: skip
    assert (
        table["mass"].between(0, 1).all() and (table["lift"] == table["mass"] / table["area"]).all()
    )
    own = gradcam(model, *_single(split, tokenizer, 0))
    assert table.query("row == 0 and kind == 'caption'")["itm"].item() == pytest.approx(
        float(own.score[0]), rel=1e-5
    )


def _single(split, tokenizer, row):
    """Row `row` alone: its model input and its encoded caption."""
    enc = encode_captions(tokenizer, [split.records[row].sample.caption], 32)
    return model_input(split.images([row]), 32), enc["input_ids"], enc["attention_mask"]
