"""Evaluation protocols of attribute-specific fashion retrieval (ASEN, MODC, M3-Net).

Queries and candidates each carry one evaluated attribute per row (an image evaluated for several
attributes appears in several rows). For every attribute, its queries are ranked against its
candidates only; metrics come from ``fashion_lib.metrics`` and are reported per attribute, as the
query-weighted "overall" (ASEN's MeanAP: the mean over all queries pooled, which the M3-Net tables
use) and as the macro mean over attributes.

Relevance:
- "single": the candidate's evaluated value equals the query's (ASEN's protocol).
- "multi": query and candidate share at least one positive class of the attribute (multi-hot
  labels).

Protocols:
- "attribute": rank by cosine similarity in the attribute-specific space.
- "multi_granularity" (MODC, M3-Net): a query's candidates are split into two tiers. Tier 1 holds
  the candidates that share a class space with the query (a class among both images' high-likelihood
  classes for M3-Net, the same nearest prototype for MODC); they come first, ranked by their best
  cosine similarity over the shared class spaces. Tier 2 holds the others, ranked after all of tier
  1 by cosine similarity in the attribute space. Implemented as one score: 3 + class cosine for tier
  1, attribute cosine for tier 2 (cosines lie in [-1, 1], so tier 1 always ranks first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from fashion_lib.metrics import Normalize, ranking_metrics

__all__ = [
    "AttributeResult",
    "ClassSpaces",
    "RetrievalResult",
    "RetrievalSide",
    "evaluate_retrieval",
    "multi_granularity_scores",
]

ArrayLike = Tensor | np.ndarray
TIER_OFFSET = 3.0


@dataclass
class ClassSpaces:
    """(image, class) pairs of one side with their class-specific embeddings.

    Attributes:
        image: (P,) row of the side each pair belongs to.
        class_id: (P,) class within that row's attribute.
        embeddings: (P, D) class-specific embeddings (normalised here).
    """

    image: ArrayLike
    class_id: ArrayLike
    embeddings: ArrayLike

    @staticmethod
    def concat(parts: list[ClassSpaces], batch_sizes: list[int]) -> ClassSpaces:
        """Join per-batch pairs (``image`` indexing each batch) into one side's pairs.

        Args:
            parts: pairs of consecutive batches, e.g. an ``M3NetOutput``'s ``pair_image``,
                ``pair_class`` and ``class_embeddings``.
            batch_sizes: number of rows of each batch.

        Returns:
            The pairs with ``image`` offset to rows of the concatenated batches.
        """
        offsets = np.concatenate([[0], np.cumsum(batch_sizes)[:-1]]).astype(np.int64)
        return ClassSpaces(
            image=torch.cat(
                [_t(p.image).long() + int(o) for p, o in zip(parts, offsets, strict=True)]
            ),
            class_id=torch.cat([_t(p.class_id).long() for p in parts]),
            embeddings=torch.cat([_t(p.embeddings).float() for p in parts]),
        )


@dataclass
class RetrievalSide:
    """Queries or candidates: attribute-space embeddings and labels, one attribute per row.

    Attributes:
        embeddings: (n, D) attribute-specific embeddings (normalised here).
        attr_ids: (n,) evaluated attribute of each row.
        values: (n,) evaluated value (single-value relevance).
        labels: (n, M_max) multi-hot positives of the row's attribute (multi-label relevance), or
        None. class_spaces: the rows' class-space pairs (multi-granularity protocol), or None.
    """

    embeddings: ArrayLike
    attr_ids: ArrayLike
    values: ArrayLike
    labels: ArrayLike | None = None
    class_spaces: ClassSpaces | None = None


@dataclass
class AttributeResult:
    """Metrics of one attribute (percentages, as the papers print them)."""

    attribute: str
    num_queries: int
    num_candidates: int
    map_all: float
    map_k: float
    recall_k: float


@dataclass
class RetrievalResult:
    """Per-attribute, query-weighted ("overall") and macro metrics, in percent.

    Attributes:
        per_attribute: one ``AttributeResult`` per attribute with queries, in attribute order.
        overall: query-weighted mean of each metric ("map_all", "map_k", "recall_k").
        macro: unweighted mean over attributes of each metric.
        k: the cut-off of MAP@k and Recall@k.
        protocol, relevance, normalize: how the numbers were made.
        per_query: (Q,) arrays "ap_all", "ap_k", "recall_k" (fractions, query row order) and
            "num_relevant" (R), for groupings other than the attribute (e.g. the co-occurring
            classes of Sec. 4.3.1) and for per-query evidence.
    """

    per_attribute: list[AttributeResult]
    overall: dict[str, float]
    macro: dict[str, float]
    k: int
    protocol: str
    relevance: str
    normalize: str
    per_query: dict[str, np.ndarray]

    def rows(self) -> list[dict[str, object]]:
        """Table rows: one per attribute, then "overall" (query-weighted) and "macro"."""
        rows: list[dict[str, object]] = [vars(r).copy() for r in self.per_attribute]
        queries = sum(r.num_queries for r in self.per_attribute)
        candidates = sum(r.num_candidates for r in self.per_attribute)
        for name, means in (("overall", self.overall), ("macro", self.macro)):
            rows.append(
                dict(attribute=name, num_queries=queries, num_candidates=candidates, **means)
            )
        return rows


def _t(x: ArrayLike) -> Tensor:
    return torch.as_tensor(x).detach().cpu()


def _pairs_in_block(rows: Tensor, spaces: ClassSpaces) -> tuple[Tensor, Tensor, Tensor]:
    """Pairs whose image is one of ``rows``: (position in ``rows``, class, normalised embedding)."""
    image = _t(spaces.image).long()
    position = torch.full((int(torch.cat([image, rows, torch.zeros(1).long()]).max()) + 1,), -1)
    position[rows] = torch.arange(len(rows))
    keep = position[image] >= 0
    emb = F.normalize(_t(spaces.embeddings).float()[keep], dim=1)
    return position[image[keep]], _t(spaces.class_id).long()[keep], emb


def multi_granularity_scores(
    attr_scores: Tensor,
    query_rows: Tensor,
    cand_rows: Tensor,
    query_spaces: ClassSpaces,
    cand_spaces: ClassSpaces,
) -> Tensor:
    """Class-first scores of one attribute's queries x candidates (see the module docstring).

    Args:
        attr_scores: (Qa, Ca) attribute-space cosine similarities.
        query_rows: (Qa,) rows of the query side evaluated here; ``cand_rows`` likewise (Ca,).
        query_spaces: the query side's pairs; ``cand_spaces`` the candidate side's.

    Returns:
        (Qa, Ca) scores: TIER_OFFSET + best shared-class cosine for tier 1, else ``attr_scores``.
    """
    best = torch.full_like(attr_scores, float("-inf"))  # (Qa, Ca)
    sides = [_pairs_in_block(query_rows, query_spaces), _pairs_in_block(cand_rows, cand_spaces)]
    (qi, qc, qe), (ci, cc, ce) = sides
    for m in np.intersect1d(qc.numpy(), cc.numpy()).tolist():  # classes in both sides
        qm, cm = qc == m, cc == m
        sims = qe[qm] @ ce[cm].T  # (q_m, c_m) cosine in class m's space
        block = best[qi[qm][:, None], ci[cm][None, :]]
        best[qi[qm][:, None], ci[cm][None, :]] = torch.maximum(block, sims)
    return torch.where(best > float("-inf"), TIER_OFFSET + best, attr_scores)


def evaluate_retrieval(
    queries: RetrievalSide,
    candidates: RetrievalSide,
    protocol: Literal["attribute", "multi_granularity"] = "attribute",
    relevance: Literal["single", "multi"] = "single",
    k: int = 100,
    normalize: Normalize = "min",
    attribute_names: list[str] | None = None,
    chunk_size: int = 256,
) -> RetrievalResult:
    """Rank each attribute's candidates for its queries and score the rankings.

    Args:
        queries: query rows; candidates: candidate rows (disjoint images, as in ASEN's splits).
        protocol: "attribute" (attribute space only) or "multi_granularity" (class spaces first).
        relevance: "single" (same value) or "multi" (any shared positive class; needs ``labels``).
        k: cut-off of MAP@k and Recall@k (the papers: 100).
        normalize: denominator of MAP@k (see ``fashion_lib.metrics``).
        attribute_names: names for the per-attribute rows (default "attr<i>").
        chunk_size: queries ranked at once.

    Returns:
        A ``RetrievalResult`` with metrics in percent.
    """
    if relevance == "multi" and (queries.labels is None or candidates.labels is None):
        raise ValueError("multi-label relevance needs labels on both sides")
    if protocol == "multi_granularity" and (
        queries.class_spaces is None or candidates.class_spaces is None
    ):
        raise ValueError("the multi-granularity protocol needs class_spaces on both sides")
    if protocol not in ("attribute", "multi_granularity") or relevance not in ("single", "multi"):
        raise ValueError(f"unknown protocol {protocol!r} or relevance {relevance!r}")
    q_attr, c_attr = _t(queries.attr_ids).long(), _t(candidates.attr_ids).long()
    q_emb = F.normalize(_t(queries.embeddings).float(), dim=1)
    c_emb = F.normalize(_t(candidates.embeddings).float(), dim=1)
    results = []
    per_query = {
        name: np.zeros(len(q_attr)) for name in ("ap_all", "ap_k", "recall_k", "num_relevant")
    }
    for a in torch.unique(q_attr).tolist():
        qr, cr = (q_attr == a).nonzero().squeeze(1), (c_attr == a).nonzero().squeeze(1)
        scores = q_emb[qr] @ c_emb[cr].T  # (Qa, Ca)
        if protocol == "multi_granularity":
            scores = multi_granularity_scores(
                scores, qr, cr, queries.class_spaces, candidates.class_spaces
            )
        if relevance == "single":
            rel = _t(queries.values)[qr][:, None] == _t(candidates.values)[cr][None, :]
        else:
            rel = (_t(queries.labels)[qr].float() @ _t(candidates.labels)[cr].float().T) > 0
        m = ranking_metrics(scores, rel, k=k, normalize=normalize, chunk_size=chunk_size)
        for metric, values in per_query.items():
            values[qr.numpy()] = getattr(m, metric).numpy()
        name = attribute_names[a] if attribute_names else f"attr{a}"
        results.append(
            AttributeResult(
                attribute=name,
                num_queries=len(qr),
                num_candidates=len(cr),
                map_all=100 * float(m.ap_all.mean()),
                map_k=100 * float(m.ap_k.mean()),
                recall_k=100 * float(m.recall_k.mean()),
            )
        )
    metrics = ("map_all", "map_k", "recall_k")
    weights = np.array([r.num_queries for r in results], dtype=float)
    overall = {
        name: float(np.average([getattr(r, name) for r in results], weights=weights))
        for name in metrics
    }
    macro = {name: float(np.mean([getattr(r, name) for r in results])) for name in metrics}
    return RetrievalResult(results, overall, macro, k, protocol, relevance, normalize, per_query)
