"""Loss values on hand-computed cases: Eq. 7-11, ASEN's triplet and ASEN++'s alignment, MODC."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from fashion_lib.errors import ConfigError
from fashion_lib.losses import (
    ASENLoss,
    M3NetLoss,
    MODCLoss,
    TripletTargets,
    cosine_triplet,
    weighted_multilabel_bce,
)
from fashion_lib.models.asen import ASENOutput
from fashion_lib.models.m3net import M3NetOutput
from fashion_lib.models.modc import ClassPrototypes, ClusterMemory

E0, E1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])


def test_cosine_triplet_by_hand():
    a = torch.stack([E0, E0, 2 * E0])
    p = torch.stack([E1, E0, E0 + E1])
    n = torch.stack([E0, E1, E1])
    got = cosine_triplet(a, p, n, margin=0.4)
    torch.testing.assert_close(got, torch.tensor([1.4, 0.0, max(0.0, 0.4 - 2**-0.5)]))


def test_weighted_bce_by_hand():
    logits = torch.zeros(2, 3)  # x = 0.5 everywhere
    labels = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    mask = torch.tensor([[True, True, False], [True, True, True]])
    got = weighted_multilabel_bce(logits, labels, mask, pos_weight=100.0)
    row0 = (100 + 1) * math.log(2) / 2  # class 2 masked out
    row1 = (1 + 100 + 100) * math.log(2) / 3
    assert float(got) == pytest.approx((row0 + row1) / 2)


def test_class_prototypes_init_then_ema():
    protos = ClassPrototypes((2, 3), dim=2, momentum=0.25)
    idx = protos.index(torch.tensor([1, 1]), torch.tensor([0, 0]))
    assert idx.tolist() == [2, 2]
    protos.update(idx, torch.stack([2 * E0, E1]))
    torch.testing.assert_close(protos.vectors[2], F.normalize(E0 + E1, dim=0))
    assert protos.ready.tolist() == [False, False, True, False, False]
    protos.update(idx[:1], E0[None])
    expected = F.normalize(0.75 * F.normalize(E0 + E1, dim=0) + 0.25 * E0, dim=0)
    torch.testing.assert_close(protos.vectors[2], expected)
    before = protos.vectors.clone()
    protos.update(idx[:1], E1[None], init_only=True)  # ready already: unchanged
    torch.testing.assert_close(protos.vectors, before)


def m3net_output(anchor, positive, negative) -> M3NetOutput:
    emb = torch.stack([anchor, positive, negative])  # one triplet
    return M3NetOutput(
        attribute_embeddings=emb,
        multilabel_logits=torch.zeros(3, 2),
        class_mask=torch.ones(3, 2, dtype=torch.bool),
        class_embeddings=emb,
        pair_image=torch.arange(3),
        pair_class=torch.zeros(3, dtype=torch.long),
        attribute_attention=None,
        class_attention=None,
    )


def test_m3net_loss_terms_by_hand():
    prototypes = ClassPrototypes((2,), dim=2, momentum=0.1)
    loss = M3NetLoss(prototypes, pos_weight=1.0, margin=0.4, lambda_cc=2.0, lambda_ci=0.5)
    targets = TripletTargets(
        attr_ids=torch.zeros(3, dtype=torch.long),
        class_ids=torch.tensor([0]),
        labels=torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]),
    )
    out = m3net_output(E0, E1, E0)  # prototype = norm(E0 + E1) from this first batch
    terms = loss(out, targets)
    assert set(terms) == {"multilabel", "prototype_triplet", "instance_triplet"}
    assert float(terms["multilabel"]) == pytest.approx(math.log(2))
    assert float(terms["prototype_triplet"]) == pytest.approx(2.0 * (0.4 - 2**-0.5 + 1.0))
    assert float(terms["instance_triplet"]) == pytest.approx(0.5 * (0.4 - 0.0 + 1.0))
    out.pair_image = torch.tensor([0, 0, 1])
    with pytest.raises(ConfigError, match="one class pair per row"):
        loss(out, targets)


def test_asen_loss_stage_one_and_two():
    loss = ASENLoss(margin=0.2)
    targets = TripletTargets(torch.zeros(3, dtype=torch.long), torch.tensor([0]))
    g = torch.stack([E0, E0, E1])
    out = ASENOutput(g, torch.zeros(3, 2, 2), None, None, None)
    terms = loss(out, targets)
    assert list(terms) == ["triplet"] and float(terms["triplet"]) == 0.0  # 0.2 - 1 + 0 < 0
    local = torch.stack([E1, E0, E1])  # cos(g, l) = 0, 1, 1
    out = ASENOutput(g, torch.zeros(3, 2, 2), local, None, None)
    terms = loss(out, targets)
    assert float(terms["triplet"]) == 0.0
    assert float(terms["local_triplet"]) == pytest.approx(0.1 * (0.2 - 0.0 + 1.0))
    assert float(terms["alignment"]) == pytest.approx(0.1 * (1.0 + 0.0 + 0.0))


def test_modc_loss_skips_unready_prototypes_then_uses_them():
    memory = ClusterMemory(num_samples=6, classes_per_attribute=(2,), dim=2, update_interval=1)
    loss = MODCLoss(memory, margin=0.4).train()
    targets = TripletTargets(
        attr_ids=torch.zeros(3, dtype=torch.long),
        class_ids=torch.tensor([0]),
        sample_ids=torch.tensor([0, 1, 2]),
        values=torch.tensor([0, 0, 1]),
    )
    out = ASENOutput(torch.stack([E0, E1, E0]), torch.zeros(3, 1, 1), None, None, None)
    first = loss(out, targets)
    assert float(first["prototype_triplet"]) == 0.0  # nothing banked yet
    assert float(first["instance_triplet"]) == pytest.approx(1.4)
    torch.testing.assert_close(memory.prototypes[0, 0], F.normalize(E0 + E1, dim=0))
    second = loss(out, targets)
    assert float(second["prototype_triplet"]) == pytest.approx(0.4 - 2**-0.5 + 1.0)
