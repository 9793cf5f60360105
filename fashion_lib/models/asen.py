"""ASEN (v1), ASENv2 and ASEN++: attribute-specific embeddings with spatial and channel attention.

The three variants differ only in constructor switches of the shared SCA/CCA modules
(``fashion_lib.models.attention``), following the released code (facts in asen-m3net-notes.md):

- "v1": one-hot attribute through bias-free linear layers (= embedding tables without W1/W2), ASA
  score by 1x1 conv + tanh, ACA label code of size c, then a c -> D ``feature_fc``.
- "v2": one shared 512-d attribute embedding, BatchNorm after T, scaled channel sum, W1/W2 present,
  no ``feature_fc`` (the embedding is the c-d attended vector).
- "pp" (ASEN++): v2 without BatchNorm plus ``feature_fc``; a second, local branch (its own backbone
  and attention, same attribute embedding) reads a square crop around the global attention
  (``attention_crop_boxes``, ``crop_and_resize``: batched torch ops; the threshold applies to the
  float map, where the released code first quantises it to uint8). Stage 1 trains the global branch
  alone (``set_stage(1)``); stage 2 adds the local branch. The test feature is
  [sqrt(beta) g, sqrt(1 - beta) l] of the L2-normalised branch features.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fashion_lib.errors import ConfigError
from fashion_lib.models import register_model
from fashion_lib.models.attention import CCA, SCA
from fashion_lib.models.backbones import create_cnn_backbone

__all__ = [
    "ASEN",
    "ASENBranch",
    "ASENConfig",
    "ASENOutput",
    "attention_crop_boxes",
    "crop_and_resize",
]


@dataclass(frozen=True)
class ASENConfig:
    """Configuration of one ASEN variant.

    Attributes:
        num_attributes: number of attributes N.
        variant: "v1", "v2" or "pp".
        backbone: global backbone name; ``local_backbone`` for the ASEN++ local branch.
        backbone_width, local_width: first-stage widths when a backbone is "small_cnn".
        backbone_weights, local_weights: optional local ImageNet checkpoints (paper profile).
        attention_dim: c' of the spatial attention (global; the local branch uses
        ``local_attention_dim``). label_dim: attribute embedding size (v1: SCA code; v2/pp: the
        shared embedding). embed_dim: output size D of ``feature_fc`` (v1, pp); v2 outputs c.
        local_size: side of the local crop in pixels. threshold: ASEN++ crop threshold on the
        min-max normalised attention. beta: weight of the global branch in the test feature.
        with_local: build the ASEN++ local branch (MODC reuses the global branch alone).
    """

    num_attributes: int
    variant: Literal["v1", "v2", "pp"] = "v2"
    backbone: str = "resnet50_c4"
    backbone_width: int = 32
    backbone_weights: str | None = None
    local_backbone: str = "resnet34_c4"
    local_width: int = 16
    local_weights: str | None = None
    attention_dim: int = 512
    local_attention_dim: int = 256
    label_dim: int = 512
    embed_dim: int = 1024
    local_size: int = 112
    threshold: float = 0.1
    beta: float = 0.6
    with_local: bool = True

    def __post_init__(self) -> None:
        if self.variant not in ("v1", "v2", "pp"):
            raise ConfigError(f"unknown ASEN variant {self.variant!r}; choose v1, v2 or pp")
        if self.num_attributes < 1 or not 0.0 < self.beta < 1.0 or not 0.0 <= self.threshold < 1.0:
            raise ConfigError(f"invalid ASEN config: {self}")


@dataclass
class ASENOutput:
    """ASEN's outputs (features are not normalised; the losses and ``encode_attribute`` do it).

    Attributes:
        embeddings: (B, D) global-branch attribute-specific features.
        attention: (B, h, w) global spatial attention.
        local_embeddings: (B, D) local-branch features, None in stage 1 and for v1/v2.
        local_attention: (B, h', w') local spatial attention, or None.
        crop_boxes: (B, 3) float (x0, y0, side) of the local crops in input pixels, or None.
    """

    embeddings: Tensor
    attention: Tensor
    local_embeddings: Tensor | None
    local_attention: Tensor | None
    crop_boxes: Tensor | None


class ASENBranch(nn.Module):
    """Backbone + SCA + CCA (+ optional feature_fc): one ASEN branch.

    Args:
        variant: "v1", "v2" or "pp" (selects the attention switches).
        backbone: the branch's CNN (``create_cnn_backbone``).
        num_attributes: N (v1 owns its label tables; v2/pp receive embeddings).
        attention_dim: c' of SCA.
        label_dim: size of the attribute code fed to SCA and CCA.
        embed_dim: output size of feature_fc (unused by v2).
    """

    def __init__(
        self,
        variant: str,
        backbone: nn.Module,
        num_attributes: int,
        attention_dim: int,
        label_dim: int,
        embed_dim: int,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        c = backbone.out_channels
        if variant == "v1":  # one-hot @ bias-free linear == own embedding table, no W1/W2
            self.sca = SCA(
                c,
                attention_dim,
                num_attributes,
                attention_dim,
                label_transform=False,
                score="conv_tanh",
            )
            self.cca = CCA(c, c // 2, num_attributes, c, label_transform=False)
        else:
            self.sca = SCA(c, attention_dim, None, label_dim, feature_norm=variant == "v2")
            self.cca = CCA(c, c // 2, None, label_dim)
        self.feature_fc = nn.Linear(c, embed_dim) if variant != "v2" else nn.Identity()

    def forward(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """(B, 3, H, W), labels (ids or embeddings) -> features (B, D), attention (B, h, w)."""
        sca = self.sca(self.backbone(images), labels)
        vec = self.cca(sca.attended, labels).attended  # (B, c)
        return self.feature_fc(vec), sca.attention


def attention_crop_boxes(attention: Tensor, image_size: int, threshold: float) -> Tensor:
    """ASEN++ crop boxes from attention maps, for the whole batch at once.

    The map is upsampled (bilinear) to the image, min-max normalised and thresholded; the bounding
    box of the kept pixels is squared to side d = max(w, h) around its centre and shifted inside the
    image. A flat map keeps the whole image.

    Args:
        attention: (B, h, w) attention maps.
        image_size: side S of the square input images.
        threshold: keep pixels whose normalised attention exceeds this value.

    Returns:
        (B, 3) float tensor of (x0, y0, d) in pixels.
    """
    s = image_size
    up = F.interpolate(attention[:, None], size=(s, s), mode="bilinear", align_corners=False)[:, 0]
    lo = up.amin(dim=(1, 2), keepdim=True)
    span = up.amax(dim=(1, 2), keepdim=True) - lo  # (B, 1, 1)
    norm = (up - lo) / span.clamp_min(1e-12)  # (B, S, S)
    mask = (norm > threshold) | (span <= 1e-12)  # a flat map keeps everything
    pos = torch.arange(s, device=attention.device)

    def extent(any_along: Tensor) -> tuple[Tensor, Tensor]:
        """First index and length of the True run hull of (B, S) masks."""
        first = torch.where(any_along, pos, s).amin(dim=1)
        last = torch.where(any_along, pos, -1).amax(dim=1)
        return first, last - first + 1

    x, w = extent(mask.any(dim=1))  # columns
    y, h = extent(mask.any(dim=2))  # rows
    d = torch.maximum(w, h)
    x0 = torch.where(x + w // 2 + d // 2 > s, s - d, (x + w // 2 - d // 2).clamp_min(0))
    y0 = torch.where(y + h // 2 + d // 2 > s, s - d, (y + h // 2 - d // 2).clamp_min(0))
    return torch.stack([x0, y0, d], dim=1).float()


def crop_and_resize(images: Tensor, boxes: Tensor, size: int) -> Tensor:
    """Bilinear crop of boxes (B, 3) = (x0, y0, d) of (B, C, S, S) images to (B, C, size, size)."""
    s = images.shape[-1]
    scale = boxes[:, 2] / s  # (B,)
    cx = (boxes[:, 0] + boxes[:, 2] / 2) / s * 2 - 1  # box centre in [-1, 1]
    cy = (boxes[:, 1] + boxes[:, 2] / 2) / s * 2 - 1
    theta = torch.zeros(len(boxes), 2, 3, device=images.device, dtype=images.dtype)
    theta[:, 0, 0], theta[:, 0, 2] = scale, cx
    theta[:, 1, 1], theta[:, 1, 2] = scale, cy
    grid = F.affine_grid(theta, [len(boxes), images.shape[1], size, size], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", align_corners=False)


class ASEN(nn.Module):
    """ASEN / ASENv2 / ASEN++ (see the module docstring).

    Args:
        config: the frozen configuration.
    """

    def __init__(self, config: ASENConfig) -> None:
        super().__init__()
        cfg = self.config = config
        self.attr_embedding = (
            None if cfg.variant == "v1" else nn.Embedding(cfg.num_attributes, cfg.label_dim)
        )
        self.global_branch = ASENBranch(
            cfg.variant,
            create_cnn_backbone(cfg.backbone, cfg.backbone_width, cfg.backbone_weights),
            cfg.num_attributes,
            cfg.attention_dim,
            cfg.label_dim,
            cfg.embed_dim,
        )
        self.local_branch = None
        if cfg.variant == "pp" and cfg.with_local:
            self.local_branch = ASENBranch(
                "pp",
                create_cnn_backbone(cfg.local_backbone, cfg.local_width, cfg.local_weights),
                cfg.num_attributes,
                cfg.local_attention_dim,
                cfg.label_dim,
                cfg.embed_dim,
            )
        self.stage = 2 if self.local_branch is not None else 1

    def set_stage(self, stage: int) -> None:
        """ASEN++ training stage: 1 = global branch only, 2 = global + local (the default)."""
        if stage not in (1, 2) or (stage == 2 and self.local_branch is None):
            raise ConfigError(
                f"stage {stage} is not available for ASEN variant {self.config.variant}"
            )
        self.stage = stage

    def forward(self, images: Tensor, attr_ids: Tensor) -> ASENOutput:
        """Encode (B, 3, S, S) images for their attributes (B,)."""
        labels = attr_ids if self.attr_embedding is None else self.attr_embedding(attr_ids)
        emb, att = self.global_branch(images, labels)  # (B, D), (B, h, w)
        local_emb = local_att = boxes = None
        if self.stage == 2:
            boxes = attention_crop_boxes(att.detach(), images.shape[-1], self.config.threshold)
            crops = crop_and_resize(images, boxes, self.config.local_size)  # (B, 3, s, s)
            local_emb, local_att = self.local_branch(crops, labels)
        return ASENOutput(emb, att, local_emb, local_att, boxes)

    def encode_attribute(self, images: Tensor, attr_ids: Tensor) -> Tensor:
        """Test features (B, D) or (B, 2D): normalised, ASEN++ joins [sqrt(b) g, sqrt(1-b) l]."""
        out = self.forward(images, attr_ids)
        g = F.normalize(out.embeddings, dim=1)
        if out.local_embeddings is None:
            return g
        b = self.config.beta
        return torch.cat(
            [math.sqrt(b) * g, math.sqrt(1 - b) * F.normalize(out.local_embeddings, dim=1)], 1
        )


_PRESETS = {
    "small": dict(
        backbone="small_cnn",
        local_backbone="small_cnn",
        attention_dim=128,
        local_attention_dim=64,
        label_dim=128,
        embed_dim=256,
        local_size=32,
    ),
    "r50": dict(
        backbone="resnet50_c4",
        local_backbone="resnet34_c4",
        attention_dim=512,
        local_attention_dim=256,
        label_dim=512,
        embed_dim=1024,
        local_size=112,
    ),
}


def build_asen(
    classes_per_attribute: tuple[int, ...], variant: str, size: str, **overrides: object
) -> ASEN:
    """Build an ASEN variant from a size preset ("small" or "r50") and ``ASENConfig`` overrides."""
    kwargs = {**_PRESETS[size], **overrides}
    return ASEN(ASENConfig(num_attributes=len(classes_per_attribute), variant=variant, **kwargs))


@register_model
def asen_small(classes_per_attribute: tuple[int, ...], **overrides: object) -> ASEN:
    """ASEN v1 on the small CNN."""
    return build_asen(classes_per_attribute, "v1", "small", **overrides)


@register_model
def asen_r50(classes_per_attribute: tuple[int, ...], **overrides: object) -> ASEN:
    """ASEN v1 on ResNet-50 c4 (1024-d)."""
    return build_asen(classes_per_attribute, "v1", "r50", **overrides)


@register_model
def asenv2_small(classes_per_attribute: tuple[int, ...], **overrides: object) -> ASEN:
    """ASENv2 on the small CNN."""
    return build_asen(classes_per_attribute, "v2", "small", **overrides)


@register_model
def asenv2_r50(classes_per_attribute: tuple[int, ...], **overrides: object) -> ASEN:
    """ASENv2 on ResNet-50 c4 (1024-d, no feature_fc)."""
    return build_asen(classes_per_attribute, "v2", "r50", **overrides)


@register_model
def asenpp_small(classes_per_attribute: tuple[int, ...], **overrides: object) -> ASEN:
    """ASEN++ on small CNNs (global at the input size, local crop at 32 px)."""
    return build_asen(classes_per_attribute, "pp", "small", **overrides)


@register_model
def asenpp_r50(classes_per_attribute: tuple[int, ...], **overrides: object) -> ASEN:
    """ASEN++ on ResNet-50 c4 (global) and ResNet-34 c4 at 112 px (local): 2 x 1024-d."""
    return build_asen(classes_per_attribute, "pp", "r50", **overrides)
