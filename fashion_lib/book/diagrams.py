"""Drawings built from live objects: FashionSAP's architecture with the shapes of a forward pass,
and sample cards (an image beside its texts).

`fashionsap_diagram` does not draw a fixed picture: it runs the model once (eval mode, no gradient,
so no momentum update and no enqueue) with forward hooks on its modules, and writes into each box
what the module is (read from the module) and the shape it returned. A switched-off task has no
box. Both functions return a matplotlib ``Figure`` built without pyplot, as `fashion_lib.viz` does.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from fashion_lib.book.m3net_diagram import draw_boxes
from fashion_lib.data.masking import TextBatch
from fashion_lib.models.fashionsap import FashionSAP

__all__ = ["fashionsap_diagram", "sample_cards"]

#: Box name -> (x, y) centre; the inputs, the modules of `FashionSAP`, the loss terms.
LAYOUT = {
    "images": (1.0, 1.2),
    "text": (1.0, 6.8),
    "image_encoder": (3.6, 1.2),
    "text_encoder": (3.6, 6.8),
    "fsis": (13.0, 4.0),
    "fusion": (6.3, 4.0),
    "text_proj": (7.6, 7.8),
    "momentum": (10.2, 6.7),
    "its": (12.4, 7.8),
    "image_proj": (12.4, 0.6),
    "mlm_head": (8.9, 5.2),
    "trp_head": (8.9, 4.0),
    "itm_head": (8.9, 2.8),
    "ptp": (11.0, 5.2),
    "trp": (11.0, 4.0),
    "itm": (11.0, 2.8),
}
EDGES = [
    ("images", "image_encoder"),
    ("text", "text_encoder"),
    ("image_encoder", "image_proj"),
    ("image_encoder", "fusion"),
    ("text_encoder", "fusion"),
    ("text_encoder", "text_proj"),
    ("fusion", "mlm_head"),
    ("fusion", "trp_head"),
    ("fusion", "itm_head"),
    ("image_proj", "its"),
    ("text_proj", "its"),
    ("momentum", "its"),
    ("image_proj", "fsis"),
    ("text_proj", "fsis"),
    ("mlm_head", "ptp"),
    ("trp_head", "trp"),
    ("itm_head", "itm"),
]
LOSSES = {
    "its": "L_its (Eq. 5-9)",
    "fsis": "L_fsis (Eq. 2)\nW_T v_symbol . W_I v_img",
    "ptp": "L_ptp (Eq. 3)",
    "trp": "L_trp (Eq. 4)",
    "itm": "L_itm (Eq. 10)",
}
#: What each module returns, in the paper's names.
OUTPUTS = {
    "image_encoder": "I",
    "text_encoder": "T",
    "fusion": "H",
    "image_proj": "W_I v_img",
    "text_proj": "W_T v_cls",
    "momentum": "text bank",
    "mlm_head": "logits",
    "trp_head": "logits",
    "itm_head": "logits",
}
KINDS = {
    "images": "input",
    "text": "input",
    "image_encoder": "image",
    "image_proj": "image",
    "text_encoder": "text",
    "text_proj": "text",
    "fusion": "fused",
    "momentum": "fused",
    "mlm_head": "fused",
    "trp_head": "fused",
    "itm_head": "fused",
}
COLOURS = {
    "input": "#f0f0f0",
    "image": "#deebf7",
    "text": "#fee6ce",
    "fused": "#e5f5e0",
    "loss": "white",
}


def _shape(value: object) -> tuple[int, ...]:
    tensor = value if isinstance(value, Tensor) else value.hidden  # FusionOutput
    return tuple(tensor.shape)


def _linear(m: nn.Linear) -> str:
    return f"Linear {m.in_features}->{m.out_features}"


def _describe(model: FashionSAP) -> dict[str, str]:
    """What each box is, read from the modules themselves."""
    cfg, bert = model.config, model.text_encoder.config
    fusion = model.fusion.layers
    heads = fusion[0].cross_attn.num_heads
    about = {
        "image_encoder": f"{type(model.image_encoder.body).__name__} "
        f"({cfg.image_encoder}{', frozen' if cfg.frozen_image else ''}), "
        f"width {model.image_encoder.width}"
        + (f", {cfg.image_grid}x{cfg.image_grid} cells + trainable top" if cfg.image_grid else ""),
        "text_encoder": f"BERT: {bert.num_hidden_layers} layers, d={bert.hidden_size}",
        "fusion": f"{len(fusion)} x (self-attn, cross-attn Eq. 1, FFN), {heads} heads",
        "image_proj": f"W_I: {_linear(model.image_proj)}",
        "text_proj": f"W_T: {_linear(model.text_proj)}",
        "itm_head": f"g_itm: {_linear(model.itm_head)} on H_0",
    }
    if cfg.fsis:  # FSIS compares in the ITS space: W_T and W_I are its adapters
        about["text_proj"] += ", also of v_symbol (FSIS)"
        about["image_proj"] += ", also FSIS's"
    if hasattr(model, "mlm_head"):
        rows = model.mlm_head.bias.numel()
        about["mlm_head"] = f"g_ptp: MLM head tied to the embeddings, {rows} word pieces"
    if hasattr(model, "trp_head"):
        about["trp_head"] = f"g_trp: transform + {_linear(model.trp_head[1])}"
    if hasattr(model, "image_queue"):
        about["momentum"] = (
            f"momentum copies (m={cfg.momentum}), queues of {model.image_queue.size} rows"
        )
    return about


@torch.no_grad()
def _traced_shapes(
    model: FashionSAP, images: Tensor, text: TextBatch, product_ids: Tensor
) -> tuple[dict[str, tuple[int, ...]], object]:
    """Output shape of each module's first call in one eval-mode forward pass, and the output."""
    shapes: dict[str, tuple[int, ...]] = {}

    def record(name: str):
        def hook(_module: nn.Module, _inputs: object, output: object) -> None:
            shapes.setdefault(name, _shape(output))  # the first call: the positive pairs

        return hook

    hooks = [
        getattr(model, name).register_forward_hook(record(name))
        for name in LAYOUT
        if isinstance(getattr(model, name, None), nn.Module)
    ]
    was_training = model.training
    model.eval()
    try:
        out = model(images, text, product_ids, generator=torch.Generator().manual_seed(0))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return shapes, out


def fashionsap_diagram(
    model: FashionSAP, images: Tensor, text: TextBatch, product_ids: Tensor
) -> Figure:
    """FashionSAP (Fig. 2) as boxes and arrows, labelled from `model` and one forward pass.

    Args:
        model: the model to draw (left in the mode it was in).
        images: (B, 3, S, S) a batch it can run on.
        text: that batch's corrupted text (`TextProcessor` with ``model.config.text_config()``).
        product_ids: (B,) products of the pairs.

    Returns:
        A figure with one axis; each module box shows its name, what it is and its output shape.
    """
    shapes, out = _traced_shapes(model, images, text, product_ids)
    about = _describe(model)
    labels = {
        "images": f"image\n{tuple(images.shape)}",
        "text": f"[CLS] [symbol] caption [SEP]\nprompts  {tuple(text.input_ids.shape)}",
    }
    for name, what in about.items():
        shape = shapes.get(name)
        if name == "momentum" and out.its is not None:
            shape = tuple(out.its.text_bank.shape)  # (B + K, E): the text bank
        labels[name] = f"{name}\n{textwrap.fill(what, 30)}\n-> {OUTPUTS[name]} {shape}"
    labels |= {k: v for k, v in LOSSES.items() if getattr(out, k) is not None}
    fig = Figure(figsize=(13.5, 7.0))
    ax = fig.subplots()
    colours = {name: COLOURS[KINDS.get(name, "loss")] for name in labels}
    draw_boxes(ax, labels, LAYOUT, EDGES, colours)
    ax.set(xlim=(-0.2, 13.4), ylim=(-0.2, 8.6))
    ax.axis("off")
    ax.set_title(f"FashionSAP as built: {model.config.image_encoder} image encoder", fontsize=10)
    fig.tight_layout()
    return fig


def _hwc(image: np.ndarray | Tensor) -> np.ndarray:
    """An image as (H, W, 3) numpy, from (H, W, 3) or channels-first (3, H, W)."""
    array = image.detach().cpu().numpy() if isinstance(image, Tensor) else np.asarray(image)
    return array.transpose(1, 2, 0) if array.shape[0] == 3 and array.shape[-1] != 3 else array


def sample_cards(
    images: Sequence[np.ndarray] | np.ndarray,
    titles: Sequence[str],
    lines: Sequence[Mapping[str, str]],
    width: int = 105,
) -> Figure:
    """One card per sample: its image at the left, labelled lines of text at the right.

    Args:
        images: R images (H, W, 3) or (3, H, W), uint8.
        titles: R titles (e.g. the row and its category).
        lines: R mappings label -> text (e.g. `book.sap_text.card_lines`), drawn in order,
            each wrapped to `width` characters.
        width: characters per text line.

    Returns:
        A figure with R x 2 axes.
    """
    wrapped = [
        [textwrap.fill(f"{k}: {v}", width, subsequent_indent="    ") for k, v in card.items()]
        for card in lines
    ]
    heights = [max(2.0, 0.16 * sum(t.count("\n") + 1.4 for t in card)) for card in wrapped]
    fig = Figure(figsize=(12.0, sum(heights)))
    axes = fig.subplots(len(images), 2, squeeze=False, width_ratios=[1, 5.5], height_ratios=heights)
    palette = ["black", "0.35", "0.35", "#2166ac", "#b2182b", "#1b7837"]
    for r, (image, title, card) in enumerate(zip(images, titles, wrapped, strict=True)):
        axes[r, 0].imshow(_hwc(image))
        axes[r, 0].set_title(title, fontsize=8)
        axes[r, 0].axis("off")
        text_ax = axes[r, 1]
        text_ax.axis("off")
        y = 1.0
        for k, line in enumerate(card):
            text_ax.text(
                0.0,
                y,
                line,
                va="top",
                fontsize=7.5,
                family="monospace",
                color=palette[k % len(palette)],
                transform=text_ax.transAxes,
            )
            y -= (line.count("\n") + 1.4) / (heights[r] / 0.16)
    fig.tight_layout()
    return fig
