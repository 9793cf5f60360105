"""Triplet samplers: determinism, rare classes, triplet validity and the styles' distributions."""

from __future__ import annotations

import numpy as np
import pytest

from fashion_lib.data.samplers import STYLES, AttributeLabels, TripletSampler
from fashion_lib.errors import DataError


def multilabel_rows(seed: int = 0, images: int = 400) -> list[tuple[int, int, int]]:
    """Random multi-label rows: 3 attributes of 8 values, 1-3 values per image and attribute."""
    rng = np.random.default_rng(seed)
    rows = []
    for image in range(images):
        for attribute in range(3):
            for value in rng.choice(8, size=rng.integers(1, 4), replace=False):
                rows.append((image, attribute, int(value)))
    return rows


def label_sets(rows: list[tuple[int, int, int]]) -> dict[tuple[int, int], set[int]]:
    sets: dict[tuple[int, int], set[int]] = {}
    for image, attribute, value in rows:
        sets.setdefault((image, attribute), set()).add(value)
    return sets


@pytest.mark.parametrize("style", STYLES)
def test_same_seed_same_triplets_and_epochs_differ(style: str) -> None:
    labels = AttributeLabels.from_rows(multilabel_rows(), [8, 8, 8])
    a = TripletSampler(labels, 500, seed=3, style=style)
    b = TripletSampler(labels, 500, seed=3, style=style)
    e1 = a.epoch(1)
    a.epoch(2)  # the cache must not leak into a later request for epoch 1
    for name in ("anchor", "positive", "negative", "attribute", "value", "negative_value"):
        assert np.array_equal(getattr(e1, name), getattr(a.epoch(1), name))
        assert np.array_equal(getattr(e1, name), getattr(b.epoch(1), name))
    assert not np.array_equal(e1.anchor, a.epoch(2).anchor)
    assert not np.array_equal(e1.anchor, TripletSampler(labels, 500, 4, style).epoch(1).anchor)
    assert len(e1) == len(a) == 500
    t = e1[17]
    assert (t.anchor, t.negative, t.value) == (e1.anchor[17], e1.negative[17], e1.value[17])


@pytest.mark.parametrize("style", STYLES)
def test_triplets_respect_multilabel_semantics(style: str) -> None:
    rows = multilabel_rows(seed=1)
    sets = label_sets(rows)
    epoch = TripletSampler(AttributeLabels.from_rows(rows, [8, 8, 8]), 2000, 0, style).epoch(0)
    assert epoch.relaxed == 0
    for t in (epoch[i] for i in range(len(epoch))):
        anchor_values = sets[(t.anchor, t.attribute)]
        assert t.anchor != t.positive
        assert t.value in anchor_values and t.value in sets[(t.positive, t.attribute)]
        negative_values = sets[(t.negative, t.attribute)]
        assert t.value not in negative_values
        assert t.negative_value in negative_values and t.negative_value != t.value
        if style == "m3net":
            assert not anchor_values & negative_values


def test_rare_values_are_skipped_and_reported() -> None:
    # attribute 0: value 0 has 3 images, value 1 one image, value 2 none; attribute 1: one value
    # on every image (no negative possible), value 1 unused.
    rows = [(0, 0, 0), (1, 0, 0), (2, 0, 0), (3, 0, 1), (0, 1, 0), (1, 1, 0), (2, 1, 0)]
    sampler = TripletSampler(AttributeLabels.from_rows(rows, [3, 2]), 300, 0, "asenpp")
    reasons = {(s.attribute, s.value): (s.images, s.reason) for s in sampler.skipped}
    assert reasons[(0, 1)] == (1, "one training image, so no distinct positive")
    assert reasons[(0, 2)] == (0, "no training images")
    assert reasons[(1, 0)] == (3, "every image of the attribute has it, so no negative")
    assert reasons[(1, 1)] == (0, "no training images")
    epoch = sampler.epoch(0)
    assert set(epoch.attribute) == {0} and set(epoch.value) == {0}
    assert set(epoch.negative) == {3} and set(epoch.negative_value) == {1}


def test_no_usable_value_raises_instead_of_hanging() -> None:
    rows = [(0, 0, 0), (1, 0, 1), (2, 0, 2)]  # every value has a single image
    with pytest.raises(DataError, match=r"labels\.txt"):
        TripletSampler(AttributeLabels.from_rows(rows, [3], source="labels.txt"), 10, 0)


def test_bad_label_names_file_and_line() -> None:
    with pytest.raises(DataError, match=r"train.txt:2: value outside"):
        AttributeLabels.from_rows([(0, 0, 1), (1, 0, 5)], [3], source="train.txt")


def test_m3net_negatives_share_no_value_and_relax_only_when_forced() -> None:
    # Images 0 and 1 carry {0, 1}, image 2 {1}, images 3 and 4 {2}.
    rows = [(0, 0, 0), (0, 0, 1), (1, 0, 0), (1, 0, 1), (2, 0, 1), (3, 0, 2), (4, 0, 2)]
    epoch = TripletSampler(AttributeLabels.from_rows(rows, [3]), 600, 0, "m3net").epoch(0)
    assert epoch.relaxed == 0
    assert set(epoch.negative[epoch.value == 0]) == {3, 4}  # image 2 lacks 0 but shares 1
    assert set(epoch.negative[epoch.value == 1]) == {3, 4}
    assert set(epoch.negative[epoch.value == 2]) == {0, 1, 2}
    # Without images 3 and 4 the only image lacking value 0 shares value 1: the rule is relaxed.
    forced = TripletSampler(AttributeLabels.from_rows(rows[:5], [3]), 50, 0, "m3net").epoch(0)
    assert forced.relaxed == 50 and set(forced.negative) == {2} and set(forced.value) == {0}


def test_negative_value_distribution_per_style() -> None:
    # One single-label attribute with 100, 10 and 10 images of values 0, 1, 2.
    rows = [(i, 0, 0 if i < 100 else 1 if i < 110 else 2) for i in range(120)]
    labels = AttributeLabels.from_rows(rows, [3])
    n = 30_000
    asen = TripletSampler(labels, n, 0, "asen").epoch(0)
    asenpp = TripletSampler(labels, n, 0, "asenpp").epoch(0)
    for epoch in (asen, asenpp):  # anchor value uniform over the 3 values
        assert np.bincount(epoch.value, minlength=3) / n == pytest.approx([1 / 3] * 3, abs=0.02)
    # ASEN: negatives follow image frequency, P(neg=0 | v=1) = 100/110; ASEN++: uniform, 1/2.
    assert np.mean(asen.negative_value[asen.value == 1] == 0) == pytest.approx(100 / 110, abs=0.02)
    assert np.mean(asenpp.negative_value[asenpp.value == 1] == 0) == pytest.approx(0.5, abs=0.03)
