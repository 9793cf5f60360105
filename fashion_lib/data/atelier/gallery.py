"""Pictures of the world for the book: a grid per FashionAI attribute and part-mask overlays.

`fashionai_class_grid` renders, for one attribute, `per_class` products of every value (rows =
values, "Invisible" first) with the same framing and nuisances the dataset uses, so a reader sees
what distinguishes the classes at the book's image size. `mask_overlay` tints the part masks of a
rendered image in distinct colours.
"""

from __future__ import annotations

import numpy as np

from fashion_lib.data.atelier import garment as g
from fashion_lib.data.atelier.labels import FASHIONAI_TASKS
from fashion_lib.data.atelier.render import PARTS, Look, Rendered, View, render
from fashion_lib.data.atelier.styles import choice


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
