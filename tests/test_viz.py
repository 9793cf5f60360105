"""Figures return matplotlib Figures with the expected axes and colours, without pyplot state."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from fashion_lib import viz

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 255, size=(2, 16, 16, 3), dtype=np.uint8)


def test_attention_overlays_grid_and_labels() -> None:
    maps = {"attribute": torch.rand(2, 4, 4), "class": np.ones((2, 4, 4))}  # flat map allowed
    fig = viz.attention_overlays(
        IMAGES,
        maps,
        row_labels=["attribute: part", "attribute: style"],
        map_labels={"class": ["class: slit", "class: elegant"]},
        masks=np.ones((2, 16, 16), dtype=bool),
    )
    assert isinstance(fig, Figure) and len(fig.axes) == 2 * 3
    assert fig.axes[0].get_title() == "image" and fig.axes[1].get_title() == "attribute"
    assert fig.axes[5].get_xlabel() == "class: elegant"
    assert len(fig.axes[1].images) == 2  # the image and the heat map over it
    assert not plt.get_fignums()  # never registered with pyplot


def test_retrieval_grid_frames_true_green_false_red() -> None:
    results = RNG.integers(0, 255, size=(2, 3, 16, 16, 3), dtype=np.uint8)
    correct = np.array([[True, False, True], [False, False, True]])
    fig = viz.retrieval_grid(IMAGES, results, correct, row_labels=["M3-Net", "MODC"])
    assert len(fig.axes) == 2 * 4
    frames = [
        [p for p in fig.axes[r * 4 + 1 + j].patches if isinstance(p, Rectangle)]
        for r in range(2)
        for j in range(3)
    ]
    colours = [f[0].get_edgecolor()[:3] for f in frames]
    green = tuple(int(viz.TRUE_COLOUR[i : i + 2], 16) / 255 for i in (1, 3, 5))
    red = tuple(int(viz.FALSE_COLOUR[i : i + 2], 16) / 255 for i in (1, 3, 5))
    expected = [green if c else red for c in correct.ravel()]
    np.testing.assert_allclose(colours, expected, atol=1e-6)
    assert fig.axes[0].get_xlabel() == "M3-Net"


def test_gamma_curve_and_heatmap_axes() -> None:
    one = viz.gamma_curve([0.2, 0.5, 0.8], {"p <= gamma": [10, 50, 90]}, paper_point=(0.8, 94))
    assert len(one.axes) == 1 and len(one.axes[0].lines) == 2
    two = viz.gamma_curve([0.2, 0.8], {"a": [1, 2]}, metrics={"MAP@all": [30, 31]})
    assert len(two.axes) == 2 and two.axes[1].get_ylabel() == "retrieval (%)"
    rates = np.array([[0, 0.3, 0.0], [0.3, 0, 0.1], [0.0, 0.1, 0]])
    heat = viz.cooccurrence_heatmap(rates, ["a", "b", "c"], cutoff=0.2, groups=[0, 0, 1])
    assert len(heat.axes) == 2  # heat map and colour bar
    marks = heat.axes[0].lines[0]
    assert sorted(zip(marks.get_xdata(), marks.get_ydata(), strict=True)) == [(0, 1), (1, 0)]


def test_highlight_differences_colours_signs() -> None:
    table = pd.DataFrame({"ours": [1.0, 2.0], "diff": [0.5, -0.25]})
    html = viz.highlight_differences(table, ["diff"]).to_html()
    assert viz.TRUE_COLOUR in html and viz.FALSE_COLOUR in html
