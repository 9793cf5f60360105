"""Category cues of the atelier and the category probe that measures them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fashion_lib.data.atelier import category_probe as cp
from fashion_lib.data.atelier import garment as g
from fashion_lib.data.atelier import make
from fashion_lib.data.atelier import render as render_module
from fashion_lib.data.atelier.draw import Knobs, _product_framings, draw_fashiongen
from fashion_lib.data.atelier.render import Look, View, render


def _specs(category: str, n: int = 150) -> list[g.GarmentSpec]:
    rng = np.random.default_rng(11)
    return [g.sample_spec(rng, category) for _ in range(n)]


def test_categories_keep_their_defining_construction_under_every_style() -> None:
    assert all(s.fabric == "denim" and s.pattern == "solid" for s in _specs("jeans"))
    assert not any(s.fabric == "denim" for s in _specs("pants"))
    assert all(s.fabric == "knit" for s in _specs("sweater"))
    assert all(s.buttons == "placket" and s.collar != "none" for s in _specs("shirt"))
    assert all(s.lapel in ("notched", "peak") for s in _specs("blazer"))
    assert all(s.buttons in ("single", "double") for s in _specs("blazer"))
    assert not any(s.lapel in ("notched", "peak") for s in _specs("jacket"))
    assert not any(s.pant_shape == "wide" for s in _specs("jumpsuit"))
    for top in ("tee", "blouse", "sweater", "dress"):
        assert not any(s.collar == "shirt" or s.buttons == "placket" for s in _specs(top))
    coats = {s.body_length for s in _specs("coat")}
    assert coats <= {"long", "knee", "midi", "ankle&floor"}
    # a dataset may still force any value (FashionAI's tasks do)
    forced = g.sample_spec(np.random.default_rng(0), "tee", fixed={"collar": "shirt"})
    assert forced.collar == "shirt"


@pytest.mark.parametrize(
    "category", ["sweater", "shirt", "blazer", "jacket", "jeans", "pants", "jumpsuit"]
)
def test_cues_change_the_pixels_of_their_category_only(
    category: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(4)
    spec = g.sample_spec(rng, category, style_prob=0.0)
    framing = {"jeans": "lower", "pants": "lower", "jumpsuit": "full"}.get(
        category, "three_quarter"
    )
    look, view = Look.draw(rng), View(framing)
    drawn = render(spec, look, view, 64, np.random.default_rng(0), 0.0)
    monkeypatch.setattr(render_module, "cue_layers", lambda *args: [])
    plain = render(spec, look, view, 64, np.random.default_rng(0), 0.0)
    changed = (drawn.image != plain.image).any(-1)  # (H, W)
    assert changed.sum() >= 20, f"{category}: only {changed.sum()} pixels carry its cues"
    product = drawn.masks.any(0)
    assert changed[~product].sum() == 0  # cues stay on the product
    assert (drawn.masks == plain.masks).all()  # and add no part a dataset labels


def test_fashiongen_products_are_framed_by_kind() -> None:
    kinds = ("jeans", "sweater", "dress", "coat", "cap")
    first = {c: _product_framings(_specs(c, 1)[0])[0] for c in kinds}
    assert first == {
        "jeans": "lower",
        "sweater": "three_quarter",
        "dress": "full",
        "coat": "full",
        "cap": "object",
    }
    knobs = Knobs(seed=0, size=32, views=3)
    sample = draw_fashiongen(knobs, 5)
    assert len(sample.images) == 3
    assert all(
        np.array_equal(a, b)
        for a, b in zip(sample.images, draw_fashiongen(knobs, 5).images, strict=True)
    )


def test_classify_separates_what_is_separable() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=96)
    images = np.where(labels[:, None, None, None] == 1, 220, 30).astype(np.uint8)
    images = np.broadcast_to(images, (96, 16, 16, 3)) + rng.integers(0, 20, (96, 16, 16, 3))
    images = images.astype(np.uint8)
    config = cp.CategoryProbeConfig("test", epochs=12, width=8, lr=1e-2, batch_size=16)
    confusion = cp.classify(images[:64], labels[:64], images[64:], labels[64:], 2, config)
    assert confusion.shape == (2, 2) and confusion.sum() == 32
    result = cp.CategoryProbeResult(("dark", "light"), confusion, 0.0)
    assert result.accuracy == 1.0
    assert result.per_category == {"dark": 1.0, "light": 1.0}


def test_result_summaries_by_hand() -> None:
    confusion = np.array([[8, 2, 0], [0, 5, 5], [0, 0, 0]])
    result = cp.CategoryProbeResult(("a", "b", "c"), confusion, 1.0)
    assert result.accuracy == pytest.approx(13 / 20)
    assert result.majority == pytest.approx(10 / 20)
    assert result.per_category["a"] == 0.8 and np.isnan(result.per_category["c"])
    assert result.top_confusions(2) == [("b", "c", 0.5), ("a", "b", 0.2)]


def test_probe_is_recorded_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASHION_RUNS_DIR", str(tmp_path / "runs"))
    knobs = Knobs(seed=2, size=32, views=1)
    make.write_fashiongen(tmp_path, knobs, make.draw_all(draw_fashiongen, knobs, 120, workers=1))
    config = cp.CategoryProbeConfig("test", epochs=1, width=8, train_products=50)
    first = cp.category_probe(tmp_path / "FashionGen", config)
    assert not first.reused and first.confusion.sum() == 101  # every validation image
    again = cp.category_probe(tmp_path / "FashionGen", config)
    assert again.reused and again.categories == first.categories
    assert (again.confusion == first.confusion).all()
    assert "target 90%" in cp.summary(again)
    assert list(cp.recall_table(again).index) == list(first.categories)
