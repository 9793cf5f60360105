"""Sensitivity to the multi-label threshold gamma, on trained weights (M3-Net, Sec. 3.1).

M3-Net keeps the classes whose head probability exceeds gamma ("with gamma = 0.8, we can exclude on
average 94% of classes for an image") and opens a class-specific space only for them. Sweeping gamma
needs no retraining and not even a second forward pass: the class representation of an (image,
class) pair does not depend on which other classes were selected, so ``embed_all_classes`` encodes
every (row, class) pair once and ``select_spaces`` keeps, for each gamma, the pairs the model's own
rule (``fashion_lib.models.m3net.select_classes``) would have opened.

Two shares are reported per gamma: the paper's (classes with p <= gamma, per image, averaged) and
the model's (after its top-1 floor and its optional ``max_classes`` cap), which retrieval uses.

A third curve is the head that knows nothing but the class rates (``weighted_bce_optimum``). The
rates are those of the rows Eq. 7 is trained on (``sampled_positive_rate``), not of the training
images: every triplet brings two images with its drawn value and one without.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from fashion_lib.data.samplers import TripletSampler
from fashion_lib.models.m3net import select_classes
from fashion_lib.retrieval import ClassSpaces, RetrievalSide, evaluate_retrieval

__all__ = [
    "PAPER_EXCLUDED",
    "PAPER_GAMMA",
    "AllClassEmbedding",
    "GammaPoint",
    "all_class_ids",
    "as_table",
    "embed_all_classes",
    "excluded_per_row",
    "excluded_share",
    "gamma_sweep",
    "prior_excluded_share",
    "sampled_positive_rate",
    "select_spaces",
    "weighted_bce_optimum",
]

#: The paper's figure (Sec. 3.1): gamma = 0.8 excludes on average 94% of the classes of an image.
PAPER_GAMMA = 0.8
PAPER_EXCLUDED = 94.0


@dataclass
class AllClassEmbedding:
    """One side's attribute embeddings, head logits and the embeddings of every (row, class) pair.

    Attributes:
        attribute_embeddings: (n, D) attribute-specific embeddings.
        logits: (n, M_max) multi-label logits of each row's attribute.
        mask: (n, M_max) valid classes of each row's attribute.
        spaces: all (row, class) pairs with their class-specific embeddings.
    """

    attribute_embeddings: Tensor
    logits: Tensor
    mask: Tensor
    spaces: ClassSpaces


@dataclass(frozen=True)
class GammaPoint:
    """Exclusion and retrieval quality at one gamma.

    Attributes:
        gamma: the threshold.
        excluded_threshold: mean share of an image's classes with p <= gamma (the paper's figure).
        excluded_model: the same share after the model's top-1 floor (and its max_classes cap).
        classes_kept: mean number of class spaces opened per row.
        metrics: overall "map_all", "map_k", "recall_k" (percent), empty if not evaluated.
    """

    gamma: float
    excluded_threshold: float
    excluded_model: float
    classes_kept: float
    metrics: dict[str, float]


def excluded_per_row(logits: Tensor, mask: Tensor, gamma: float) -> Tensor:
    """Share of each row's classes whose probability is <= gamma.

    Args:
        logits: (B, M_max) multi-label logits.
        mask: (B, M_max) True for the classes of the row's attribute.
        gamma: the threshold.

    Returns:
        (B,) fractions in [0, 1].
    """
    probs = torch.sigmoid(logits.float())  # (B, M_max)
    return ((probs <= gamma) & mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1)


def excluded_share(logits: Tensor, mask: Tensor, gamma: float) -> float:
    """Mean over rows of ``excluded_per_row``: the paper's "exclude on average 94% of classes"."""
    return float(excluded_per_row(logits, mask, gamma).mean())


def weighted_bce_optimum(pos_rate: Tensor, pos_weight: float) -> Tensor:
    """The probability that minimises Eq. 7's weighted cross-entropy for a class seen at a rate.

    A head that only knows a class's positive rate pi minimises
    -w pi log p - (1 - pi) log(1 - p) at p* = w pi / (w pi + 1 - pi): with w_p = 100, a class on
    1% of the images sits near 0.5, one on 20% near 0.96. Whether gamma = 0.8 excludes most classes
    therefore depends on how rare the classes are, not only on what the image shows.

    Args:
        pos_rate: positive rate of each class, any shape, values in [0, 1].
        pos_weight: w_p of Eq. 7.

    Returns:
        p* of each class, same shape.
    """
    w_pi = pos_weight * pos_rate
    return w_pi / (w_pi + 1 - pos_rate).clamp_min(1e-12)


def prior_excluded_share(
    pos_rate: Tensor,
    attr_ids: Tensor,
    classes_per_attribute: Sequence[int],
    pos_weight: float,
    gamma: float,
) -> float:
    """``excluded_share`` of a head that knows only the class rates (its Eq. 7 optimum p*).

    Args:
        pos_rate: (A, M_max) positive rate of each class (``sampled_positive_rate``).
        attr_ids: (n,) attribute of each evaluated row.
        classes_per_attribute: M_n per attribute.
        pos_weight: w_p of Eq. 7.
        gamma: the threshold.

    Returns:
        The mean over rows of the share of the row's classes with p* <= gamma, in [0, 1].
    """
    p_star = weighted_bce_optimum(pos_rate.double(), pos_weight)[attr_ids]  # (n, M_max)
    mask = all_class_ids(attr_ids, classes_per_attribute) >= 0  # (n, M_max)
    return excluded_share(torch.logit(p_star), mask, gamma)


def sampled_positive_rate(
    sampler: TripletSampler, multihot: Tensor, epochs: int, batch_triplets: int
) -> Tensor:
    """Positive rate of each class over the rows the multi-label head is trained on.

    Eq. 7 acts on every row of a triplet batch, [anchors; positives; negatives], with the multi-hot
    labels of the row's attribute (``experiments.m3net_training.TripletBatches``). The drawn value
    is on 2 of every 3 rows, so the head sees it far more often than its share of the images. A
    head that knew only these rates minimises Eq. 7 on the run's rows exactly at
    ``weighted_bce_optimum(rate, w_p)``.

    Args:
        sampler: the run's triplet sampler (its labels, seed and style).
        multihot: (N_train, A, M_max) training labels of every image and attribute.
        epochs: epochs trained (epoch e draws ``sampler.epoch(e)``).
        batch_triplets: triplets per step; an epoch trains on its first
            ``len(sampler) // batch_triplets`` full batches.

    Returns:
        (A, M_max) float rates: per attribute, the mean label over that attribute's rows (0 for an
        attribute without rows).
    """
    used = len(sampler) // batch_triplets * batch_triplets
    n_attr, n_classes = multihot.shape[1:]
    total = torch.zeros(n_attr, n_classes, dtype=torch.float64)
    rows = torch.zeros(n_attr, dtype=torch.float64)
    for epoch in range(epochs):
        ep = sampler.epoch(epoch)
        parts = (ep.anchor, ep.positive, ep.negative)
        image = torch.cat([torch.from_numpy(x[:used]) for x in parts])  # (3 used,)
        attr = torch.from_numpy(ep.attribute[:used]).repeat(3)  # (3 used,)
        total.index_add_(0, attr, multihot[image, attr].double())
        rows += torch.bincount(attr, minlength=n_attr).double()
    return (total / rows.clamp_min(1)[:, None]).float()


def all_class_ids(attr_ids: Tensor, classes_per_attribute: Sequence[int]) -> Tensor:
    """(B, M_max) class indices 0..M_n - 1 of each row's attribute, -1 beyond M_n."""
    sizes = torch.as_tensor(tuple(classes_per_attribute), device=attr_ids.device)
    m = torch.arange(int(sizes.max()), device=attr_ids.device)  # (M_max,)
    return torch.where(m[None, :] < sizes[attr_ids][:, None], m[None, :], -1)  # (B, M_max)


@torch.no_grad()
def embed_all_classes(
    model: nn.Module, inputs: Tensor, attr_ids: Tensor, batch_size: int = 64
) -> AllClassEmbedding:
    """Encode every (row, class) pair of ``inputs`` with an M3-Net in eval mode.

    Args:
        model: an ``M3Net`` (anything whose forward takes (inputs, attr_ids, class_ids) and returns
            an ``M3NetOutput``); its ``heads.sizes`` give the classes per attribute.
        inputs: (n, ...) what the model's forward reads (images, or cached backbone maps).
        attr_ids: (n,) attribute of each row.
        batch_size: rows per forward pass.

    Returns:
        An ``AllClassEmbedding`` (on the CPU).
    """
    was_training = model.training
    model.eval()
    sizes = tuple(model.heads.sizes.tolist())
    attr, logits, masks, parts, lengths = [], [], [], [], []
    for start in range(0, len(inputs), batch_size):
        x, a = inputs[start : start + batch_size], attr_ids[start : start + batch_size]
        out = model(x, a, class_ids=all_class_ids(a, sizes))
        attr.append(out.attribute_embeddings.cpu())
        logits.append(out.multilabel_logits.cpu())
        masks.append(out.class_mask.cpu())
        parts.append(ClassSpaces(out.pair_image, out.pair_class, out.class_embeddings))
        lengths.append(len(x))
    model.train(was_training)
    return AllClassEmbedding(
        attribute_embeddings=torch.cat(attr),
        logits=torch.cat(logits),
        mask=torch.cat(masks),
        spaces=ClassSpaces.concat(parts, lengths),
    )


def select_spaces(side: AllClassEmbedding, gamma: float, max_classes: int | None) -> ClassSpaces:
    """The pairs M3-Net opens at ``gamma``: its ``select_classes`` rule applied to the logits."""
    chosen = select_classes(side.logits, side.mask, gamma, max_classes)  # (n, K), -1 = none
    image = torch.as_tensor(side.spaces.image).long()
    klass = torch.as_tensor(side.spaces.class_id).long()
    keep = (chosen[image] == klass[:, None]).any(dim=1)  # (P,)
    return ClassSpaces(image[keep], klass[keep], torch.as_tensor(side.spaces.embeddings)[keep])


def gamma_sweep(
    gammas: Sequence[float],
    max_classes: int | None,
    queries: tuple[RetrievalSide, AllClassEmbedding] | None = None,
    candidates: tuple[RetrievalSide, AllClassEmbedding] | None = None,
    relevance: str = "multi",
    k: int = 100,
    logits: tuple[Tensor, Tensor] | None = None,
) -> list[GammaPoint]:
    """Exclusion shares and (optionally) multi-granularity retrieval metrics for each gamma.

    Args:
        gammas: thresholds to try.
        max_classes: the model's cap on class spaces per row (None: no cap, the paper's rule).
        queries: the query side (labels and values) with its ``embed_all_classes`` result; with
            ``candidates`` it enables the retrieval metrics. The exclusion shares are measured on
            the logits of both sides, every evaluated (image, attribute) row once.
        candidates: the candidate side likewise.
        relevance: "multi" or "single" (see ``fashion_lib.retrieval``).
        k: cut-off of MAP@k and Recall@k.
        logits: (logits, mask) to measure exclusion on when no sides are given.

    Returns:
        One ``GammaPoint`` per gamma, in the given order.
    """
    if logits is None:
        sides = [side[1] for side in (queries, candidates) if side is not None]
        if not sides:
            raise ValueError("gamma_sweep needs queries, candidates or logits")
        logits = (torch.cat([s.logits for s in sides]), torch.cat([s.mask for s in sides]))
    lg, mask = logits
    points = []
    for gamma in gammas:
        chosen = select_classes(lg, mask, gamma, max_classes)  # (n, K)
        kept = (chosen >= 0).sum(dim=1).float()  # (n,)
        model_share = float((1 - kept / mask.sum(dim=1).clamp_min(1)).mean())
        metrics: dict[str, float] = {}
        if queries is not None and candidates is not None:
            q_side = _with_spaces(queries, gamma, max_classes)
            c_side = _with_spaces(candidates, gamma, max_classes)
            res = evaluate_retrieval(q_side, c_side, "multi_granularity", relevance, k=k)
            metrics = dict(res.overall)
        points.append(
            GammaPoint(
                gamma=float(gamma),
                excluded_threshold=excluded_share(lg, mask, gamma),
                excluded_model=model_share,
                classes_kept=float(kept.mean()),
                metrics=metrics,
            )
        )
    return points


def _with_spaces(
    side: tuple[RetrievalSide, AllClassEmbedding], gamma: float, max_classes: int | None
) -> RetrievalSide:
    """The side with its attribute embeddings and the class spaces opened at ``gamma``."""
    base, emb = side
    return replace(
        base,
        embeddings=emb.attribute_embeddings,
        class_spaces=select_spaces(emb, gamma, max_classes),
    )


def as_table(points: Sequence[GammaPoint]) -> list[dict[str, float]]:
    """Rows for a DataFrame: gamma, the two exclusion shares in percent, kept classes, metrics."""
    return [
        {
            "gamma": p.gamma,
            "excluded % (p <= gamma)": 100 * p.excluded_threshold,
            "excluded % (model rule)": 100 * p.excluded_model,
            "class spaces per row": p.classes_kept,
            **p.metrics,
        }
        for p in points
    ]
