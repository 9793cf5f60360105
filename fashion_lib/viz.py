"""Figures of the book: attention overlays, retrieval grids, sweeps, heat maps and table styling.

Every function returns a matplotlib ``Figure`` (or a pandas ``Styler`` for tables) built without
pyplot, so nothing is shown or kept in pyplot's figure list: a notebook displays the returned object
(once), a test inspects its axes. Inputs are numpy arrays or
tensors: images (H, W, 3) uint8, attention maps (h, w) at the backbone's resolution (drawn stretched
over the image with bilinear interpolation, as the papers' overlays are).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

__all__ = [
    "attention_overlays",
    "cooccurrence_heatmap",
    "gamma_curve",
    "highlight_differences",
    "retrieval_grid",
]

TRUE_COLOUR = "#1a9850"
FALSE_COLOUR = "#d73027"


def _np(x: object) -> np.ndarray:
    """A numpy copy of a tensor or array (detached, on the CPU)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _overlay(ax: Axes, image: np.ndarray, heat: np.ndarray | None, alpha: float) -> None:
    """Draw ``image`` and, stretched over it, the ``heat`` map; hide the ticks."""
    h, w = image.shape[:2]
    ax.imshow(image)
    if heat is not None:
        extent = (-0.5, w - 0.5, h - 0.5, -0.5)
        ax.imshow(heat, cmap="jet", alpha=alpha, extent=extent, interpolation="bilinear")
    ax.set_xticks([])
    ax.set_yticks([])


def attention_overlays(
    images: Sequence[np.ndarray] | np.ndarray,
    maps: Mapping[str, Sequence[np.ndarray] | np.ndarray],
    row_labels: Sequence[str] | None = None,
    map_labels: Mapping[str, Sequence[str]] | None = None,
    masks: Sequence[np.ndarray] | np.ndarray | None = None,
    alpha: float = 0.5,
    cell: float = 1.9,
) -> Figure:
    """One row per image: the image, then each named attention map over it (Figure 3 of M3-Net).

    Args:
        images: R images (H, W, 3) uint8.
        maps: column title -> R maps (h, w), e.g. {"attribute attention": ..., "class attention":
            ...}; maps are min-max scaled per panel.
        row_labels: a label under each row's image (e.g. "attribute: part").
        map_labels: column title -> R labels under that column's panels (e.g. "class: slit").
        masks: R boolean (H, W) masks outlined in white on every panel (the named part).
        alpha: opacity of the heat maps.
        cell: inches per panel.

    Returns:
        A figure with R x (1 + len(maps)) axes.
    """
    rows, names = len(images), list(maps)
    fig = Figure(figsize=(cell * (1 + len(names)), cell * rows))
    axes = fig.subplots(rows, 1 + len(names), squeeze=False)
    for r in range(rows):
        image = _np(images[r])
        _overlay(axes[r, 0], image, None, alpha)
        if row_labels is not None:
            axes[r, 0].set_xlabel(row_labels[r], fontsize=8)
        for c, name in enumerate(names, start=1):
            heat = _np(maps[name][r]).astype(float)
            span = heat.max() - heat.min()
            heat = (heat - heat.min()) / span if span > 0 else np.zeros_like(heat)
            _overlay(axes[r, c], image, heat, alpha)
            if map_labels is not None and name in map_labels:
                axes[r, c].set_xlabel(map_labels[name][r], fontsize=8)
            if r == 0:
                axes[r, c].set_title(name, fontsize=9)
        if masks is not None:
            for ax in axes[r]:
                ax.contour(
                    _np(masks[r]).astype(float), levels=[0.5], colors="white", linewidths=0.8
                )
    axes[0, 0].set_title("image", fontsize=9)
    fig.tight_layout()
    return fig


def retrieval_grid(
    queries: Sequence[np.ndarray] | np.ndarray,
    results: Sequence[Sequence[np.ndarray]] | np.ndarray,
    correct: Sequence[Sequence[bool]] | np.ndarray,
    row_labels: Sequence[str] | None = None,
    cell: float = 1.2,
) -> Figure:
    """Queries and their top-ranked results, true positives framed green, false ones red (Fig. 4).

    Args:
        queries: R query images (H, W, 3).
        results: R rows of K retrieved images each.
        correct: (R, K) True where the result is relevant to the query.
        row_labels: a label under each row's query (e.g. "M3-Net, texture: print, tribal"),
            wrapped to the panel's width.
        cell: inches per panel.

    Returns:
        A figure with R x (1 + K) axes; column 0 holds the queries.
    """
    correct = _np(correct).astype(bool)
    rows, k = correct.shape
    fig = Figure(figsize=(cell * (1 + k), cell * rows * (1.5 if row_labels else 1.1)))
    axes = fig.subplots(rows, 1 + k, squeeze=False)
    for r in range(rows):
        _overlay(axes[r, 0], _np(queries[r]), None, 0.0)
        if row_labels is not None:
            axes[r, 0].set_xlabel(textwrap.fill(row_labels[r], 26), fontsize=6)
        for j in range(k):
            ax = axes[r, 1 + j]
            image = _np(results[r][j])
            _overlay(ax, image, None, 0.0)
            h, w = image.shape[:2]
            colour = TRUE_COLOUR if correct[r, j] else FALSE_COLOUR
            ax.add_patch(Rectangle((-0.5, -0.5), w, h, fill=False, edgecolor=colour, linewidth=4))
    axes[0, 0].set_title("query", fontsize=8)
    for j in range(k):
        axes[0, 1 + j].set_title(f"#{j + 1}", fontsize=8)
    fig.tight_layout()
    return fig


def gamma_curve(
    gammas: Sequence[float],
    excluded: Mapping[str, Sequence[float]],
    metrics: Mapping[str, Sequence[float]] | None = None,
    paper_point: tuple[float, float] | None = None,
) -> Figure:
    """Share of classes excluded (left) and retrieval metrics (right) against gamma.

    Args:
        gammas: the thresholds.
        excluded: curve name -> excluded share in percent per gamma.
        metrics: curve name -> metric in percent per gamma (drawn in a second panel).
        paper_point: (gamma, excluded %) the paper reports, drawn as a star.

    Returns:
        A figure with one axis, or two when ``metrics`` is given.
    """
    panels = 2 if metrics else 1
    fig = Figure(figsize=(4.2 * panels, 3.2))
    axes = fig.subplots(1, panels, squeeze=False)
    ax = axes[0, 0]
    for name, values in excluded.items():
        ax.plot(gammas, values, marker="o", label=name)
    if paper_point is not None:
        ax.plot(*paper_point, marker="*", markersize=14, color="black", linestyle="", label="paper")
    ax.set(xlabel="gamma", ylabel="classes excluded per image (%)", ylim=(0, 101))
    ax.legend(fontsize=8)
    if metrics:
        for name, values in metrics.items():
            axes[0, 1].plot(gammas, values, marker="o", label=name)
        axes[0, 1].set(xlabel="gamma", ylabel="retrieval (%)")
        axes[0, 1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def cooccurrence_heatmap(
    rates: np.ndarray,
    names: Sequence[str],
    cutoff: float | None = None,
    groups: Sequence[int] | None = None,
) -> Figure:
    """Pairwise co-occurrence rates as a heat map; pairs at or above ``cutoff`` are dotted.

    Args:
        rates: (K, K) rates (``fashion_lib.analysis.cooccurrence.cooccurrence_rates``).
        names: K class names.
        cutoff: mark the pairs whose rate reaches it.
        groups: (K,) attribute of each class; lines separate the attributes.

    Returns:
        A figure with the heat map axis and its colour bar.
    """
    rates = _np(rates)
    k = len(names)
    size = max(4.0, 0.14 * k + 1.5)
    fig = Figure(figsize=(size + 1.0, size))
    ax = fig.subplots()
    shown = ax.imshow(rates, cmap="viridis")
    fig.colorbar(shown, ax=ax, fraction=0.046, label="co-occurrence rate")
    ax.set_xticks(range(k), names, rotation=90, fontsize=5)
    ax.set_yticks(range(k), names, fontsize=5)
    if cutoff is not None:
        i, j = np.nonzero(rates >= cutoff)
        ax.plot(j, i, linestyle="", marker=".", color="white", markersize=2)
    if groups is not None:
        edges = np.nonzero(np.diff(np.asarray(groups)))[0] + 0.5
        for e in edges:
            ax.axhline(e, color="white", linewidth=0.6)
            ax.axvline(e, color="white", linewidth=0.6)
    fig.tight_layout()
    return fig


def highlight_differences(
    table: pd.DataFrame, columns: Sequence[str], digits: int = 2
) -> pd.io.formats.style.Styler:
    """A table styled for the book: numbers rounded, ``columns`` green when > 0 and red when < 0.

    Args:
        table: the DataFrame (e.g. ours beside the paper's numbers and their difference).
        columns: the difference columns to colour.
        digits: decimals shown.

    Returns:
        A pandas ``Styler`` (renders as HTML in the notebook and the book).
    """

    def colour(value: object) -> str:
        if not isinstance(value, int | float) or np.isnan(value) or value == 0:
            return ""
        return f"color: {TRUE_COLOUR if value > 0 else FALSE_COLOUR}"

    return table.style.format(precision=digits, na_rep="-").map(colour, subset=list(columns))
