"""FashionSAP's named outputs: what the models return and the losses and figures read.

Kept apart from the models and the losses (as ALBEF/LAVIS keep their output classes), so that
both import these and neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from fashion_lib.models.fusion import FusionOutput

__all__ = [
    "ClassifierOutput",
    "FSISOutput",
    "FashionSAPOutput",
    "ITMOutput",
    "ITSOutput",
    "TMIROutput",
    "TokenOutput",
]


@dataclass
class FSISOutput:
    """Adapted, L2-normalised symbol and image features (B, d1) for Eq. (2)."""

    symbol: Tensor
    image: Tensor


@dataclass
class TokenOutput:
    """Token predictions and labels: PTP/MLM (M, V) at labelled positions, TRP (B, L, 2)."""

    logits: Tensor
    labels: Tensor


@dataclass
class ITSOutput:
    """Momentum banks for Eq. (5)-(9): batch momentum rows first, then the queue."""

    image_bank: Tensor
    text_bank: Tensor
    ids: Tensor
    bank_ids: Tensor
    temperature: Tensor
    alpha: float


@dataclass
class ITMOutput:
    """Match logits (P, 2) over H_0 of positive pairs then hard negatives, and labels (P,)."""

    logits: Tensor
    labels: Tensor


@dataclass
class FashionSAPOutput:
    """Everything the losses and the figures need; a task's field is None when it is off."""

    image_emb: Tensor
    text_emb: Tensor
    fused: FusionOutput
    fsis: FSISOutput | None
    ptp: TokenOutput | None
    trp: TokenOutput | None
    its: ITSOutput | None
    itm: ITMOutput | None


@dataclass
class ClassifierOutput:
    """Class logits (B, C) and the fused H_0 (B, d) they come from."""

    logits: Tensor
    h0: Tensor


@dataclass
class TMIROutput:
    """L2-normalised query (from H_f) and target image embeddings (B, E), and tau."""

    query_emb: Tensor
    target_emb: Tensor
    temperature: Tensor
