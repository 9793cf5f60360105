"""M3-Net's table claims from per-query evidence: which evidence a claim reads, and its verdict."""

from __future__ import annotations

import numpy as np
import pytest

from fashion_lib.claims import load_claims, publish_claims
from fashion_lib.errors import ConfigError
from fashion_lib.evidence import PerQuery
from fashion_lib.experiments import m3net_claims as mc

SEEDS = 5


def fake_load(levels: dict[str, float], calls: list | None = None):
    """Per-query AP of every model: its level plus noise shared by the models (paired queries)."""

    def load(model, dataset, profile, group):
        if calls is not None:
            calls.append((model, dataset, group))
        rng = np.random.default_rng(7)
        keys = np.array([f"attr{i % 4}|{i}" for i in range(400)])
        return [
            PerQuery(keys, np.clip(levels[model] + rng.normal(0, 20, 400) + 0.1 * s, 0, 100))
            for s in range(SEEDS)
        ]

    return load


def test_the_claims_cover_every_dataset_and_stay_on_the_tables() -> None:
    assert {c.dataset for c in mc.TABLE_CLAIMS} == set(mc.PAPER_TABLES)
    assert mc.M3Claim("DARN", "M3-Net", "M3-Net_c", kind="~") in mc.TABLE_CLAIMS
    with pytest.raises(ConfigError):
        mc.M3Claim("DARN", "M3-Net", "CLIP")


def test_verdicts_read_the_primary_relevance(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FASHION_RUNS_DIR", str(tmp_path))
    calls: list = []
    load = fake_load({"M3-Net": 50.0, "MODC": 40.0, "M3-Net_c": 50.0}, calls)
    claims = [
        mc.M3Claim("DeepFashion", "M3-Net", "MODC"),
        mc.M3Claim("DARN", "M3-Net", "M3-Net_c", kind="~"),
        mc.M3Claim("FashionAI", "MODC", "M3-Net", "Recall@100 overall"),
    ]
    judged = mc.judge_claims(claims, "cpu", load)
    assert judged["verdict"].tolist() == ["held", "held", "reversed"]
    assert judged["seeds"].tolist() == [(SEEDS, SEEDS)] * 3
    assert ("M3-Net", "DeepFashion", "multi/ap_all") in calls  # multi-label on DeepFashion
    assert ("MODC", "FashionAI", "single/recall_100") in calls
    assert judged.loc[0, "paper_a"] > judged.loc[0, "paper_b"]  # Table 2's numbers
    publish_claims("04_m3net_results", "cpu", judged, "m3net-claims")
    assert load_claims("cpu")["verdict"].tolist() == ["held", "held", "reversed"]
