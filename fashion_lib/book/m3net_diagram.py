"""M3-Net's architecture drawn from a live model and one forward pass (chapter 02).

`m3net_diagram` runs the model once (eval mode, no gradient) with forward hooks on its modules
and writes into each box what the module is and the shape of every tensor it returned, in the
paper's names (Sec. 3.1, Eq. 1-6), with arrows to the loss terms of Eq. 7-11. A module the model
lacks (an ablation) has no box. `draw_boxes` is the drawing primitive: labelled boxes at given
centres joined by arrows; it returns nothing and draws on a matplotlib axis, so another diagram
can reuse it. The figure is built without pyplot, as `fashion_lib.viz` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor, nn

from fashion_lib.models.m3net import M3Net

__all__ = ["draw_boxes", "m3net_diagram", "traced_shapes"]

#: Box name -> (x, y) centre: the input, M3-Net's modules (`M3Net` attribute names), the losses.
LAYOUT = {
    "images": (1.0, 4.0),
    "backbone": (3.3, 4.0),
    "sca_a": (5.8, 5.6),
    "attribute_maps": (5.8, 5.6),
    "cca_a": (8.4, 5.6),
    "heads": (11.0, 5.6),
    "select": (11.0, 3.9),
    "sca_c": (5.8, 2.2),
    "cca_a_class": (8.4, 2.2),
    "cca_c": (11.0, 2.2),
    "multilabel": (13.4, 5.6),
    "prototypes": (13.4, 3.4),
    "triplets": (13.4, 1.4),
}
EDGES = [
    ("images", "backbone"),
    ("backbone", "sca_a"),
    ("backbone", "attribute_maps"),
    ("sca_a", "cca_a"),
    ("attribute_maps", "heads"),
    ("cca_a", "heads"),
    ("heads", "multilabel"),
    ("heads", "select"),
    ("select", "sca_c"),
    ("sca_a", "sca_c"),
    ("attribute_maps", "sca_c"),
    ("sca_c", "cca_a_class"),
    ("cca_a_class", "cca_c"),
    ("sca_c", "cca_c"),
    ("cca_c", "prototypes"),
    ("cca_c", "triplets"),
    ("prototypes", "triplets"),
]
#: What each box computes, and the names of the tensors it returns, in the paper's names.
MEANING = {
    "backbone": ("f: generic representation", ["psi"]),
    "sca_a": ("SCA-A (Alg. 1, Eq. 1)", ["phi_n", "alpha_n"]),
    "attribute_maps": ("1x1 conv per attribute (M3-Net_c)", ["psi_n"]),
    "cca_a": ("CCA-A (Alg. 2, Eq. 2)", ["varphi_n", "beta_n"]),
    "heads": ("g_n (Eq. 3)", ["logits of P_n(I)", "mask"]),
    "sca_c": ("SCA-C_n (Eq. 4)", ["phi_mn", "alpha_mn"]),
    "cca_a_class": ("CCA-A on phi_mn (Eq. 5)", ["varphi~_n", "beta_n"]),
    "cca_c": ("CCA-C_n (Eq. 6)", ["varphi_mn", "beta_mn"]),
}
LOSSES = {
    "multilabel": "L_M, weighted BCE\n(Eq. 7)",
    "prototypes": "class prototypes\n(EMA, akin to MODC)",
    "triplets": "L_CC (Eq. 9), L_CI (Eq. 10)\nhinge of Eq. 8; sum: Eq. 11",
}
COLOURS = {"input": "#f0f0f0", "attribute": "#deebf7", "class": "#e5f5e0", "loss": "white"}
KINDS = {"images": "input", "sca_c": "class", "cca_a_class": "class", "cca_c": "class"}
KINDS |= {"select": "class"} | dict.fromkeys(LOSSES, "loss")


def draw_boxes(
    ax: Axes,
    labels: Mapping[str, str],
    layout: Mapping[str, tuple[float, float]],
    edges: Sequence[tuple[str, str]],
    colours: Mapping[str, str],
    fontsize: float = 7,
) -> None:
    """Labelled, rounded boxes at `layout` centres and arrows for the `edges` between drawn boxes.

    Args:
        ax: the axis to draw on (its limits and frame are left to the caller).
        labels: box name -> text; only these boxes are drawn.
        layout: box name -> (x, y) centre in data coordinates.
        edges: (from, to) box names; an edge with an undrawn end is skipped.
        colours: box name -> face colour.
        fontsize: text size of the boxes.
    """
    boxes = {}
    for name, label in labels.items():
        style = {"boxstyle": "round,pad=0.4", "facecolor": colours[name], "edgecolor": "0.3"}
        x, y = layout[name]
        boxes[name] = ax.text(x, y, label, ha="center", va="center", fontsize=fontsize, bbox=style)
        boxes[name].set_zorder(4)
    for a, b in edges:
        if a in boxes and b in boxes:
            arrow = {"arrowstyle": "->", "color": "0.5", "shrinkA": 1, "shrinkB": 1}
            arrow |= {"patchA": boxes[a].get_bbox_patch(), "patchB": boxes[b].get_bbox_patch()}
            ax.annotate("", xy=layout[b], xytext=layout[a], arrowprops=arrow)


def _shapes(output: object) -> list[tuple[int, ...]]:
    """Shapes of the tensors a module returned (a tensor, a tuple, or an output dataclass)."""
    if isinstance(output, Tensor):
        return [tuple(output.shape)]
    if isinstance(output, tuple | list):
        return [s for item in output for s in _shapes(item)]
    values = vars(output).values() if hasattr(output, "__dict__") else ()
    return [tuple(v.shape) for v in values if isinstance(v, Tensor)]


@torch.no_grad()
def traced_shapes(
    model: M3Net, images: Tensor, attr_ids: Tensor
) -> tuple[dict[str, list[list[tuple[int, ...]]]], object]:
    """Per module, the output shapes of each of its calls in one eval-mode forward pass.

    The class pairs come from the head (``class_ids=None``), as at test time. SCA-C and CCA-C are
    one module per attribute: their calls are gathered under ``sca_c`` and ``cca_c``.

    Returns:
        (module name -> one list of shapes per call, the model's output).
    """
    calls: dict[str, list[list[tuple[int, ...]]]] = {}

    def hook(name: str):
        def record(_module: nn.Module, _inputs: object, output: object) -> None:
            calls.setdefault(name, []).append(_shapes(output))

        return record

    modules = [(n, m) for n, m in model.named_children() if n in LAYOUT]
    modules = [(n, sub) for n, m in modules for sub in (m if isinstance(m, nn.ModuleList) else [m])]
    hooks = [module.register_forward_hook(hook(name)) for name, module in modules]
    was_training = model.training
    model.eval()
    try:
        out = model(images, attr_ids)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return calls, out


def _combined(calls: Sequence[list[tuple[int, ...]]]) -> list[tuple[int, ...]]:
    """The shapes of several calls on parts of one batch as one call (leading sizes summed)."""
    first = calls[0][:2]  # the attended output and its attention
    return [(sum(c[i][0] for c in calls), *shape[1:]) for i, shape in enumerate(first)]


def _label(name: str, box: str, calls: Sequence[list[tuple[int, ...]]]) -> str:
    what, outputs = MEANING[box]
    shapes = _combined(calls)
    lines = [f"{o} {s}" for o, s in zip(outputs, shapes, strict=False)]
    return f"{name}\n{what}\n" + "\n".join(lines)


def m3net_diagram(model: M3Net, images: Tensor, attr_ids: Tensor) -> Figure:
    """M3-Net (Sec. 3.1) as boxes and arrows, labelled from `model` and one forward pass.

    Args:
        model: an M3-Net (or ablation) to draw; left in the mode it was in.
        images: (B, 3, S, S) images (or cached maps for a model whose backbone is an identity).
        attr_ids: (B,) the attribute each row is about.

    Returns:
        A figure with one axis: every module box shows what it computes and the shape of each
        tensor it returned (attended map, then attention map, for SCA); the class boxes show the
        P (image, class) pairs the head selected with gamma.
    """
    calls, out = traced_shapes(model, images, attr_ids)
    cfg = model.config
    labels = {"images": f"images I\n{tuple(images.shape)}"}
    for name, shapes in calls.items():
        labels[name] = _label(name, name, shapes)
    if len(calls.get("cca_a", [])) > 1:  # then the class branch's calls (Eq. 5)
        labels["cca_a"] = _label("cca_a", "cca_a", calls["cca_a"][:1])
        labels["cca_a_class"] = _label("cca_a", "cca_a_class", calls["cca_a"][1:])
    pairs = tuple(out.pair_image.shape)
    labels["select"] = f"select_classes\nclasses with x_mn > gamma = {cfg.gamma}\npairs {pairs}"
    labels |= LOSSES
    colours = {name: COLOURS[KINDS.get(name, "attribute")] for name in labels}
    fig = Figure(figsize=(13.5, 6.4))
    ax = fig.subplots()
    draw_boxes(ax, labels, LAYOUT, EDGES, colours)
    ax.set(xlim=(-0.2, 14.6), ylim=(0.2, 7.0))
    ax.axis("off")
    ax.set_title(
        f"M3-Net as built: c' = {cfg.attention_dim}, gamma = {cfg.gamma}; "
        f"B = {len(images)} rows, P = {pairs[0]} (image, class) pairs",
        fontsize=10,
    )
    fig.tight_layout()
    return fig
