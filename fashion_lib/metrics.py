"""Ranking metrics for retrieval: average precision (MAP@all, MAP@k) and Recall@k, per query.

Inputs are a (queries x candidates) float score matrix (higher = more similar) and a boolean
relevance matrix of the same shape, as torch tensors or numpy arrays; outputs are per-query float64
values of the same kind (numpy in, numpy out). Queries are processed in chunks. Within a chunk every
relevant candidate gets its rank and its hit count (relevant candidates ranked at or above it); AP
is then the mean of hits / rank over the relevant candidates. Ranks come from a binary search in the
sorted scores (fast path), or from a stable arg-sort + cumulative sum of hits for rows with tied
scores.

Definitions (stated in the book):
- Ties: candidates are ranked by score descending, equal scores by increasing candidate index (a
  stable sort), so results never depend on the sorting algorithm.
- AP@all (ASEN's APScorer): (1 / R) * sum over relevant positions i of hits(i) / i, R = all relevant
  candidates of the query; a query with R = 0 scores 0 and stays in the mean.
- AP@k: the same sum over the top k positions, divided by min(R, k) (``normalize="min"``, default),
  by the hits in the top k (``"hits"``) or by R (``"all"``, ASEN's truncated APScorer). M3-Net's
  tables print MAP@100 above MAP@all, which the "all" rule cannot give (each truncated term is
  smaller) and both others can; "min" is the common definition whose perfect ranking scores 1.
- Recall@k: hits in the top k divided by R (0 when R = 0).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

__all__ = ["RankingMetrics", "average_precision", "ranking_metrics", "recall_at_k"]

Normalize = Literal["min", "hits", "all"]


@dataclass
class RankingMetrics:
    """Per-query metrics from one ranking pass (all (Q,) float64, numpy or torch like the input).

    Attributes:
        ap_all: AP over the whole ranking.
        ap_k: AP over the top k (normalisation as requested).
        recall_k: Recall@k.
        num_relevant: R, relevant candidates per query (int64).
    """

    ap_all: Tensor | np.ndarray
    ap_k: Tensor | np.ndarray
    recall_k: Tensor | np.ndarray
    num_relevant: Tensor | np.ndarray


def _as_tensors(
    scores: Tensor | np.ndarray, relevant: Tensor | np.ndarray
) -> tuple[Tensor, Tensor]:
    """Check shapes and values; return (float scores, bool relevance) tensors."""
    s = torch.as_tensor(scores).detach()
    r = torch.as_tensor(relevant, device=s.device)
    if s.dim() != 2 or s.shape != r.shape:
        raise ValueError(f"scores {tuple(s.shape)} and relevant {tuple(r.shape)} must be equal 2-D")
    if not s.is_floating_point():
        s = s.double()
    if not bool(torch.isfinite(s).all()):
        raise ValueError("scores contain NaN or infinite values")
    return s, r.bool()


def _ranks_by_sort(scores: Tensor, relevant: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Exact path: (row, rank, hits-so-far) of every relevant candidate via a stable full sort."""
    order = torch.sort(scores, dim=1, descending=True, stable=True).indices  # (q, C)
    rel = relevant.gather(1, order)  # (q, C) relevance in rank order
    hits = rel.cumsum(dim=1, dtype=torch.int64)  # (q, C)
    row, pos = rel.nonzero(as_tuple=True)  # (n,), (n,)
    return row, pos + 1, hits[row, pos]


def _ranks_by_search(scores: Tensor, relevant: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Fast path: ranks of the relevant candidates by binary search in the sorted row.

    Only the scores are sorted (numpy's vectorised value sort is several times faster than an
    arg-sort), and the relevant scores are picked with a partial top-k. A relevant candidate's rank
    is 1 + the number of strictly higher scores, and its hit count is its position among the row's
    relevant scores. This equals the stable-sort ranking whenever the relevant scores are unique in
    their row; the returned (q,) flag marks the rows where they are not, for ``_ranks_by_sort``.
    """
    q, c = scores.shape
    counts = relevant.count_nonzero(dim=1)  # (q,) R per row
    r_max = int(counts.max()) if q else 0
    picked = torch.where(relevant, scores, float("-inf")).topk(r_max, dim=1).values  # (q, r_max)
    if scores.is_cuda:
        ascending = torch.sort(scores, dim=1).values  # (q, C)
    else:
        ascending = torch.from_numpy(np.sort(scores.numpy(), axis=1))  # (q, C)
    right = torch.searchsorted(ascending, picked, side="right")  # (q, r_max) scores <= value
    left = torch.searchsorted(ascending, picked, side="left")  # (q, r_max) scores < value
    position = torch.arange(r_max, device=scores.device)
    valid = position[None, :] < counts[:, None]  # (q, r_max)
    tied = ((right - left > 1) & valid).any(dim=1)  # (q,)
    row = torch.arange(q, device=scores.device)[:, None].expand(q, r_max)[valid]
    return row, (c - right + 1)[valid], (position + 1).expand(q, r_max)[valid], tied


def _chunk_metrics(
    scores: Tensor, relevant: Tensor, k: int, normalize: Normalize
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """AP@all, AP@k, R@k and R of one chunk of queries (all (q,))."""
    row, rank, hits, tied = _ranks_by_search(scores, relevant)
    if bool(tied.any()):  # re-rank the rows with tied relevant scores exactly
        keep = ~tied[row]
        sub = tied.nonzero().squeeze(1)  # (t,) rows to redo
        r2, rank2, hits2 = _ranks_by_sort(scores[sub], relevant[sub])
        row = torch.cat([row[keep], sub[r2]])
        rank, hits = torch.cat([rank[keep], rank2]), torch.cat([hits[keep], hits2])
    q = len(scores)
    precision = hits.double() / rank.double()  # (n,) precision at each relevant position
    in_top = rank <= k  # (n,)
    total = torch.bincount(row, minlength=q)  # R: (q,)
    ap_sum = torch.zeros(q, dtype=torch.float64).index_add_(0, row, precision)
    top_sum = torch.zeros(q, dtype=torch.float64).index_add_(0, row, precision * in_top)
    top_hits = torch.bincount(row[in_top], minlength=q)  # (q,)
    denom = {"min": total.clamp_max(k), "hits": top_hits, "all": total}[normalize]
    safe = total.clamp_min(1).double()
    ap_all = torch.where(total > 0, ap_sum / safe, 0.0)
    ap_k = torch.where(denom > 0, top_sum / denom.clamp_min(1).double(), 0.0)
    recall = torch.where(total > 0, top_hits / safe, 0.0)
    return ap_all, ap_k, recall, total


def ranking_metrics(
    scores: Tensor | np.ndarray,
    relevant: Tensor | np.ndarray,
    k: int = 100,
    normalize: Normalize = "min",
    chunk_size: int = 256,
) -> RankingMetrics:
    """AP@all, AP@k, Recall@k and R of every query from a single sort per chunk.

    Args:
        scores: (Q, C) similarity of each query to each candidate.
        relevant: (Q, C) True where the candidate is relevant to the query.
        k: cut-off of AP@k and Recall@k.
        normalize: denominator of AP@k ("min", "hits" or "all"; see the module docstring).
        chunk_size: queries ranked at once (memory ~ 20 bytes x chunk_size x C).

    Returns:
        A ``RankingMetrics`` of per-query values (numpy if ``scores`` is numpy, else torch).
    """
    if k < 1 or chunk_size < 1:
        raise ValueError(f"k and chunk_size must be >= 1, got {k}, {chunk_size}")
    if normalize not in ("min", "hits", "all"):
        raise ValueError(f"unknown normalize {normalize!r}; choose min, hits or all")
    s, r = _as_tensors(scores, relevant)
    starts = range(0, len(s), chunk_size)
    # Chunks are independent and numpy's sort releases the GIL: rank them on torch's thread count.
    with ThreadPoolExecutor(max_workers=max(1, torch.get_num_threads())) as pool:
        parts = list(
            pool.map(
                lambda i: _chunk_metrics(
                    s[i : i + chunk_size], r[i : i + chunk_size], k, normalize
                ),
                starts,
            )
        )
    if parts:
        cols = [torch.cat(column) for column in zip(*parts, strict=True)]
    else:  # no queries
        cols = [
            torch.zeros(0, dtype=dt, device=s.device) for dt in [torch.float64] * 3 + [torch.int64]
        ]
    out = [c.cpu().numpy() for c in cols] if isinstance(scores, np.ndarray) else cols
    return RankingMetrics(ap_all=out[0], ap_k=out[1], recall_k=out[2], num_relevant=out[3])


def average_precision(
    scores: Tensor | np.ndarray,
    relevant: Tensor | np.ndarray,
    k: int | None = None,
    normalize: Normalize = "min",
    chunk_size: int = 256,
) -> Tensor | np.ndarray:
    """Per-query average precision: AP@all when ``k`` is None, else AP@k.

    Args:
        scores: (Q, C) similarity of each query to each candidate.
        relevant: (Q, C) True where the candidate is relevant to the query.
        k: cut-off, or None for the whole ranking.
        normalize: denominator of AP@k ("min" = min(R, k), "hits", "all" = R); ignored for AP@all.
        chunk_size: queries ranked at once.

    Returns:
        (Q,) float64 values in [0, 1] (numpy if ``scores`` is numpy, else torch).
    """
    cut = k if k is not None else max(1, np.shape(scores)[1])
    res = ranking_metrics(scores, relevant, k=cut, normalize=normalize, chunk_size=chunk_size)
    return res.ap_all if k is None else res.ap_k


def recall_at_k(
    scores: Tensor | np.ndarray,
    relevant: Tensor | np.ndarray,
    k: int,
    chunk_size: int = 256,
) -> Tensor | np.ndarray:
    """Per-query Recall@k: relevant candidates in the top k over all relevant (0 when none).

    Args:
        scores: (Q, C) similarity of each query to each candidate.
        relevant: (Q, C) True where the candidate is relevant to the query.
        k: cut-off.
        chunk_size: queries ranked at once.

    Returns:
        (Q,) float64 values in [0, 1] (numpy if ``scores`` is numpy, else torch).
    """
    return ranking_metrics(scores, relevant, k=k, chunk_size=chunk_size).recall_k
