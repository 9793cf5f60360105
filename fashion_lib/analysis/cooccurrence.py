"""Co-occurring classes in multi-label data and a model's MAP on them (M3-Net, Sec. 4.3.1).

The paper computes the pairwise co-occurrence rate of all DeepFashion classes (two classes co-occur
when one image carries both; rate = such images / all images), finds rates in [0, 0.03], keeps the
pairs at or above a cut-off of 0.002 (468 pairs, 122 unique classes) and reports M3-Net's MAP@all on
those classes against its average over all classes (35.61, +63.50%).

Choices where the paper is silent (stated in chapter 04):
- The proxy has about 60 classes instead of 1000, so its rates are far higher and an absolute
  cut-off of 0.002 would keep nearly every pair. ``scaled_cutoff`` keeps the paper's cut-off at the
  same fraction of the largest rate: 0.002 / 0.03 = 1/15 of the maximum.
- "MAP@all on a set of classes" is the mean over those classes of the class's MAP, where a class's
  MAP is the mean AP@all of the queries whose positives (in the query's attribute) include it; the
  "average of all classes" is the same mean over every class that has a query.
- Pairs are taken over all classes, as the paper's "1M class pairs" (1000 x 1000) implies;
  ``within_attribute=True`` restricts them to classes of one attribute type, a variant we also show.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

__all__ = [
    "PAPER_CUTOFF",
    "PAPER_FINDINGS",
    "PAPER_MAX_RATE",
    "ClassMAPComparison",
    "CooccurringPairs",
    "class_map",
    "compare_class_map",
    "cooccurrence_rates",
    "cooccurring_pairs",
    "scaled_cutoff",
]

#: The paper's findings on DeepFashion (Sec. 4.3.1), transcribed once here for the book to quote.
PAPER_CUTOFF = 0.002
PAPER_MAX_RATE = 0.03
PAPER_FINDINGS = {
    "max rate": PAPER_MAX_RATE,
    "cut-off": PAPER_CUTOFF,
    "pairs kept": 468,
    "unique classes": 122,
    "MAP@all on co-occurring classes": 35.61,
    "gain over all classes (%)": 63.50,
}


@dataclass(frozen=True)
class CooccurringPairs:
    """The class pairs at or above a co-occurrence cut-off.

    Attributes:
        rates: (K, K) co-occurrence rates, symmetric, zero diagonal.
        cutoff: the rate a pair needs to be kept.
        pairs: (P, 2) kept class pairs (i < j), by decreasing rate.
        classes: (U,) the unique classes of the kept pairs, ascending.
        num_candidate_pairs: pairs considered (K (K - 1) / 2, or fewer within attributes).
    """

    rates: np.ndarray
    cutoff: float
    pairs: np.ndarray
    classes: np.ndarray
    num_candidate_pairs: int

    @property
    def max_rate(self) -> float:
        """The largest pairwise rate among the considered pairs."""
        return float(self.rates.max()) if self.rates.size else 0.0


@dataclass(frozen=True)
class ClassMAPComparison:
    """A model's mean class MAP on the co-occurring classes vs on all classes (percent).

    Attributes:
        map_cooccurring: mean MAP@all over the co-occurring classes that have queries.
        map_all_classes: mean MAP@all over every class that has queries.
        relative_gain: 100 * (map_cooccurring / map_all_classes - 1) (the paper: 63.50).
        num_classes: (co-occurring, all) classes that entered the two means.
    """

    map_cooccurring: float
    map_all_classes: float
    relative_gain: float
    num_classes: tuple[int, int]


def cooccurrence_rates(labels: np.ndarray) -> np.ndarray:
    """Share of images carrying both classes, for every pair of classes.

    Args:
        labels: (N, K) multi-hot labels (bool or 0/1) over all K classes of the dataset.

    Returns:
        (K, K) float64 rates, symmetric, with a zero diagonal.
    """
    y = np.asarray(labels)
    if y.ndim != 2 or len(y) == 0:
        raise ValueError(f"labels must be a non-empty (N, K) matrix, got shape {y.shape}")
    # sparse product: the real DeepFashion matrix is 289,222 x 1,000 with ~1% positives
    y = sparse.csr_matrix((y != 0).astype(np.float64))
    rates = (y.T @ y).toarray() / y.shape[0]  # (K, K) images with both / N
    np.fill_diagonal(rates, 0.0)
    return rates


def scaled_cutoff(max_rate: float) -> float:
    """The paper's cut-off moved to a dataset whose largest rate is ``max_rate``.

    Keeps the cut-off at the same fraction of the largest rate as in the paper (0.002 / 0.03).
    """
    return float(max_rate) * PAPER_CUTOFF / PAPER_MAX_RATE


def cooccurring_pairs(
    labels: np.ndarray,
    cutoff: float | None = None,
    groups: np.ndarray | None = None,
    within_attribute: bool = False,
) -> CooccurringPairs:
    """Class pairs whose co-occurrence rate reaches the cut-off.

    Args:
        labels: (N, K) multi-hot labels over all classes.
        cutoff: minimum rate; None applies ``scaled_cutoff`` to the largest considered rate.
        groups: (K,) attribute of each class (needed when ``within_attribute``).
        within_attribute: consider only pairs of classes of the same attribute.

    Returns:
        A ``CooccurringPairs``.
    """
    rates = cooccurrence_rates(labels)
    k = rates.shape[0]
    considered = np.triu(np.ones((k, k), dtype=bool), 1)  # (K, K) pairs i < j
    if within_attribute:
        if groups is None or len(groups) != k:
            raise ValueError("within_attribute needs groups with one attribute per class")
        g = np.asarray(groups)
        considered &= g[:, None] == g[None, :]
    rates = np.where(considered | considered.T, rates, 0.0)
    cut = scaled_cutoff(rates.max()) if cutoff is None else float(cutoff)
    i, j = np.nonzero(considered & (rates >= cut) & (rates > 0))
    order = np.argsort(-rates[i, j], kind="stable")
    pairs = np.stack([i[order], j[order]], axis=1) if len(i) else np.zeros((0, 2), dtype=np.int64)
    return CooccurringPairs(
        rates=rates,
        cutoff=cut,
        pairs=pairs,
        classes=np.unique(pairs),
        num_candidate_pairs=int(considered.sum()),
    )


def class_map(
    ap: np.ndarray,
    attr_ids: np.ndarray,
    labels: np.ndarray,
    classes_per_attribute: tuple[int, ...],
) -> np.ndarray:
    """MAP of every class: the mean AP of the queries whose positives include it.

    Args:
        ap: (Q,) per-query AP (e.g. ``RetrievalResult.per_query["ap_all"]``).
        attr_ids: (Q,) attribute of each query row.
        labels: (Q, M_max) multi-hot positives of each query within its attribute.
        classes_per_attribute: M_n per attribute; class (n, m) has global index
            sum(M_0..M_{n-1}) + m, the column order of the dataset's label matrix.

    Returns:
        (K,) float64 class MAPs in the units of ``ap``, NaN for classes without queries.
    """
    ap, attr_ids, labels = np.asarray(ap, float), np.asarray(attr_ids), np.asarray(labels) != 0
    sizes = np.asarray(classes_per_attribute)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    row, col = np.nonzero(labels)  # positives of every query
    valid = col < sizes[attr_ids[row]]
    glob = offsets[attr_ids[row[valid]]] + col[valid]  # global class of each positive
    total = np.bincount(glob, weights=ap[row[valid]], minlength=int(sizes.sum()))
    count = np.bincount(glob, minlength=int(sizes.sum()))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def compare_class_map(per_class: np.ndarray, classes: np.ndarray) -> ClassMAPComparison:
    """Mean class MAP on ``classes`` vs on all classes (both skip classes without queries).

    Args:
        per_class: (K,) class MAPs from ``class_map`` (NaN = no query).
        classes: global ids of the co-occurring classes.

    Returns:
        A ``ClassMAPComparison``.
    """
    per_class = np.asarray(per_class, float)
    chosen = per_class[np.asarray(classes, dtype=np.int64)]
    chosen, every = chosen[~np.isnan(chosen)], per_class[~np.isnan(per_class)]
    if len(chosen) == 0 or len(every) == 0:
        raise ValueError("no co-occurring class has a query; nothing to compare")
    co, all_ = float(chosen.mean()), float(every.mean())
    gain = 100.0 * (co / all_ - 1.0) if all_ > 0 else float("nan")
    return ClassMAPComparison(co, all_, gain, (len(chosen), len(every)))
