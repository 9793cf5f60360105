"""SCA (Algorithm 1) and CCA (Algorithm 2): shapes, hand-computed values and invariants."""

from __future__ import annotations

import math

import pytest
import torch

from fashion_lib.errors import ConfigError
from fashion_lib.models.attention import CCA, SCA


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_sca_shapes_and_softmax_over_space():
    sca = SCA(in_channels=6, attention_dim=4, num_labels=3, label_dim=5)
    x = torch.randn(7, 6, 3, 5)
    out = sca(x, torch.tensor([0, 1, 2, 0, 1, 2, 0]))
    assert out.attention.shape == (7, 3, 5) and out.attended.shape == (7, 6, 3, 5)
    torch.testing.assert_close(out.attention.sum(dim=(1, 2)), torch.ones(7))
    torch.testing.assert_close(out.attended, x * out.attention[:, None])


def test_sca_matches_algorithm_1_by_hand():
    sca = SCA(in_channels=2, attention_dim=2, num_labels=1, label_dim=2)
    with torch.no_grad():  # T = identity, W1 = identity, E1(l) = (1, -1)
        sca.feature_transform[0].weight.copy_(torch.eye(2)[:, :, None, None])
        sca.feature_transform[0].bias.zero_()
        sca.label_transform.weight.copy_(torch.eye(2))
        sca.label_transform.bias.zero_()
        sca.code.table.weight.copy_(torch.tensor([[1.0, -1.0]]))
    x = torch.tensor([[[[1.0, 0.0]], [[0.0, 2.0]]]])  # (1, 2, 1, 2): positions (1, 0) and (0, 2)
    out = sca(x, torch.tensor([0]))
    t1 = math.tanh(1.0)
    logits = torch.tensor([t1 * t1, -t1 * math.tanh(2.0)]) / math.sqrt(2)
    torch.testing.assert_close(out.attention[0, 0], torch.softmax(logits, 0))


def test_sca_uniform_map_gives_uniform_attention():
    sca = SCA(in_channels=3, attention_dim=4, num_labels=2, label_dim=4)
    x = torch.randn(2, 3, 1, 1).expand(2, 3, 4, 4)
    out = sca(x, torch.tensor([0, 1]))
    torch.testing.assert_close(out.attention, torch.full((2, 4, 4), 1 / 16))


def test_label_ids_and_embeddings_agree_and_batch_is_independent():
    sca = SCA(in_channels=3, attention_dim=4, num_labels=5, label_dim=6)
    cca = CCA(in_channels=3, hidden_dim=4, num_labels=5, label_dim=6)
    x, ids = torch.randn(4, 3, 2, 2), torch.tensor([4, 0, 2, 2])
    for module in (sca, cca):
        a = module(x, ids).attended
        b = module(x, module.code.table(ids)).attended
        torch.testing.assert_close(a, b)
        perm = torch.tensor([2, 0, 3, 1])
        torch.testing.assert_close(module(x[perm], ids[perm]).attended, a[perm])


def test_cca_matches_algorithm_2_by_hand():
    cca = CCA(in_channels=2, hidden_dim=2, num_labels=1, label_dim=1)
    with torch.no_grad():
        cca.code.table.weight.fill_(1.0)
        cca.label_transform.weight.fill_(2.0)
        cca.label_transform.bias.fill_(-0.5)  # q2 = relu(2 * 1 - 0.5) = 1.5
        cca.w3.weight.copy_(torch.tensor([[1.0, 0.0, 1.0], [0.0, -1.0, 0.0]]))
        cca.w3.bias.zero_()
        cca.w4.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        cca.w4.bias.copy_(torch.tensor([0.0, 0.3]))
    x = torch.tensor([[[[1.0, 2.0]], [[3.0, -1.0]]]])  # q1 = (3, 2)
    out = cca(x, torch.tensor([0]))
    hidden = torch.relu(torch.tensor([3.0 + 1.5, -2.0]))  # (4.5, 0)
    beta = torch.sigmoid(hidden + torch.tensor([0.0, 0.3]))
    torch.testing.assert_close(out.pooled[0], torch.tensor([3.0, 2.0]))
    torch.testing.assert_close(out.attention[0], beta)
    torch.testing.assert_close(out.attended[0], beta * torch.tensor([3.0, 2.0]))


def test_cca_vector_input_equals_1x1_map():
    cca = CCA(in_channels=5, hidden_dim=3, num_labels=2, label_dim=4)
    v, ids = torch.randn(3, 5), torch.tensor([1, 0, 1])
    torch.testing.assert_close(cca(v, ids).attended, cca(v[:, :, None, None], ids).attended)
    assert ((cca(v, ids).attention > 0) & (cca(v, ids).attention < 1)).all()


def test_asen_v1_switches_equal_one_hot_bias_free_linear():
    sca = SCA(4, 3, num_labels=2, label_dim=3, label_transform=False, score="conv_tanh")
    x, ids = torch.randn(2, 4, 3, 3), torch.tensor([1, 0])
    one_hot = torch.nn.functional.one_hot(ids, 2).float()
    linear_code = one_hot @ sca.code.table.weight  # bias-free Linear(nA -> c') on a one-hot
    torch.testing.assert_close(sca(x, ids).attention, sca(x, linear_code).attention)
    p = torch.tanh(sca.feature_transform(x)) * torch.tanh(linear_code)[:, :, None, None]
    expected = torch.softmax(torch.tanh(sca.score_conv(p)).flatten(1), dim=1).view(2, 3, 3)
    torch.testing.assert_close(sca(x, ids).attention, expected)


def test_bad_configuration_and_labels_raise():
    with pytest.raises(ConfigError, match="label_dim == attention_dim"):
        SCA(4, 3, num_labels=2, label_dim=5, label_transform=False)
    sca = SCA(4, 3, num_labels=None, label_dim=3)
    with pytest.raises(ConfigError, match="no label table"):
        sca(torch.randn(1, 4, 2, 2), torch.tensor([0]))
    with pytest.raises(ConfigError, match="must be"):
        sca(torch.randn(1, 4, 2, 2), torch.randn(1, 7))
