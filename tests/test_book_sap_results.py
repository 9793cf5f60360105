"""Chapters 08-09's helpers: errata, the step ordering, the verdict sentences and the figures."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import torch
from matplotlib.colors import to_hex

from fashion_lib.book import sap_ablation as sa
from fashion_lib.book import sap_figures as sf
from fashion_lib.book import sap_results as sr
from fashion_lib.viz import FALSE_COLOUR, TRUE_COLOUR


def test_printed_errata_find_commercemm() -> None:
    errata = sr.printed_errata()
    assert {"CommerceMM [45]", "ALBEF [17]"} <= set(errata["model"])
    wrong = errata.iloc[0]
    assert abs(wrong["printed Mean R@1"] - wrong["mean of I2T and T2I R@1"]) > 0.005


def test_the_chain_holds_only_when_every_step_holds() -> None:
    steps = [("ptp", "albef"), ("ptp_trp", "ptp"), ("full", "ptp_trp")]
    claims = pd.DataFrame(
        {
            sa.METRICS[0]: ["held", "held", "held"],
            sa.METRICS[1]: ["held", "reversed", "held"],
            sa.METRICS[2]: ["held", "inconclusive", "held"],
        },
        index=[f"{a} > {b}" for a, b in steps],
    )
    verdict = sa.ordering(claims.reindex(columns=sa.METRICS, fill_value="held"), steps)
    assert verdict[sa.METRICS[0]] == "held"
    assert verdict[sa.METRICS[1]] == "not held"
    assert verdict[sa.METRICS[2]] == "inconclusive"
    assert len(sa.step_claims(steps)) == len(steps) * len(sa.METRICS)


def _verdicts(*verdicts: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source": ["Table 3"] * len(verdicts),
            "metric": [f"m{i}" for i in range(len(verdicts))],
            "mean_a": 50.0,
            "mean_b": 40.0,
            "diff": 10.0,
            "lo": 5.0,
            "hi": 15.0,
            "verdict": list(verdicts),
            "level": 0.95,
        }
    )


def test_what_the_machinery_buys_in_words() -> None:
    assert "on every task" in sr.machinery_sentence(_verdicts("held", "held"))
    assert "on no task" in sr.machinery_sentence(_verdicts("reversed", "inconclusive"))
    mixed = sr.machinery_sentence(_verdicts("held", "reversed"))
    assert "only on Table 3 m0" in mixed and "+10.0 points" in mixed


class _Split:
    """A FashionGen split of three products (two views each) with grey images of level = row."""

    def __init__(self) -> None:
        self.records = [
            SimpleNamespace(sample=SimpleNamespace(caption=f"p{r // 2}")) for r in range(6)
        ]

    def products(self) -> dict[int, list[int]]:
        return {p: [2 * p, 2 * p + 1] for p in range(3)}

    def images(self, rows) -> torch.Tensor:
        return torch.stack([torch.full((3, 4, 4), r, dtype=torch.uint8) for r in rows])


def test_t2i_rows_rank_the_images_and_mark_the_right_ones() -> None:
    owner = torch.tensor([0, 0, 1, 1, 2, 2])
    text = torch.eye(3)
    image = torch.zeros(6, 3)
    image[2, 0], image[0, 0], image[1, 0] = 0.9, 0.5, 0.1  # product 0's text ranks row 2 first
    [row] = sf.t2i_rows(_Split(), image, text, owner, [0], k=2)
    assert row.text == "p0" and row.correct == [False, True] and row.rank == 2
    assert [int(r[0, 0, 0]) for r in row.results] == [2, 0]


def test_result_rows_figure_frames_right_and_wrong() -> None:
    grey = np.zeros((4, 4, 3), dtype=np.uint8)
    row = sf.ResultRow("a red dress", [grey, grey], [True, False], grey, 1, reference=grey)
    fig = sf.result_rows_figure([row, row])
    assert len(fig.axes) == 2 * (2 + 2 + 1)  # reference, text, two results, answer
    frames = [to_hex(p.get_edgecolor()) for p in fig.axes[2].patches + fig.axes[3].patches]
    assert frames == [TRUE_COLOUR, FALSE_COLOUR]
