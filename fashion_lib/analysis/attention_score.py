"""Attention mass on the ground-truth part of the named class (proxy world only).

Figure 3 of M3-Net argues from pictures that the class-conditional attention "focuses more narrowly
on a region relevant to each class" than the attribute-conditional one. The proxy world keeps a mask
of every garment part beside each image (``fashion_lib.data.atelier.masks``), and every label comes
with the part that shows it (``fashion_lib.data.atelier.labels``), so the claim can be measured: the
share of a spatial attention map's mass that falls inside the named class's part.

A map is a distribution over its h x w cells; each cell covers a block of image pixels. The mask is
reduced to the fraction of each cell it covers (area pooling), so the score is exact for a map that
is constant within a cell: score = sum over cells of attention * covered fraction. A map whose mass
lies entirely inside the part scores 1; a uniform map scores the part's area share, reported beside
the score as the chance level (``lift`` = score / area).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from fashion_lib.data.atelier.labels import (
    DARN_PART,
    DEEPFASHION_PART,
    DEEPFASHION_PROXY,
    FASHIONAI_TASKS,
)
from fashion_lib.data.atelier.masks import PartMasks
from fashion_lib.errors import ConfigError

__all__ = ["AttentionScores", "attention_mass", "class_part", "score_attention"]


@dataclass
class AttentionScores:
    """Per-row attention scores.

    Attributes:
        mass: (B,) share of the attention inside the part.
        area: (B,) the part's share of the image (what a uniform map scores).
    """

    mass: Tensor
    area: Tensor

    @property
    def lift(self) -> Tensor:
        """(B,) mass / area; 1 = no better than uniform (rows with an empty part give NaN)."""
        return self.mass / self.area.where(self.area > 0, torch.nan)


def attention_mass(attention: Tensor, masks: Tensor) -> AttentionScores:
    """Share of each attention map's mass inside its mask.

    Args:
        attention: (B, h, w) non-negative maps (normalised here to sum to 1).
        masks: (B, H, W) boolean part masks at image resolution (H >= h, W >= w).

    Returns:
        ``AttentionScores`` with mass and area in [0, 1].
    """
    if attention.dim() != 3 or masks.dim() != 3 or len(attention) != len(masks):
        raise ValueError(
            f"need (B, h, w) maps and (B, H, W) masks, got {tuple(attention.shape)} "
            f"and {tuple(masks.shape)}"
        )
    h, w = attention.shape[-2:]
    m = torch.as_tensor(masks).float()[:, None]  # (B, 1, H, W)
    cover = F.adaptive_avg_pool2d(m, (h, w))[:, 0]  # (B, h, w) fraction of each cell in the part
    att = attention.float().clamp_min(0)
    att = att / att.sum(dim=(1, 2), keepdim=True).clamp_min(1e-12)  # (B, h, w)
    return AttentionScores(mass=(att * cover).sum(dim=(1, 2)), area=m.mean(dim=(1, 2, 3)))


def class_part(dataset: str, attribute: int, value: int) -> str:
    """The part whose mask shows class ``value`` of ``attribute`` in the proxy world.

    Args:
        dataset: "DeepFashion", "FashionAI" or "DARN".
        attribute: 0-based attribute (DeepFashion: type) index.
        value: 0-based class index within the attribute.

    Returns:
        A part name of ``fashion_lib.data.atelier.render.PARTS``.
    """
    if dataset == "DeepFashion":
        part = DEEPFASHION_PART[attribute]
        if isinstance(part, dict):
            return part[DEEPFASHION_PROXY.attributes[attribute].value_names[value]]
        return part
    if dataset == "FashionAI":
        return list(FASHIONAI_TASKS.values())[attribute].part
    if dataset == "DARN":
        return DARN_PART[attribute]
    raise ConfigError(f"no part map for dataset {dataset!r}; choose DeepFashion, FashionAI or DARN")


def score_attention(
    attention: Tensor, keys: Sequence[str], parts: Sequence[str], part_masks: PartMasks
) -> AttentionScores:
    """Score maps of images ``keys`` against their named ``parts`` from a part-mask file.

    Args:
        attention: (B, h, w) maps, row i for image ``keys[i]``.
        keys: image keys of the part-mask file (the dataset's relative image paths).
        parts: the part named for each row (``class_part``).
        part_masks: the dataset's ``PartMasks``.

    Returns:
        ``AttentionScores`` of every row.
    """
    if not len(keys) == len(parts) == len(attention):
        raise ValueError(f"{len(attention)} maps, {len(keys)} keys and {len(parts)} parts differ")
    masks = np.stack([part_masks.part(k, p) for k, p in zip(keys, parts, strict=True)])
    return attention_mass(attention, torch.from_numpy(masks))
