"""FashionGen: h5 files with the real keys, written by hand with h5py, read lazily, round-tripped."""

from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import numpy as np
from test_formats_fashionai import tiny_image

from fashion_lib.data.formats.check import check
from fashion_lib.data.formats.fashiongen import (
    FashionGenFile,
    h5_path,
    write_fashiongen,
)

ROWS = [  # (category, subcategory, description bytes as ISO-8859-1, productID, pose)
    ("TOPS", "T-SHIRTS", b"Short sleeve cotton t-shirt in black.", 100001, "id_gridfs_1"),
    ("TOPS", "T-SHIRTS", b"Short sleeve cotton t-shirt in black.", 100001, "id_gridfs_2"),
    ("SUITS & BLAZERS", "BLAZERS", b"Wool blazer, caf\xe9 cr\xe8me tone.", 100002, "id_gridfs_1"),
]


def write_h5(path: Path, rows: list = ROWS, short: str | None = None) -> None:
    """Write a FashionGen h5 the way the release lays it out; `short` drops that key's last row."""
    n = len(rows)

    def text(values: list[bytes]) -> np.ndarray:
        return np.array(values, dtype="S").reshape(n, 1)

    columns = {
        "index": np.arange(n).reshape(n, 1),
        "index_2": np.arange(n),
        "input_brand": text([b"Brand A"] * n),
        "input_category": text([r[0].encode() for r in rows]),
        "input_composition": text([b"100% cotton"] * n),
        "input_concat_description": text([r[2] for r in rows]),
        "input_department": text([b"CLOTHING"] * n),
        "input_description": text([r[2] for r in rows]),
        "input_gender": text([b"MEN"] * n),
        "input_image": np.stack([tiny_image(i) for i in range(n)]),
        "input_msrpUSD": np.array([[120.5]] * n, dtype=np.float32),
        "input_name": text([b"Black T-Shirt"] * n),
        "input_pose": text([r[4].encode() for r in rows]),
        "input_productID": np.array([[r[3]] for r in rows], dtype=np.int32),
        "input_season": text([b"SS2017"] * n),
        "input_subcategory": text([r[1].encode() for r in rows]),
    }
    with h5py.File(path, "w") as h5:
        for key, value in columns.items():
            h5.create_dataset(key, data=value[:-1] if key == short else value)


def write_fixture(folder: Path) -> Path:
    """Both split files in `folder`; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    write_h5(h5_path(folder, "train"))
    write_h5(h5_path(folder, "validation"), ROWS[:1])
    return folder


def test_read_hand_written_file(tmp_path: Path) -> None:
    folder = write_fixture(tmp_path)
    with FashionGenFile(h5_path(folder, "train")) as h5:
        assert len(h5) == 3
        item = h5.item(2)
        assert item.category == "SUITS & BLAZERS" and item.subcategory == "BLAZERS"
        assert item.description == "Wool blazer, café crème tone."  # ISO-8859-1
        assert item.product_id == 100002 and item.index == 2 and item.index_2 == 2
        assert item.msrp_usd == 120.5 and item.season == "SS2017"
        np.testing.assert_array_equal(h5.image(1), tiny_image(1))
        assert h5.items()[2] == item
        clone = pickle.loads(pickle.dumps(h5))  # data-loader workers reopen the file lazily
        np.testing.assert_array_equal(clone.image(0), tiny_image(0))
        clone.close()


def test_round_trip_and_check(tmp_path: Path) -> None:
    src = h5_path(write_fixture(tmp_path / "src"), "train")
    with FashionGenFile(src) as h5:
        items = h5.items()
        images = [h5.image(i) for i in range(len(h5))]
    out = tmp_path / "out"
    write_fashiongen(h5_path(out, "train"), items, iter(images))
    write_fashiongen(h5_path(out, "validation"), items[:1], images[:1])
    with FashionGenFile(h5_path(out, "train")) as h5:
        assert h5.items() == items
        np.testing.assert_array_equal(h5.image(2), images[2])
        assert h5._file()["input_category"].shape == (3, 1)
    summary = check("fashiongen", out)
    assert summary.counts["fashiongen_256_256_train"] == {"rows": 3, "products": 2, "image side": 8}
    assert summary.counts["fashiongen_256_256_train per symbol"] == {"tops": 2, "dresses": 1}
