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

**Ties.** A query's rank is that of its best relevant candidate, 1-based. Under the book's rule,
*pessimistic*, every other candidate scoring exactly the same comes first (rank = 1 + above +
tied), so a collapsed model whose scores are all equal scores 0, never 100; the *average* rule
puts the positive in the middle of its tie (1 + above + tied / 2). Every protocol also reports
``<direction>_tied``: the percent of queries whose positive ties with another candidate, and
`embedding_spread` measures collapse: effective rank and mean pairwise cosine of the embeddings;
`first_choices` measures the hubs that a narrow cone of embeddings produces.

**Evidence.** ``score_retrieval``, ``score_recognition`` and ``score_tmir`` return a `Scored`:
the metrics and the per-query values (`fashion_lib.evidence.PerQuery`) that chapters judge claims
from; ``score_predictions`` and ``tmir_scored`` do the same from any model's predictions or
embeddings (the linear reference rows, `fashionsap_reference`). Groups and keys (the same
query of two models gets the same key):

- ``full/i2t_rank`` ("<product id>|<view>", one per image), ``full/t2i_rank`` ("<product id>|text");
- ``subset/i2t_rank``, ``subset/t2i_rank`` ("<product id>|<draw>");
- ``<protocol>/<direction>_ties``: the other candidates tied with the positive (same keys);
- ``cr/correct``, ``scr/correct`` (0 or 100, "<product id>|<view>");
- ``tmir/rank`` ("<category>|<candidate asin>|<index among the category's captions>").
Ranks follow the pessimistic rule; `evidence.hits_at` turns them into per-query R@k hits (0 or 100).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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
from fashion_lib.errors import ConfigError
from fashion_lib.evidence import PerQuery
from fashion_lib.models.fashionsap import FashionSAP
from fashion_lib.models.fashionsap_tasks import FashionSAPClassifier, FashionSAPTMIR

__all__ = [
    "EVIDENCE",
    "KS",
    "TIE_RULES",
    "Ranks",
    "Scored",
    "balanced",
    "chance_first_choices",
    "chance_full",
    "chance_subset",
    "chance_tmir",
    "embedding_spread",
    "encode_retrieval",
    "encode_tmir",
    "first_choices",
    "full_protocol",
    "full_ranks",
    "hits_at_k",
    "image_owner",
    "positive_ranks",
    "product_labels",
    "recall_at",
    "score_predictions",
    "score_recognition",
    "score_retrieval",
    "score_tmir",
    "subset_negatives",
    "subset_protocol",
    "subset_ranks",
    "tmir_scored",
]

KS = (1, 5, 10)
#: The evidence groups each downstream task records (module docstring), per task.
EVIDENCE: dict[str, tuple[str, ...]] = {
    "retrieval": tuple(
        f"{protocol}/{direction}_{kind}"
        for protocol in ("full", "subset")
        for direction in ("i2t", "t2i")
        for kind in ("rank", "ties")
    ),
    "cr": ("cr/correct",),
    "scr": ("scr/correct",),
    "tmir": ("tmir/rank",),
}
TMIR_KS = (1, 5, 10, 50)
TIE_RULES = ("pessimistic", "average")


@dataclass(frozen=True)
class Ranks:
    """Per query: the 1-based rank of the best relevant candidate, and how many others tie with it.

    Attributes:
        rank: (Q,) float64 (half ranks under the average rule).
        tied: (Q,) int64, other (non-relevant) candidates with exactly the positive's score.
    """

    rank: Tensor
    tied: Tensor


@dataclass(frozen=True)
class Scored:
    """What one evaluation measured: summary metrics and per-query evidence groups."""

    metrics: dict[str, float]
    evidence: dict[str, PerQuery]


def positive_ranks(scores: Tensor, relevant: Tensor, ties: str = "pessimistic") -> Ranks:
    """Rank of each query's best relevant candidate under a tie rule (`TIE_RULES`).

    Args:
        scores: (Q, C) similarities; relevant: (Q, C) bool, at least one True per row.
        ties: "pessimistic" (tied candidates come first) or "average" (middle of the tie).
    """
    if ties not in TIE_RULES:
        raise ConfigError(f"ties must be one of {TIE_RULES}, got {ties!r}")
    best = scores.masked_fill(~relevant, float("-inf")).max(dim=1).values[:, None]  # (Q, 1)
    above = ((scores > best) & ~relevant).sum(dim=1)  # (Q,)
    tied = ((scores == best) & ~relevant).sum(dim=1)  # (Q,)
    share = 1.0 if ties == "pessimistic" else 0.5
    return Ranks(1.0 + above.double() + share * tied.double(), tied)


def recall_at(rank: Tensor, ks: Sequence[int]) -> dict[int, float]:
    """Percent of queries ranked within the top k, for each k."""
    return {k: 100.0 * (rank <= k).double().mean().item() for k in ks}


def hits_at_k(
    scores: Tensor, relevant: Tensor, ks: Sequence[int], ties: str = "pessimistic"
) -> dict[int, float]:
    """Percent of queries with a relevant candidate in the top k (the best relevant rank counts).

    Hand-written because FashionSAP's T2I counts a hit when *any* image of the product is in the
    top k (`metrics.recall_at_k` would give the fraction of them). Ties follow `ties` (the module
    docstring); under the default rule a collapsed model whose scores all tie scores 0, not 100.

    Args:
        scores: (Q, C) similarities; relevant: (Q, C) bool, at least one True per row.
        ks: cut-offs.
    """
    return recall_at(positive_ranks(scores, relevant, ties).rank, ks)


def balanced(parts: Mapping[str, PerQuery]) -> PerQuery:
    """Pool named parts' queries so that their plain mean is the mean of the parts' means.

    Each part's values are scaled by (all queries) / (parts x its queries) and its keys prefixed
    with its name ("<part>|<key>"), so a claim on "Mean R@1" (mean of I2T and T2I) or on a mean
    over FashionIQ's categories is judged on one pool of paired queries.
    """
    total = sum(len(p.values) for p in parts.values())
    keys = [np.char.add(f"{name}|", p.keys.astype(str)) for name, p in parts.items()]
    scaled = [p.values * (total / (len(parts) * len(p.values))) for p in parts.values()]
    return PerQuery(np.concatenate(keys), np.concatenate(scaled))


def embedding_spread(emb: Tensor) -> dict[str, float]:
    """How spread out L2-normalised embeddings (N, E) are; collapse shows as rank 1 and cosine 1.

    Returns:
        ``effective_rank``: exp of the entropy of the normalised singular values (Roy and
        Vetterli 2007; 1 when all rows are one vector); ``mean_cos``: mean cosine over distinct
        pairs of rows; ``distinct``: percent of rows that are not an exact copy of another.
    """
    emb = emb.double()
    s = torch.linalg.svdvals(emb)
    p = s / s.sum()
    p = p[p > 0]
    n = len(emb)
    total = emb.sum(dim=0)
    mean_cos = ((total @ total - (emb * emb).sum()) / (n * (n - 1))).item() if n > 1 else 1.0
    distinct = 100.0 * len(torch.unique(emb, dim=0)) / n
    return {
        "effective_rank": torch.exp(-(p * p.log()).sum()).item(),
        "mean_cos": mean_cos,
        "distinct": distinct,
    }


def first_choices(scores: Tensor) -> float:
    """Percent of candidates that are some query's first choice in (Q, C) `scores`.

    Low values mean hubs: a few candidates come first for most queries, as when embeddings
    crowd into a narrow cone; R@1 then counts little more than the hubs' own queries. A random
    ranking gives `chance_first_choices`.
    """
    return 100.0 * len(torch.unique(scores.argmax(dim=1))) / scores.shape[1]


def chance_first_choices(queries: int, candidates: int) -> float:
    """Expected `first_choices` of a uniformly random ranking: 100 (1 - (1 - 1/C)^Q)."""
    return 100.0 * (1 - (1 - 1 / candidates) ** queries)


def image_owner(split: FashionGenSplit) -> Tensor:
    """(N,) the product index (0..P-1, order of ``split.products()``) of every image."""
    owner = torch.empty(len(split), dtype=torch.long)
    for p, rows in enumerate(split.products().values()):
        owner[rows] = p
    return owner


def _query_keys(split: FashionGenSplit) -> tuple[np.ndarray, np.ndarray]:
    """Evidence keys of every image ("<product id>|<view>") and product ids in product order."""
    keys = np.empty(len(split), dtype=object)
    for pid, rows in split.products().items():
        for view, row in enumerate(rows):
            keys[row] = f"{pid}|{view}"
    return keys.astype(str), np.array([str(p) for p in split.products()])


@torch.no_grad()
def encode_retrieval(
    model: FashionSAP, split: FashionGenSplit, text: TextProcessor, size: int, batch: int
) -> tuple[Tensor, Tensor, Tensor]:
    """ITS embeddings of every image (N, E), of one text per product (P, E), and `image_owner`."""
    model.eval()
    groups = list(split.products().values())
    images = []
    for lo in range(0, len(split), batch):
        rows = list(range(lo, min(lo + batch, len(split))))
        images.append(model.encode_image(model_input(split.images(rows), size)).emb)
    texts = []
    rng = np.random.default_rng(0)  # plain text: nothing random is drawn
    for lo in range(0, len(groups), batch):
        tb = text.collate([split.records[g[0]].sample for g in groups[lo : lo + batch]], rng)
        texts.append(model.encode_text(tb.input_ids, tb.attention_mask).emb)
    return torch.cat(images), torch.cat(texts), image_owner(split)


def full_ranks(image_emb: Tensor, text_emb: Tensor, owner: Tensor) -> dict[str, Ranks]:
    """Pessimistic `Ranks` of the full protocol: ``i2t`` per image (N), ``t2i`` per product (P)."""
    sim = image_emb @ text_emb.t()  # (N, P)
    relevant = owner[:, None] == torch.arange(len(text_emb))[None, :]  # (N, P)
    return {"i2t": positive_ranks(sim, relevant), "t2i": positive_ranks(sim.t(), relevant.t())}


def _summary(ranks: dict[str, Ranks]) -> dict[str, float]:
    """R@1/5/10 per direction, their mean R@1 and the percent of queries whose positive ties."""
    out: dict[str, float] = {}
    for direction, r in ranks.items():
        out |= {f"{direction}_r{k}": v for k, v in recall_at(r.rank, KS).items()}
    out["mean_r1"] = (out["i2t_r1"] + out["t2i_r1"]) / 2
    for direction, r in ranks.items():
        out[f"{direction}_tied"] = 100.0 * (r.tied > 0).double().mean().item()
    return out


def full_protocol(image_emb: Tensor, text_emb: Tensor, owner: Tensor) -> dict[str, float]:
    """I2T and T2I R@1/5/10 over the whole split, their mean R@1 and the tied shares."""
    return _summary(full_ranks(image_emb, text_emb, owner))


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


@dataclass(frozen=True)
class SubsetRanks:
    """The subset protocol's queries: product index (D, Q) per draw and query, their `Ranks`
    flattened draw-major (D * Q), and the percent of negatives sharing the query's sub-category."""

    products: Tensor
    i2t: Ranks
    t2i: Ranks
    same_subcategory: float


def subset_ranks(
    image_emb: Tensor,
    text_emb: Tensor,
    owner: Tensor,
    labels: Tensor,
    queries: int,
    negatives: int,
    draws: int,
    seed: int = 0,
) -> SubsetRanks:
    """Pessimistic ranks of every query of every draw among its 1 + `negatives` candidates.

    The draws depend only on `seed` and the split, so two models scored with the same seed meet
    the same queries, negatives and images.
    """
    n_products = len(text_emb)
    negatives, queries = min(negatives, n_products - 1), min(queries, n_products)
    views = [torch.nonzero(owner == p).squeeze(1) for p in range(n_products)]
    products, i2t_s, t2i_s = [], [], []
    shared = 0.0
    for draw in range(draws):
        g = make_generator(seed, draw)
        chosen = torch.randperm(n_products, generator=g)[:queries]
        products.append(chosen)
        for q in chosen.tolist():
            cands = torch.cat([subset_negatives(q, labels, negatives, g), torch.tensor([q])])
            shared += (labels[cands[:-1], 0] == labels[q, 0]).float().mean().item()
            pick = [
                views[int(c)][torch.randint(len(views[int(c)]), (1,), generator=g)] for c in cands
            ]
            images = torch.cat(pick)  # (C,) one random image per candidate product
            i2t_s.append(image_emb[images[-1]] @ text_emb[cands].t())  # (C,)
            t2i_s.append(text_emb[q] @ image_emb[images].t())
    relevant = torch.zeros(draws * queries, negatives + 1, dtype=torch.bool)
    relevant[:, -1] = True
    return SubsetRanks(
        torch.stack(products),
        positive_ranks(torch.stack(i2t_s), relevant),
        positive_ranks(torch.stack(t2i_s), relevant),
        100.0 * shared / (draws * queries),
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

    Also returns the tied shares and ``same_subcategory``: the percent of negatives that share
    the query's sub-category (100 in the paper; lower when the proxy's sub-categories are small).
    Every draw has as many queries, so the mean over draws is the mean over all queries.
    """
    r = subset_ranks(image_emb, text_emb, owner, labels, queries, negatives, draws, seed)
    return _summary({"i2t": r.i2t, "t2i": r.t2i}) | {"same_subcategory": r.same_subcategory}


def score_retrieval(
    image_emb: Tensor,
    text_emb: Tensor,
    split: FashionGenSplit,
    queries: int,
    negatives: int,
    draws: int,
    seed: int,
) -> Scored:
    """Both protocols on `split`'s embeddings: ``full/<m>`` and ``subset/<m>`` metrics, the
    embeddings' spread (``spread/<image|text>_<m>``, `embedding_spread`), the full protocol's
    ``<direction>_first_choices`` (`first_choices`) and the evidence."""
    owner = image_owner(split)
    image_keys, product_ids = _query_keys(split)
    full = full_ranks(image_emb, text_emb, owner)
    sub = subset_ranks(
        image_emb, text_emb, owner, product_labels(split), queries, negatives, draws, seed
    )
    subset_keys = np.array(
        [f"{product_ids[p]}|{d}" for d, row in enumerate(sub.products.tolist()) for p in row]
    )
    keys = {
        "full/i2t": (image_keys, full["i2t"]),
        "full/t2i": (np.char.add(product_ids, "|text"), full["t2i"]),
        "subset/i2t": (subset_keys, sub.i2t),
        "subset/t2i": (subset_keys, sub.t2i),
    }
    evidence = {}
    for name, (k, r) in keys.items():
        evidence[f"{name}_rank"] = PerQuery(k, r.rank.numpy())
        evidence[f"{name}_ties"] = PerQuery(k, r.tied.double().numpy())
    metrics = {f"full/{k}": v for k, v in _summary(full).items()}
    metrics |= {f"subset/{k}": v for k, v in _summary({"i2t": sub.i2t, "t2i": sub.t2i}).items()}
    metrics["subset/same_subcategory"] = sub.same_subcategory
    for side, emb in (("image", image_emb), ("text", text_emb)):
        metrics |= {f"spread/{side}_{k}": v for k, v in embedding_spread(emb).items()}
    sim = image_emb @ text_emb.t()  # (N, P)
    metrics["full/i2t_first_choices"] = first_choices(sim)
    metrics["full/t2i_first_choices"] = first_choices(sim.t())
    return Scored(metrics, evidence)


def chance_full(owner: Tensor, ks: Sequence[int] = KS) -> dict[str, float]:
    """R@k (percent) of a uniformly random ranking under the full protocol (no ties).

    I2T: one relevant text among P, k / P. T2I: a product with v of the N images is hit when
    one of them is in the top k: 1 - C(N - v, k) / C(N, k), averaged over products.
    """
    n, views = len(owner), torch.bincount(owner).double()  # (P,)
    out = {}
    for k in ks:
        out[f"i2t_r{k}"] = 100.0 * min(1.0, k / len(views))
        miss = torch.ones_like(views)
        for j in range(min(k, n)):  # C(N - v, k) / C(N, k) as a product of k ratios
            miss *= ((n - views - j) / (n - j)).clamp(min=0)
        out[f"t2i_r{k}"] = 100.0 * (1 - miss).mean().item()
    if 1 in ks:
        out["mean_r1"] = (out["i2t_r1"] + out["t2i_r1"]) / 2
    return out


def chance_subset(negatives: int, ks: Sequence[int] = KS) -> dict[str, float]:
    """R@k (percent) of a random ranking of 1 + `negatives` candidates, both directions."""
    hit = {k: 100.0 * min(1.0, k / (negatives + 1)) for k in ks}
    out = {f"{d}_r{k}": v for d in ("i2t", "t2i") for k, v in hit.items()}
    if 1 in ks:
        out["mean_r1"] = hit[1]
    return out


def chance_tmir(split: FashionIQSplit, ks: Sequence[int] = TMIR_KS) -> dict[str, float]:
    """R@k (percent) of a random ranking of each category's gallery (one target per query),
    per category (``<category>/r<k>``) and their mean (``mean/r<k>``)."""
    out = {}
    for category in FASHIONIQ_CATEGORIES:
        size = len(split.gallery(category))
        for k in ks:
            out[f"{category}/r{k}"] = 100.0 * min(1.0, k / size)
    for k in ks:
        out[f"mean/r{k}"] = float(np.mean([out[f"{c}/r{k}"] for c in FASHIONIQ_CATEGORIES]))
    return out


@torch.no_grad()
def score_recognition(
    model: FashionSAPClassifier,
    split: FashionGenSplit,
    text: TextProcessor,
    labels: Tensor,
    size: int,
    batch: int,
    group: str,
) -> Scored:
    """Accuracy, macro-F and micro-F (percent, sklearn) of every image of `split`, and each
    image's correctness (0 or 100) as evidence group `group` ("cr/correct" or "scr/correct").

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
    return score_predictions(labels, torch.cat(predicted), split, group)


def score_predictions(
    labels: Tensor, predicted: Tensor, split: FashionGenSplit, group: str
) -> Scored:
    """`score_recognition`'s metrics and evidence from (N,) true and predicted classes of every
    row of `split`, whatever model predicted them."""
    y_true, y_pred = labels.numpy(), predicted.numpy()
    metrics = {
        "acc": 100.0 * accuracy_score(y_true, y_pred),
        "macro_f": 100.0 * f1_score(y_true, y_pred, average="macro"),
        "micro_f": 100.0 * f1_score(y_true, y_pred, average="micro"),
    }
    correct = PerQuery(_query_keys(split)[0], 100.0 * (y_true == y_pred))
    return Scored(metrics, {group: correct})


@torch.no_grad()
def score_tmir(
    model: FashionSAPTMIR, split: FashionIQSplit, text: TextProcessor, size: int, batch: int
) -> Scored:
    """R@1/5/10/50 per FashionIQ category (``<category>/r<k>``), their mean (``mean/r<k>``), the
    percent of queries whose target ties (``<category>/tied``), and ``tmir/rank`` evidence."""
    return tmir_scored(split, *encode_tmir(model, split, text, size, batch))


@torch.no_grad()
def encode_tmir(
    model: FashionSAPTMIR, split: FashionIQSplit, text: TextProcessor, size: int, batch: int
) -> tuple[Tensor, Tensor]:
    """Query embeddings (T, E) of every triplet (``split.triplets`` order) and target embeddings
    (A, E) of every image (``split.asins`` order)."""
    model.eval()
    targets = torch.cat(
        [
            model.encode_target(model_input(split.pixels[lo : lo + batch], size))
            for lo in range(0, len(split.asins), batch)
        ]
    )  # (A, E)
    rng = np.random.default_rng(0)
    queries = []
    for lo in range(0, len(split.triplets), batch):
        part = split.triplets[lo : lo + batch]
        tb = text.collate([t.sample for t in part], rng)
        ref = model_input(split.pixels[[t.candidate for t in part]], size)
        queries.append(model.encode_query(ref, tb.input_ids, tb.attention_mask))
    return torch.cat(queries), targets


def tmir_scored(split: FashionIQSplit, queries: Tensor, targets: Tensor) -> Scored:
    """`score_tmir`'s metrics and evidence from embeddings, whatever model made them.

    Args:
        queries: (T, E) one query per triplet, in ``split.triplets`` order.
        targets: (A, E) one embedding per image, in ``split.asins`` order.
    """
    out: dict[str, float] = {}
    keys, ranks = [], []
    for category in FASHIONIQ_CATEGORIES:
        index = [i for i, t in enumerate(split.triplets) if t.category == category]
        triplets = [split.triplets[i] for i in index]
        gallery = torch.tensor(split.gallery(category))  # (G,)
        scores = queries[index] @ targets[gallery].t()  # (Q, G)
        relevant = torch.tensor([t.target for t in triplets])[:, None] == gallery[None, :]
        r = positive_ranks(scores, relevant)
        for k, v in recall_at(r.rank, TMIR_KS).items():
            out[f"{category}/r{k}"] = v
        out[f"{category}/tied"] = 100.0 * (r.tied > 0).double().mean().item()
        keys += [f"{category}|{split.asins[t.candidate]}|{i}" for i, t in enumerate(triplets)]
        ranks.append(r.rank)
    for k in TMIR_KS:
        out[f"mean/r{k}"] = float(np.mean([out[f"{c}/r{k}"] for c in FASHIONIQ_CATEGORIES]))
    return Scored(out, {"tmir/rank": PerQuery(np.array(keys), torch.cat(ranks).numpy())})
