"""The bridge from ASEN-style format files to tensors: labels, images, feature-map cache."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from fashion_lib.data import retrieval_data as rd
from fashion_lib.data.atelier.make import make_world
from fashion_lib.errors import ConfigError
from fashion_lib.profiles import get_profile


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("world")
    make_world(get_profile("smoke"), out=root, workers=1)
    return root


def _pairs(path: Path) -> list[tuple[int, int, int]]:
    """(fid, attribute, value) triples of a label/query file, parsed by hand."""
    out = []
    for line in path.read_text().splitlines():
        nums = [int(x) for x in line.split()]
        out += [(nums[0], nums[i], nums[i + 1]) for i in range(1, len(nums), 2)]
    return out


@pytest.mark.parametrize("name", rd.DATASETS)
def test_labels_match_the_files(world: Path, name: str) -> None:
    data = rd.load_retrieval_dataset(world, name)
    folder = world / name
    train = _pairs(folder / "label_train.txt")
    n_train = len((folder / "filenames_train.txt").read_text().splitlines())
    assert data.num_train == n_train
    assert data.train_multihot.shape == (n_train, len(data.attributes), data.max_classes)
    assert int(data.train_multihot.sum()) == len(set(train))
    for fid, a, v in train[:50]:
        assert data.train_multihot[fid, a, v]
    lab = data.train_labels
    got = sorted(zip(lab.image.tolist(), lab.attribute.tolist(), lab.value.tolist(), strict=True))
    assert got == sorted(train)
    q = data.queries
    rows = zip(q.fid.tolist(), q.attr.tolist(), q.value.tolist(), strict=True)
    assert list(rows) == _pairs(folder / "query_test.txt")
    assert len(data.candidates) == len(_pairs(folder / "candidate_test.txt"))
    rows = torch.arange(len(data.queries))
    assert data.queries.labels[rows, data.queries.value].all()  # own value is positive
    counts = torch.tensor(data.classes_per_attribute)[data.queries.attr]
    assert not (data.queries.labels.sum(1) > counts).any()


def test_multilabel_positives_only_on_deepfashion(world: Path) -> None:
    df = rd.load_retrieval_dataset(world, "DeepFashion")
    assert df.multilabel
    labels = torch.cat([df.queries.labels, df.candidates.labels])
    assert (labels.sum(1) > 1).any()  # co-occurring classes of one attribute
    for name in ("FashionAI", "DARN"):
        other = rd.load_retrieval_dataset(world, name)
        assert not other.multilabel
        assert (other.candidates.labels.sum(1) == 1).all()


def test_bad_dataset_and_split(world: Path) -> None:
    with pytest.raises(ConfigError):
        rd.load_retrieval_dataset(world, "FashionGen")
    with pytest.raises(ConfigError):
        rd.load_retrieval_dataset(world, "DARN", split="train")


def test_images_and_normalisation(world: Path) -> None:
    data = rd.load_retrieval_dataset(world, "DARN")
    names = data.filenames["test"][:3]
    images = rd.load_images(data.folder, names, 64)
    assert images.shape == (3, 3, 64, 64) and images.dtype == torch.uint8
    first = np.array(Image.open(data.folder / names[0]).convert("RGB"))
    assert torch.equal(images[0], torch.from_numpy(first).permute(2, 0, 1))
    assert rd.load_images(data.folder, names, 32).shape == (3, 3, 32, 32)
    lazy = rd.LazyImages(data.folder, data.filenames["test"], 64)
    assert len(lazy) == len(data.filenames["test"])
    assert torch.equal(lazy[torch.tensor([2, 0])], images[[2, 0]])
    grey = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    expected = [(1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225]
    assert torch.allclose(rd.normalise(grey)[0, :, 0, 0], torch.tensor(expected), atol=1e-5)


class _Counting(nn.Module):
    """A 1x1 conv backbone that counts its forward calls."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 1)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return torch.relu(self.conv(x[:, :, ::8, ::8]))  # (B, 4, S/8, S/8)


def test_feature_cache_reuse_and_invalidation(world: Path, tmp_path: Path) -> None:
    data = rd.load_retrieval_dataset(world, "FashionAI")
    backbone = _Counting()
    maps = rd.feature_maps(backbone, "key-a", data, "test", 64, cache_root=tmp_path)
    n = len(data.filenames["test"])
    assert maps.shape == (n, 4, 8, 8) and maps.dtype == torch.float16
    with torch.no_grad():
        direct = backbone(rd.normalise(rd.load_images(data.folder, data.filenames["test"], 64)))
    assert torch.allclose(maps.float(), direct, rtol=2e-3, atol=2e-3)
    calls = backbone.calls
    again = rd.feature_maps(backbone, "key-a", data, "test", 64, cache_root=tmp_path)
    assert backbone.calls == calls and torch.equal(again, maps)  # read from disk
    assert len(list(tmp_path.glob("features-*.pt"))) == 1
    rd.feature_maps(backbone, "key-b", data, "test", 64, cache_root=tmp_path)  # new weights
    assert backbone.calls > calls and len(list(tmp_path.glob("features-*.pt"))) == 2
    calls = backbone.calls
    image = data.folder / data.filenames["test"][0]
    st = image.stat()
    os.utime(image, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # the image changed
    rd.feature_maps(backbone, "key-a", data, "test", 64, cache_root=tmp_path)
    assert backbone.calls > calls and len(list(tmp_path.glob("features-*.pt"))) == 3
