"""DARN: ASEN split files with all nine attributes per training image, and meta.json merging."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image
from test_formats_fashionai import META as FASHIONAI_META
from test_formats_fashionai import tiny_image

from fashion_lib.data.formats.asen import AsenMeta, AttrValue, EvalItem, read_meta, write_meta
from fashion_lib.data.formats.check import check
from fashion_lib.data.formats.darn import image_path, read_darn, write_darn
from fashion_lib.data.formats.images import load_image
from fashion_lib.data.taxonomy import DARN

NAMES = [
    "clothes category",
    "clothes button",
    "clothes color",
    "clothes length",
    "clothes pattern",
    "clothes shape",
    "collar shape",
    "sleeve length",
    "sleeve shape",
]
META = {
    "DARN": {
        "ATTRIBUTES": NAMES,
        "ATTRIBUTES_NUM": dict(zip(NAMES, [20, 13, 55, 7, 28, 11, 26, 8, 17], strict=True)),
    }
}
PATHS = [
    "pic/1001/a.jpg",
    "pic/1001/b.jpg",
    "pic/1002/c.jpg",
    "pic/1003/d.jpg",
    "pic/1004/e.jpg",
    "pic/1004/f.jpg",
    "pic/1005/g.jpg",
]

FILES = {
    "filenames_train.txt": "pic/1001/a.jpg\npic/1001/b.jpg\npic/1002/c.jpg\n",
    # the asenpp#1 example line, then one with tabs, then one with CRLF
    "label_train.txt": "0 0 4 1 12 2 4 3 1 4 5 5 2 6 3 7 1 8 5\n"
    "1\t0\t19\t1\t0\t2\t54\t3\t6\t4\t27\t5\t10\t6\t25\t7\t7\t8\t16\n"
    "2 0 3 1 1 2 2 3 3 4 4 5 5 6 6 7 7 8 8\r\n",
    "filenames_valid.txt": "pic/1003/d.jpg\npic/1004/e.jpg\n",
    "query_valid.txt": "1 2 54\n",
    "candidate_valid.txt": "0 2 54\n",
    "filenames_test.txt": "pic/1004/f.jpg\npic/1005/g.jpg\n",
    "query_test.txt": "1 8 16\r\n",
    "candidate_test.txt": "0 8 0\r\n",
}


def write_fixture(root: Path) -> Path:
    """Write the hand-made DARN copy under `root`; returns the dataset folder."""
    folder = root / "DARN"
    folder.mkdir(parents=True)
    for name, text in FILES.items():
        (folder / name).write_bytes(text.encode())
    (root / "meta.json").write_text(json.dumps(META))
    for i, path in enumerate(PATHS):
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(tiny_image(i)).save(folder / path)
    return folder


def test_read_hand_written_copy(tmp_path: Path) -> None:
    splits = read_darn(write_fixture(tmp_path))
    assert splits.meta == AsenMeta.from_attribute_set(DARN)
    first = splits.train_labels[0]
    assert first.fid == 0 and len(first.labels) == 9
    assert first.labels[2] == AttrValue(2, 4) and first.labels[8] == AttrValue(8, 5)
    assert splits.train_labels[1].labels[2] == AttrValue(2, 54)  # last clothes color value
    assert splits.queries["test"] == (EvalItem(1, 8, 16),)
    assert splits.filenames["test"] == ("pic/1004/f.jpg", "pic/1005/g.jpg")
    assert image_path(1004, "f") == "pic/1004/f.jpg"
    assert splits.image_path(tmp_path / "DARN", "valid", 1) == tmp_path / "DARN/pic/1004/e.jpg"


def test_round_trip_and_check(tmp_path: Path) -> None:
    src = write_fixture(tmp_path / "src")
    splits = read_darn(src)
    out = tmp_path / "out"
    write_meta(
        out / "meta.json",
        [
            AsenMeta(
                "FashionAI",
                tuple(FASHIONAI_META["FashionAI"]["ATTRIBUTES"]),
                (6, 9, 8, 6, 5, 5, 10, 5),
            )
        ],
    )
    write_darn(out / "DARN", splits, ((p, load_image(src / p)) for p in PATHS))
    assert read_darn(out / "DARN") == splits
    # writing DARN kept the FashionAI entry already in meta.json
    assert read_meta(out / "meta.json", "FashionAI").counts == (6, 9, 8, 6, 5, 5, 10, 5)
    assert (out / "DARN" / "candidate_test.txt").read_bytes() == b"0 8 0\n"
    summary = check("darn", out / "DARN")
    assert summary.images_verified == 7
    assert summary.counts["train labels per attribute"]["sleeve shape"] == 3
    assert summary.counts["query valid per attribute"]["clothes color"] == 1
