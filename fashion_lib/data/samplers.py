"""Triplet samplers over attribute labels: ASEN, ASEN++ and M3-Net's multi-label variant.

Labels are rows (image, attribute, value): one row per image and attribute for single-label data
(FashionAI, DARN), several per image and attribute for multi-label data (DeepFashion). A triplet
of attribute a is (anchor, positive, negative) where anchor and positive both carry value v and
the negative carries another value of a and *not* v (with multi-label data an image can carry both).

The triplets of epoch e are a pure function of (seed, e), drawn vectorised with numpy and returned
as an indexable `TripletEpoch`, so a resumed run can start at any position. Unlike the reference
samplers (ASEN's rejection loop hangs on a value without images, ASEN++ crashes on a value with one
image) values that cannot anchor a triplet are skipped up front and listed in `skipped`.

Styles:
    "asen": attribute uniform, anchor value uniform, negative image uniform among the images of
        the attribute without v (so negative values follow their frequency), as ASEN v1.
    "asenpp": as "asen" but the negative *value* is uniform among the other values, as ASEN++.
    "m3net": as "asen", and the negative shares no value of a with the anchor (multi-label: a
        negative that shares another value would be a false negative in the attribute space).
        Where no such image exists for an anchor, the negative only lacks v (counted in `relaxed`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from fashion_lib.errors import ConfigError, DataError

STYLES = ("asen", "asenpp", "m3net")
_REJECTION_ROUNDS = 16
log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class AttributeLabels:
    """Positive (image, attribute, value) rows of a training split.

    Attributes:
        image: (R,) image indices (any non-negative ints; they are what the sampler returns).
        attribute: (R,) attribute indices in [0, len(num_values)).
        value: (R,) value indices, value < num_values[attribute].
        num_values: number of values of each attribute.
        source: the file the rows came from, for error messages.
        line: (R,) optional 1-based line of each row in `source`.
    """

    image: np.ndarray
    attribute: np.ndarray
    value: np.ndarray
    num_values: tuple[int, ...]
    source: str = "<labels>"
    line: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.image)
        if len(self.attribute) != n or len(self.value) != n:
            raise DataError(self.source, "image, attribute and value arrays differ in length")
        checks = [
            (self.image < 0, "negative image index"),
            (
                (self.attribute < 0) | (self.attribute >= len(self.num_values)),
                f"attribute outside [0, {len(self.num_values)})",
            ),
        ]
        for bad, message in checks:
            self._raise_first(bad, message)
        limit = np.asarray(self.num_values, dtype=np.int64)[self.attribute]
        self._raise_first((self.value < 0) | (self.value >= limit), "value outside [0, num_values)")

    def _raise_first(self, bad: np.ndarray, message: str) -> None:
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            line = int(self.line[row]) if self.line is not None else row + 1
            detail = (
                f"{message}: image {self.image[row]} attribute {self.attribute[row]} "
                f"value {self.value[row]}"
            )
            raise DataError(self.source, detail, line)

    @classmethod
    def from_rows(
        cls,
        rows: Iterable[tuple[int, int, int]],
        num_values: Iterable[int],
        source: str = "<labels>",
    ) -> AttributeLabels:
        """Build from (image, attribute, value) tuples; row k is reported as line k + 1."""
        array = np.asarray(list(rows), dtype=np.int64).reshape(-1, 3)
        return cls(array[:, 0], array[:, 1], array[:, 2], tuple(num_values), source)


@dataclass(frozen=True)
class Triplet:
    """One training triplet of attribute `attribute`: anchor/positive carry `value`."""

    anchor: int
    positive: int
    negative: int
    attribute: int
    value: int
    negative_value: int


@dataclass(frozen=True, eq=False)
class TripletEpoch:
    """The triplets of one epoch as (N,) int64 arrays; indexable and sliceable."""

    anchor: np.ndarray
    positive: np.ndarray
    negative: np.ndarray
    attribute: np.ndarray
    value: np.ndarray
    negative_value: np.ndarray
    relaxed: int = 0

    def __len__(self) -> int:
        return len(self.anchor)

    def __getitem__(self, i: int) -> Triplet:
        return Triplet(
            int(self.anchor[i]),
            int(self.positive[i]),
            int(self.negative[i]),
            int(self.attribute[i]),
            int(self.value[i]),
            int(self.negative_value[i]),
        )


def _skip_reason(count: int) -> str:
    if count == 0:
        return "no training images"
    if count == 1:
        return "one training image, so no distinct positive"
    return "every image of the attribute has it, so no negative"


@dataclass(frozen=True)
class SkippedValue:
    """A value that cannot anchor a triplet, and why."""

    attribute: int
    value: int
    images: int
    reason: str


@dataclass(frozen=True, eq=False)
class _Ragged:
    """Variable-length rows stored flat: row r is flat[start[r] : start[r] + count[r]]."""

    flat: np.ndarray
    start: np.ndarray
    count: np.ndarray

    @classmethod
    def from_sorted(cls, flat: np.ndarray, row: np.ndarray, n_rows: int) -> _Ragged:
        """From `flat` values whose row ids `row` are sorted ascending."""
        count = np.bincount(row, minlength=n_rows)
        return cls(flat, np.cumsum(count) - count, count)

    def pick(self, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
        """For each r in `rows`, the element at fraction u in [0, 1) of row r."""
        return self.flat[self.start[rows] + (u * self.count[rows]).astype(np.int64)]


class TripletSampler:
    """Seeded triplets over `labels`; `epoch(e)` is a pure function of (seed, e).

    Args:
        labels: training rows.
        num_triplets: triplets per epoch (M3-Net: 40,000; ASEN: 100,000).
        seed: sampler seed.
        style: "asen", "asenpp" or "m3net" (see the module docstring).

    Raises:
        DataError: no value of any attribute has two images and a possible negative.
    """

    def __init__(
        self, labels: AttributeLabels, num_triplets: int, seed: int, style: str = "asen"
    ) -> None:
        if style not in STYLES:
            raise ConfigError(f"unknown triplet style {style!r}; choose one of {', '.join(STYLES)}")
        if num_triplets <= 0:
            raise ConfigError(f"num_triplets must be > 0, got {num_triplets}")
        self.num_triplets, self.seed, self.style = num_triplets, seed, style
        A, V = len(labels.num_values), max(labels.num_values)
        self.A, self.V = A, V
        # keys: sorted unique (image * A + attribute) * V + value; doubles as the per-(image,
        # attribute) table of values and as a membership test.
        self.keys = np.unique(
            (labels.image.astype(np.int64) * A + labels.attribute) * V + labels.value
        )
        image, rest = np.divmod(self.keys, A * V)
        attribute, value = np.divmod(rest, V)
        order = np.lexsort((image, value, attribute))
        group = attribute[order] * V + value[order]
        self.by_value = _Ragged.from_sorted(image[order], group, A * V)  # rows: a * V + v
        pairs = np.unique(attribute * (image.max(initial=0) + 1) + image)  # distinct (a, image)
        pair_attr, pair_image = np.divmod(pairs, image.max(initial=0) + 1)
        self.by_attribute = _Ragged.from_sorted(pair_image, pair_attr, A)
        count = self.by_value.count.reshape(A, V)
        n_images = self.by_attribute.count[:, None]
        valid_value = np.arange(V)[None, :] < np.asarray(labels.num_values)[:, None]
        usable = valid_value & (count >= 2) & (count < n_images)
        self.skipped = [
            SkippedValue(int(a), int(v), int(count[a, v]), _skip_reason(int(count[a, v])))
            for a, v in zip(*np.nonzero(valid_value & ~usable), strict=True)
        ]
        for s in self.skipped:
            log.info("triplets skip attribute %d value %d (%s)", s.attribute, s.value, s.reason)
        self.attributes = np.flatnonzero(usable.any(axis=1))
        if len(self.attributes) == 0:
            raise DataError(
                labels.source,
                "no attribute value has the two images and the negative a triplet needs",
            )
        a_idx, v_idx = np.nonzero(usable)
        self.usable = _Ragged.from_sorted(v_idx, a_idx, A)
        a_idx, v_idx = np.nonzero(count > 0)
        self.present = _Ragged.from_sorted(v_idx, a_idx, A)
        self.present_rank = np.cumsum(count > 0, axis=1) - (count > 0)  # present values below v
        self._cache: tuple[int, TripletEpoch] | None = None

    def __len__(self) -> int:
        return self.num_triplets

    def _has(self, image: np.ndarray, attribute: np.ndarray, value: np.ndarray) -> np.ndarray:
        key = (image * self.A + attribute) * self.V + value
        pos = np.minimum(np.searchsorted(self.keys, key), len(self.keys) - 1)
        return self.keys[pos] == key

    def _value_range(self, image: np.ndarray, attribute: np.ndarray) -> tuple[np.ndarray, ...]:
        base = (image * self.A + attribute) * self.V
        return np.searchsorted(self.keys, base), np.searchsorted(self.keys, base + self.V)

    def _conflicts(
        self, cand: np.ndarray, anchor: np.ndarray, attr: np.ndarray, value: np.ndarray
    ) -> np.ndarray:
        """Whether each candidate negative is invalid for its anchor under this style."""
        if self.style != "m3net":
            return self._has(cand, attr, value)
        lo, hi = self._value_range(anchor, attr)  # the anchor's values of attr
        count = hi - lo
        owner = np.repeat(np.arange(len(cand)), count)
        offset = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        values = self.keys[np.repeat(lo, count) + offset] % self.V
        hit = self._has(cand[owner], attr[owner], values)
        return np.bincount(owner[hit], minlength=len(cand)) > 0

    def _draw_candidates(
        self, rng: np.random.Generator, attr: np.ndarray, value: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Candidate negatives and their drawn value (-1: the value is chosen after acceptance)."""
        u = rng.random((2, len(attr)))
        if self.style == "asenpp":  # value uniform among the other present values, then an image
            k = (u[0] * (self.present.count[attr] - 1)).astype(np.int64)
            k += k >= self.present_rank[attr, value]  # skip the anchor's own value
            neg_value = self.present.flat[self.present.start[attr] + k]
            return self.by_value.pick(attr * self.V + neg_value, u[1]), neg_value
        return self.by_attribute.pick(attr, u[0]), np.full(len(attr), -1, dtype=np.int64)

    def _exact_negative(
        self, rng: np.random.Generator, anchor: int, a: int, v: int
    ) -> tuple[int, bool]:
        """A uniform negative from the whole pool, after rejection sampling kept failing.

        Returns:
            The negative, and whether the m3net rule had to be relaxed to "lacks the value".
        """
        start, count = self.by_attribute.start[a], self.by_attribute.count[a]
        pool = self.by_attribute.flat[start : start + count]
        n = len(pool)
        lacks = pool[~self._has(pool, np.full(n, a), np.full(n, v))]
        if self.style == "m3net":
            free = pool[~self._conflicts(pool, np.full(n, anchor), np.full(n, a), np.full(n, v))]
            if len(free):
                return int(free[rng.integers(len(free))]), False
            return int(lacks[rng.integers(len(lacks))]), True
        return int(lacks[rng.integers(len(lacks))]), False

    def epoch(self, epoch: int) -> TripletEpoch:
        """The triplets of `epoch` (cached for the most recent epoch)."""
        if self._cache is not None and self._cache[0] == epoch:
            return self._cache[1]
        rng = np.random.default_rng([self.seed, epoch])
        n = self.num_triplets
        attr = self.attributes[rng.integers(len(self.attributes), size=n)]
        value = self.usable.pick(attr, rng.random(n))
        group = attr * self.V + value
        start, count = self.by_value.start[group], self.by_value.count[group]
        i = (rng.random(n) * count).astype(np.int64)
        j = (rng.random(n) * (count - 1)).astype(np.int64)
        j += j >= i  # a positive different from the anchor
        anchor, positive = self.by_value.flat[start + i], self.by_value.flat[start + j]
        negative = np.full(n, -1, dtype=np.int64)
        neg_value = np.full(n, -1, dtype=np.int64)
        todo = np.arange(n)
        for _ in range(_REJECTION_ROUNDS):
            cand, cand_value = self._draw_candidates(rng, attr[todo], value[todo])
            ok = ~self._conflicts(cand, anchor[todo], attr[todo], value[todo])
            negative[todo[ok]], neg_value[todo[ok]] = cand[ok], cand_value[ok]
            todo = todo[~ok]
            if len(todo) == 0:
                break
        relaxed = 0
        for t in todo:
            negative[t], was_relaxed = self._exact_negative(rng, anchor[t], attr[t], value[t])
            relaxed += was_relaxed
        # Where no value was drawn with the image: one of the negative's values of attr, uniformly.
        lo, hi = self._value_range(negative, attr)
        drawn = self.keys[lo + (rng.random(n) * (hi - lo)).astype(np.int64)] % self.V
        neg_value = np.where(neg_value < 0, drawn, neg_value)
        result = TripletEpoch(anchor, positive, negative, attr, value, neg_value, relaxed)
        self._cache = (epoch, result)
        return result
