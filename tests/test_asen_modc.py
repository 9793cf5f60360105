"""ASEN++ attention crops and test feature, stage switching, and MODC's clustering memory."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fashion_lib.errors import ConfigError
from fashion_lib.models import create_model
from fashion_lib.models.asen import attention_crop_boxes, crop_and_resize
from fashion_lib.models.modc import ClassPrototypes, ClusterMemory

CLASSES = (3, 4)


def reference_box(attention: torch.Tensor, size: int, threshold: float) -> tuple[int, int, int]:
    """The ASEN++ rule for one map, written as a per-sample loop over pixels."""
    up = F.interpolate(attention[None, None], size=(size, size), mode="bilinear")[0, 0].numpy()
    norm = (up - up.min()) / (up.max() - up.min())
    ys, xs = np.nonzero(norm > threshold)
    x, y = xs.min(), ys.min()
    w, h = xs.max() - x + 1, ys.max() - y + 1
    xc, yc, d = x + w // 2, y + h // 2, max(w, h)
    x0 = size - d if xc + d // 2 > size else max(0, xc - d // 2)
    y0 = size - d if yc + d // 2 > size else max(0, yc - d // 2)
    return int(x0), int(y0), int(d)


def test_crop_boxes_match_per_sample_reference():
    torch.manual_seed(0)
    maps = torch.rand(6, 4, 4) ** 4  # peaky maps
    maps[0] = 0
    maps[0, 3, 3] = 1.0  # a corner peak: the square must be shifted inside
    boxes = attention_crop_boxes(maps, image_size=32, threshold=0.3)
    for b in range(6):
        assert tuple(int(v) for v in boxes[b]) == reference_box(maps[b], 32, 0.3)
    x0, y0, d = boxes[0].tolist()
    assert x0 + d <= 32 and y0 + d <= 32 and d < 32


def test_flat_map_keeps_whole_image():
    boxes = attention_crop_boxes(torch.full((2, 3, 3), 1 / 9), image_size=20, threshold=0.1)
    assert boxes.tolist() == [[0.0, 0.0, 20.0]] * 2


def test_crop_and_resize_equals_slicing_at_native_size():
    images = torch.randn(2, 3, 16, 16)
    boxes = torch.tensor([[4.0, 2.0, 8.0], [0.0, 0.0, 16.0]])
    crops = crop_and_resize(images, boxes, size=8)
    torch.testing.assert_close(crops[0], images[0, :, 2:10, 4:12], rtol=1e-5, atol=1e-5)
    full = crop_and_resize(images, boxes[1:].expand(2, 3), size=16)
    torch.testing.assert_close(full, images, rtol=1e-5, atol=1e-5)


def test_asenpp_test_feature_mixes_cosines_with_beta():
    torch.manual_seed(0)
    model = create_model(
        "asenpp_small", classes_per_attribute=CLASSES, backbone_width=4, local_width=4
    ).eval()
    images, attr = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 0, 1])
    with torch.no_grad():
        out = model(images, attr)
        feat = model.encode_attribute(images, attr)
    assert feat.shape == (4, 2 * out.embeddings.shape[1])
    g, loc = F.normalize(out.embeddings, dim=1), F.normalize(out.local_embeddings, dim=1)
    torch.testing.assert_close(feat @ feat.T, 0.6 * g @ g.T + 0.4 * loc @ loc.T)
    assert out.crop_boxes.shape == (4, 3)
    model.set_stage(1)
    with torch.no_grad():
        assert model(images, attr).local_embeddings is None
        norm = float(model.encode_attribute(images, attr).norm(dim=1)[0])
    assert math.isclose(norm, 1.0, rel_tol=1e-5)


def test_stage_two_needs_a_local_branch():
    model = create_model("asenv2_small", classes_per_attribute=CLASSES)
    with pytest.raises(ConfigError, match="stage 2"):
        model.set_stage(2)


def test_cluster_memory_momentum_prototypes_and_assignment():
    mem = ClusterMemory(
        num_samples=4, classes_per_attribute=(2, 3), dim=2, momentum=0.5, update_interval=1
    )
    e0, e1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    mem.update(
        torch.tensor([0, 1]), torch.tensor([0, 0]), torch.tensor([0, 1]), torch.stack([e0, e1])
    )
    mem.update(torch.tensor([0]), torch.tensor([0]), torch.tensor([0]), e1[None])
    banked = F.normalize(0.5 * e0 + 0.5 * e1, dim=0)  # f <- norm((1 - m) f_old + m f_new)
    torch.testing.assert_close(mem.bank[0, 0].float(), banked, atol=1e-3, rtol=0)
    torch.testing.assert_close(mem.prototypes[0, 0], banked, atol=1e-3, rtol=0)
    assert mem.prototype_ready.tolist() == [[True, True, False], [False, False, False]]
    got = mem.assign(torch.stack([e1, torch.tensor([1.0, 0.1])]), torch.tensor([0, 0]))
    assert got.tolist() == [1, 0]
    with pytest.raises(ConfigError, match="sample ids"):
        mem.update(torch.tensor([4]), torch.tensor([0]), torch.tensor([0]), e0[None])
    with pytest.raises(ConfigError, match="value index"):
        mem.update(torch.tensor([1]), torch.tensor([0]), torch.tensor([2]), e0[None])


def test_modc_model_is_single_branch_and_assigns_classes():
    torch.manual_seed(0)
    model = create_model("modc_small", classes_per_attribute=CLASSES, num_samples=8).eval()
    assert model.encoder.local_branch is None
    images, attr = torch.randn(2, 3, 32, 32), torch.tensor([0, 1])
    emb = model.encode_attribute(images, attr)
    model.memory.update(torch.tensor([0, 1]), attr, torch.tensor([2, 3]), emb)
    assert model.assign_classes(emb, attr).tolist() == [2, 3]


def test_class_prototypes_stay_float32_for_bfloat16_embeddings():
    """Under autocast M3-Net's class representations arrive in bfloat16 (the last-stage rows);
    the prototypes must fold them in and stay float32, as from float32 representations."""
    torch.manual_seed(0)
    embeddings, index = torch.randn(6, 8), torch.tensor([0, 0, 1, 2, 2, 3])
    low, full = ClassPrototypes((2, 2), 8, 0.5), ClassPrototypes((2, 2), 8, 0.5)
    low.update(index, embeddings.bfloat16())
    full.update(index, embeddings)
    assert low.vectors.dtype == torch.float32
    assert torch.allclose(low.vectors, full.vectors, atol=1e-2)
    double = ClassPrototypes((2, 2), 8, 0.5).double()  # the chapters' worked examples
    double.update(index, embeddings.double())
    assert double.vectors.dtype == torch.float64
    assert torch.allclose(double.vectors.float(), full.vectors, atol=1e-6)
