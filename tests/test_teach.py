"""The chapters' teaching helpers: library source shown as written, hand checks that can fail."""

from __future__ import annotations

import pytest
import torch

from fashion_lib.book.teach import check_equal, source_of
from fashion_lib.losses.fashionsap import fsis_loss


def test_source_is_the_library_s_own_without_its_docstring() -> None:
    source = source_of(fsis_loss)
    assert source.startswith("def fsis_loss(symbol: Tensor, image: Tensor) -> Tensor:\n")
    assert '"""' not in source and "cosine = (symbol * image).sum(dim=-1)" in source
    assert '"""Fashion Symbol Image Similarity' in source_of(fsis_loss, docstring=True)


def test_check_equal_passes_and_fails(capsys) -> None:
    check_equal("L_fsis", 0.25, torch.tensor(0.25))
    assert "L_fsis: by hand == library (0.250000)" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="L_fsis"):
        check_equal("L_fsis", 0.3, torch.tensor(0.25))
    with pytest.raises(AssertionError):
        check_equal("shape", torch.zeros(2), torch.zeros(3))
