"""FashionSAP's pre-trained image side on the proxy: the M3-Net chapters' backbone, frozen and cached.

The paper starts its image encoder from pre-trained weights (ImageNet, then ALBEF). On a proxy
profile the closest equivalent is the backbone that chapter 03 pre-trains on the atelier's
attributes (`backbone_pretrain.pretrained_backbone`, with M3-Net's backbone, width and image side
from `m3net_settings`). Frozen, its feature map of every FashionGen and FashionIQ image is computed
once and cached (`retrieval_data.cached_maps`); whatever trains sits on top of these maps, so a
training step never runs the CNN and every FashionSAP row and reference row reads the same features.

- ``image_backbone(profile) -> PretrainedBackbone``: the frozen backbone and where it came from.
- ``fashiongen_maps(profile, split) -> Tensor``: (N, C, h, w) float16 maps of a FashionGen split
  ("train" or "validation") in h5 row order (`vl_data.FashionGenSplit` rows).
- ``fashioniq_maps(profile, split) -> Tensor``: the same for a FashionIQ split ("train" or "val"),
  in `vl_data.FashionIQSplit.asins` order.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor

from fashion_lib.data.retrieval_data import cached_maps
from fashion_lib.experiments.backbone_pretrain import (
    PretrainedBackbone,
    pretrained_backbone,
    world_root,
)
from fashion_lib.experiments.fashionsap_data import data_key, fashiongen_split, fashioniq_split
from fashion_lib.experiments.m3net_settings import run_settings

__all__ = ["fashiongen_maps", "fashioniq_maps", "image_backbone"]


def image_backbone(profile: str) -> PretrainedBackbone:
    """The profile's proxy-pre-trained backbone (trained once, shared with the M3-Net chapters)."""
    settings = run_settings(profile)
    return pretrained_backbone(settings.backbone, profile, settings.backbone_width)


def _maps(profile: str, dataset: str, split: str, images: Callable[[], Tensor]) -> Tensor:
    backbone = image_backbone(profile)
    size = run_settings(profile).image_size
    key = [backbone.digest, dataset, split, str(size), data_key(profile, dataset)]
    return cached_maps(backbone.build(), key, f"{dataset}-{split}", images)


def fashiongen_maps(profile: str, split: str) -> Tensor:
    """(N, C, h, w) float16 maps of a FashionGen split's images, in h5 row order."""
    data = fashiongen_split(str(world_root(profile)), split)
    size = run_settings(profile).image_size

    def images() -> Tensor:
        pixels = data.images(range(len(data)))  # (N, 3, H, W) uint8
        return _resize(pixels, size)

    return _maps(profile, "FashionGen", split, images)


def fashioniq_maps(profile: str, split: str) -> Tensor:
    """(N, C, h, w) float16 maps of a FashionIQ split's images, in `asins` order."""
    size = run_settings(profile).image_size
    return _maps(
        profile,
        "FashionIQ",
        split,
        lambda: fashioniq_split(str(world_root(profile)), split, size).pixels,
    )


def _resize(pixels: Tensor, size: int) -> Tensor:
    """uint8 (N, 3, H, W) -> uint8 (N, 3, size, size), bilinear with antialiasing."""
    if pixels.shape[-1] == size and pixels.shape[-2] == size:
        return pixels
    out = F.interpolate(pixels.float(), size=(size, size), mode="bilinear", antialias=True)
    return out.round().clamp(0, 255).to(pixels.dtype)
