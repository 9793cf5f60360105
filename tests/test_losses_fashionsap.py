"""FashionSAP losses against hand computations: FSIS (Eq. 2), ITS with distillation (Eq. 5-9),
ITM hard negatives (never the same product), token losses and TMIR."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from fashion_lib.losses.fashionsap import fsis_loss, its_loss, tmir_loss, token_loss
from fashion_lib.models.fashionsap import sample_hard_negatives
from fashion_lib.models.fashionsap_outputs import TMIROutput


def unit(rows: list[list[float]]) -> torch.Tensor:
    return F.normalize(torch.tensor(rows, dtype=torch.float64), dim=1)


def test_fsis_value():
    a = unit([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    b = unit([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    # per pair 1 - (cos + 1) / 2: aligned 0, orthogonal 0.5, opposite 1 -> mean 0.5
    assert math.isclose(fsis_loss(a, b).item(), 0.5, abs_tol=1e-12)
    c = unit([[3.0, 4.0]])
    d = unit([[1.0, 0.0]])
    assert math.isclose(fsis_loss(c, d).item(), 1 - (0.6 + 1) / 2, abs_tol=1e-12)


def reference_its(image, text, image_bank, text_bank, ids, bank_ids, tau, alpha) -> float:
    """Eq. (5)-(9) written out element by element."""

    def softmax(xs):
        top = max(xs)
        e = [math.exp(x - top) for x in xs]
        return [v / sum(e) for v in e]

    def dot(u, v):
        return sum(x * y for x, y in zip(u, v, strict=True))

    b, n = len(image), len(image_bank)
    total = 0.0
    for queries, momentum, bank in ((image, image_bank, text_bank), (text, text_bank, image_bank)):
        direction = 0.0
        for i in range(b):
            probs = softmax([dot(queries[i], bank[j]) / tau for j in range(n)])
            soft = softmax([dot(momentum[i], bank[j]) / tau for j in range(n)])
            same = [1.0 if ids[i] == bank_ids[j] else 0.0 for j in range(n)]
            hard = [s / sum(same) for s in same]
            target = [alpha * soft[j] + (1 - alpha) * hard[j] for j in range(n)]
            direction += -sum(target[j] * math.log(probs[j]) for j in range(n))
        total += direction / b
    return total / 2


def test_its_with_momentum_distillation_matches_hand_computation():
    g = torch.Generator().manual_seed(0)
    image = F.normalize(torch.randn(3, 4, generator=g, dtype=torch.float64), dim=1)
    text = F.normalize(torch.randn(3, 4, generator=g, dtype=torch.float64), dim=1)
    image_bank = F.normalize(torch.randn(5, 4, generator=g, dtype=torch.float64), dim=1)
    text_bank = F.normalize(torch.randn(5, 4, generator=g, dtype=torch.float64), dim=1)
    ids = torch.tensor([7, 8, 7])
    bank_ids = torch.tensor([7, 8, 7, 9, 8])  # batch rows, then two queued rows
    got = its_loss(image, text, image_bank, text_bank, ids, bank_ids, 0.1, 0.4).item()
    want = reference_its(
        image.tolist(), text.tolist(), image_bank.tolist(), text_bank.tolist(), ids.tolist(),
        bank_ids.tolist(), 0.1, 0.4,
    )  # fmt: skip
    assert math.isclose(got, want, rel_tol=1e-9)


def test_its_without_distillation_or_queue_is_the_symmetric_infonce():
    g = torch.Generator().manual_seed(1)
    image = F.normalize(torch.randn(4, 8, generator=g), dim=1)
    text = F.normalize(torch.randn(4, 8, generator=g), dim=1)
    ids = torch.arange(4)
    got = its_loss(image, text, image, text, ids, ids, 0.07, 0.0)
    logits = image @ text.t() / 0.07
    want = (F.cross_entropy(logits, ids) + F.cross_entropy(logits.t(), ids)) / 2
    assert torch.allclose(got, want, atol=1e-6)


def test_hard_negatives_never_share_the_product():
    ids = torch.tensor([0, 0, 1, 1, 1, 2, 3, 3])
    g = torch.Generator().manual_seed(0)
    sim = torch.randn(8, 8, generator=g) * 5
    sim[ids[:, None] == ids[None, :]] = 50.0  # same-product pairs look the most similar
    for _ in range(50):
        picks, valid = sample_hard_negatives(sim, ids, g)
        assert valid.all()
        assert (ids[picks] != ids).all()


def test_hard_negatives_follow_the_similarity_weights():
    ids = torch.arange(3)
    sim = torch.tensor([[0.0, 5.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    g = torch.Generator().manual_seed(0)
    draws = torch.stack([sample_hard_negatives(sim, ids, g)[0] for _ in range(150)])  # (150, 3)
    share = (draws[:, 0] == 1).float().mean().item()
    assert abs(share - math.exp(5) / (math.exp(5) + 1)) < 0.03  # column 0 is excluded
    assert abs((draws[:, 1] == 0).float().mean().item() - 0.5) < 0.15  # 3.7 sigma


def test_rows_without_another_product_are_invalid():
    picks, valid = sample_hard_negatives(torch.zeros(3, 3), torch.tensor([4, 4, 5]))
    assert valid.tolist() == [True, True, True]
    assert picks.tolist()[:2] == [2, 2] and picks[2].item() in (0, 1)
    _, valid = sample_hard_negatives(torch.zeros(2, 2), torch.tensor([4, 4]))
    assert valid.tolist() == [False, False]


def test_token_loss_ignores_unlabelled_positions():
    logits = torch.randn(2, 3, 5, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([[1, -100, 4], [-100, -100, 0]])
    keep = labels != -100
    want = F.cross_entropy(logits[keep], labels[keep])
    assert torch.allclose(token_loss(logits, labels), want)
    empty = token_loss(logits.requires_grad_(), torch.full((2, 3), -100))
    assert empty.item() == 0.0 and empty.requires_grad


def test_tmir_loss_is_cross_entropy_over_targets_with_duplicates_shared():
    g = torch.Generator().manual_seed(2)
    q = F.normalize(torch.randn(3, 4, generator=g), dim=1)
    t = F.normalize(torch.randn(3, 4, generator=g), dim=1)
    tau = torch.tensor(0.1)
    out = TMIROutput(q, t, tau)
    logits = q @ t.t() / 0.1
    assert torch.allclose(
        tmir_loss(out, torch.arange(3))["tmir"], F.cross_entropy(logits, torch.arange(3))
    )
    shared = tmir_loss(out, torch.tensor([0, 0, 1]))["tmir"]
    logp = logits.log_softmax(dim=1)
    want = -((logp[0, 0] + logp[0, 1]) / 2 + (logp[1, 0] + logp[1, 1]) / 2 + logp[2, 2]) / 3
    assert torch.allclose(shared, want)


def test_a_collapsed_solution_does_not_minimise_fsis_with_its():
    """FSIS reads the ITS embeddings (`test_fashionsap_model`), so a constant embedding, which
    minimises Eq. (2) alone, is beaten by distinct, aligned embeddings once ITS is added."""
    ids = torch.arange(8)

    def objective(image: torch.Tensor, text: torch.Tensor, symbol: torch.Tensor) -> torch.Tensor:
        return fsis_loss(symbol, image) + its_loss(image, text, image, text, ids, ids, 0.07, 0.0)

    constant = F.normalize(torch.ones(8, 16), dim=1)
    distinct = torch.eye(16)[:8]  # every product its own direction; symbol = image = text
    assert fsis_loss(constant, constant) == 0  # Eq. (2) alone is minimised by collapse ...
    collapsed = objective(constant, constant, constant)
    assert math.isclose(collapsed.item(), math.log(8), rel_tol=1e-5)  # ... ITS is at chance
    assert objective(distinct, distinct, distinct) < 0.01 < collapsed


def test_contrastive_logits_stay_float32_under_bf16_autocast():
    g = torch.Generator().manual_seed(0)
    emb = F.normalize(torch.randn(8, 16, generator=g), dim=-1).bfloat16()
    bank = F.normalize(torch.randn(12, 16, generator=g), dim=-1).bfloat16()
    ids, bank_ids = torch.arange(8), torch.cat([torch.arange(8), torch.arange(20, 24)])
    tensors = (emb, emb.flip(0), bank, bank.flip(0))
    # the same bf16 inputs, widened by hand and scored without autocast
    exact = its_loss(*(t.float() for t in tensors), ids, bank_ids, 0.07, 0.4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = its_loss(*tensors, ids, bank_ids, 0.07, 0.4)
    assert mixed.dtype == torch.float32
    assert abs(float(mixed) - float(exact)) < 1e-5  # bf16 logits would be off by ~1e-2
