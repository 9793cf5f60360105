"""FashionSAP's frozen image side: the proxy backbone's maps of every image, cached once."""

from __future__ import annotations

from pathlib import Path

import torch

from fashion_lib import paths
from fashion_lib.data.retrieval_data import normalise
from fashion_lib.experiments import fashionsap_features as ff
from fashion_lib.experiments.backbone_pretrain import world_root
from fashion_lib.experiments.fashionsap_pretrain import fashiongen_split, fashioniq_split


def test_maps_match_the_backbone_and_are_cached(smoke_env: Path) -> None:
    maps = ff.fashiongen_maps("smoke", "validation")
    data = fashiongen_split(str(world_root("smoke")), "validation")
    assert maps.shape[0] == len(data) and maps.dtype == torch.float16
    backbone = ff.image_backbone("smoke").build().eval()
    with torch.no_grad():
        direct = backbone(normalise(data.images([0, 1, len(data) - 1])))
    assert torch.allclose(maps[[0, 1, -1]].float(), direct, rtol=2e-3, atol=2e-3)
    cached = list((paths.runs_dir() / "cache").glob("features-FashionGen-validation-*.pt"))
    assert len(cached) == 1
    assert torch.equal(ff.fashiongen_maps("smoke", "validation"), maps)  # read back, same maps


def test_fashioniq_maps_follow_the_asins(smoke_env: Path) -> None:
    maps = ff.fashioniq_maps("smoke", "val")
    split = fashioniq_split(str(world_root("smoke")), "val", 64)
    assert maps.shape[0] == len(split.asins)
