"""FashionSAP's claims from per-query evidence: which values a column stands for, and the verdicts."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from fashion_lib.evidence import PerQuery
from fashion_lib.experiments import fashionsap_claims as sc

N_QUERIES = 200


def fake_load(ranks_of: dict[str, float]):
    """A loader whose every query of `variant` has rank ranks_of[variant] (TMIR: dress rank 1)."""

    def load(
        variant: str, task: str, profile: str, group: str, seeds: Sequence[int]
    ) -> list[PerQuery]:
        out = []
        for _seed in seeds:
            if task == "tmir":
                keys = [f"{c}|asin{i}|{i}" for c in ("dress", "shirt", "toptee") for i in range(50)]
                values = [1.0 if k.startswith("dress") else 100.0 for k in keys]
            elif task in ("cr", "scr"):
                keys = [f"{i}|0" for i in range(N_QUERIES)]
                values = [100.0 * (ranks_of[variant] == 1)] * N_QUERIES
            else:
                keys = [f"{i}|0" for i in range(N_QUERIES)]  # one test set for every seed
                values = [ranks_of[variant]] * N_QUERIES
            out.append(PerQuery(np.array(keys), np.array(values)))
        return out

    return load


def test_a_column_stands_for_its_per_query_values() -> None:
    load = fake_load({"full": 1.0})
    [i2t], family = sc.claim_evidence("table3", "I2T R@5", "full", "cpu", (0,), load)
    assert family == "recall" and set(i2t.values) == {100.0}
    [tmir], _ = sc.claim_evidence("table4", "Dress R@10", "full", "cpu", (0,), load)
    assert len(tmir.values) == 50 and tmir.values.mean() == 100.0  # only dress queries
    [mean], _ = sc.claim_evidence("table4", "Mean R@10", "full", "cpu", (0,), load)
    assert mean.values.mean() == pytest.approx(100 / 3)  # mean of the three categories
    [cr], family = sc.claim_evidence("table5", "CR Macro-F", "full", "cpu", (0,), load)
    assert family == "accuracy" and cr.values.mean() == 100.0


def test_mean_r1_pools_both_directions() -> None:
    def load(variant, task, profile, group, seeds):  # I2T always first, T2I never
        rank = 1.0 if "i2t" in group else 50.0
        return [PerQuery(np.array([f"{i}|0" for i in range(40)]), np.full(40, rank))]

    [pooled], _ = sc.claim_evidence("table2", "Mean R@1", "full", "cpu", (0,), load)
    assert pooled.values.mean() == pytest.approx(50.0) and len(set(pooled.keys)) == 80


@pytest.mark.parametrize(
    ("ranks", "verdict"),
    [
        ({"full": 1.0, "albef": 20.0}, "held"),
        ({"full": 20.0, "albef": 1.0}, "reversed"),
        ({"full": 1.0, "albef": 1.0}, "no difference > δ"),
    ],
)
def test_judged_verdicts_and_ledger_columns(ranks: dict[str, float], verdict: str) -> None:
    claims = [sc.SAPClaim("table3", "FashionSAP > ALBEF", "FashionSAP", "ALBEF [17]", "I2T R@1")]
    judged = sc.judge_claims(claims, "cpu", (0, 1, 2), fake_load(ranks))
    row = judged.iloc[0]
    assert row["verdict"] == verdict and row["seeds"] == (3, 3)
    assert row["mean_a"] - row["mean_b"] == pytest.approx(row["diff"])
    assert row["paper_a"] > row["paper_b"]  # the paper's Table 3 numbers


def test_table6_paper_values_follow_the_switches() -> None:
    assert sc.paper_value("table6", "albef", "I2T R@1") == pytest.approx(43.84)
    assert sc.paper_value("table6", "full", "T2I R@1") == pytest.approx(62.82)
    assert np.isnan(sc.paper_value("table4", "ALBEF-style (ours)", "Mean R@10"))


def test_gradcam_maps_pair_up_across_models() -> None:
    rows = []
    for variant, mass in (("full", 0.6), ("albef", 0.4)):
        for word in ("sleeves", "sleeves", "collar"):  # a word twice in one caption
            rows.append({"variant": variant, "seed": 0, "kind": "word", "row": 3, "word": word,
                         "part": word, "mass": mass})  # fmt: skip
        rows.append({"variant": variant, "seed": 0, "kind": "caption", "row": 3, "word": "",
                     "part": "product", "mass": mass})  # fmt: skip
    scores = pd.DataFrame(rows)
    [full], [albef] = (sc.gradcam_evidence(scores, v, "word", (0,)) for v in ("full", "albef"))
    assert full.keys.tolist() == albef.keys.tolist() and len(set(full.keys)) == 3
    assert full.values.tolist() == pytest.approx([60.0] * 3)
    [caption] = sc.gradcam_evidence(scores, "full", "caption", (0,))
    assert caption.keys.tolist() == ["3"]


def test_fashionsap_against_the_reference_row_is_its_own_family() -> None:
    judged = sc.versus_reference("cpu", (0, 1, 2), fake_load({"full": 1.0, "reference": 20.0}))
    assert len(judged) == len(sc.VERSUS_REFERENCE)
    assert set(judged["b"]) == {sc.REFERENCE_ROW} and set(judged["a"]) == {"FashionSAP"}
    fashiongen = judged[judged["source"].isin(["Table 2", "Table 3", "Table 5"])]
    assert (fashiongen["verdict"] == "held").all()  # (fake TMIR: the same ranks for both)
    assert judged["paper_b"].isna().all()  # the paper prints no reference row


def test_chapter_08_claims_name_rows_and_columns_of_their_tables() -> None:
    claims = sc.results_claims("small_cnn", "resnet34_c4")
    assert len(claims) == 15 and claims[3].claim == "small_cnn beats resnet34_c4 (subset)"
    assert claims[4].a == "FashionSAP(Resnet50)" and claims[4].table == "table2"
    for c in claims:
        spec = sc.TABLES[c.table]
        assert {c.a, c.b} <= set(spec.rows) and c.metric in spec.columns
