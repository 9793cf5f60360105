"""FashionIQ: caption and image-split JSON files with PNG images, from a hand-written copy."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image
from test_formats_fashionai import tiny_image

from fashion_lib.data.formats.check import check
from fashion_lib.data.formats.fashioniq import (
    FashionIQTriplet,
    image_path,
    load_json_array,
    read_fashioniq,
    write_fashioniq,
)
from fashion_lib.data.formats.images import load_image

DRESS_TRAIN = """[
    {
        "target": "B008BHCT58",
        "candidate": "B003FGW7MK",
        "captions": [
            "is solid black with no sleeves",
            "is black with straps"
        ]
    },
    {
        "target": "B003FGW7MK",
        "candidate": "B008BHCT58",
        "captions": ["has a floral print", "is longer and lighter"]
    }
]
"""


def asins(category: str, split: str) -> list[str]:
    """Two made-up ASINs per (category, split)."""
    return [f"B0{category.upper()[:3]}{split.upper()}{i}" for i in range(2)]


def write_fixture(root: Path) -> Path:
    """Write captions, image splits and images for the three categories; returns the folder."""
    folder = root / "FashionIQ"
    (folder / "captions").mkdir(parents=True)
    (folder / "image_splits").mkdir()
    (folder / "images").mkdir()
    seed = 0
    for category in ("dress", "shirt", "toptee"):
        for split in ("train", "val"):
            if (category, split) == ("dress", "train"):
                ids, captions = ["B003FGW7MK", "B008BHCT58"], DRESS_TRAIN
            else:
                ids = asins(category, split)
                captions = json.dumps(
                    [
                        {
                            "target": ids[1],
                            "candidate": ids[0],
                            "captions": ["is red", "has long sleeves"],
                        }
                    ]
                )
            (folder / "captions" / f"cap.{category}.{split}.json").write_text(captions)
            (folder / "image_splits" / f"split.{category}.{split}.json").write_text(json.dumps(ids))
            for asin in ids:
                Image.fromarray(tiny_image(seed)).save(image_path(folder, asin))
                seed += 1
    return folder


def test_read_hand_written_copy(tmp_path: Path) -> None:
    folder = write_fixture(tmp_path)
    data = read_fashioniq(folder)
    assert data.captions["dress", "train"][0] == FashionIQTriplet(
        "B003FGW7MK", "B008BHCT58", ("is solid black with no sleeves", "is black with straps")
    )
    assert data.captions["toptee", "val"][0].target == "B0TOPVAL1"
    assert data.image_splits["shirt", "train"] == ("B0SHITRAIN0", "B0SHITRAIN1")
    assert len(data.asins()) == 12
    # elements are located by the line where they start
    lines = [line for line, _ in load_json_array(folder / "captions" / "cap.dress.train.json")]
    assert lines == [2, 10]


def test_round_trip_and_check(tmp_path: Path) -> None:
    src = write_fixture(tmp_path / "src")
    data = read_fashioniq(src)
    dest = tmp_path / "out" / "FashionIQ"
    write_fashioniq(dest, data, ((a, load_image(image_path(src, a))) for a in sorted(data.asins())))
    assert read_fashioniq(dest) == data
    written = load_json_array(dest / "captions" / "cap.dress.train.json")
    assert [line for line, _ in written] == [2, 10]  # the layout validate_fashioniq assumes
    summary = check("fashioniq", dest)
    assert summary.images_verified == 12
    assert summary.counts["triplets"]["dress.train"] == 2
    assert summary.counts["images"]["toptee.val"] == 2
