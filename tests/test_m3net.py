"""M3-Net: batched class branch vs a per-pair loop, ablation switches, class prediction, and a
registry-driven forward/backward/NaN check of every retrieval model (M3-Net, ASEN family, MODC)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fashion_lib.errors import ConfigError, DataError
from fashion_lib.losses import ASENLoss, M3NetLoss, MODCLoss, TripletTargets
from fashion_lib.models import create_model, list_models, model_module
from fashion_lib.models.backbones import create_cnn_backbone
from fashion_lib.models.m3net import M3Net, M3NetConfig

CLASSES = (3, 4)


def small(**kw) -> M3Net:
    torch.manual_seed(0)
    cfg = dict(backbone="small_cnn", backbone_width=4, attention_dim=8, label_dim=6, head_hidden=8)
    return M3Net(M3NetConfig(classes_per_attribute=CLASSES, **{**cfg, **kw})).eval()


def manual_class_vector(model: M3Net, image: torch.Tensor, attr: int, cls: int) -> torch.Tensor:
    """Eq. 1, 4, 5, 6 for one (image, class) pair, straight from the modules."""
    a, m = torch.tensor([attr]), torch.tensor([cls])
    psi = model.backbone(image[None])
    phi_n = model.sca_a(psi, a).attended * (psi.shape[-2] * psi.shape[-1])  # SCA-C's input gain
    phi_mn = model.sca_c[attr](phi_n, m).attended
    x_n = model.cca_a(phi_mn, a).attended
    return model.cca_c[attr](x_n, m).attended[0]


def test_batched_class_branch_equals_per_pair_loop():
    model = small()
    images = torch.randn(3, 3, 32, 32)
    attr = torch.tensor([0, 1, 1])
    class_ids = torch.tensor([[2, 0, -1], [3, -1, -1], [0, 1, 2]])
    with torch.no_grad():
        out = model(images, attr, class_ids)
        assert out.pair_image.tolist() == [0, 0, 1, 2, 2, 2]
        assert out.pair_class.tolist() == [2, 0, 3, 0, 1, 2]
        for p, (b, m) in enumerate(
            zip(out.pair_image.tolist(), out.pair_class.tolist(), strict=True)
        ):
            expected = manual_class_vector(model, images[b], int(attr[b]), m)
            torch.testing.assert_close(out.class_embeddings[p], expected, rtol=1e-4, atol=1e-5)
    assert out.class_attention.shape == (6, 4, 4)
    torch.testing.assert_close(out.class_attention.sum(dim=(1, 2)), torch.ones(6))


def test_attribute_outputs_and_head_mask():
    model = small()
    out = model(torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 0, 1]), torch.tensor([0, 0, 1, 3]))
    assert out.attribute_embeddings.shape == (4, 32)  # small_cnn width 4 -> 32 channels
    assert out.class_mask.tolist() == [[True] * 3 + [False], [True] * 4] * 2
    assert (out.multilabel_logits[~out.class_mask] == 0).all()


def test_ablation_switches():
    images, attr, cls = torch.randn(2, 3, 32, 32), torch.tensor([0, 1]), torch.tensor([1, 2])
    a_model = small(class_attention=False)
    assert not hasattr(a_model, "sca_c") and hasattr(a_model, "sca_a")
    out = a_model(images, attr, cls)
    assert out.class_attention is None
    torch.testing.assert_close(out.class_embeddings, out.attribute_embeddings[out.pair_image])
    c_model = small(attribute_attention=False)
    assert not hasattr(c_model, "sca_a") and hasattr(c_model, "sca_c")
    out = c_model(images, attr, cls)
    assert out.attribute_attention is None and out.class_attention is not None
    # its attribute branch starts at the identity: x_n starts as the pooled backbone map
    torch.testing.assert_close(out.attribute_embeddings, c_model.backbone(images).mean(dim=(2, 3)))
    with pytest.raises(ConfigError):
        M3NetConfig(classes_per_attribute=CLASSES, attribute_attention=False, class_attention=False)


def test_m3net_c_attribute_branch_is_trained_on_a_frozen_backbone():
    model = small(attribute_attention=False).train()
    model.backbone.requires_grad_(False)  # the cpu profile's frozen backbone
    images, attr, cls = torch.randn(6, 3, 32, 32), torch.tensor([0, 1] * 3), torch.tensor([2, 1])
    labels = F.one_hot(torch.tensor([2, 1, 2, 1, 0, 3]), 4).float()
    targets = TripletTargets(attr, cls, labels)
    with torch.no_grad():
        pooled = model.backbone(images).mean(dim=(2, 3))  # the pooled backbone, untrainable here
    out = model(images, attr, cls.repeat(3))
    torch.testing.assert_close(out.attribute_embeddings, pooled)  # identity start, batch order
    sum(M3NetLoss(model.prototypes)(out, targets).values()).backward()
    grad = model.attribute_maps.weight.grad
    assert grad is not None and grad.abs().sum() > 0  # L_M and the class losses reach x_n
    torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1).step()
    with torch.no_grad():
        after = model(images, attr, cls.repeat(3)).attribute_embeddings
        same_image = model.encode_attribute(images[:1].repeat(2, 1, 1, 1), torch.tensor([0, 1]))
    assert (after - pooled).abs().max() > 1e-3  # no longer the pooled backbone
    assert (same_image[0] - same_image[1]).abs().max() > 1e-4  # attribute-specific


def test_predict_classes_threshold_top1_and_cap():
    model = small(gamma=0.8, max_classes=2)
    logits = torch.logit(torch.tensor([[0.9, 0.85, 0.95, 0.0], [0.1, 0.3, 0.2, 0.0]]))
    mask = torch.tensor([[True, True, True, False], [True, True, True, True]])
    got = model.predict_classes(logits, mask)
    assert got.tolist() == [[2, 0], [1, -1]]  # capped at 2; none above gamma -> top-1 only
    # the default is the paper's rule: every class above gamma, no cap
    assert small().config.max_classes is None
    uncapped = small(gamma=0.8).predict_classes(logits, mask)
    assert uncapped.tolist() == [[2, 0, 1, -1], [1, -1, -1, -1]]


def test_prototypes_live_in_the_model_state():
    model = small()
    assert "prototypes.vectors" in model.state_dict() and "prototypes.ready" in model.state_dict()
    assert model.prototypes.vectors.shape == (sum(CLASSES), 32)


def test_encoders_are_normalised():
    model = small()
    images, attr = torch.randn(2, 3, 32, 32), torch.tensor([1, 0])
    emb = model.encode_attribute(images, attr)
    cls = model.encode_class(images, attr, torch.tensor([3, 2]))
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(2))
    torch.testing.assert_close(cls.norm(dim=1), torch.ones(2))
    with pytest.raises(ConfigError, match="beyond"):
        model(images, attr, torch.tensor([3, 3]))  # attribute 0 has 3 classes


def test_backbone_loads_a_local_checkpoint_and_rejects_a_wrong_one(tmp_path):
    torch.manual_seed(0)
    source = create_cnn_backbone("small_cnn", width=4)
    path = tmp_path / "small.pth"
    torch.save(source.body.state_dict(), path)
    loaded = create_cnn_backbone("small_cnn", width=4, weights=path)
    x = torch.randn(1, 3, 16, 16)
    torch.testing.assert_close(loaded.eval()(x), source.eval()(x))
    with pytest.raises(DataError, match=r"small\.pth"):
        create_cnn_backbone("small_cnn", width=8, weights=path)  # other shapes
    torch.save({"unrelated": torch.zeros(1)}, path)
    with pytest.raises(DataError, match="lacks"):
        create_cnn_backbone("small_cnn", width=4, weights=path)


MY_FAMILIES = {
    "fashion_lib.models.m3net": {},
    "fashion_lib.models.asen": {},
    "fashion_lib.models.modc": {"num_samples": 16},
}
MODELS = [n for n in list_models() if model_module(n) in MY_FAMILIES]


@pytest.mark.parametrize("name", MODELS)
def test_registered_model_forward_backward_finite(name):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    module = model_module(name)
    model = create_model(name, classes_per_attribute=CLASSES, **MY_FAMILIES[module]).train()
    t = 2
    images = torch.randn(3 * t, 3, 32, 32)
    attr = torch.tensor([0, 1] * 3)
    cls = torch.tensor([2, 1])
    labels = F.one_hot(torch.tensor([2, 1, 2, 1, 0, 3]), 4).float()
    targets = TripletTargets(attr, cls, labels, torch.arange(6), torch.tensor([2, 1, 2, 1, 0, 3]))
    if module.endswith("m3net"):
        out = model(images, attr, cls.repeat(3))
        loss_fn = M3NetLoss(model.prototypes)
    elif module.endswith("modc"):
        out = model(images, attr)
        loss_fn = MODCLoss(model.memory)
    else:
        out = model(images, attr)
        loss_fn = ASENLoss()
    terms = loss_fn(out, targets)
    total = sum(terms.values())
    total.backward()
    assert torch.isfinite(total)
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
