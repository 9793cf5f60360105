"""Label-conditioned attention: Spatial (SCA, Algorithm 1) and Channel-wise (CCA, Algorithm 2).

Both modules take a batch of (feature, label) pairs, so many (image, attribute) or (image, class)
pairs are attended in one call. A label is given either as an integer id (looked up in the module's
own embedding table E1/E2) or as a float embedding computed elsewhere (ASEN++ shares one attribute
embedding between its branches).

The ASEN family differs from M3-Net's algorithms only in a few switches, so they are constructor
arguments here, not separate classes:

- ``label_transform=False`` drops W1 (SCA) / W2 (CCA): the label code is the embedding itself. ASEN
  v1's bias-free linear layer on a one-hot vector is exactly an embedding lookup, so this reproduces
  it.
- ``feature_norm=True`` adds ASENv2's BatchNorm after T.
- ``score="conv_tanh"`` replaces the scaled channel sum by ASEN v1's 1x1 convolution and tanh.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fashion_lib.errors import ConfigError

__all__ = ["CCA", "SCA", "CCAOutput", "LabelCode", "SCAOutput"]


class LabelCode(nn.Module):
    """Turns label ids (B,) into embeddings (B, E) with an own table, or passes embeddings through.

    Args:
        num_labels: size of the embedding table; ``None`` if labels always arrive as embeddings.
        label_dim: embedding size E.
    """

    def __init__(self, num_labels: int | None, label_dim: int) -> None:
        super().__init__()
        self.label_dim = label_dim
        self.table = nn.Embedding(num_labels, label_dim) if num_labels else None

    def forward(self, labels: Tensor) -> Tensor:
        """(B,) int ids or (B, E) float embeddings -> (B, E)."""
        if labels.dtype in (torch.int32, torch.int64):
            if self.table is None:
                raise ConfigError("this attention module has no label table; pass embeddings")
            return self.table(labels)  # (B, E)
        if labels.dim() != 2 or labels.shape[1] != self.label_dim:
            raise ConfigError(f"label embeddings must be (B, {self.label_dim}), got {labels.shape}")
        return labels


@dataclass
class SCAOutput:
    """Result of spatial conditional attention.

    Attributes:
        attended: (B, c, h, w) the input map weighted by the attention (phi = alpha * psi).
        attention: (B, h, w) the attention map; it sums to 1 over the h * w positions.
    """

    attended: Tensor
    attention: Tensor


@dataclass
class CCAOutput:
    """Result of channel-wise conditional attention.

    Attributes:
        attended: (B, c) the channel-reweighted feature vector beta * q1.
        attention: (B, c) the channel weights beta in (0, 1).
        pooled: (B, c) q1, the spatial sum of the input map (the input itself for a vector).
    """

    attended: Tensor
    attention: Tensor
    pooled: Tensor


class SCA(nn.Module):
    """Spatial Conditional Attention (Algorithm 1).

    p1 = tanh(T(psi)), p2 = tanh(W1 E1(l)), alpha = softmax_hw(sum_c' p1 * p2 / sqrt(c')), broadcast
    over the c channels.

    Args:
        in_channels: c, channels of the input map.
        attention_dim: c', channels of the common space.
        num_labels: labels of the own embedding table E1 (``None``: labels come as embeddings).
        label_dim: size of the label embedding.
        label_transform: apply W1 (c' x E, with bias) to the embedding; False needs label_dim == c'.
        feature_norm: BatchNorm after T (ASENv2).
        score: "scaled_sum" (Algorithm 1) or "conv_tanh" (ASEN v1: 1x1 conv c' -> 1, then tanh).
    """

    def __init__(
        self,
        in_channels: int,
        attention_dim: int,
        num_labels: int | None,
        label_dim: int,
        label_transform: bool = True,
        feature_norm: bool = False,
        score: Literal["scaled_sum", "conv_tanh"] = "scaled_sum",
    ) -> None:
        super().__init__()
        if not label_transform and label_dim != attention_dim:
            raise ConfigError("SCA without W1 needs label_dim == attention_dim")
        if score not in ("scaled_sum", "conv_tanh"):
            raise ConfigError(f"unknown SCA score {score!r}")
        self.code = LabelCode(num_labels, label_dim)
        transform: list[nn.Module] = [nn.Conv2d(in_channels, attention_dim, 1)]
        if feature_norm:
            transform.append(nn.BatchNorm2d(attention_dim))
        self.feature_transform = nn.Sequential(*transform)  # T
        self.label_transform = nn.Linear(label_dim, attention_dim) if label_transform else None
        self.score_conv = nn.Conv2d(attention_dim, 1, 1) if score == "conv_tanh" else None
        self.scale = 1.0 / math.sqrt(attention_dim)

    def forward(self, features: Tensor, labels: Tensor) -> SCAOutput:
        """Attend ``features`` (B, c, h, w) to ``labels`` ((B,) ids or (B, E) embeddings)."""
        b, _, h, w = features.shape
        p1 = torch.tanh(self.feature_transform(features))  # (B, c', h, w)
        code = self.code(labels)  # (B, E)
        if self.label_transform is not None:
            code = self.label_transform(code)  # (B, c')
        p2 = torch.tanh(code)[:, :, None, None]  # (B, c', 1, 1), broadcast = J_{1,h,w}
        if self.score_conv is None:
            logits = (p1 * p2).sum(dim=1) * self.scale  # (B, h, w)
        else:
            logits = torch.tanh(self.score_conv(p1 * p2)).squeeze(1)  # (B, h, w)
        attention = F.softmax(logits.reshape(b, h * w), dim=1).reshape(b, h, w)  # (B, h, w)
        attended = features * attention[:, None]  # (B, c, h, w), broadcast = J_{c,1}
        return SCAOutput(attended=attended, attention=attention)


class CCA(nn.Module):
    """Channel-wise Conditional Attention (Algorithm 2).

    q1 = sum_hw psi, q2 = relu(W2 E2(l)), beta = sigmoid(W4 relu(W3 [q1; q2])); output beta * q1.

    Args:
        in_channels: c, channels of the input map or vector.
        hidden_dim: rows of W3 (c' in the paper; ASEN: 512, ASEN++: c / 2).
        num_labels: labels of the own embedding table E2 (``None``: labels come as embeddings).
        label_dim: size of the label embedding (and of q2).
        label_transform: apply W2 (E x E, with bias) before the relu; False uses relu(E2(l)) (ASEN
        v1).
    """

    def __init__(
        self,
        in_channels: int,
        hidden_dim: int,
        num_labels: int | None,
        label_dim: int,
        label_transform: bool = True,
    ) -> None:
        super().__init__()
        self.code = LabelCode(num_labels, label_dim)
        self.label_transform = nn.Linear(label_dim, label_dim) if label_transform else None
        self.w3 = nn.Linear(in_channels + label_dim, hidden_dim)
        self.w4 = nn.Linear(hidden_dim, in_channels)

    def forward(self, features: Tensor, labels: Tensor) -> CCAOutput:
        """Attend ``features`` ((B, c, h, w) map or (B, c) vector) to ``labels`` (ids or codes)."""
        q1 = features.flatten(2).sum(dim=2) if features.dim() == 4 else features  # (B, c)
        code = self.code(labels)  # (B, E)
        if self.label_transform is not None:
            code = self.label_transform(code)
        q2 = F.relu(code)  # (B, E)
        beta = torch.sigmoid(self.w4(F.relu(self.w3(torch.cat([q1, q2], dim=1)))))  # (B, c)
        return CCAOutput(attended=beta * q1, attention=beta, pooled=q1)
