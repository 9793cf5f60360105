"""FashionSAP's pre-training objectives (Eq. 2-11) and the downstream losses.

Every function takes plain tensors so it can be checked against a hand computation;
`FashionSAPLoss` reads a `FashionSAPOutput` and returns the named terms of Eq. (11), which the
engine sums. Terms of switched-off tasks are absent from the dict.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from fashion_lib.engine.amp import full_precision, wide
from fashion_lib.models.fashionsap_outputs import ClassifierOutput, FashionSAPOutput, TMIROutput

IGNORE = -100


def fsis_loss(symbol: Tensor, image: Tensor) -> Tensor:
    """Fashion Symbol Image Similarity, Eq. (2): mean over b of 1 - (v_img^b . v_sym^b + 1) / 2.

    Eq. (2) prints the 1/B outside "1 - sum"; read literally it would not be a mean. We take the
    mean of the per-pair term, as the released code does (it lies in [0, 1], 0 when aligned).

    Args:
        symbol: (B, d1) L2-normalised adapted symbol features.
        image: (B, d1) L2-normalised adapted image features.
    """
    cosine = (symbol * image).sum(dim=-1)  # (B,)
    return (1.0 - (cosine + 1.0) / 2.0).mean()


def token_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy G over labelled positions (label -100 is ignored); PTP/MLM (Eq. 3), TRP (Eq. 4).

    Args:
        logits: (..., C) scores.
        labels: (...) class ids or -100.

    Returns:
        The mean over labelled positions; 0 (still in the graph) when there are none, where
        cross-entropy's mean would be NaN.
    """
    flat_logits, flat_labels = logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)
    if not (flat_labels != IGNORE).any():
        return flat_logits.sum() * 0.0
    return F.cross_entropy(flat_logits, flat_labels, ignore_index=IGNORE)


def _soft_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    return -(F.log_softmax(logits, dim=1) * targets).sum(dim=1).mean()


def its_loss(
    image: Tensor,
    text: Tensor,
    image_bank: Tensor,
    text_bank: Tensor,
    ids: Tensor,
    bank_ids: Tensor,
    temperature: Tensor | float,
    alpha: float,
) -> Tensor:
    """Image-Text Similarity with momentum distillation, Eq. (5)-(9).

    sim(I, T) compares online image features with the momentum text bank (the batch's momentum
    features followed by the queue), sim(T, I) the reverse (Eq. 5-6). The label y (Eq. 9) is
    ``alpha * softmax(momentum similarities / tau) + (1 - alpha) * y_hard``, where y_hard spreads
    one unit evenly over the bank entries of the same product.

    Args:
        image: (B, D) online image embeddings, L2-normalised.
        text: (B, D) online text embeddings.
        image_bank: (B + K, D) momentum image embeddings of the batch (first B rows), then the
            queue.
        text_bank: (B + K, D) the same for texts.
        ids: (B,) product ids.
        bank_ids: (B + K,) product ids of the bank rows.
        temperature: tau.
        alpha: distillation weight (0: hard labels only).
    """
    with full_precision(image):
        image, text, image_bank, text_bank = map(wide, (image, text, image_bank, text_bank))
        b = image.shape[0]
        positives = (ids[:, None] == bank_ids[None, :]).to(image.dtype)  # (B, B + K)
        hard = positives / positives.sum(dim=1, keepdim=True)
        with torch.no_grad():
            soft_i2t = (image_bank[:b] @ text_bank.t() / temperature).softmax(dim=1)  # (B, B + K)
            soft_t2i = (text_bank[:b] @ image_bank.t() / temperature).softmax(dim=1)
        target_i2t = alpha * soft_i2t + (1 - alpha) * hard
        target_t2i = alpha * soft_t2i + (1 - alpha) * hard
        i2t = _soft_cross_entropy(image @ text_bank.t() / temperature, target_i2t)
        t2i = _soft_cross_entropy(text @ image_bank.t() / temperature, target_t2i)
        return (i2t + t2i) / 2


def itm_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Image-Text Match, Eq. (10): 2-way cross-entropy on the match head over H_0."""
    return F.cross_entropy(logits, labels)


class FashionSAPLoss(nn.Module):
    """Eq. (11): L = L_fsis + L_ptp + L_trp + L_its + L_itm, as named terms of the enabled tasks."""

    def forward(self, out: FashionSAPOutput) -> dict[str, Tensor]:
        """Named loss terms from a `FashionSAPOutput`."""
        terms: dict[str, Tensor] = {}
        if out.fsis is not None:
            terms["fsis"] = fsis_loss(out.fsis.symbol, out.fsis.image)
        if out.ptp is not None:
            terms["ptp"] = token_loss(out.ptp.logits, out.ptp.labels)
        if out.trp is not None:
            terms["trp"] = token_loss(out.trp.logits, out.trp.labels)
        if out.its is not None:
            its = out.its
            terms["its"] = its_loss(
                out.image_emb, out.text_emb, its.image_bank, its.text_bank, its.ids, its.bank_ids,
                its.temperature, its.alpha,
            )  # fmt: skip
        if out.itm is not None:
            terms["itm"] = itm_loss(out.itm.logits, out.itm.labels)
        return terms


def recognition_loss(out: ClassifierOutput, labels: Tensor) -> dict[str, Tensor]:
    """Category / sub-category recognition: cross-entropy on the linear layer over H_0."""
    return {"cls": F.cross_entropy(out.logits, labels)}


def tmir_loss(out: TMIROutput, target_ids: Tensor) -> dict[str, Tensor]:
    """Text-modified image retrieval (Fig. 3): contrast H_f with the in-batch target images.

    Targets that show the same product as a query's target are all positives (spread evenly).

    Args:
        out: query embeddings (from H_f) and target image embeddings, L2-normalised.
        target_ids: (B,) product ids of the target images.
    """
    with full_precision(out.query_emb):
        logits = wide(out.query_emb) @ wide(out.target_emb).t() / out.temperature  # (B, B)
    positives = (target_ids[:, None] == target_ids[None, :]).to(logits.dtype)  # (B, B)
    return {"tmir": _soft_cross_entropy(logits, positives / positives.sum(dim=1, keepdim=True))}
