"""Raw downloads: DeepFashion's Attribute Prediction benchmark and the FashionAI release, without
ASEN's meta.json and split files, pass `data check` and train a smoke-sized row.

The copies are built here from the public format descriptions (DeepFashion: Anno/ files with a
count line and a header line, attribute types 1-5, image labels -1/1 and, in later copies, 0;
FashionAI: headerless label.csv "path,<attr>_labels,<y/n/m marks>").
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fashion_lib.cli import main
from fashion_lib.data.formats import deepfashion, fashionai
from fashion_lib.data.formats.asen import META_FILE, SPLIT_FILES
from fashion_lib.data.formats.check import check
from fashion_lib.data.formats.derived import RECORD
from fashion_lib.data.retrieval_data import LazyImages, load_retrieval_dataset
from fashion_lib.data.samplers import TripletSampler
from fashion_lib.data.taxonomy import FASHIONAI
from fashion_lib.errors import DataError
from fashion_lib.experiments import m3net_runs as mr
from fashion_lib.experiments.backbone_pretrain import PretrainedBackbone
from fashion_lib.experiments.m3net_eval import evaluate_model
from fashion_lib.experiments.m3net_training import TripletBatches, build_row_model, train_row
from fashion_lib.models.backbones import create_cnn_backbone

# (name, type): two attributes of each of DeepFashion's five types; names may contain spaces.
CLOTH = [
    ("floral", 1), ("stripe", 1), ("denim", 2), ("lace", 2), ("a-line", 3),
    ("fit", 3), ("v-neck", 4), ("long sleeve", 4), ("boho", 5), ("party", 5),
]  # fmt: skip


def _jpeg(path: Path, rng: np.random.Generator) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)).save(path, quality=90)


def make_raw_deepfashion(folder: Path, n: int = 50) -> None:
    """A benchmark copy: n images (80/10/10 partition), one without any positive attribute."""
    rng = np.random.default_rng(1)
    width = max(len(name) for name, _ in CLOTH) + 10
    cloth = [str(len(CLOTH)), "attribute_name  attribute_type"]
    cloth += [f"{name.ljust(width)}{t}" for name, t in CLOTH]
    labels, parts = (
        [str(n), "image_name  attribute_labels"],
        [str(n), "image_name  evaluation_status"],
    )
    for i in range(n):
        path = f"img/{'Floral_Dress' if i % 2 else 'Denim_Jacket'}/img_{i:08d}.jpg"
        _jpeg(folder / path, rng)
        row = np.full(len(CLOTH), -1)
        if i != 3:  # image 3 has no positive attribute
            row[rng.choice(len(CLOTH), size=int(rng.integers(1, 4)), replace=False)] = 1
        row[(row == -1) & (rng.random(len(CLOTH)) < 0.1)] = 0  # later copies write 0 for "no"
        labels.append(f"{path}  " + " ".join(f"{v:>2d}" for v in row))
        status = "train" if i % 10 < 8 else "val" if i % 10 == 8 else "test"
        parts.append(f"{path}  {status}")
    for name, lines in (
        (deepfashion.ATTR_CLOTH, cloth),
        (deepfashion.ATTR_IMG, labels),
        (deepfashion.PARTITION, parts),
    ):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("\r\n".join(lines) + "\r\n")  # the release's CRLF


def make_raw_fashionai(folder: Path, per_attribute: int = 10) -> None:
    """A release copy: Annotations/label.csv and Images/<attr>_labels/<md5>.jpg, some "m" marks."""
    rng = np.random.default_rng(2)
    rows = []
    for attribute in FASHIONAI.attributes:
        for i in range(per_attribute):
            name = hashlib.md5(f"{attribute.name}{i}".encode()).hexdigest()
            path = f"Images/{attribute.name}_labels/{name}.jpg"
            _jpeg(folder / path, rng)
            value = int(rng.integers(attribute.num_values))
            marks = ["n"] * attribute.num_values
            marks[value] = "y"
            if i % 4 == 0:
                marks[(value + 1) % attribute.num_values] = "m"
            rows.append(f"{path},{attribute.name}_labels,{''.join(marks)}")
    (folder / "Annotations").mkdir(parents=True)
    (folder / fashionai.LABEL_CSV).write_text("\n".join(rows) + "\n")


def _append(path: Path, text: str) -> None:
    with path.open("a", newline="") as f:
        f.write(text)


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


@pytest.fixture()
def raw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data root with raw DeepFashion/ and FashionAI/; derived files go to tmp_path/derived."""
    root = tmp_path / "root"
    make_raw_deepfashion(root / "DeepFashion")
    make_raw_fashionai(root / "FashionAI")
    monkeypatch.setenv("FASHION_DERIVED_DIR", str(tmp_path / "derived"))
    return root


@pytest.mark.parametrize("fmt", ["deepfashion", "fashionai"])
def test_raw_copy_passes_data_check_and_stays_untouched(
    raw: Path, tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = raw / ("DeepFashion" if fmt == "deepfashion" else "FashionAI")
    before = _files(raw)
    assert main(["data", "check", "--format", fmt, str(folder)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "derived from the release" in out
    assert _files(raw) == before  # nothing written into the data root
    (derived,) = (tmp_path / "derived").iterdir()
    assert derived.name.startswith(folder.name + "-")
    assert {META_FILE, RECORD, *SPLIT_FILES} <= {p.name for p in derived.iterdir()}


def test_deepfashion_derivation_follows_the_partition(raw: Path) -> None:
    data = deepfashion.read_deepfashion(raw / "DeepFashion")
    assert data.splits.meta.counts == (2, 2, 2, 2, 2)
    by_path = {i.path: i for i in data.images}
    for split, status in (("train", "train"), ("valid", "val"), ("test", "test")):
        names = data.splits.filenames[split]
        assert names and all(by_path[p].partition == status for p in names)
    assert "img/Floral_Dress/img_00000003.jpg" not in set().union(*data.splits.filenames.values())
    for split in ("valid", "test"):
        q, c = data.splits.queries[split], data.splits.candidates[split]
        assert sorted(i.fid for i in q + c) == list(range(len(data.splits.filenames[split])))
        assert 0 < len(q) < len(c)  # 1:4 per type
        positives = {r.fid: set(r.labels) for r in data.multilabels[split]}
        assert all(
            (i.attr, i.value) in {(p.attr, p.value) for p in positives[i.fid]} for i in q + c
        )
    # every training image carries all its positives, as within-type (type, rank) pairs
    mapping = deepfashion.within_type(data.attributes)
    first = data.splits.train_labels[0]
    path = data.splits.filenames["train"][first.fid]
    assert set(first.labels) == {mapping[g] for g in by_path[path].positives}


def test_fashionai_derivation_is_asen_style(raw: Path) -> None:
    data = fashionai.read_fashionai(raw / "FashionAI")
    meta = data.splits.meta
    assert meta.attributes == FASHIONAI.names and meta.counts == FASHIONAI.counts
    sizes = [len(data.splits.filenames[s]) for s in ("train", "valid", "test")]
    assert sizes == [6 * 8, 2 * 8, 2 * 8]  # 8:1:1 per attribute, at least 2 per eval split
    for split in ("valid", "test"):
        for attr in range(8):
            kinds = [
                sum(i.attr == attr for i in items)
                for items in (data.splits.queries[split], data.splits.candidates[split])
            ]
            assert kinds == [1, 1]


def test_derivation_is_deterministic(raw: Path, tmp_path: Path, monkeypatch) -> None:
    deepfashion.read_deepfashion(raw / "DeepFashion")
    fashionai.read_fashionai(raw / "FashionAI")
    monkeypatch.setenv("FASHION_DERIVED_DIR", str(tmp_path / "again"))
    deepfashion.read_deepfashion(raw / "DeepFashion")
    fashionai.read_fashionai(raw / "FashionAI")
    for first in (tmp_path / "derived").iterdir():
        second = tmp_path / "again" / first.name  # same release -> same digest
        a, b = _files(first), _files(second)
        assert a.pop(RECORD) and b.pop(RECORD)  # the record names where it came from
        assert a == b


def test_given_asen_files_are_used_as_they_are(raw: Path, tmp_path: Path) -> None:
    folder = raw / "FashionAI"
    fashionai.read_fashionai(folder)
    (derived,) = (tmp_path / "derived").iterdir()
    for name in (*SPLIT_FILES, META_FILE):
        (folder / name).write_bytes((derived / name).read_bytes())
    lines = (folder / "query_test.txt").read_text().splitlines()
    (folder / "query_test.txt").write_text("\n".join(lines[:3]) + "\n")  # ours, not derivable
    data = fashionai.read_fashionai(folder)
    assert data.split_dir == folder and len(data.splits.queries["test"]) == 3


@pytest.mark.parametrize(
    ("fmt", "edit", "where", "words"),
    [
        ("deepfashion", lambda f: (f / deepfashion.PARTITION).unlink(), "list_eval_partition.txt",
         ["missing file", "benchmark as downloaded", "optional"]),
        ("fashionai", lambda f: (f / fashionai.LABEL_CSV).unlink(), "label.csv",
         ["missing file", "release as downloaded"]),
        ("fashionai", lambda f: (f / "query_test.txt").write_text("0 0 0\n"), "filenames_train.txt",
         ["all are present", "derived"]),
        ("fashionai", lambda f: _append(f / fashionai.LABEL_CSV, "Images/x.jpg,skirt_length_labels,yynnnn\n"),
         "label.csv:81", ["one 'y'"]),
        ("deepfashion", lambda f: _append(f / deepfashion.ATTR_CLOTH, "extra  7\r\n"),
         "list_attr_cloth.txt:1", ["count line says 10"]),
    ],
)  # fmt: skip
def test_missing_or_broken_release_names_the_file(raw: Path, fmt, edit, where, words) -> None:
    folder = raw / ("DeepFashion" if fmt == "deepfashion" else "FashionAI")
    edit(folder)
    with pytest.raises(DataError) as info:
        check(fmt, folder, images=False)
    assert where in str(info.value)
    assert all(w in str(info.value) for w in words), str(info.value)


@pytest.mark.parametrize(("dataset", "row"), [("DeepFashion", "M3-Net"), ("FashionAI", "ASENv2")])
def test_smoke_training_on_derived_splits(
    raw: Path, tmp_path: Path, dataset: str, row: str
) -> None:
    """The gpu/paper path (images read on demand, backbone trained) at smoke size, 2 steps."""
    data = load_retrieval_dataset(raw, dataset)
    assert data.split_dir.parent == tmp_path / "derived"
    settings = dataclasses.replace(
        mr.RUN_SETTINGS["smoke"],
        frozen=False,
        image_size=32,
        triplets_per_epoch=8,
        batch_triplets=4,
    )
    torch.manual_seed(0)
    net = create_cnn_backbone(settings.backbone, width=settings.backbone_width)
    weights = tmp_path / "backbone.pt"
    torch.save(net.body.state_dict(), weights)
    backbone = PretrainedBackbone(settings.backbone, settings.backbone_width, weights, "", None)
    spec = mr.ROW_SPECS[row]
    model = build_row_model(spec, data, settings, backbone)
    inputs = LazyImages(data.folder, data.filenames["train"], settings.image_size)
    batches = TripletBatches(
        TripletSampler(data.train_labels, settings.triplets_per_epoch, 0, spec.style),
        inputs,
        data.train_multihot,
        settings.batch_triplets,
    )
    history, _ = train_row(spec, model, batches, None, settings, 0, 1.0, tmp_path / "run")
    assert len(history) >= 1 and all(np.isfinite(h["loss"]) for h in history)
    eval_inputs = LazyImages(data.folder, data.filenames["test"], settings.image_size)
    results = evaluate_model(model, spec, data, eval_inputs, settings.k)
    assert set(results) == ({"single", "multi"} if dataset == "DeepFashion" else {"single"})
