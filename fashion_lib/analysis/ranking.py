"""The ranked candidates of chosen queries, for retrieval figures (M3-Net's Figure 4).

``fashion_lib.retrieval.evaluate_retrieval`` scores every query but keeps no ranking. A figure
needs the top candidates of a few queries, ranked exactly as the evaluation ranks them: the same
cosine scores, the same class-first tiers (``multi_granularity_scores``) and the same tie rule (a
stable sort: equal scores keep candidate order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from fashion_lib.retrieval import RetrievalSide, multi_granularity_scores

__all__ = ["Ranked", "rank_queries"]


@dataclass
class Ranked:
    """The top candidates of one query.

    Attributes:
        query: the query's row.
        candidates: (k,) candidate rows, best first.
        relevant: (k,) True where the candidate is relevant to the query.
    """

    query: int
    candidates: Tensor
    relevant: Tensor


def rank_queries(
    queries: RetrievalSide,
    candidates: RetrievalSide,
    query_rows: Sequence[int],
    protocol: str = "attribute",
    relevance: str = "single",
    k: int = 10,
) -> list[Ranked]:
    """Rank the candidates of the query's attribute for each of ``query_rows``.

    Args:
        queries: the query side (as given to ``evaluate_retrieval``).
        candidates: the candidate side.
        query_rows: rows of ``queries`` to rank for.
        protocol: "attribute" or "multi_granularity".
        relevance: "single" (same value) or "multi" (a shared positive class).
        k: candidates kept per query (fewer if the attribute has fewer).

    Returns:
        One ``Ranked`` per query row, in the given order.
    """
    q_attr = torch.as_tensor(queries.attr_ids).long()
    c_attr = torch.as_tensor(candidates.attr_ids).long()
    q_emb = F.normalize(torch.as_tensor(queries.embeddings).float(), dim=1)
    c_emb = F.normalize(torch.as_tensor(candidates.embeddings).float(), dim=1)
    out = []
    for row in query_rows:
        cand = (c_attr == q_attr[row]).nonzero().squeeze(1)  # (Ca,) same attribute
        scores = q_emb[row : row + 1] @ c_emb[cand].T  # (1, Ca)
        if protocol == "multi_granularity":
            scores = multi_granularity_scores(
                scores, torch.tensor([row]), cand, queries.class_spaces, candidates.class_spaces
            )
        order = torch.sort(scores[0], descending=True, stable=True).indices[:k]  # (k,)
        top = cand[order]
        if relevance == "single":
            rel = torch.as_tensor(candidates.values)[top] == torch.as_tensor(queries.values)[row]
        else:
            q_lab = torch.as_tensor(queries.labels)[row].bool()  # (M_max,)
            rel = (torch.as_tensor(candidates.labels)[top].bool() & q_lab).any(dim=1)
        out.append(Ranked(query=int(row), candidates=top, relevant=rel))
    return out
