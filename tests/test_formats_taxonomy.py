"""The real taxonomies: counts, names and the 48 -> 9 fashion-symbol map."""

from __future__ import annotations

import pytest

from fashion_lib.data import taxonomy as tx
from fashion_lib.errors import ConfigError


def test_retrieval_attribute_counts() -> None:
    assert tx.FASHIONAI.counts == (6, 9, 8, 6, 5, 5, 10, 5)
    assert tx.DARN.counts == (20, 13, 55, 7, 28, 11, 26, 8, 17)
    assert tx.DEEPFASHION.counts == (156, 218, 180, 216, 230)
    assert sum(tx.DEEPFASHION.counts) == 1000
    assert tx.DEEPFASHION.names[0] == "texture-related"
    assert tx.DARN.index("collar shape") == 6


def test_fashionai_value_names() -> None:
    for attribute in tx.FASHIONAI.attributes:
        assert attribute.value_names[0] == "Invisible"
    assert tx.FASHIONAI.value_name(tx.FASHIONAI.index("lapel_design"), 1) == "Notched"
    assert tx.FASHIONAI.value_name(0, 3) == "Midi Length"
    assert tx.DARN.value_name(2, 54) == "54"  # DARN's names were never published
    with pytest.raises(ConfigError):
        tx.FASHIONAI.value_name(0, 6)


def test_fashiongen_categories_and_symbols() -> None:
    assert len(tx.FASHIONGEN_CATEGORIES) == len(set(tx.FASHIONGEN_CATEGORIES)) == 48
    assert len(tx.FASHIONGEN_SUBCATEGORIES) == len(set(tx.FASHIONGEN_SUBCATEGORIES)) == 121
    assert set(tx.CATEGORY_TO_SYMBOL) == set(tx.FASHIONGEN_CATEGORIES)
    assert set(tx.CATEGORY_TO_SYMBOL.values()) == set(tx.SYMBOLS)
    per_symbol = {s: sum(v == s for v in tx.CATEGORY_TO_SYMBOL.values()) for s in tx.SYMBOLS}
    assert per_symbol == {
        "tops": 3,
        "pants": 3,
        "skirts": 1,
        "coats": 1,
        "dresses": 3,
        "shoes": 10,
        "bags": 11,
        "accessories": 13,
        "others": 3,
    }
    assert tx.symbol_of("SUITS & BLAZERS") == "dresses"  # as in the released file
    assert tx.symbol_of(" Jackets & Coats ") == "coats"
    assert tx.symbol_token("tops") == "[tops_sign]"
    assert tx.category_index("TOTE BAGS") == 0 and tx.category_index("monkstraps") == 47
    assert tx.subcategory_index("bag accessories") == 120
    with pytest.raises(ConfigError):
        tx.symbol_of("spacesuits")
    assert tx.FASHIONIQ_CATEGORIES == ("dress", "shirt", "toptee")
    assert tx.retrieval_attributes("DARN") is tx.DARN
