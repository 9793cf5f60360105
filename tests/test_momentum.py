"""Momentum encoders and feature queues in a single process (no torch.distributed)."""

from __future__ import annotations

import torch
from torch import nn

from fashion_lib.models.momentum import FeatureQueue, ema_update, gather, momentum_copy


def test_queue_wraps_around_and_reports_filled_rows():
    queue = FeatureQueue(size=5, dim=2)
    assert queue.contents()[0].shape == (0, 2)
    first = torch.arange(6.0).view(3, 2)
    queue.enqueue(first, torch.tensor([10, 11, 12]))
    feats, ids = queue.contents()
    assert torch.equal(feats, first) and ids.tolist() == [10, 11, 12] and int(queue.ptr) == 3
    second = 100 + torch.arange(6.0).view(3, 2)
    queue.enqueue(second, torch.tensor([20, 21, 22]))
    feats, ids = queue.contents()
    # Rows 3, 4 then wrap to row 0: [22, 11, 12, 20, 21].
    assert ids.tolist() == [22, 11, 12, 20, 21] and int(queue.ptr) == 1
    assert torch.equal(feats[0], second[2]) and torch.equal(feats[3], second[0])
    assert torch.equal(feats[1], first[1])


def test_queue_keeps_the_last_rows_of_an_oversized_batch_and_is_a_buffer():
    queue = FeatureQueue(size=3, dim=1)
    queue.enqueue(torch.arange(7.0).view(7, 1), torch.arange(7))
    feats, ids = queue.contents()
    assert sorted(ids.tolist()) == [4, 5, 6] and int(queue.ptr) == 0
    assert {row[0] for row in feats.tolist()} == {4.0, 5.0, 6.0}
    state = queue.state_dict()
    assert set(state) == {"features", "ids", "ptr", "count"}
    assert not any(p.requires_grad for p in queue.parameters())
    copy = FeatureQueue(size=3, dim=1)
    copy.load_state_dict(state)
    assert torch.equal(copy.contents()[1], ids)


def test_contents_are_copies():
    queue = FeatureQueue(size=4, dim=2)
    queue.enqueue(torch.ones(2, 2), torch.tensor([1, 2]))
    feats, _ = queue.contents()
    queue.enqueue(torch.zeros(2, 2), torch.tensor([3, 4]))
    assert torch.equal(feats, torch.ones(2, 2))


def test_ema_matches_its_closed_form_and_copy_is_frozen():
    torch.manual_seed(0)
    online = nn.Linear(4, 3)
    twin = momentum_copy(online)
    assert all(not p.requires_grad for p in twin.parameters())
    assert all(p.requires_grad for p in online.parameters())
    start = [p.detach().clone() for p in twin.parameters()]
    with torch.no_grad():  # move the online weights away, then hold them fixed
        for p in online.parameters():
            p.add_(1.5)
    m, k = 0.9, 7
    for _ in range(k):
        ema_update(online, twin, m)
    # theta_m(k) = m^k theta_m(0) + (1 - m^k) theta
    for p, q, q0 in zip(online.parameters(), twin.parameters(), start, strict=True):
        expected = m**k * q0 + (1 - m**k) * p.detach()
        assert torch.allclose(q, expected, atol=1e-6)
        assert q.grad is None and not q.requires_grad


def test_gather_without_process_group_is_identity():
    x = torch.randn(3, 2)
    assert gather(x) is x


def test_ema_skips_frozen_parameters():
    online = nn.Linear(2, 2)
    online.bias.requires_grad_(False)
    twin = momentum_copy(online)
    with torch.no_grad():
        online.weight.fill_(1.0)
        twin.bias.fill_(5.0)  # a frozen parameter the update must leave alone
        twin.weight.zero_()
    ema_update(online, twin, 0.75)
    assert torch.allclose(twin.weight, torch.full((2, 2), 0.25))
    assert torch.equal(twin.bias, torch.full((2,), 5.0))
