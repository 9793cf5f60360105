"""Pictures of the world for the book: a grid per FashionAI attribute and part-mask overlays.

`fashionai_class_grid` renders, for one attribute, `per_class` products of every value (rows =
values, "Invisible" first) with the same framing and nuisances the dataset uses, so a reader sees
what distinguishes the classes at the book's image size. `attribute_triplet` draws the triplet an
attribute-specific embedding learns from (the positive shares the anchor's value and little else,
the negative is the anchor's product with that one value changed). `mask_overlay` tints the part
masks of a rendered image in distinct colours.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from fashion_lib.data.atelier import garment as g
from fashion_lib.data.atelier.labels import FASHIONAI_TASKS
from fashion_lib.data.atelier.masks import PARTS_FILE, PartMasks
from fashion_lib.data.atelier.render import PARTS, Look, Rendered, View, render
from fashion_lib.data.atelier.styles import choice
from fashion_lib.data.formats import fashionai
from fashion_lib.data.formats.images import load_image
from fashion_lib.data.taxonomy import FASHIONAI


def fashionai_examples(
    attribute: str, value: int, count: int, seed: int = 0, size: int = 64, strength: float = 0.5
) -> list[Rendered]:
    """`count` renderings of FashionAI `attribute` = `value` (0 = "Invisible")."""
    task = FASHIONAI_TASKS[attribute]
    out = []
    for k in range(count):
        rng = np.random.default_rng([seed, 7, value, k])
        fixed = {task.field: task.values[value - 1]} if value else {}
        categories = task.categories
        if task.field == "pant_length" and value and task.values[value - 1] in ("short", "mid"):
            categories = (*categories, "shorts")
        spec = g.sample_spec(rng, choice(rng, categories), fixed=fixed)
        view = View.draw(rng, task.framing if value else task.hidden_framing)
        out.append(render(spec, Look.draw(rng), view, size, rng, strength, task.part))
    return out


def fashionai_class_grid(
    attribute: str, per_class: int = 6, seed: int = 0, size: int = 64, strength: float = 0.5
) -> np.ndarray:
    """A (values*size, per_class*size, 3) uint8 image: one row per value of `attribute`."""
    n_values = len(FASHIONAI_TASKS[attribute].values) + 1
    rows = [
        np.concatenate(
            [r.image for r in fashionai_examples(attribute, v, per_class, seed, size, strength)],
            axis=1,
        )
        for v in range(n_values)
    ]
    return np.concatenate(rows, axis=0)


@dataclass(frozen=True)
class Triplet:
    """An attribute-conditioned triplet: anchor, positive, negative (in that order).

    Attributes:
        attribute: the FashionAI attribute that conditions it.
        images: the three renderings.
        values: FashionAI's value name of each image for `attribute`.
        categories: the atelier category of each image.
    """

    attribute: str
    images: tuple[Rendered, Rendered, Rendered]
    values: tuple[str, str, str]
    categories: tuple[str, str, str]


def attribute_triplet(
    attribute: str = "sleeve_length", seed: int = 0, size: int = 64, strength: float = 0.2
) -> Triplet:
    """The triplet of `attribute` an ASEN-style model trains on, drawn to make the point.

    The positive shares the anchor's value of `attribute` but is another category, look and
    cloth; the negative is the anchor's own product and model with only that value changed. A
    model that embeds "the same attribute value" close must therefore ignore everything else.
    """
    task = FASHIONAI_TASKS[attribute]
    names = FASHIONAI.attributes[FASHIONAI.index(attribute)].value_names
    rng = np.random.default_rng([seed, 11])
    value, other = (task.values[k] for k in rng.choice(len(task.values), 2, replace=False))
    category = choice(rng, task.categories)
    anchor = g.sample_spec(rng, category, fixed={task.field: value})
    others = tuple(c for c in task.categories if c != category) or task.categories
    positive = g.sample_spec(rng, choice(rng, others), fixed={task.field: value})
    negative = g.sample_spec(rng, category, fixed={**asdict(anchor), task.field: other})
    look, view = Look.draw(rng), View.draw(rng, task.framing)
    specs = (anchor, positive, negative)
    looks = (look, Look.draw(rng), look)
    views = (view, View.draw(rng, task.framing), view)
    images = tuple(
        render(s, lk, vw, size, np.random.default_rng([seed, 12, k]), strength, task.part)
        for k, (s, lk, vw) in enumerate(zip(specs, looks, views, strict=True))
    )
    values = tuple(names[task.values.index(getattr(s, task.field)) + 1] for s in specs)
    return Triplet(attribute, images, values, tuple(s.category for s in specs))


#: One tint per part, in `render.PARTS` order.
PART_COLOURS = np.array(
    [
        (230, 25, 75),
        (60, 180, 75),
        (255, 225, 25),
        (0, 130, 200),
        (245, 130, 48),
        (145, 30, 180),
        (70, 240, 240),
        (240, 50, 230),
        (210, 245, 60),
        (250, 190, 212),
        (0, 128, 128),
        (220, 190, 255),
        (170, 110, 40),
        (128, 0, 0),
        (170, 255, 195),
    ],
    dtype=np.float32,
)


def mask_overlay(
    rendered: Rendered, parts: tuple[str, ...] = PARTS, alpha: float = 0.6
) -> np.ndarray:
    """The image with each of `parts` tinted by its `PART_COLOURS` entry, uint8 (H, W, 3)."""
    out = rendered.image.astype(np.float32)
    for part in parts:
        m = rendered.mask(part)
        out[m] = (1 - alpha) * out[m] + alpha * PART_COLOURS[PARTS.index(part)]
    return np.clip(out, 0, 255).astype(np.uint8)


def class_grid_figure(attribute: str, per_class: int = 8, size: int = 64) -> Figure:
    """`fashionai_class_grid` of `attribute` with FashionAI's value names beside the rows."""
    grid = fashionai_class_grid(attribute, per_class=per_class, size=size)
    names = FASHIONAI.attributes[FASHIONAI.index(attribute)].value_names
    fig, ax = plt.subplots(figsize=(per_class * 0.9, len(names) * 0.9))
    ax.imshow(grid)
    ax.set_yticks((np.arange(len(names)) + 0.5) * size, names)
    ax.set_xticks([])
    ax.set_title(attribute)
    return fig


def triplet_figure(triplet: Triplet) -> Figure:
    """The three images of `triplet`, each titled with its role and its value."""
    fig, axes = plt.subplots(1, 3, figsize=(7.5, 3))
    roles = ("anchor", "positive", "negative")
    for ax, role, rendered, value in zip(axes, roles, triplet.images, triplet.values, strict=True):
        ax.imshow(rendered.image)
        ax.set_title(f"{role}\n{value}", fontsize=10)
        ax.axis("off")
    fig.suptitle(f"conditioned on {triplet.attribute}")
    return fig


def part_mask_figure(folder: Path, count: int = 6) -> Figure:
    """The first `count` training images of a FashionAI folder above their part masks (empty
    panels for a real copy, which has no masks)."""
    masks_file = folder / PARTS_FILE
    masks = PartMasks(masks_file) if masks_file.is_file() else None
    names = fashionai.read_fashionai(folder).splits.filenames["train"][:count]
    fig, axes = plt.subplots(2, count, figsize=(2 * count, 4.4))
    for key, ax in zip(names, axes.T, strict=False):
        image = np.asarray(load_image(folder / key))
        ax[0].imshow(image)
        if masks is not None:
            ax[1].imshow(mask_overlay(Rendered(image, masks[key])))
        for a in ax:
            a.axis("off")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c / 255) for c in PART_COLOURS]
    fig.legend(handles, PARTS, ncol=8, loc="lower center", fontsize=8)
    return fig
