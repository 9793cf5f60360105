"""The linear reference rows: the loss by hand, that they learn, and that their evidence pairs
query by query with the FashionSAP runs' on a smoke world."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from fashion_lib.errors import ConfigError
from fashion_lib.evidence import EVIDENCE_FILE, read_evidence
from fashion_lib.experiments import fashionsap_eval as ev
from fashion_lib.experiments import fashionsap_reference as ref
from fashion_lib.experiments.backbone_pretrain import world_root
from fashion_lib.experiments.fashionsap_pretrain import fashiongen_split
from fashion_lib.experiments.fashionsap_settings import Stage
from fashion_lib.experiments.fashionsap_tables import REFERENCE_ROW, TABLES
from fashion_lib.profiles import get_profile

pytestmark = pytest.mark.usefixtures("one_thread")


def test_info_nce_by_hand_and_same_group_rows_are_not_negatives() -> None:
    a = F.normalize(torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]]), dim=1)
    b = F.normalize(torch.tensor([[0.8, 0.6], [0.0, 1.0], [1.0, 1.0]]), dim=1)
    tau = 0.5
    sim = (a @ b.t()).tolist()

    def ce(row: list[float], positive: int, keep: list[int]) -> float:
        """Cross-entropy of `positive` among the candidates `keep` of one row."""
        return math.log(sum(math.exp(row[j] / tau) for j in keep)) - row[positive] / tau

    groups = torch.tensor([0, 1, 2])
    by_hand = sum(ce(sim[i], i, [0, 1, 2]) for i in range(3)) / 3
    columns = [list(c) for c in zip(*sim, strict=True)]
    by_hand_t = sum(ce(columns[i], i, [0, 1, 2]) for i in range(3)) / 3
    assert ref.info_nce(a, b, groups, tau, symmetric=False).item() == pytest.approx(by_hand)
    assert ref.info_nce(a, b, groups, tau).item() == pytest.approx((by_hand + by_hand_t) / 2)
    # rows 0 and 1 show one product: neither is the other's negative
    same = torch.tensor([7, 7, 2])
    expected = [ce(sim[0], 0, [0, 2]), ce(sim[1], 1, [1, 2]), ce(sim[2], 2, [0, 1, 2])]
    assert ref.info_nce(a, b, same, tau, symmetric=False).item() == pytest.approx(sum(expected) / 3)


def test_pooled_grids() -> None:
    maps = torch.arange(2 * 3 * 4 * 4, dtype=torch.float16).view(2, 3, 4, 4)
    assert torch.allclose(ref.pooled(maps, 1), maps.float().mean(dim=(2, 3)))
    assert ref.pooled(maps, 2).shape == (2, 12) and ref.pooled(maps, 4).shape == (2, 48)
    assert ref.pooled(maps, 2)[0, 0] == maps[0, 0, :2, :2].float().mean()


def test_the_linear_dual_encoder_learns_a_separable_world(tmp_path: Path) -> None:
    """Images carry a noisy product code, texts a bag of its words: R@1 far above chance."""
    g = torch.Generator().manual_seed(0)
    products, views, words = 40, 2, 60
    code = torch.randn(products, 16, generator=g)
    owner = torch.arange(products).repeat_interleave(views)  # (N,)
    images = code[owner] + 0.3 * torch.randn(len(owner), 16, generator=g)
    vocab = torch.zeros(products, words)
    for p in range(products):
        vocab[p, torch.randperm(words, generator=g)[:5]] = 1.0
    model = ref._LinearMaps([16, words], 32)
    tensors = {"image": images, "text": vocab[owner], "group": owner}

    def loss(net, b):
        return {
            "its": ref.info_nce(net.embed(0, b["image"]), net.embed(1, b["text"]), b["group"], 0.1)
        }

    history, _ = ref._fit(model, loss, tensors, Stage(150, 0, 32, 1e-2), 0, tmp_path)
    assert history[-1]["its"] < history[0]["its"]
    with torch.no_grad():
        scores = ev.full_protocol(model.embed(0, images), model.embed(1, vocab), owner)
    assert scores["i2t_r1"] > 80 and scores["t2i_r1"] > 80  # chance: 2.5%


def test_held_out_rows_are_whole_products(smoke_env: Path) -> None:
    data = ref._data("retrieval", "smoke", "train", 1)
    held = ref._held_out(data, 0.2, 0)
    inside, outside = (set(data.split.product_ids[m].tolist()) for m in (held, ~held))
    assert inside and outside and not inside & outside
    view = ref._rows(data, held)
    assert len(view.split) == held.sum() == len(view.features)
    assert view.split.records[0] == data.split.records[int(np.flatnonzero(held)[0])]


def test_selection_picks_the_best_held_out_grid_and_runs_are_reused(smoke_env: Path) -> None:
    chosen = ref.selection("cr", "smoke")
    pools = ref.reference_settings("smoke").pools
    scores = {side: chosen.metrics[f"pool{side}"] for side in pools}
    assert chosen.metrics["pool"] == max(pools, key=lambda side: scores[side])
    run = ref.reference_run("cr", 0, "smoke")
    assert run.metrics["pool"] == chosen.metrics["pool"]
    assert ref.reference_run("cr", 0, "smoke").reused
    with pytest.raises(ConfigError):
        ref.reference_run("captioning", 0, "smoke")


def test_evidence_pairs_with_the_fashionsap_runs_query_by_query(smoke_env: Path) -> None:
    run = ref.reference_run("retrieval", 0, "smoke")
    evidence = read_evidence(run.run_dir)
    assert (run.run_dir / EVIDENCE_FILE).exists() and set(evidence) == set(ev.EVIDENCE["retrieval"])
    split = fashiongen_split(str(world_root("smoke")), "validation")
    s = ref.sap_settings("smoke")
    n, p = len(split), len(split.products())
    fake = ev.score_retrieval(  # what any FashionSAP row records on the same split and draws
        torch.eye(n, 8), torch.eye(p, 8), split, s.subset_queries, s.subset_negatives,
        s.subset_draws, get_profile("smoke").seed,
    )  # fmt: skip
    for group, values in evidence.items():
        assert sorted(values.keys) == sorted(fake.evidence[group].keys), group
    [tmir] = ref.reference_evidence("tmir", "smoke", "tmir/rank", (0,))
    assert all(k.split("|")[0] in ("dress", "shirt", "toptee") for k in tmir.keys)
    metrics = ref.recognition(0, "smoke", "subcategory")
    assert 0 <= metrics["acc"] <= 100 and {"macro_f", "micro_f"} <= set(metrics)


def test_every_table_has_the_reference_row() -> None:
    for name, spec in TABLES.items():
        assert spec.rows[REFERENCE_ROW] == ref.REFERENCE, name
