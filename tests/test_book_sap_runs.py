"""Chapter 07's run tables: seeds summarised per variant, curves offset by their warm-up, costs."""

from __future__ import annotations

from pathlib import Path

import pytest
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


def curve_run(values: list[float], cosines: tuple[float, float] | None = None) -> SAPRun:
    """A run whose validation curve has `values` at steps 0, 10, 20, ..."""
    history = []
    for i, value in enumerate(values):
        row = {"step": 10 * i, "val_mean_r1": value}
        if cosines is not None:
            row |= {"fsis_cos_matched": cosines[0], "fsis_cos_mismatched": cosines[1]}
        history.append(row)
    return SAPRun("r", Path("."), {}, history, 1.0, True, None)


def test_plateau_check_reads_the_last_fifth_of_each_variants_seed_mean():
    warm = {"main": curve_run([1.0, 10.0, 20.0, 25.0, 30.0, 30.5])}  # steps 0..50
    runs = {
        ("full", 0): curve_run([30.5, 33.0, 34.0, 34.5, 35.0, 36.4]),  # + 1.4 on this seed,
        ("full", 1): curve_run([30.5, 33.0, 34.0, 34.5, 35.0, 34.4]),  # - 0.6: mean + 0.4
        ("albef", 0): curve_run([30.5, 31.0, 32.0, 33.0, 34.0, 36.0]),  # + 2.0: still climbing
    }
    curves = sap_runs.validation_curves(warm, runs, {"full": "main", "albef": "main"})
    assert curves[curves.variant == "full"].step.tolist() == [50, 60, 70, 80, 90, 100] * 2
    check = sap_runs.plateau_check(curves).set_index("variant")
    full = check.loc["full"]
    assert full["from step"] == 90 and full["seeds"] == 2 and full["plateau"]
    assert full["added"] == pytest.approx(0.4)
    assert (full["added, seed min"], full["added, seed max"]) == pytest.approx((-0.6, 1.4))
    assert check.loc["albef", "added"] == 2.0 and not check.loc["albef", "plateau"]
    assert check.loc["warm-up (main)", "added"] == 0.5
    assert sap_runs.plateau_sentence(check.reset_index()).endswith("albef (+2.0 points).")


def test_fsis_cosines_pair_matched_with_mismatched():
    runs = {("full", 0): curve_run([1.0, 2.0], (0.6, 0.1)), ("albef", 0): curve_run([1.0])}
    frame = sap_runs.fsis_cosines(runs)
    assert set(frame.variant) == {"full"} and len(frame) == 4
    wide = frame.pivot_table(index="step", columns="pair", values="cosine")
    assert (wide["matched"] == 0.6).all() and (wide["mismatched"] == 0.1).all()
