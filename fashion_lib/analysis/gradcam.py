"""Grad-CAM of FashionSAP's cross-attention (Figure 4), and its score against the part masks.

FashionSAP shows "the cross-attention map in the T2I task using the Grad-CAM method" for the first
layer of the fusion module (Sec. 4.4). We follow ALBEF's recipe (its ``visualization.ipynb`` and
grounding code): run the fusion module on an image-text pair, take the ITM logit of "match" as the
score s, and weigh each cross-attention probability A (B, h, L, N) by its positive gradient:

    cam = mean over heads of A * relu(ds / dA)          (B, L, N)

one map per text token over the image's patch tokens; the global image token v_img is dropped and the
N patches are laid out as the encoder's square grid. A whole-caption map is the mean of the caption
tokens' maps ([CLS], [SEP] and padding excluded). Maps are non-negative by construction.

Score rule (our measurement; neither paper makes one). A caption word that names a garment part
(`PART_WORDS`, e.g. "sleeves" -> sleeves, "trousers" -> legs) is scored on its own map (the mean of
its word pieces' maps) against that part's ground-truth mask (their union for a word naming two);
the whole-caption map is scored against the whole product (the union of all part masks). The score
is the share of the map's mass inside the mask, area-pooled to the map's grid
(`attention_score.attention_mass`): 1 = all mass inside, 0 = none, and the mask's area share is what
a uniform map scores (chance). Words whose part is not visible in the image (an empty mask) are not
scored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch.nn import functional as F
from transformers import BatchEncoding, BertTokenizerFast

from fashion_lib.analysis.attention_score import attention_mass
from fashion_lib.data.atelier.masks import PartMasks
from fashion_lib.data.prompts import words
from fashion_lib.data.vl_data import FashionGenSplit, model_input
from fashion_lib.errors import ConfigError
from fashion_lib.models.fashionsap import FashionSAP

__all__ = [
    "PART_WORDS",
    "GradCAM",
    "NamedPart",
    "encode_captions",
    "gradcam",
    "gradcam_scores",
    "named_parts",
    "score_gradcam",
    "upsample",
]

#: Caption words that name a part of the proxy's garments (``atelier.render.PARTS``). "neck" is
#: said of the neckline ("v neck") and of the neck design ("turtle neck", drawn as the collar part),
#: so it names both; "zip" is drawn as the buttons part, a ruffle as the hem.
_NAMES = {
    "sleeves": ("sleeves", "sleeve", "sleeveless", "cuffs"), "skirt": ("skirt", "silhouette"),
    "legs": ("leg", "legs", "trousers", "jeans", "shorts"), "collar": ("collar",),
    "neckline": ("neckline",), "lapel": ("lapel", "lapels"), "hem": ("hem", "ruffled", "flounce"),
    "pockets": ("pockets", "pocket"),
    "buttons": ("button", "buttons", "buttoned", "placket", "zip", "zipper"),
    "slit": ("slit", "vent"), "trim": ("trim",), "belt": ("belt", "belted"),
    "drape": ("drape", "draped"),
}  # fmt: skip
PART_WORDS: dict[str, tuple[str, ...]] = {w: (part,) for part, ws in _NAMES.items() for w in ws}
PART_WORDS["neck"] = ("neckline", "collar")


@dataclass
class GradCAM:
    """Per-token Grad-CAM maps of one fusion layer.

    Attributes:
        maps: (B, L, h, w) non-negative maps over the image's patch grid, zero on padding tokens.
        score: (B,) the ITM "match" logit the gradients were taken of.
        attention_mask: (B, L) 1 on real tokens.
    """

    maps: Tensor
    score: Tensor
    attention_mask: Tensor

    def caption(self) -> Tensor:
        """(B, h, w) mean map of the caption tokens (real tokens but the first and the last)."""
        keep = self.attention_mask.clone().float()  # (B, L)
        keep[:, 0] = 0  # [CLS]
        keep[torch.arange(len(keep)), self.attention_mask.sum(1) - 1] = 0  # the final [SEP]
        weights = keep / keep.sum(1, keepdim=True).clamp_min(1)
        return torch.einsum("bl,blhw->bhw", weights, self.maps)

    def tokens(self, row: int, positions: Sequence[int]) -> Tensor:
        """(h, w) mean map of the tokens at `positions` of row `row` (the pieces of one word)."""
        return self.maps[row, list(positions)].mean(0)


def gradcam(
    model: FashionSAP, images: Tensor, input_ids: Tensor, attention_mask: Tensor, layer: int = 0
) -> GradCAM:
    """ALBEF-style Grad-CAM of fusion layer `layer` for the ITM score of each image-text pair.

    The model runs in eval mode (no dropout) and its parameters receive no gradient; the mode is
    restored afterwards.

    Args:
        model: a FashionSAP (pre-trained or fine-tuned for retrieval; it needs its ITM head).
        images: (B, 3, S, S) images, normalised as in training.
        input_ids: (B, L) token ids of the paired texts.
        attention_mask: (B, L) 1 on real tokens.
        layer: fusion layer (0 = the first, as in Figure 4).

    Returns:
        The `GradCAM` maps.
    """
    if not 0 <= layer < len(model.fusion.layers):
        raise ConfigError(f"the fusion module has {len(model.fusion.layers)} layers, not {layer}")
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            image = model.image_encoder(images)  # (B, 1 + N, D)
            text = model.text_encoder(input_ids, attention_mask)  # (B, L, d)
            fused = model.fusion(text, attention_mask, image)
            probs = fused.cross_attention[layer]  # (B, h, L, 1 + N)
            score = model.itm_head(fused.hidden[:, 0])[:, 1]  # (B,) "match" logit
            # Pairs do not interact in eval mode, so one backward of the sum gives each its own.
            (grads,) = torch.autograd.grad(score.sum(), probs)
    finally:
        model.train(was_training)
    cam = (probs * grads.clamp_min(0)).mean(1).detach()[..., 1:]  # (B, L, N) without v_img
    side = math.isqrt(cam.shape[-1])
    if side * side != cam.shape[-1]:
        raise ConfigError(f"{cam.shape[-1]} image patches do not form a square grid")
    cam = cam * attention_mask[..., None]  # (B, L, N) zero on padding
    return GradCAM(cam.view(*cam.shape[:2], side, side), score.detach(), attention_mask)


def upsample(maps: Tensor, size: int) -> Tensor:
    """(B, h, w) maps -> (B, size, size), bilinear, for drawing over the image."""
    return F.interpolate(maps[:, None], size=(size, size), mode="bilinear", align_corners=False)[
        :, 0
    ]


def encode_captions(
    tokenizer: BertTokenizerFast, captions: Sequence[str], max_length: int
) -> BatchEncoding:
    """``[CLS] caption [SEP]`` as the plain text of fine-tuning, with each token's word index.

    Captions are split into words as everywhere in the library (`prompts.words`), so word i of
    ``words(caption)`` owns the tokens whose ``encoding.word_ids(row)`` is i.
    """
    return tokenizer(
        [words(c) for c in captions],
        is_split_into_words=True,
        truncation=True,
        max_length=max_length,
        padding=True,
        return_tensors="pt",
    )


@dataclass(frozen=True)
class NamedPart:
    """A caption word that names a part: its row, word, part and token positions."""

    row: int
    word: str
    parts: tuple[str, ...]
    positions: tuple[int, ...]

    @property
    def part(self) -> str:
        """The named part, or parts joined by "/" (e.g. "neckline/collar")."""
        return "/".join(self.parts)


def named_parts(captions: Sequence[str], encoding: BatchEncoding) -> list[NamedPart]:
    """Every word of `PART_WORDS` in the (truncated) encoded captions, with its token positions."""
    found = []
    for row, caption in enumerate(captions):
        caption_words = words(caption)
        spans: dict[int, list[int]] = {}
        for pos, w in enumerate(encoding.word_ids(row)):
            if w is not None:
                spans.setdefault(w, []).append(pos)
        for w, positions in spans.items():
            if caption_words[w] in PART_WORDS:
                parts = PART_WORDS[caption_words[w]]
                found.append(NamedPart(row, caption_words[w], parts, tuple(positions)))
    return found


def score_gradcam(
    cam: GradCAM, captions: Sequence[str], encoding: BatchEncoding, keys: Sequence[str],
    part_masks: PartMasks,
) -> list[dict[str, object]]:  # fmt: skip
    """Score each part word's map against its part and each caption map against the product.

    Args:
        cam: the Grad-CAM of the pairs.
        captions: the B captions that were encoded.
        encoding: their `encode_captions` encoding.
        keys: the B images' keys in `part_masks` (FashionGen: ``"<split>/<row>"``).
        part_masks: the dataset's part masks.

    Returns:
        One record per scored map: row, key, kind ("word" or "caption"), word, part, mass (share
        inside the mask), area (the mask's share of the image, the uniform map's score).
    """
    if not len(captions) == len(keys) == len(cam.maps):
        raise ValueError(f"{len(cam.maps)} maps, {len(captions)} captions and {len(keys)} keys")
    product = [part_masks[k].any(axis=0) for k in keys]  # (H, W) union of the parts
    entries = [
        (r, "caption", "", "product", cam.caption()[r], product[r]) for r in range(len(keys))
    ]
    for n in named_parts(captions, encoding):
        mask = np.any([part_masks.part(keys[n.row], p) for p in n.parts], axis=0)  # (H, W)
        if mask.any():
            entries.append((n.row, "word", n.word, n.part, cam.tokens(n.row, n.positions), mask))
    scores = attention_mass(
        torch.stack([e[4] for e in entries]), torch.from_numpy(np.stack([e[5] for e in entries]))
    )
    return [
        {"row": r, "key": keys[r], "kind": kind, "word": w, "part": p, "mass": float(m),
         "area": float(a)}
        for (r, kind, w, p, _, _), m, a in zip(entries, scores.mass, scores.area, strict=True)
    ]  # fmt: skip


def gradcam_scores(
    model: FashionSAP, tokenizer: BertTokenizerFast, split: FashionGenSplit, split_name: str,
    part_masks: PartMasks, rows: Sequence[int], image_size: int, max_length: int,
    batch_size: int = 32, layer: int = 0,
) -> pd.DataFrame:  # fmt: skip
    """Grad-CAM of every (image, own caption) pair of `rows`, scored against the part masks.

    Args:
        model: the FashionSAP to explain.
        tokenizer: its tokenizer (`prompts.build_tokenizer`).
        split: the FashionGen split the rows belong to.
        split_name: "train" or "validation" (the part masks' keys are ``"<split>/<row>"``).
        part_masks: the FashionGen folder's part masks.
        rows: the rows to explain.
        image_size: the model's input side; max_length: longest token sequence.
        batch_size: pairs per forward pass.
        layer: fusion layer (0 = the first).

    Returns:
        One row per scored map (`score_gradcam`'s records) plus ``itm`` (the pair's match logit)
        and ``lift`` = mass / area (1 = no better than a uniform map).
    """
    records = []
    for start in range(0, len(rows), batch_size):
        chunk = [int(r) for r in rows[start : start + batch_size]]
        captions = [split.records[r].sample.caption for r in chunk]
        encoding = encode_captions(tokenizer, captions, max_length)
        images = model_input(split.images(chunk), image_size)  # (b, 3, S, S)
        cam = gradcam(model, images, encoding["input_ids"], encoding["attention_mask"], layer)
        keys = [f"{split_name}/{r}" for r in chunk]
        for rec in score_gradcam(cam, captions, encoding, keys, part_masks):
            rec["row"], rec["itm"] = chunk[rec["row"]], float(cam.score[rec["row"]])
            records.append(rec)
    table = pd.DataFrame.from_records(records)
    table["lift"] = table["mass"] / table["area"]
    return table
