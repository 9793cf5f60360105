"""The M3-Net chapters' table helpers (fashion_lib/book/m3net_*pages.py) on tiny hand-made frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from fashion_lib.book.m3net_analysis_pages import gain_table, recorded_metric
from fashion_lib.book.m3net_figure_pages import LabelledPairs, first_pairs
from fashion_lib.book.m3net_pages import relevance_ranks
from fashion_lib.book.m3net_training_pages import per_query_gap, plateau_table
from fashion_lib.evidence import PerQuery
from fashion_lib.experiments.m3net_runs import ROWS


def test_per_query_gap_pairs_queries_by_key_not_by_position() -> None:
    a = [PerQuery(np.array(["x", "y"]), np.array([5.0, 1.0]))]
    b = [PerQuery(np.array(["y", "x"]), np.array([4.0, 2.0]))]
    gap = per_query_gap(a, b)[0]
    assert list(gap.keys) == ["x", "y"] and gap.values.tolist() == [3.0, -3.0]


def test_plateau_table_reads_the_last_two_points_at_the_chosen_rate() -> None:
    selection = pd.DataFrame(
        {
            "family": ["m3net"] * 4,
            "lr": [1e-3, 1e-3, 1e-4, 1e-4],
            "step": [80, 100, 80, 100],
            "map_all": [40.0, 40.5, 10.0, 30.0],
        }
    )
    table = plateau_table(selection, {"m3net": 1e-3})
    row = table.loc["m3net"]
    assert row["steps"] == 100 and row["gain in the last 20%"] == 0.5
    assert bool(row["plateau (< 1 point)"]) and row["lr"] == "0.001"


def test_relevance_ranks_rank_each_relevance_on_its_own() -> None:
    rows = [
        {"model": m, "relevance": r, "attribute": "overall", "map_all": v}
        for m, (single, multi) in zip(ROWS, [(1, 9), (2, 8)] + [(0, 0)] * 5, strict=True)
        for r, v in (("single", single), ("multi", multi))
    ]
    ranks = relevance_ranks(pd.DataFrame(rows))
    assert ranks.loc[ROWS[0], "rank (multi)"] == 1 and ranks.loc[ROWS[1], "rank (single)"] == 1
    assert ranks.loc[ROWS[0], "multi - single"] == 8


def test_recorded_metric_picks_one_overall_row() -> None:
    table = pd.DataFrame(
        {
            "model": ["M3-Net"] * 3,
            "seed": [0, 0, 1],
            "relevance": ["multi"] * 3,
            "attribute": ["overall", "shape", "overall"],
            "map_all": [12.5, 3.0, 7.0],
        }
    )
    assert recorded_metric(table, "M3-Net", 0) == 12.5


def test_gain_table_counts_and_averages_each_group() -> None:
    groups = [{"co-occurring": PerQuery(np.array(["a", "b"]), np.array([1.0, np.nan]))}]
    table = gain_table(groups, [3])
    assert table.loc[3, ("n", "co-occurring")] == 2 and table.loc[3, ("gain", "co-occurring")] == 1


def test_first_pairs_takes_the_first_match_and_skips_absent_targets() -> None:
    pairs = torch.tensor([[0, 0, 1], [1, 1, 0], [2, 0, 1]])  # fid, attribute, class
    tp = LabelledPairs(
        pairs, ["a", "b", "c"], ["shape", "part"], [["fit", "flare"], ["slit"]], None, None
    )
    targets = [("shape", "flare"), ("part", None), ("part", "belt")]
    assert first_pairs(tp, targets) == [0, 1]
