"""Chapter 08's pictures: what a retrieval model returns for a caption, and for a FashionIQ edit.

- ``retrieval_embeddings(variant, seed, profile)``: ITS embeddings of the validation images and of
  one text per product, with each image's product (`fashionsap_eval.encode_retrieval`).
- ``t2i_rows(split, image_emb, text_emb, owner, products, k)``: for each query product, its caption,
  the top-k validation images and which of them show the product, and the rank of its best image.
- ``load_tmir_model(variant, seed, profile)``: the TMIR-fine-tuned model of a run (eval mode).
- ``tmir_rows(split, queries, targets, triplets, k)``: for FashionIQ triplets, the reference image,
  the edit text, the top-k images of the category's gallery and the target with its rank.
- ``result_rows_figure(rows)``: one row per query: [reference image], the text, the results framed
  green (right) or red (wrong), and the right answer with its rank.
- ``t2i_example(variant, seed, profile, n, k)`` / ``tmir_example(...)``: the rows of the figures
  chapter 08 draws (one query product per category; the first triplet of each FashionIQ category).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import Tensor

from fashion_lib.data.masking import TextProcessor
from fashion_lib.data.vl_data import FashionGenSplit, FashionIQSplit
from fashion_lib.experiments import fashionsap_eval as ev
from fashion_lib.experiments import fashionsap_runs as sap
from fashion_lib.experiments.backbone_pretrain import world_root
from fashion_lib.experiments.fashionsap_pretrain import (
    downstream_base,
    fashiongen_split,
    fashioniq_split,
    plain_text,
    run_weights,
    tokenizer,
)
from fashion_lib.models.fashionsap_tasks import FashionSAPTMIR
from fashion_lib.viz import FALSE_COLOUR, TRUE_COLOUR

__all__ = [
    "ResultRow",
    "load_tmir_model",
    "result_rows_figure",
    "retrieval_embeddings",
    "t2i_example",
    "t2i_rows",
    "tmir_example",
    "tmir_rows",
]

DISPLAY_SIZE = 128  # FashionIQ images are drawn at this side, whatever size the model reads


@dataclass(frozen=True)
class ResultRow:
    """One query of a figure: its text, top-k images with their correctness, and the answer.

    Attributes:
        text: the caption (T2I) or the edit text (TMIR).
        results: k images (H, W, 3) uint8, best first; correct: k booleans.
        answer: the right image and its 1-based rank; reference: TMIR's reference image.
    """

    text: str
    results: list[np.ndarray]
    correct: list[bool]
    answer: np.ndarray
    rank: int
    reference: np.ndarray | None = None


def _hwc(images: Tensor) -> list[np.ndarray]:
    return list(images.permute(0, 2, 3, 1).numpy())  # (B, 3, H, W) -> B x (H, W, 3)


def retrieval_embeddings(variant: str, seed: int, profile: str) -> tuple[Tensor, Tensor, Tensor]:
    """Image (N, E) and product-text (P, E) embeddings of the validation split, and the owner of
    every image (N,), under the variant's retrieval-fine-tuned model."""
    s = sap.sap_settings(profile)
    split = fashiongen_split(str(world_root(profile)), "validation")
    model = sap.load_retrieval_model(variant, seed, profile)
    text = TextProcessor(tokenizer(), plain_text(profile))
    return ev.encode_retrieval(model, split, text, s.image_size, s.eval_batch)


def t2i_rows(
    split: FashionGenSplit,
    image_emb: Tensor,
    text_emb: Tensor,
    owner: Tensor,
    products: Sequence[int],
    k: int = 5,
) -> list[ResultRow]:
    """Text-to-image results of the given product indices (order of ``split.products()``)."""
    groups = list(split.products().values())
    rows = []
    for p in products:
        scores = text_emb[p] @ image_emb.t()  # (N,)
        order = torch.argsort(scores, descending=True)
        best = int(ev.positive_ranks(scores[None], (owner == p)[None]).rank.item())
        rows.append(
            ResultRow(
                text=split.records[groups[p][0]].sample.caption,
                results=_hwc(split.images(order[:k].tolist())),
                correct=(owner[order[:k]] == p).tolist(),
                answer=_hwc(split.images([groups[p][0]]))[0],
                rank=best,
            )
        )
    return rows


def load_tmir_model(variant: str, seed: int, profile: str) -> FashionSAPTMIR:
    """The TMIR-fine-tuned model of a variant's run (eval mode)."""
    run = sap.tmir_run(variant, seed, profile)
    model = FashionSAPTMIR(downstream_base(variant, seed, profile)[0])
    model.load_state_dict(run_weights(run))
    return model.eval()


def tmir_rows(
    split: FashionIQSplit, queries: Tensor, targets: Tensor, triplets: Sequence[int], k: int = 5
) -> list[ResultRow]:
    """TMIR results of the given triplet indices: each ranks its category's gallery."""
    pixels = _hwc(split.pixels)
    rows = []
    for i in triplets:
        t = split.triplets[i]
        gallery = torch.tensor(split.gallery(t.category))  # (G,)
        scores = queries[i] @ targets[gallery].t()  # (G,)
        order = gallery[torch.argsort(scores, descending=True)]
        rank = int(ev.positive_ranks(scores[None], (gallery == t.target)[None]).rank.item())
        rows.append(
            ResultRow(
                text=t.sample.caption,
                results=[pixels[j] for j in order[:k].tolist()],
                correct=(order[:k] == t.target).tolist(),
                answer=pixels[t.target],
                rank=rank,
                reference=pixels[t.candidate],
            )
        )
    return rows


def _image(ax, image: np.ndarray, colour: str | None = None) -> None:
    ax.imshow(image)
    ax.set_xticks([])
    ax.set_yticks([])
    if colour is not None:
        h, w = image.shape[:2]
        ax.add_patch(Rectangle((-0.5, -0.5), w, h, fill=False, edgecolor=colour, linewidth=4))


def result_rows_figure(rows: Sequence[ResultRow], cell: float = 1.3) -> Figure:
    """One row per query: [reference], text, the k results (green: right, red: wrong), answer."""
    k = len(rows[0].results)
    lead = 2 if rows[0].reference is not None else 1
    fig = Figure(figsize=(cell * (lead + k + 1.4), cell * len(rows) * 1.15))
    widths = [1.0] * (lead - 1) + [1.6] + [1.0] * k + [1.0]
    axes = fig.subplots(len(rows), len(widths), squeeze=False, width_ratios=widths)
    for r, row in enumerate(rows):
        if row.reference is not None:
            _image(axes[r, 0], row.reference)
        text = axes[r, lead - 1]
        text.axis("off")
        text.text(0, 0.5, textwrap.fill(row.text, 28), fontsize=7, va="center", wrap=True)
        for j, (image, right) in enumerate(zip(row.results, row.correct, strict=True)):
            _image(axes[r, lead + j], image, TRUE_COLOUR if right else FALSE_COLOUR)
        _image(axes[r, -1], row.answer, TRUE_COLOUR)
        axes[r, -1].set_xlabel(f"rank {row.rank}", fontsize=7)
    titles = (["reference"] if lead == 2 else []) + ["query text"]
    titles += [f"#{j + 1}" for j in range(k)] + ["right answer"]
    for ax, title in zip(axes[0], titles, strict=True):
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig


def t2i_example(variant: str, seed: int, profile: str, n: int = 4, k: int = 5) -> list[ResultRow]:
    """T2I rows of `n` validation products of different categories (the first of each)."""
    split = fashiongen_split(str(world_root(profile)), "validation")
    firsts: dict[int, int] = {}
    for p, rows in enumerate(split.products().values()):
        firsts.setdefault(int(split.categories[rows[0]]), p)
    return t2i_rows(
        split, *retrieval_embeddings(variant, seed, profile), list(firsts.values())[:n], k
    )


def tmir_example(variant: str, seed: int, profile: str, k: int = 5) -> list[ResultRow]:
    """TMIR rows of the first validation triplet of each FashionIQ category."""
    s = sap.sap_settings(profile)
    split = fashioniq_split(str(world_root(profile)), "val", s.image_size)
    text = TextProcessor(tokenizer(), plain_text(profile))
    model = load_tmir_model(variant, seed, profile)
    queries, targets = ev.encode_tmir(model, split, text, s.image_size, s.eval_batch)
    firsts: dict[str, int] = {}
    for i, t in enumerate(split.triplets):
        firsts.setdefault(t.category, i)
    shown = fashioniq_split(str(world_root(profile)), "val", DISPLAY_SIZE)  # same order, larger
    return tmir_rows(shown, queries, targets, list(firsts.values()), k)
