"""The atelier proxy world: determinism, labels that match what was drawn, the real formats."""

from __future__ import annotations

import io
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from fashion_lib.data.atelier import draw as d
from fashion_lib.data.atelier import invariants as inv
from fashion_lib.data.atelier import labels as lab
from fashion_lib.data.atelier import make
from fashion_lib.data.atelier.garment import GARMENTS, OBJECTS, sample_spec
from fashion_lib.data.atelier.masks import PARTS_FILE, PartMasks
from fashion_lib.data.atelier.records import (
    asen_splits,
    fashiongen_validation_products,
    split_ranges,
)
from fashion_lib.data.atelier.render import FRAMINGS, PARTS, Look, View, render
from fashion_lib.data.atelier.styles import STYLE_RULES, styles
from fashion_lib.data.formats import asenpp, darn, deepfashion, fashionai, fashiongen, fashioniq
from fashion_lib.data.formats.check import check
from fashion_lib.data.formats.images import JPEG_QUALITY, load_image
from fashion_lib.data.taxonomy import DARN, FASHIONAI, subcategory_index, symbol_of
from fashion_lib.profiles import DataScale, SplitSizes, get_profile

TINY = DataScale(
    image_size=48,
    deepfashion=SplitSizes.asen(60),
    fashionai=SplitSizes.asen(60),
    darn=SplitSizes.asen(60),
    fashiongen_products=12,
    views_per_product=2,
    fashioniq_images=30,
    fashioniq_pairs=30,
)
KNOBS = d.Knobs(seed=3, size=48)


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    profile = replace(get_profile("smoke"), seed=3, data=TINY)
    root = tmp_path_factory.mktemp("atelier") / "world"
    make.make_world(profile, out=root, workers=1)
    return root


def test_same_seed_same_bytes_and_index_independent_of_count() -> None:
    a = d.draw_deepfashion(KNOBS, 7)
    b = d.draw_deepfashion(KNOBS, 7)
    assert a.images[0].tobytes() == b.images[0].tobytes()
    assert a.masks[0].tobytes() == b.masks[0].tobytes() and a.labels == b.labels
    serial = make.draw_all(d.draw_darn, KNOBS, 9, workers=1)
    pooled = make.draw_all(d.draw_darn, KNOBS, 70, workers=2)  # 70 >= 64: the process pool
    for i in (0, 8):
        assert serial[i].images[0].tobytes() == pooled[i].images[0].tobytes()
        assert serial[i].noisy == pooled[i].noisy
    other_seed = d.draw_deepfashion(replace(KNOBS, seed=4), 7)
    assert other_seed.images[0].tobytes() != a.images[0].tobytes()


def test_render_shapes_and_region_masks() -> None:
    rng = np.random.default_rng(0)
    spec = sample_spec(
        rng, "dress", fixed={"skirt_length": "midi", "neckline": "v", "sleeve_length": "short"}
    )
    out = render(spec, Look.draw(rng), View("full"), 64, rng, strength=0.0)
    assert out.image.shape == (64, 64, 3) and out.image.dtype == np.uint8
    assert out.masks.shape == (len(PARTS), 64, 64) and out.masks.dtype == bool
    for part in ("torso", "skirt", "sleeves", "neckline", "hem"):
        assert out.mask(part).any(), part
    assert not out.mask("legs").any() and not out.mask("lapel").any()
    # the hem band of a midi skirt lies below the knee band of a knee-length one
    knee = render(replace(spec, skirt_length="knee"), Look.draw(rng), View("full"), 64, rng, 0.0)
    rows = np.nonzero(out.mask("hem").any(1))[0].mean(), np.nonzero(knee.mask("hem").any(1))[0]
    assert rows[0] > rows[1].mean() + 3


def test_fine_differences_change_pixels() -> None:
    rng = np.random.default_rng(1)
    base = sample_spec(rng, "blazer", style_prob=0.0, fixed={"lapel": "notched"})
    base = replace(base, pattern="solid", accent_pattern="none", fabric="cotton")
    look = Look.draw(rng)
    view = View("upper")
    notched = render(base, look, view, 64, np.random.default_rng(2), 0.0).image
    peak = render(replace(base, lapel="peak"), look, view, 64, np.random.default_rng(2), 0.0).image
    assert (np.abs(notched.astype(int) - peak.astype(int)).sum(-1) > 30).sum() >= 8


@pytest.mark.parametrize("i", range(40))
def test_fashionai_label_matches_drawing(i: int) -> None:
    sample = d.draw_fashionai(KNOBS, i)
    ((a, v),) = sample.labels
    task = list(lab.FASHIONAI_TASKS.values())[a]
    if v == 0:
        return
    assert getattr(sample.spec, task.field) == task.values[v - 1]
    assert FASHIONAI.value_name(a, v) != "Invisible"
    masks = np.unpackbits(sample.masks[0], axis=-1, count=KNOBS.size).astype(bool)
    assert masks[PARTS.index(task.part)].any(), (task.field, task.values[v - 1])


def test_darn_and_deepfashion_labels_decode_to_the_spec() -> None:
    for i in range(30):
        sample = d.draw_darn(KNOBS, i)
        names = [lab.DARN_PROXY.value_name(a, v) for a, v in sample.labels]
        assert names[0] == sample.spec.category and names[4] == sample.spec.pattern
        sleeve = sample.spec.sleeve_length
        assert names[7] == ("sleeveless" if sleeve == "none" else sleeve)
        assert names[8] == sample.spec.sleeve_shape
        df = d.draw_deepfashion(KNOBS, i)
        style_ids = {v for t, v in df.labels if t == 4}
        assert style_ids == {lab.DF_CLASSES[4].index(s) for s in styles(df.spec)}
        assert df.query in df.labels and len(df.labels) == len(set(df.labels))


def test_styles_are_compositions_and_co_occur() -> None:
    specs = [sample_spec(np.random.default_rng([5, i])) for i in range(400)]
    found = [styles(s) for s in specs]
    assert all(name in {n for f in found for n in f} for name in STYLE_RULES)
    multi_texture = sum(len([1 for t, _ in lab.deepfashion_labels(s) if t == 0]) > 1 for s in specs)
    multi_part = sum(len([1 for t, _ in lab.deepfashion_labels(s) if t == 3]) > 1 for s in specs)
    assert multi_texture > 40 and multi_part > 200


def test_fashiongen_names_are_real() -> None:
    for category in GARMENTS + OBJECTS:
        spec = sample_spec(np.random.default_rng(0), category)
        cat, sub = lab.fashiongen_category(spec)
        subcategory_index(sub)
        symbol_of(cat)


def test_split_ranges_follow_the_sizes() -> None:
    assert [len(r) for r in split_ranges(SplitSizes.asen(1000)).values()] == [800, 100, 100]
    assert [r.start for r in split_ranges(SplitSizes(7, 3, 5)).values()] == [0, 7, 10]
    samples = [d.draw_darn(KNOBS, i) for i in range(50)]
    paths = [f"p/{i}.jpg" for i in range(50)]
    splits = asen_splits(lab.DARN_PROXY, paths, samples, False, SplitSizes.asen(50))
    assert len(splits.queries["valid"]) == 1 and len(splits.candidates["valid"]) == 4
    assert {q.fid for q in splits.queries["test"]} == {4}


def test_every_format_passes_check_and_reads_back(tiny_world: Path) -> None:
    for fmt, name in (
        ("deepfashion", "DeepFashion"),
        ("fashionai", "FashionAI"),
        ("darn", "DARN"),
        ("fashiongen", "FashionGen"),
        ("fashioniq", "FashionIQ"),
    ):
        check(fmt, tiny_world / name)
    samples = make.draw_all(d.draw_darn, KNOBS, 60, workers=1)
    paths = [darn.image_path(i // 10, f"{i:07d}") for i in range(60)]
    planned = asen_splits(lab.DARN_PROXY, paths, samples, False, SplitSizes.asen(60))
    assert darn.read_darn(tiny_world / "DARN") == planned
    back = np.asarray(load_image(tiny_world / "DARN" / paths[5]))
    buffer = io.BytesIO()  # the same array through the same codec decodes to the same pixels
    Image.fromarray(samples[5].images[0]).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    assert np.array_equal(back, np.asarray(Image.open(buffer).convert("RGB")))
    df = deepfashion.read_deepfashion(tiny_world / "DeepFashion")
    assert len(df.attributes) == sum(len(c) for c in lab.DF_CLASSES)
    assert fashionai.read_fashionai(tiny_world / "FashionAI").splits.meta.counts == FASHIONAI.counts
    with fashiongen.FashionGenFile(fashiongen.h5_path(tiny_world / "FashionGen", "train")) as f:
        product = d.draw_fashiongen(KNOBS, 0)
        assert np.array_equal(f.image(1), product.images[1])
        assert f.item(0).description == product.text and f.item(1).product_id == 100_000
    iq = fashioniq.read_fashioniq(tiny_world / "FashionIQ")
    family = d.draw_fashioniq_family(KNOBS, 0)
    png = np.asarray(load_image(fashioniq.image_path(tiny_world / "FashionIQ", "B000000002")))
    assert np.array_equal(png, family[2].images[0]) and iq.captions["dress", "train"]


def test_part_masks_beside_the_data(tiny_world: Path) -> None:
    masks = PartMasks(tiny_world / "FashionAI" / PARTS_FILE)
    assert len(masks) == 60 and masks.parts == PARTS
    sample = d.draw_fashionai(KNOBS, 11)
    key = masks.keys[11]
    expected = np.unpackbits(sample.masks[0], axis=-1, count=KNOBS.size).astype(bool)
    assert np.array_equal(masks[key], expected)


def test_interrupted_make_leaves_no_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> int:
        raise RuntimeError("killed")

    monkeypatch.setattr(make, "write_fashiongen", boom)
    profile = replace(get_profile("smoke"), data=TINY)
    with pytest.raises(RuntimeError):
        make.make_world(profile, out=tmp_path / "world", workers=1)
    assert not (tmp_path / "world").exists()
    assert not list(tmp_path.iterdir())


@pytest.fixture(scope="module")
def smoke_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, make.WorldSummary]:
    root = tmp_path_factory.mktemp("atelier-smoke") / "smoke"
    start = time.perf_counter()
    summary = make.make_world(get_profile("smoke"), out=root, workers=2)
    assert time.perf_counter() - start < 30  # about 6 s on an idle 2-core machine
    return root, summary


def test_smoke_world_generates_in_seconds(smoke_world: tuple[Path, make.WorldSummary]) -> None:
    root, summary = smoke_world
    assert summary.images["DeepFashion"] == get_profile("smoke").data.deepfashion.total
    assert (root / make.MANIFEST).is_file()
    assert set(FRAMINGS) >= {"full", "upper", "three_quarter", "legs", "object"}


def test_smoke_world_is_what_the_official_loaders_need(
    smoke_world: tuple[Path, make.WorldSummary],
) -> None:
    root = smoke_world[0]
    assert inv.world_problems(root) == []
    config = yaml.safe_load(asenpp.config_path(root, "DARN").read_text())["DATA"]
    assert config["ATTRIBUTES"]["NUM"][config["ATTRIBUTES"]["NAME"].index("sleeve length")] == 8
    assert Path(config["BASE_PATH"]) == root.absolute()
    merged = fashioniq.load_json_array(fashioniq.merged_caption_file(root / "FashionIQ", "val"))
    dress = fashioniq.load_json_array(fashioniq.caption_file(root / "FashionIQ", "dress", "val"))
    assert [e for _, e in merged][: len(dress)] == [e for _, e in dress]
    symbols = (root / "FashionGen" / fashiongen.SYMBOL_MAP_FILE).read_text().splitlines()
    assert "suits & blazers\t[dresses_sign]" in symbols and len(symbols) == 48


def test_invariant_checks_name_each_violation(tiny_world: Path) -> None:
    problems = inv.world_problems(tiny_world)  # 60 images: too few for coverage and galleries
    assert any("fewer than 2 training images" in p for p in problems)
    assert any("no queries in valid" in p for p in problems)
    assert any("FashionSAP needs 101" in p for p in problems)
    splits = darn.read_darn(tiny_world / "DARN")
    counts = list(splits.meta.counts)
    counts[7] = 9  # the proxy's old DARN sleeve length
    meta = replace(splits.meta, counts=tuple(counts))
    assert "DARN sleeve length: 9 values, the real dataset has 8" in inv.split_problems(
        replace(splits, meta=meta)
    )


def test_first_images_cover_every_value_then_attributes_take_turns() -> None:
    counts = (3, 2)
    targets = [d.target(counts, i) for i in range(d.COVERAGE * 5 + 4)]
    assert targets[:5] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)] == targets[5:10]
    assert targets[10:] == [(0, None), (1, None), (0, None), (1, None)]
    planned = d.plan("DARN", KNOBS, 3)  # covers clothes category value 3
    assert planned.query == (0, 3) and planned.labels[0] == (0, 3)


def test_cpu_plan_has_galleries_that_do_not_saturate() -> None:
    plans = inv.plan_splits(get_profile("cpu"), workers=2)  # labels only: no image is rendered
    for name, splits in plans.items():
        assert inv.split_problems(splits) == [], name
        if name in ("FashionAI", "DARN"):
            rows = inv.gallery_sizes(splits)
            assert min(r["candidates"] for r in rows if r["split"] == "test") >= 1000
            assert min(r["candidates"] for r in rows if r["split"] == "valid") >= 500
            assert min(r["queries"] for r in rows if r["split"] == "valid") >= 100
    assert plans["DARN"].meta.counts[7] == DARN.counts[7] == 8


def test_cli_data_make_refuses_the_real_data_profile(capsys: pytest.CaptureFixture) -> None:
    from fashion_lib.cli import main

    assert main(["data", "make", "--profile", "paper"]) == 2
    assert "reads real datasets" in capsys.readouterr().err


def test_cpu_and_gpu_fashiongen_validate_on_a_thousand_products() -> None:
    for name in ("cpu", "gpu"):
        products = get_profile(name).data.fashiongen_products
        assert fashiongen_validation_products(products) >= 1_000, name
    assert fashiongen_validation_products(160) == 101  # the smoke world: FashionSAP's minimum
