"""FashionAI: label.csv + ASEN splits, read from a hand-written copy, round-tripped and checked."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from fashion_lib.data.commands import register
from fashion_lib.data.formats.asen import AttrValue, EvalItem, LabelledImage
from fashion_lib.data.formats.check import check
from fashion_lib.data.formats.fashionai import FashionAILabel, read_fashionai, write_fashionai
from fashion_lib.data.formats.images import load_image

META = {
    "FashionAI": {
        "ATTRIBUTES": [
            "skirt_length",
            "sleeve_length",
            "coat_length",
            "pant_length",
            "collar_design",
            "lapel_design",
            "neckline_design",
            "neck_design",
        ],
        "ATTRIBUTES_NUM": {
            "skirt_length": 6,
            "sleeve_length": 9,
            "coat_length": 8,
            "pant_length": 6,
            "collar_design": 5,
            "lapel_design": 5,
            "neckline_design": 10,
            "neck_design": 5,
        },
    }
}

# label.csv exactly as the Tianchi release writes it (no header); written with CRLF below.
LABEL_CSV = """\
Images/skirt_length_labels/a1.jpg,skirt_length_labels,nnynnn
Images/collar_design_labels/b2.jpg,collar_design_labels,nynnn
Images/skirt_length_labels/c3.jpg,skirt_length_labels,nnnnny
Images/collar_design_labels/d4.jpg,collar_design_labels,nnnmy
Images/neck_design_labels/e5.jpg,neck_design_labels,ynnnn
Images/neck_design_labels/f6.jpg,neck_design_labels,nnnyn
"""

FILES = {
    "filenames_train.txt": "Images/skirt_length_labels/a1.jpg\nImages/collar_design_labels/b2.jpg\n",
    "label_train.txt": "0 0 2\n1 4 1\n",
    "filenames_valid.txt": "Images/skirt_length_labels/c3.jpg\nImages/collar_design_labels/d4.jpg\n",
    "query_valid.txt": "0 0 5\n",
    "candidate_valid.txt": "1 4 4\n",
    "filenames_test.txt": "Images/neck_design_labels/e5.jpg\nImages/neck_design_labels/f6.jpg\n",
    "query_test.txt": "0\t7\t0\n",
    "candidate_test.txt": "1 7 3\n",
}


def tiny_image(seed: int, size: int = 8) -> np.ndarray:
    """A seeded 8x8 RGB image."""
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def write_fixture(root: Path) -> Path:
    """Write the hand-made FashionAI copy under `root`; returns the dataset folder."""
    folder = root / "FashionAI"
    (root / "meta.json").parent.mkdir(parents=True, exist_ok=True)
    (root / "meta.json").write_text(json.dumps(META))
    (folder / "Annotations").mkdir(parents=True)
    (folder / "Annotations" / "label.csv").write_bytes(LABEL_CSV.replace("\n", "\r\n").encode())
    for name, text in FILES.items():
        (folder / name).write_text(text)
    for i, line in enumerate(LABEL_CSV.splitlines()):
        path = folder / line.split(",")[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(tiny_image(i)).save(path, quality=95)
    return folder


def test_read_hand_written_copy(tmp_path: Path) -> None:
    data = read_fashionai(write_fixture(tmp_path))
    assert data.labels[0] == FashionAILabel(
        "Images/skirt_length_labels/a1.jpg", "skirt_length", "nnynnn"
    )
    assert [label.value for label in data.labels] == [2, 1, 5, 4, 0, 3]  # "m" rows are kept
    assert data.splits.meta.counts == (6, 9, 8, 6, 5, 5, 10, 5)
    assert data.splits.train_labels == (
        LabelledImage(0, (AttrValue(0, 2),)),
        LabelledImage(1, (AttrValue(4, 1),)),
    )
    assert data.splits.queries["test"] == (EvalItem(0, 7, 0),)  # tab-separated line
    assert data.splits.candidates["valid"] == (EvalItem(1, 4, 4),)
    image = load_image(tmp_path / "FashionAI" / data.splits.filenames["train"][0])
    assert image.mode == "RGB" and image.size == (8, 8)


def test_label_from_value() -> None:
    label = FashionAILabel.from_value("x.jpg", "neck_design", 3, 5)
    assert label.marks == "nnnyn" and label.value == 3


def test_round_trip_and_check(tmp_path: Path) -> None:
    src = write_fixture(tmp_path / "src")
    data = read_fashionai(src)
    paths = {label.path for label in data.labels}
    dest = tmp_path / "out" / "FashionAI"
    write_fashionai(dest, data, ((p, load_image(src / p)) for p in sorted(paths)))
    assert read_fashionai(dest) == data
    assert json.loads((dest.parent / "meta.json").read_text()) == META
    assert (dest / "label_train.txt").read_text() == "0 0 2\n1 4 1\n"
    summary = check("fashionai", dest)
    assert summary.images_verified == 6
    assert summary.counts["images"] == {"train": 2, "valid": 2, "test": 2}
    assert summary.counts["query valid per attribute"]["skirt_length"] == 1
    assert "fashionai at" in str(summary) and "neck_design 1" in str(summary)


def test_cli_check_prints_summary(tmp_path: Path, capsys) -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="group", required=True))
    args = parser.parse_args(
        ["data", "check", "--format", "fashionai", str(write_fixture(tmp_path))]
    )
    assert args.func(args) == 0
    assert "images: train 2, valid 2, test 2" in capsys.readouterr().out
