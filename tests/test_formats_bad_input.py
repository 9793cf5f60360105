"""Malformed copies give a DataError naming file and line; failing writers leave nothing behind."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import test_formats_darn as darn_fx
import test_formats_deepfashion as df_fx
import test_formats_fashionai as fai_fx
import test_formats_fashiongen as fg_fx
import test_formats_fashioniq as fiq_fx

from fashion_lib.cli import main
from fashion_lib.data.formats.asen import AttrValue, LabelledImage
from fashion_lib.data.formats.check import check
from fashion_lib.data.formats.darn import read_darn, write_darn
from fashion_lib.data.formats.fashionai import read_fashionai, write_fashionai
from fashion_lib.data.formats.fashiongen import FashionGenFile, h5_path, write_fashiongen
from fashion_lib.data.formats.fashioniq import read_fashioniq, write_fashioniq
from fashion_lib.data.formats.images import load_image
from fashion_lib.errors import DataError


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_bytes().decode()  # bytes: keep CRLF line ends as written
    assert old in text, f"fixture changed: {old!r} not in {path}"
    path.write_bytes(text.replace(old, new, 1).encode())


def fashionai(edit: Callable[[Path], None]) -> Callable[[Path], tuple[str, Path]]:
    def build(tmp: Path) -> tuple[str, Path]:
        folder = fai_fx.write_fixture(tmp)
        edit(folder)
        return "fashionai", folder

    return build


def darn(edit: Callable[[Path], None]) -> Callable[[Path], tuple[str, Path]]:
    def build(tmp: Path) -> tuple[str, Path]:
        folder = darn_fx.write_fixture(tmp)
        edit(folder)
        return "darn", folder

    return build


def deepfashion(edit: Callable[[Path], None]) -> Callable[[Path], tuple[str, Path]]:
    def build(tmp: Path) -> tuple[str, Path]:
        folder = df_fx.write_fixture(tmp)
        edit(folder)
        return "deepfashion", folder

    return build


def fashioniq(edit: Callable[[Path], None]) -> Callable[[Path], tuple[str, Path]]:
    def build(tmp: Path) -> tuple[str, Path]:
        folder = fiq_fx.write_fixture(tmp)
        edit(folder)
        return "fashioniq", folder

    return build


def fashiongen(**kwargs: object) -> Callable[[Path], tuple[str, Path]]:
    def build(tmp: Path) -> tuple[str, Path]:
        fg_fx.write_h5(h5_path(tmp, "train"), **kwargs)
        fg_fx.write_h5(h5_path(tmp, "validation"))
        return "fashiongen", tmp

    return build


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


BAD_ROWS = [fg_fx.ROWS[0], ("SPACESUITS", "T-SHIRTS", b"x", 1, "p"), fg_fx.ROWS[2]]

# (case id, builder, file named by the error, 1-based line (h5: row) or None)
CASES = [
    ("missing file", fashionai(lambda f: (f / "query_test.txt").unlink()), "query_test.txt", None),
    (
        "truncated image",
        fashionai(lambda f: _truncate(f / "Images/collar_design_labels/b2.jpg")),
        "filenames_train.txt",
        2,
    ),
    (
        "bad column count",
        fashionai(lambda f: (f / "query_valid.txt").write_text("0 0\n")),
        "query_valid.txt",
        1,
    ),
    (
        "value out of range",
        fashionai(lambda f: _edit(f / "label_train.txt", "1 4 1", "1 4 7")),
        "label_train.txt",
        2,
    ),
    (
        "empty split",
        fashionai(lambda f: (f / "query_test.txt").write_text("")),
        "query_test.txt",
        None,
    ),
    (
        "two y marks",
        fashionai(
            lambda f: (f / "Annotations/label.csv").write_bytes(
                fai_fx.LABEL_CSV.replace("nnnnny", "nnnyny").encode()
            )
        ),
        "label.csv",
        3,
    ),
    (
        "non-integer field",
        fashionai(lambda f: (f / "candidate_test.txt").write_text("1 7 x\n")),
        "candidate_test.txt",
        1,
    ),
    (
        "bad meta json",
        fashionai(lambda f: (f.parent / "meta.json").write_text('{"FashionAI":\n[')),
        "meta.json",
        2,
    ),
    ("mismatched h5 lengths", fashiongen(short="input_pose"), "fashiongen_256_256_train.h5", None),
    ("unknown h5 category", fashiongen(rows=BAD_ROWS), "fashiongen_256_256_train.h5", 1),
    (
        "duplicate ids",
        darn(lambda f: (f / "candidate_valid.txt").write_text("1 2 54\n")),
        "candidate_valid.txt",
        1,
    ),
    (
        "wrong encoding",
        darn(
            lambda f: (f / "filenames_valid.txt").write_bytes(
                b"pic/1003/d.jpg\npic/1004/\xffe.jpg\n"
            )
        ),
        "filenames_valid.txt",
        2,
    ),
    (
        "image id out of range",
        darn(lambda f: (f / "query_test.txt").write_text("5 8 16\n")),
        "query_test.txt",
        1,
    ),
    (
        "odd label columns",
        darn(lambda f: _edit(f / "label_train.txt", "8 8\r\n", "8\r\n")),
        "label_train.txt",
        3,
    ),
    (
        "count line mismatch",
        deepfashion(lambda f: _edit(f / "Anno/list_attr_cloth.txt", "10\n", "11\n")),
        "list_attr_cloth.txt",
        1,
    ),
    (
        "label row too short",
        deepfashion(
            lambda f: _edit(
                f / "Anno/list_attr_img.txt",
                "1 -1 1 -1 -1 -1 -1 -1 -1 -1",
                "1 -1 1 -1 -1 -1 -1 -1 -1",
            )
        ),
        "list_attr_img.txt",
        3,
    ),
    (
        "type disagrees with global index",
        deepfashion(lambda f: _edit(f / "label_valid.txt", "0\t1\t1", "0\t2\t1")),
        "label_valid.txt",
        1,
    ),
    (
        "query pair not a positive",
        deepfashion(lambda f: (f / "query_valid.txt").write_text("0 2 0\n")),
        "query_valid.txt",
        1,
    ),
    (
        "bad json",
        fashioniq(
            lambda f: _edit(f / "captions/cap.dress.train.json", "    },\n    {", "    }\n    {")
        ),
        "cap.dress.train.json",
        10,
    ),
    (
        "caption schema",
        fashioniq(
            lambda f: _edit(
                f / "captions/cap.dress.train.json", ',\n            "is black with straps"', ""
            )
        ),
        "cap.dress.train.json",
        2,
    ),
    (
        "unknown fashioniq category",
        fashioniq(lambda f: (f / "captions/cap.skirt.train.json").write_text("[]")),
        "cap.skirt.train.json",
        None,
    ),
    (
        "duplicate asin",
        fashioniq(
            lambda f: (f / "image_splits/split.shirt.val.json").write_text(
                '[\n"B0SHIVAL0",\n"B0SHIVAL1",\n"B0SHIVAL0"\n]'
            )
        ),
        "split.shirt.val.json",
        4,
    ),
    (
        "missing image",
        fashioniq(lambda f: fiq_fx.image_path(f, "B0TOPTRAIN1").unlink()),
        "split.toptee.train.json",
        1,  # the fixture writes the id list on one line
    ),
]


@pytest.mark.parametrize(
    ("build", "filename", "line"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_malformed_input_names_file_and_line(
    tmp_path: Path, build, filename: str, line: int | None
) -> None:
    format_name, path = build(tmp_path)
    with pytest.raises(DataError) as info:
        check(format_name, path)
    err = info.value
    assert err.path.name == filename, str(err)
    assert err.line == line, str(err)
    where = f"{filename}:{line}: " if line is not None else f"{filename}: "
    assert where in str(err)


def test_cli_reports_one_line_error(tmp_path: Path, capsys) -> None:
    folder = fai_fx.write_fixture(tmp_path)
    (folder / "query_valid.txt").write_text("0 0\n")
    assert main(["data", "check", "--format", "fashionai", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"error: {folder / 'query_valid.txt'}:1: expected 3 columns")


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir()) if parent.exists() else []


def test_asen_writer_rejects_bad_label_before_writing(tmp_path: Path) -> None:
    src = fai_fx.write_fixture(tmp_path / "src")
    data = read_fashionai(src)
    bad = LabelledImage(0, (AttrValue(0, 6),))  # skirt_length has values 0..5
    splits = dataclasses.replace(data.splits, train_labels=(bad, *data.splits.train_labels[1:]))
    out = tmp_path / "out"
    with pytest.raises(DataError) as info:
        write_fashionai(out / "FashionAI", dataclasses.replace(data, splits=splits), iter(()))
    assert (info.value.path.name, info.value.line) == ("label_train.txt", 1)
    assert _leftovers(out) == []


def test_asen_writer_failing_midway_keeps_the_old_copy(tmp_path: Path) -> None:
    src = fai_fx.write_fixture(tmp_path / "src")
    data = read_fashionai(src)
    dest = tmp_path / "out" / "FashionAI"
    dest.mkdir(parents=True)
    (dest / "old.txt").write_text("previous copy")

    def images():
        for label in data.labels[:2]:
            yield label.path, load_image(src / label.path)
        raise RuntimeError("renderer crashed")

    with pytest.raises(RuntimeError):
        write_fashionai(dest, data, images())
    assert _leftovers(dest.parent) == ["FashionAI"]
    assert _leftovers(dest) == ["old.txt"]
    with pytest.raises(ValueError, match="not given"):  # too few images: also nothing written
        write_fashionai(dest, data, iter(()))
    assert _leftovers(dest) == ["old.txt"]


def test_fashiongen_writer_leaves_no_file(tmp_path: Path) -> None:
    src = h5_path(tmp_path, "train")
    fg_fx.write_h5(src)
    with FashionGenFile(src) as h5:
        items = h5.items()
    dest = tmp_path / "out" / "fashiongen_256_256_train.h5"
    bad = [dataclasses.replace(items[0], category="spacesuits"), *items[1:]]
    with pytest.raises(DataError) as info:
        write_fashiongen(dest, bad, [])
    assert info.value.line == 0
    with pytest.raises(DataError, match="2 images for 3 rows"):
        write_fashiongen(dest, items, [np.zeros((8, 8, 3), np.uint8)] * 2)
    assert _leftovers(dest.parent) == []


def test_fashioniq_writer_leaves_no_folder(tmp_path: Path) -> None:
    src = fiq_fx.write_fixture(tmp_path / "src")
    data = read_fashioniq(src)
    dest = tmp_path / "out" / "FashionIQ"
    some = sorted(data.asins())[:3]
    with pytest.raises(ValueError, match="not given"):
        write_fashioniq(dest, data, ((a, load_image(fiq_fx.image_path(src, a))) for a in some))
    assert _leftovers(dest.parent) == []


def test_asen_writer_checks_meta_json_before_writing(tmp_path: Path) -> None:
    src = darn_fx.write_fixture(tmp_path / "src")
    splits = read_darn(src)
    out = tmp_path / "out"
    out.mkdir()
    (out / "meta.json").write_text("[1, 2")
    with pytest.raises(DataError) as info:
        write_darn(out / "DARN", splits, ((p, load_image(src / p)) for p in darn_fx.PATHS))
    assert info.value.path.name == "meta.json"
    assert _leftovers(out) == ["meta.json"]
