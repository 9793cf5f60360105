"""Chapter 01's pictures of the atelier: the attribute-conditioned triplet."""

from __future__ import annotations

import pytest

from fashion_lib.data.atelier.gallery import attribute_triplet


@pytest.mark.parametrize("attribute", ["sleeve_length", "skirt_length", "lapel_design"])
def test_triplet_positive_shares_the_value_and_negative_changes_only_it(attribute: str) -> None:
    triplet = attribute_triplet(attribute, seed=1, size=32)
    anchor, positive, negative = triplet.values
    assert anchor == positive != negative
    assert triplet.categories[0] == triplet.categories[2]  # the anchor's product ...
    assert triplet.categories[1] != triplet.categories[0]  # the positive is another product
    images = [r.image for r in triplet.images]
    assert all(im.shape == (32, 32, 3) for im in images)
    assert (images[0] != images[2]).any()  # ... with its value changed
    again = attribute_triplet(attribute, seed=1, size=32)
    assert all(
        (a.image == b.image).all() for a, b in zip(triplet.images, again.images, strict=True)
    )
