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


def test_m3net_diagram_labels_every_module_with_its_traced_shapes() -> None:
    from fashion_lib.book.m3net_diagram import m3net_diagram, traced_shapes
    from fashion_lib.models import create_model

    torch.manual_seed(0)
    model = create_model("m3net_small", classes_per_attribute=(3, 5), gamma=0.0)
    images, attr = torch.randn(2, 3, 64, 64), torch.tensor([0, 1])
    calls, out = traced_shapes(model, images, attr)
    pairs = len(out.pair_image)  # gamma 0: every class of each row's attribute
    assert pairs == 3 + 5 and model.training
    assert calls["backbone"] == [[(2, 256, 8, 8)]]
    assert len(calls["cca_a"]) == 3  # the attribute rows, then one call per attribute's pairs
    assert sum(call[0][0] for call in calls["sca_c"]) == pairs
    texts = [t.get_text() for t in m3net_diagram(model, images, attr).axes[0].texts]
    assert any("sca_c" in t and f"phi_mn ({pairs}, 256, 8, 8)" in t for t in texts)
    assert any("Eq. 5" in t and f"varphi~_n ({pairs}, 256)" in t for t in texts)
    assert any("Eq. 7" in t for t in texts) and any("Eq. 10" in t for t in texts)


def test_m3net_diagram_draws_no_box_for_a_module_an_ablation_lacks() -> None:
    from fashion_lib.book.m3net_diagram import m3net_diagram
    from fashion_lib.models import create_model

    model = create_model("m3net_a_small", classes_per_attribute=(3, 5))
    figure = m3net_diagram(model, torch.randn(2, 3, 64, 64), torch.tensor([0, 1]))
    texts = [t.get_text() for t in figure.axes[0].texts]
    assert not any(t.startswith(("sca_c", "cca_c")) for t in texts)
    assert any(t.startswith("sca_a") for t in texts)


def test_shape_log_prints_and_tabulates(capsys) -> None:
    from fashion_lib.book.teach import ShapeLog

    log = ShapeLog()
    log("input", "x", torch.zeros(2, 3))
    log("head", "logits", torch.zeros(2, 5, 1))
    assert "input    x" in capsys.readouterr().out
    assert log.frame()["shape"].tolist() == [(2, 3), (2, 5, 1)]
