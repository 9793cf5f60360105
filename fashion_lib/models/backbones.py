"""Image backbones shared by both papers: CNN feature maps and ViT token sequences.

`create_cnn_backbone` returns a module with ``out_channels`` whose forward maps (B, 3, H, W) images
to a (B, C, h, w) map: the papers' ResNet-50 without its last stage ("resnet50_c4", 1024 x 14 x 14
at 224), ASEN++'s local ResNet-34 ("resnet34_c4", 256 channels) and a small plain CNN for the cpu
profile. `create_vit` returns a module with ``embed_dim`` mapping images to (B, 1 + N, D) tokens
(class first). Nothing here downloads weights: timm models are built with ``pretrained=False``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import timm
import torch
from timm.models.vision_transformer import VisionTransformer
from torch import Tensor, nn

from fashion_lib.errors import ConfigError, DataError

__all__ = ["CNN_BACKBONES", "VIT_SPECS", "SmallCNN", "ViTSpec", "create_cnn_backbone", "create_vit"]

# name -> (timm architecture, index of the last stage kept); stage 3 = "c4" (stride 16).
_TIMM_TRUNCATED = {"resnet50_c4": ("resnet50", 3), "resnet34_c4": ("resnet34", 3)}
CNN_BACKBONES = (*_TIMM_TRUNCATED, "small_cnn")


class TimmTruncated(nn.Module):
    """A timm CNN cut after one stage; forward returns that stage's map.

    Args:
        arch: timm architecture name (e.g. ``"resnet50"``).
        stage: index of the last stage kept (timm ``out_indices`` convention; 3 drops ResNet's
        layer4).
    """

    def __init__(self, arch: str, stage: int) -> None:
        super().__init__()
        # features_only builds the network only up to the requested stage, so layer4 never exists.
        self.body = timm.create_model(
            arch, pretrained=False, features_only=True, out_indices=(stage,)
        )
        self.out_channels = int(self.body.feature_info.channels()[-1])

    def forward(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) -> (B, C, H/16, W/16)."""
        return self.body(images)[-1]


class SmallCNN(nn.Module):
    """A plain VGG-like CNN for the cpu profile: ``stages`` stages, width doubling from ``width``.

    Written by hand because no timm architecture keeps an 8 x 8 map at 64 px with this little
    compute (a ResNet-18 c4 map is 4 x 4 there, too coarse for spatial attention). Each stage is two
    conv3x3-BN-ReLU layers; a 2 x 2 max-pool follows every stage but the last.

    Args:
        width: channels of the first stage.
        stages: number of stages (``stages - 1`` poolings).
    """

    def __init__(self, width: int = 32, stages: int = 4) -> None:
        super().__init__()
        if width < 1 or stages < 1:
            raise ConfigError(f"SmallCNN needs width >= 1 and stages >= 1, got {width}, {stages}")
        layers: list[nn.Module] = []
        in_ch = 3
        for s in range(stages):
            out_ch = width * 2**s
            for _ in range(2):
                layers += [
                    nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False),
                    nn.BatchNorm2d(out_ch),
                    nn.ReLU(inplace=True),
                ]
                in_ch = out_ch
            if s < stages - 1:
                layers.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*layers)
        self.out_channels = in_ch

    def forward(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) -> (B, width * 2**(stages-1), H / 2**(stages-1), W / 2**(stages-1))."""
        return self.body(images)


def create_cnn_backbone(name: str, width: int = 32, weights: str | Path | None = None) -> nn.Module:
    """Build a CNN backbone by name (random init unless ``weights`` is given; never downloads).

    Args:
        name: one of ``CNN_BACKBONES``: "resnet50_c4", "resnet34_c4" or "small_cnn".
        width: first-stage width of "small_cnn" (ignored by the ResNets).
        weights: optional local checkpoint (a state dict, e.g. torchvision's or timm's ImageNet
            ResNet-50 file) to load; keys of the dropped stage and classifier are ignored.

    Returns:
        A module with attribute ``out_channels`` mapping (B, 3, H, W) to (B, out_channels, h, w).

    Raises:
        DataError: if the checkpoint lacks weights the backbone needs.
    """
    if name in _TIMM_TRUNCATED:
        arch, stage = _TIMM_TRUNCATED[name]
        model: nn.Module = TimmTruncated(arch, stage)
    elif name == "small_cnn":
        model = SmallCNN(width=width)
    else:
        raise ConfigError(
            f"unknown CNN backbone {name!r}; choose one of: {', '.join(CNN_BACKBONES)}"
        )
    if weights is not None:
        target = model.body
        state = torch.load(weights, map_location="cpu", weights_only=True)
        try:
            missing = target.load_state_dict(state, strict=False).missing_keys
        except RuntimeError as err:  # shape mismatch: a checkpoint of another architecture
            raise DataError(
                weights, f"not a {name} checkpoint: {str(err).splitlines()[1]}"
            ) from None
        if missing:
            raise DataError(
                weights, f"checkpoint lacks {len(missing)} {name} weights, e.g. {missing[0]}"
            )
    return model


@dataclass(frozen=True)
class ViTSpec:
    """Size of a Vision Transformer (timm ``VisionTransformer`` arguments)."""

    patch_size: int
    embed_dim: int
    depth: int
    num_heads: int


VIT_SPECS: dict[str, ViTSpec] = {
    "vit_b16": ViTSpec(patch_size=16, embed_dim=768, depth=12, num_heads=12),
    "vit_s16": ViTSpec(patch_size=16, embed_dim=384, depth=12, num_heads=6),
    "vit_tiny": ViTSpec(patch_size=8, embed_dim=192, depth=4, num_heads=3),
}


class ViTTokens(nn.Module):
    """A timm VisionTransformer whose forward returns all final tokens (class token first).

    Args:
        spec: the transformer size.
        image_size: input side in pixels (a multiple of ``spec.patch_size``).
        drop_path_rate: stochastic depth rate.
    """

    def __init__(self, spec: ViTSpec, image_size: int, drop_path_rate: float = 0.0) -> None:
        super().__init__()
        if image_size % spec.patch_size:
            raise ConfigError(
                f"image_size {image_size} is not a multiple of patch {spec.patch_size}"
            )
        self.vit = VisionTransformer(
            img_size=image_size,
            patch_size=spec.patch_size,
            embed_dim=spec.embed_dim,
            depth=spec.depth,
            num_heads=spec.num_heads,
            num_classes=0,
            drop_path_rate=drop_path_rate,
        )
        self.embed_dim = spec.embed_dim
        self.num_patches = (image_size // spec.patch_size) ** 2

    def forward(self, images: Tensor) -> Tensor:
        """(B, 3, S, S) -> (B, 1 + N, D) normalised tokens, N = (S / patch)^2."""
        return self.vit.forward_features(images)


def create_vit(name: str, image_size: int, drop_path_rate: float = 0.0) -> ViTTokens:
    """Build a ViT by name (randomly initialised, never downloads).

    Args:
        name: one of ``VIT_SPECS`` ("vit_b16", "vit_s16", "vit_tiny").
        image_size: input side in pixels.
        drop_path_rate: stochastic depth rate.

    Returns:
        A module with ``embed_dim`` mapping (B, 3, S, S) images to (B, 1 + N, D) tokens.
    """
    if name not in VIT_SPECS:
        raise ConfigError(f"unknown ViT {name!r}; choose one of: {', '.join(VIT_SPECS)}")
    return ViTTokens(VIT_SPECS[name], image_size, drop_path_rate)
