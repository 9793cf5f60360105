"""The chapters' pictures and tables built from live objects: the FashionSAP diagram, sample
cards, the corrupted-text views and the model tables."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from fashion_lib.book import sap_text
from fashion_lib.book.diagrams import fashionsap_diagram, sample_cards
from fashion_lib.book.model_tables import (
    grad_norms,
    parameter_counts,
    parameter_table,
    tensor_shapes,
)
from fashion_lib.data.formats.fashiongen import FashionGenItem
from fashion_lib.data.masking import TextProcessor
from fashion_lib.data.prompts import TextSample
from fashion_lib.losses.fashionsap import FashionSAPLoss
from fashion_lib.models.fashionsap_tasks import fashionsap_tiny

ANTONYMS = {"black": ["white"], "long": ["short"], "wide": ["narrow"]}

pytestmark = pytest.mark.usefixtures("one_thread")


def item(i: int, description: str) -> FashionGenItem:
    values = {f.name: "" for f in dataclasses.fields(FashionGenItem)}
    values |= dict(index=i, index_2=i, msrp_usd=1.0, product_id=i, category="DRESSES",
                   subcategory="SHORT DRESSES", gender="WOMEN", season="SS2017",
                   name="Black dress", composition="100% cotton", description=description)  # fmt: skip
    return FashionGenItem(**values)


ITEMS = [
    item(0, "Dress in red. Round neck."),  # no word with an antonym
    item(1, "Long black dress with wide sleeves and a long black belt and black trim."),
]


def text_processor(tokenizer, config) -> TextProcessor:
    return TextProcessor(tokenizer, config, lambda w: ANTONYMS.get(w, []), lambda w: [])


def tiny_batch(tokenizer, **switches):
    torch.manual_seed(0)
    model = fashionsap_tiny(**switches)
    samples = [
        TextSample(f"long black dress {i}", "dresses", (("season", "fall"),)) for i in range(3)
    ]
    text = text_processor(tokenizer, model.config.text_config()).collate(
        samples, np.random.default_rng(0)
    )
    images = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    return model, images, text, torch.tensor([0, 1, 2])


def figure_texts(fig) -> str:
    return "\n".join(t.get_text() for ax in fig.axes for t in ax.texts)


def test_diagram_reads_modules_and_shapes_and_leaves_the_model_untouched(tokenizer):
    model, images, text, ids = tiny_batch(tokenizer)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    fig = fashionsap_diagram(model, images, text, ids)
    drawn = figure_texts(fig)
    assert model.training  # given back in the mode it came in
    assert all(
        torch.equal(state[k], v) for k, v in model.state_dict().items()
    )  # no EMA, no enqueue
    out = model.eval()(images, text, ids, generator=torch.Generator().manual_seed(0))
    width = model.image_encoder.width
    for expected in (
        f"image\n{tuple(images.shape)}",
        f"-> H {tuple(out.fused.hidden.shape)}",
        f"-> W_I v_img {tuple(out.image_emb.shape)}",
        f"-> W_T v_cls {tuple(out.text_emb.shape)}",
        f"-> logits {tuple(out.itm.logits.shape)}",
        f"-> logits {tuple(out.ptp.logits.shape)}",
        f"W_I: Linear {width}->{model.config.embed_dim}",
        "L_fsis (Eq. 2)",
        "L_itm (Eq. 10)",
    ):
        assert expected in drawn, expected


def test_diagram_drops_switched_off_tasks(tokenizer):
    model, images, text, ids = tiny_batch(tokenizer, fsis=False, trp=False)
    drawn = figure_texts(fashionsap_diagram(model, images, text, ids))
    assert "L_its (Eq. 5-9)" in drawn and "L_ptp (Eq. 3)" in drawn
    assert "v_symbol" not in drawn and "L_fsis" not in drawn and "trp_head" not in drawn


def test_card_lines_mark_blanks_with_answers_and_replacements(tokenizer):
    from fashion_lib.models.fashionsap import FashionSAPConfig

    processor = text_processor(tokenizer, FashionSAPConfig().text_config())
    sample, batch = sap_text.corrupt_row(processor, ITEMS, 1, seed=3)
    lines = sap_text.card_lines(tokenizer, sample, batch)
    assert lines["symbol"] == "DRESSES -> [dresses_sign]"
    assert lines["caption"] == sample.caption
    table = sap_text.token_table(tokenizer, batch)
    masked = table[table["token"] == "[MASK]"]
    answers = [f"[MASK→{a}]" for a in masked["MLM / PTP label"] if not a.startswith("##")]
    read = lines["caption as read"] + " " + lines["prompts as read"]
    assert answers and all(a in read for a in answers)
    assert read.count("«") == len(table[table["TRP label"] == 1])  # one-piece replacements here
    counts = sap_text.corruption_counts(batch)
    assert counts["prompt [MASK]s (PTP)"] + counts["caption [MASK]s (MLM)"] == len(masked)
    assert list(table["segment"][:2]) == ["[CLS]", "symbol"]


def test_corruption_is_reproducible_and_antonym_rows_are_found(tokenizer):
    from fashion_lib.models.fashionsap import FashionSAPConfig

    processor = text_processor(tokenizer, FashionSAPConfig().text_config())
    a = sap_text.corrupt_row(processor, ITEMS, 1, seed=3)[1]
    b = sap_text.corrupt_row(processor, ITEMS, 1, seed=3)[1]
    assert torch.equal(a.input_ids, b.input_ids)
    row = sap_text.first_row_with_antonym(processor, ITEMS, seed=3)
    assert row == 1  # row 0 has no word with an antonym
    swaps = sap_text.antonym_swaps(tokenizer, *sap_text.corrupt_row(processor, ITEMS, row, 3))
    assert swaps and all(ANTONYMS[w][0] == a for w, a in swaps)
    with pytest.raises(ValueError, match="antonym"):
        sap_text.first_row_with_antonym(processor, ITEMS[:1], seed=3)


def test_sample_cards_draw_one_row_per_sample():
    images = [np.zeros((8, 8, 3), np.uint8), torch.zeros(3, 8, 8, dtype=torch.uint8)]
    lines = [{"caption": "a black dress", "symbol": "DRESSES"}, {"caption": "a " * 80}]
    fig = sample_cards(images, ["row 0", "row 1"], lines, width=40)
    assert len(fig.axes) == 4
    drawn = figure_texts(fig)
    assert "caption: a black dress" in drawn and "symbol: DRESSES" in drawn
    assert all(len(line) <= 40 for line in drawn.splitlines())


def test_model_tables_shapes_parameters_and_gradients(tokenizer):
    model, images, text, ids = tiny_batch(tokenizer)
    out = model(images, text, ids)
    shapes = tensor_shapes(out)
    assert shapes.loc["out.fused.hidden", "shape"] == tuple(out.fused.hidden.shape)
    assert shapes.loc["out.fused.cross_attention[1]", "shape"] == tuple(
        out.fused.cross_attention[1].shape
    )
    counts = parameter_counts(model)
    assert "image_encoder_m" not in counts and counts["temperature"] == 1
    online = [p for n, p in model.named_parameters() if not n.split(".")[0].endswith("_m")]
    assert counts.sum() == sum(p.numel() for p in online)  # the tied MLM decoder counted once
    assert counts["mlm_head"] < counts["text_encoder"]
    sum(FashionSAPLoss()(out).values()).backward()
    norms = grad_norms(model)
    assert "image_encoder_m" not in norms and (norms > 0).all()
    expected = torch.cat([p.grad.flatten() for p in model.itm_head.parameters()]).norm().item()
    assert norms["itm_head"] == pytest.approx(expected)


def test_parameter_table_separates_the_frozen_image_body():
    torch.manual_seed(0)
    model = fashionsap_tiny(
        image_encoder="small_cnn", image_width=4, frozen_image=True, image_grid=2
    )
    table = parameter_table(model)
    body = sum(p.numel() for p in model.image_encoder.body.parameters())
    image = table.loc["image_encoder"]
    assert image["parameters"] - image["trainable"] == body > 0
    assert table.loc["text_encoder", "parameters"] == table.loc["text_encoder", "trainable"]
    assert table.loc["total", "parameters"] == parameter_counts(model).sum()
    trainable = [p for n, p in model.named_parameters() if p.requires_grad]
    assert table.loc["total", "trainable"] == sum(p.numel() for p in trainable)
