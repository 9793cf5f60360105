"""FashionSAP's feature fusion module: text self-attention, cross-attention to image tokens, FFN.

Written by hand, for two reasons. transformers 5.x `BertModel` accepts cross-attention only as a
causal decoder (``add_cross_attention`` requires ``is_decoder``, which makes self-attention causal),
while the fusion encoder must see the whole text. And the paper's Grad-CAM (Figure 4) needs the
cross-attention probabilities of Eq. (1) as the very tensors the output is computed from, which
neither SDPA nor ``nn.MultiheadAttention`` (it returns a separate head average) exposes. Each layer
is post-LayerNorm like BERT, so it can start from a pretrained BERT layer (`load_bert_layer`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from transformers.models.bert.modeling_bert import BertLayer

from fashion_lib.errors import ConfigError


class Attention(nn.Module):
    """Multi-head attention softmax(Q K^T / sqrt(d_h)) V, keeping its probabilities.

    Args:
        width: query (and output) width d.
        kv_width: width of the key/value tokens (d for self-attention, the image width for Eq. 1).
        num_heads: heads; d must be divisible by it.
        dropout: dropout on the attention probabilities.
    """

    def __init__(self, width: int, kv_width: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if width % num_heads:
            raise ConfigError(f"width {width} is not divisible by {num_heads} heads")
        self.num_heads, self.head_dim = num_heads, width // num_heads
        self.query = nn.Linear(width, width)  # W_T
        self.key = nn.Linear(kv_width, width)  # W_I1
        self.value = nn.Linear(kv_width, width)  # W_I2
        self.out = nn.Linear(width, width)
        self.dropout = nn.Dropout(dropout)

    def _heads(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)  # (B, h, n, d_h)

    def forward(
        self, x: Tensor, context: Tensor, key_padding: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Attend from `x` (B, L, d) to `context` (B, N, d_kv).

        Args:
            x: queries.
            context: keys and values.
            key_padding: (B, N) True where a context token is padding.

        Returns:
            The output (B, L, d) and the probabilities (B, h, L, N).
        """
        q, k, v = (
            self._heads(self.query(x)),
            self._heads(self.key(context)),
            self._heads(self.value(context)),
        )
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)  # (B, h, L, N)
        if key_padding is not None:
            scores = scores.masked_fill(
                key_padding[:, None, None, :], torch.finfo(scores.dtype).min
            )
        probs = scores.softmax(dim=-1)  # (B, h, L, N)
        mixed = self.dropout(probs) @ v  # (B, h, L, d_h)
        b, _, n, _ = mixed.shape
        return self.out(mixed.transpose(1, 2).reshape(b, n, -1)), probs  # (B, L, d)


class FusionLayer(nn.Module):
    """One fusion layer: x = LN(x + SA(x)); x = LN(x + CA(x, I)) (Eq. 1); x = LN(x + FFN(x)).

    Args:
        width: text width d.
        image_width: image token width.
        num_heads: heads of both attentions.
        ffn_width: hidden width of the feed-forward block.
        dropout: dropout on residual branches and attention probabilities.
        eps: LayerNorm epsilon (BERT's 1e-12).
    """

    def __init__(
        self,
        width: int,
        image_width: int,
        num_heads: int,
        ffn_width: int,
        dropout: float = 0.1,
        eps: float = 1e-12,
    ) -> None:
        super().__init__()
        self.self_attn = Attention(width, width, num_heads, dropout)
        self.norm1 = nn.LayerNorm(width, eps=eps)
        self.cross_attn = Attention(width, image_width, num_heads, dropout)
        self.norm2 = nn.LayerNorm(width, eps=eps)
        self.ffn = nn.Sequential(
            nn.Linear(width, ffn_width), nn.GELU(), nn.Linear(ffn_width, width)
        )
        self.norm3 = nn.LayerNorm(width, eps=eps)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, text_padding: Tensor, image: Tensor) -> tuple[Tensor, Tensor]:
        """(B, L, d) text, (B, L) padding flags, (B, N, d_img) image -> (B, L, d), (B, h, L, N)."""
        attended, _ = self.self_attn(x, x, text_padding)
        x = self.norm1(x + self.drop(attended))
        crossed, probs = self.cross_attn(x, image)
        x = self.norm2(x + self.drop(crossed))
        return self.norm3(x + self.drop(self.ffn(x))), probs

    @torch.no_grad()
    def load_bert_layer(self, layer: BertLayer) -> None:
        """Copy a transformers `BertLayer`'s self-attention and FFN weights (cross-attention stays)."""
        attn, out = layer.attention.self, layer.attention.output
        pairs = [
            (self.self_attn.query, attn.query),
            (self.self_attn.key, attn.key),
            (self.self_attn.value, attn.value),
            (self.self_attn.out, out.dense),
            (self.norm1, out.LayerNorm),
            (self.ffn[0], layer.intermediate.dense),
            (self.ffn[2], layer.output.dense),
            (self.norm3, layer.output.LayerNorm),
        ]
        for mine, theirs in pairs:
            mine.load_state_dict(theirs.state_dict())


@dataclass
class FusionOutput:
    """What the fusion encoder produces.

    Attributes:
        hidden: (B, L, d) hybrid features H (H_0 = ``hidden[:, 0]``).
        cross_attention: per layer, (B, h, L, N) cross-attention probabilities, in the graph
            (call ``retain_grad()`` on them before ``backward`` for Grad-CAM).
    """

    hidden: Tensor
    cross_attention: list[Tensor]


class FusionEncoder(nn.Module):
    """A stack of `FusionLayer`s blending text features T with image tokens I into H.

    Args:
        num_layers: number of layers.
        width: text width d.
        image_width: image token width.
        num_heads: attention heads.
        ffn_width: feed-forward width.
        dropout: dropout rate.
    """

    def __init__(
        self,
        num_layers: int,
        width: int,
        image_width: int,
        num_heads: int,
        ffn_width: int,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            FusionLayer(width, image_width, num_heads, ffn_width, dropout)
            for _ in range(num_layers)
        )

    def load_bert_layers(self, layers: list[BertLayer]) -> int:
        """Start the first layers from pretrained BERT layers; returns how many were loaded."""
        for mine, theirs in zip(self.layers, layers, strict=False):
            mine.load_bert_layer(theirs)
        return min(len(self.layers), len(layers))

    def forward(self, text: Tensor, attention_mask: Tensor, image: Tensor) -> FusionOutput:
        """(B, L, d) text, (B, L) 1/0 mask, (B, N, d_img) image tokens -> `FusionOutput`."""
        padding = attention_mask == 0  # (B, L)
        maps = []
        for layer in self.layers:
            text, probs = layer(text, padding, image)
            maps.append(probs)
        return FusionOutput(hidden=text, cross_attention=maps)
