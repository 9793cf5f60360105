"""Chapter 07's run tables: seeds summarised per variant, curves offset by their warm-up, costs."""

from __future__ import annotations

from pathlib import Path

import torch

from fashion_lib.book import sap_runs
from fashion_lib.data.masking import IGNORE, TextBatch
from fashion_lib.experiments.fashionsap_pretrain import SAPRun


def run(metrics: dict, steps: int, wall: float, loss: float = 1.0) -> SAPRun:
    history = [{"step": s, "its": loss, "itm": loss / 2} for s in range(1, steps + 1)]
    return SAPRun("r", Path("."), metrics, history, wall, True, None)


WARMUPS = {"main": run({}, 6, 10.0), "ResNet": run({}, 4, 5.0)}
PRETRAINED = {
    ("full", 0): run({"itm_acc": 60.0, "fsis_cos": 80.0}, 3, 2.0),
    ("full", 1): run({"itm_acc": 70.0, "fsis_cos": 90.0}, 3, 3.0),
    ("albef", 0): run({"itm_acc": 50.0}, 3, 1.0),
}


def test_metric_summary_is_mean_and_sample_std_per_variant():
    table = sap_runs.metric_summary(sap_runs.runs_frame(PRETRAINED))
    assert list(table.columns) == ["full", "albef"]
    assert table.loc["itm_acc", "full"] == "65.00 ± 7.07"  # std with ddof = 1
    assert table.loc["itm_acc", "albef"] == "50.00 ± 0.00"
    assert table.loc["fsis_cos", "albef"] == ""  # not measured without FSIS


def test_curves_continue_after_the_warm_up_and_costs_add_up():
    curves = sap_runs.loss_curves(WARMUPS, PRETRAINED, {"full": "main", "albef": "ResNet"})
    full = curves[(curves.variant == "full") & (curves.task == "its")]
    assert sorted(full.step.unique()) == [7, 8, 9]  # after the main warm-up's 6 steps
    assert curves[curves.variant == "albef"].step.min() == 5
    assert set(curves.task) == {"its", "itm"}
    cost = sap_runs.cost_frame(WARMUPS, sap_runs.runs_frame(PRETRAINED))
    assert list(cost.index) == list(range(5)) and cost.wall_s.sum() == 21.0
    assert "full seed 1" in set(cost.run)


def test_trivial_scores_count_real_tokens_and_prompt_blanks_only():
    ones = torch.ones(1, 5, dtype=torch.long)
    text = TextBatch(
        input_ids=ones,
        attention_mask=ones,
        mlm_labels=torch.tensor([[IGNORE, 7, 7, 9, 4]]),
        trp_labels=torch.tensor([[0, 0, 1, 0, IGNORE]]),
        prompt_mask=torch.tensor([[False, True, True, True, False]]),
        symbol_ids=torch.tensor([0]),
        symbol_position=1,
    )
    scores = sap_runs.trivial_scores([text])
    assert scores["TRP: always 'not replaced'"] == 75.0  # 3 of 4 real tokens
    assert round(scores["PTP: always the most frequent blanked token"], 2) == 66.67  # 7, 7, 9
