"""DeepFashion: benchmark files, ASEN splits and multi-label files from a hand-written copy."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image
from test_formats_fashionai import tiny_image

from fashion_lib.data.formats.asen import AttrValue, EvalItem, LabelledImage
from fashion_lib.data.formats.check import check
from fashion_lib.data.formats.deepfashion import (
    DFAttribute,
    DFImage,
    read_deepfashion,
    within_type,
    write_deepfashion,
)
from fashion_lib.data.formats.images import load_image

META = {
    "DeepFashion": {
        "ATTRIBUTES": [
            "texture-related",
            "fabric-related",
            "shape-related",
            "part-related",
            "style-related",
        ],
        "ATTRIBUTES_NUM": {
            "texture-related": 2,
            "fabric-related": 2,
            "shape-related": 2,
            "part-related": 2,
            "style-related": 2,
        },
    }
}

# Row i is global attribute i; names contain spaces, the type is the last column.
ATTR_CLOTH = """\
10
attribute_name  attribute_type
a-line                       3
abstract chevron print       1
animal print                 1
cotton blend                 2
denim                        2
long sleeve                  4
bohemian                     5
maxi                         3
v-neck                       4
boho chic                    5
"""

IMAGES = [f"img/Abstract_Maxi_Dress/img_0000000{i}.jpg" for i in range(1, 7)]
LABEL_ROWS = [
    "1 -1 1 -1 -1 -1 -1 -1 -1 -1",  # {0, 2}
    "-1 -1 -1 1 -1 1 -1 -1 -1 -1",  # {3, 5}
    "-1 1 -1 -1 -1 -1 -1 1 -1 1",  # {1, 7, 9}
    "-1 -1 -1 -1 1 -1 -1 -1 1 -1",  # {4, 8}
    "-1 -1 1 -1 -1 -1 1 -1 -1 -1",  # {2, 6}
    "1 0 0 1 0 0 1 0 0 0",  # {0, 3, 6}, the 0/1 variant
]
STATUS = ["train", "train", "val", "val", "test", "test"]

FILES = {
    "Anno/list_attr_cloth.txt": ATTR_CLOTH,
    "Anno/list_attr_img.txt": "6\nimage_name  attribute_labels\n"
    + "".join(f"{p}   {r}\n" for p, r in zip(IMAGES, LABEL_ROWS, strict=True)),
    "Eval/list_eval_partition.txt": "6\nimage_name  evaluation_status\n"
    + "".join(f"{p}   {s}\n" for p, s in zip(IMAGES, STATUS, strict=True)),
    "filenames_train.txt": f"{IMAGES[0]}\n{IMAGES[1]}\n",
    "label_train.txt": "0 2 0 0 1\n1 1 0 3 0\n",
    "filenames_valid.txt": f"{IMAGES[2]}\n{IMAGES[3]}\n",
    # (1-based type, global index) pairs, tab-separated and tab-padded as in the public copy
    "label_valid.txt": "0\t1\t1\t3\t7\t5\t9\t\t\t\n1\t2\t4\t4\t8\t\t\t\t\t\n",
    "query_valid.txt": "0 2 1\n",
    "candidate_valid.txt": "1 3 1\n",
    "filenames_test.txt": f"{IMAGES[4]}\n{IMAGES[5]}\n",
    "label_test.txt": "0\t1\t2\t5\t6\n1\t3\t0\t2\t3\t5\t6\n",
    "query_test.txt": "0 4 0\n",
    "candidate_test.txt": "1 4 0\n",
}


def write_fixture(root: Path) -> Path:
    """Write the hand-made DeepFashion copy under `root`; returns the dataset folder."""
    folder = root / "DeepFashion"
    for name, text in FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    (root / "meta.json").write_text(json.dumps(META))
    for i, path in enumerate(IMAGES):
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(tiny_image(i)).save(folder / path)
    return folder


def test_read_hand_written_copy(tmp_path: Path) -> None:
    data = read_deepfashion(write_fixture(tmp_path))
    assert data.attributes[1] == DFAttribute("abstract chevron print", 1)
    assert data.images[0] == DFImage(IMAGES[0], (0, 2), "train")
    assert data.images[5].positives == (0, 3, 6)
    # rank of the global index among its type's indices: type 3 = rows 0 and 7
    assert within_type(data.attributes)[7] == AttrValue(2, 1)
    assert within_type(data.attributes)[0] == AttrValue(2, 0)
    assert data.multilabels["valid"][0] == LabelledImage(
        0, (AttrValue(0, 0), AttrValue(2, 1), AttrValue(4, 1))
    )
    assert data.multilabels["test"][1] == LabelledImage(
        1, (AttrValue(2, 0), AttrValue(1, 0), AttrValue(4, 0))
    )
    assert data.splits.queries["valid"] == (EvalItem(0, 2, 1),)
    assert data.splits.train_labels[1].labels == (AttrValue(1, 0), AttrValue(3, 0))


def test_round_trip_and_check(tmp_path: Path) -> None:
    src = write_fixture(tmp_path / "src")
    data = read_deepfashion(src)
    dest = tmp_path / "out" / "DeepFashion"
    write_deepfashion(dest, data, ((p, load_image(src / p)) for p in IMAGES))
    again = read_deepfashion(dest)
    # pair order inside a multi-label line follows the global index when written
    assert again.multilabels["test"][1].labels == (
        AttrValue(2, 0),
        AttrValue(1, 0),
        AttrValue(4, 0),
    )
    assert again == data
    assert (dest / "label_valid.txt").read_text() == "0\t1\t1\t3\t7\t5\t9\n1\t2\t4\t4\t8\n"
    summary = check("deepfashion", dest)
    assert summary.images_verified == 6
    assert summary.counts["benchmark"] == {
        "attributes": 10,
        "images": 6,
        "train": 2,
        "val": 2,
        "test": 2,
    }
    assert summary.counts["label_test positives"] == {"images": 2, "pairs": 5}
