"""FashionSAP's evaluation protocols: FashionGen retrieval (full and subset), CR/SCR, FashionIQ TMIR.

- Retrieval is scored by ITS cosine only, as the released code (no ITM re-ranking). One text per
  product (its first row's description). Full protocol: every validation image against every
  product text (I2T: rank of the product's text; T2I: best rank over the product's images).
  Subset protocol: `queries` random products, each with `negatives` other products drawn from the
  query's sub-category first (then its category, its fashion symbol, then any), one random image
  per product, the positive among them; averaged over `draws` draws (FashionViL's protocol, which
  the paper follows; the released FashionSAP code draws once).
- CR / SCR: accuracy and macro-F (sklearn ``f1_score(average="macro")``) over every validation
  image, as the released code computes them.
- TMIR: per category, the gallery is the union of candidate and target images of that category's
  validation captions (the reference image is not removed); R@K of the target.
All recalls are in percent.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score
from torch import Tensor

from fashion_lib.data.masking import TextProcessor
from fashion_lib.data.taxonomy import (
    FASHIONGEN_CATEGORIES,
    FASHIONIQ_CATEGORIES,
    SYMBOLS,
    symbol_of,
)
from fashion_lib.data.vl_data import FashionGenSplit, FashionIQSplit, model_input
from fashion_lib.engine.seeding import make_generator
from fashion_lib.models.fashionsap import FashionSAP
from fashion_lib.models.fashionsap_tasks import FashionSAPClassifier, FashionSAPTMIR

__all__ = [
    "encode_retrieval",
    "full_protocol",
    "hits_at_k",
    "recognition_metrics",
    "subset_negatives",
    "subset_protocol",
    "tmir_metrics",
]

KS = (1, 5, 10)


def hits_at_k(scores: Tensor, relevant: Tensor, ks: Sequence[int]) -> dict[int, float]:
    """Percent of queries with a relevant candidate in the top k (the best relevant rank counts).

    Hand-written because FashionSAP's T2I counts a hit when *any* image of the product is in the
    top k (`metrics.recall_at_k` would give the fraction of them). Ties count against the query,
    so a collapsed model whose scores are all equal scores 0, not 100.

    Args:
        scores: (Q, C) similarities; relevant: (Q, C) bool, at least one True per row.
        ks: cut-offs.
    """
    best = scores.masked_fill(~relevant, float("-inf")).max(dim=1).values  # (Q,)
    rank = ((scores >= best[:, None]) & ~relevant).sum(dim=1)  # (Q,) 0 = first
    return {k: 100.0 * (rank < k).float().mean().item() for k in ks}


@torch.no_grad()
def encode_retrieval(
    model: FashionSAP, split: FashionGenSplit, text: TextProcessor, size: int, batch: int
) -> tuple[Tensor, Tensor, Tensor]:
    """ITS embeddings of every image (N, E), of one text per product (P, E), and image -> product.

    Returns:
        image_emb, text_emb and (N,) the product index (0..P-1, order of ``split.products()``)
        of every image.
    """
    model.eval()
    groups = list(split.products().values())
    owner = torch.empty(len(split), dtype=torch.long)
    for p, rows in enumerate(groups):
        owner[rows] = p
    images = []
    for lo in range(0, len(split), batch):
        rows = list(range(lo, min(lo + batch, len(split))))
        images.append(model.encode_image(model_input(split.images(rows), size)).emb)
    texts = []
    rng = np.random.default_rng(0)  # plain text: nothing random is drawn
    for lo in range(0, len(groups), batch):
        tb = text.collate([split.records[g[0]].sample for g in groups[lo : lo + batch]], rng)
        texts.append(model.encode_text(tb.input_ids, tb.attention_mask).emb)
    return torch.cat(images), torch.cat(texts), owner


def full_protocol(image_emb: Tensor, text_emb: Tensor, owner: Tensor) -> dict[str, float]:
    """I2T and T2I R@1/5/10 over the whole split, and their mean R@1."""
    sim = image_emb @ text_emb.t()  # (N, P)
    relevant = owner[:, None] == torch.arange(len(text_emb))[None, :]  # (N, P)
    i2t, t2i = hits_at_k(sim, relevant, KS), hits_at_k(sim.t(), relevant.t(), KS)
    return _named(i2t, t2i)


def _named(i2t: dict[int, float], t2i: dict[int, float]) -> dict[str, float]:
    out = {f"i2t_r{k}": v for k, v in i2t.items()} | {f"t2i_r{k}": v for k, v in t2i.items()}
    out["mean_r1"] = (i2t[1] + t2i[1]) / 2
    return out


def subset_negatives(query: int, labels: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """`n` negative products for `query`, by tiers of shared labels.

    Args:
        query: product index.
        labels: (P, 3) sub-category, category and fashion-symbol index of every product.
        n: negatives wanted (at most P - 1).
        generator: the draw's randomness (order inside a tier).

    Returns:
        (n,) product indices: the query's sub-category first, then its category, its symbol, any.
    """
    others = torch.arange(len(labels)) != query  # (P,)
    same = labels == labels[query]  # (P, 3)
    tiers = [same[:, 0], same[:, 1] & ~same[:, 0], same[:, 2] & ~same[:, 1], ~same[:, 2]]
    picked = []
    for tier in tiers:
        members = torch.nonzero(tier & others).squeeze(1)
        picked.append(members[torch.randperm(len(members), generator=generator)])
    return torch.cat(picked)[:n]


def product_labels(split: FashionGenSplit) -> Tensor:
    """(P, 3) sub-category, category and symbol index of every product (first row's labels)."""
    rows = [r[0] for r in split.products().values()]
    symbols = [
        SYMBOLS.index(symbol_of(FASHIONGEN_CATEGORIES[int(c)])) for c in split.categories[rows]
    ]
    return torch.stack(
        [split.subcategories[rows], split.categories[rows], torch.tensor(symbols)], dim=1
    )


def subset_protocol(
    image_emb: Tensor,
    text_emb: Tensor,
    owner: Tensor,
    labels: Tensor,
    queries: int,
    negatives: int,
    draws: int,
    seed: int = 0,
) -> dict[str, float]:
    """The subset protocol: mean over `draws` of I2T / T2I R@1/5/10 among 1 + `negatives`.

    Also returns ``same_subcategory``: the percent of negatives that share the query's
    sub-category (100 in the paper; lower when the proxy's sub-categories are small).
    """
    n_products = len(text_emb)
    negatives, queries = min(negatives, n_products - 1), min(queries, n_products)
    views = [torch.nonzero(owner == p).squeeze(1) for p in range(n_products)]
    totals: dict[str, float] = {}
    shared = 0.0
    for draw in range(draws):
        g = make_generator(seed, draw)
        chosen = torch.randperm(n_products, generator=g)[:queries]
        i2t_s, t2i_s = [], []
        for q in chosen.tolist():
            cands = torch.cat([subset_negatives(q, labels, negatives, g), torch.tensor([q])])
            shared += (labels[cands[:-1], 0] == labels[q, 0]).float().mean().item()
            pick = [
                views[int(c)][torch.randint(len(views[int(c)]), (1,), generator=g)] for c in cands
            ]
            images = torch.cat(pick)  # (C,) one random image per candidate product
            i2t_s.append(image_emb[images[-1]] @ text_emb[cands].t())  # (C,)
            t2i_s.append(text_emb[q] @ image_emb[images].t())
        relevant = torch.zeros(queries, negatives + 1, dtype=torch.bool)
        relevant[:, -1] = True
        scores = _named(
            hits_at_k(torch.stack(i2t_s), relevant, KS), hits_at_k(torch.stack(t2i_s), relevant, KS)
        )
        for key, value in scores.items():
            totals[key] = totals.get(key, 0.0) + value / draws
    totals["same_subcategory"] = 100.0 * shared / (draws * queries)
    return totals


@torch.no_grad()
def recognition_metrics(
    model: FashionSAPClassifier,
    split: FashionGenSplit,
    text: TextProcessor,
    labels: Tensor,
    size: int,
    batch: int,
) -> dict[str, float]:
    """Accuracy, macro-F and micro-F (percent, sklearn) of every image of `split`.

    Args:
        labels: (N,) the true class of every row (categories or sub-categories).
    """
    model.eval()
    predicted = []
    rng = np.random.default_rng(0)
    for lo in range(0, len(split), batch):
        rows = list(range(lo, min(lo + batch, len(split))))
        tb = text.collate([split.records[i].sample for i in rows], rng)
        out = model(model_input(split.images(rows), size), tb.input_ids, tb.attention_mask)
        predicted.append(out.logits.argmax(dim=1))
    y_true, y_pred = labels.numpy(), torch.cat(predicted).numpy()
    return {
        "acc": 100.0 * accuracy_score(y_true, y_pred),
        "macro_f": 100.0 * f1_score(y_true, y_pred, average="macro"),
        "micro_f": 100.0 * f1_score(y_true, y_pred, average="micro"),
    }


@torch.no_grad()
def tmir_metrics(
    model: FashionSAPTMIR, split: FashionIQSplit, text: TextProcessor, size: int, batch: int
) -> dict[str, float]:
    """R@1/5/10/50 per FashionIQ category (``<category>/r<k>``) and their mean (``mean/r<k>``)."""
    model.eval()
    ks, out = (1, 5, 10, 50), {}
    targets = torch.cat(
        [
            model.encode_target(model_input(split.pixels[lo : lo + batch], size))
            for lo in range(0, len(split.asins), batch)
        ]
    )  # (A, E)
    rng = np.random.default_rng(0)
    for category in FASHIONIQ_CATEGORIES:
        triplets = [t for t in split.triplets if t.category == category]
        gallery = torch.tensor(split.gallery(category))  # (G,)
        queries = []
        for lo in range(0, len(triplets), batch):
            part = triplets[lo : lo + batch]
            tb = text.collate([t.sample for t in part], rng)
            ref = model_input(split.pixels[[t.candidate for t in part]], size)
            queries.append(model.encode_query(ref, tb.input_ids, tb.attention_mask))
        scores = torch.cat(queries) @ targets[gallery].t()  # (Q, G)
        relevant = torch.tensor([t.target for t in triplets])[:, None] == gallery[None, :]
        for k, v in hits_at_k(scores, relevant, ks).items():
            out[f"{category}/r{k}"] = v
    for k in ks:
        out[f"mean/r{k}"] = float(np.mean([out[f"{c}/r{k}"] for c in FASHIONIQ_CATEGORIES]))
    return out
