"""Shoes, bags and hats: the FashionGen products that are not worn on the model's body.

They are drawn alone, centred, in side or front view, so that FashionGen's 48 categories and the
nine fashion symbols (shoes, bags, accessories) have images of their own. Each object is a few
analytic regions; the whole object is the part "object", its sole, band or flap the part "trim".
"""

from __future__ import annotations

import numpy as np

from fashion_lib.data.atelier.figure import Layer
from fashion_lib.data.atelier.garment import GarmentSpec
from fashion_lib.data.atelier.shapes import convex, ellipse, profile


def _ring(
    u: np.ndarray, v: np.ndarray, cu: float, cv: float, ru: float, rv: float, width: float
) -> np.ndarray:
    return ellipse(u, v, cu, cv, ru, rv) & ~ellipse(u, v, cu, cv, ru - width, rv - width)


def object_layers(u: np.ndarray, v: np.ndarray, spec: GarmentSpec) -> list[Layer]:
    """Layers of a shoe, bag or hat `spec` (category in `garment.OBJECTS`), back to front."""
    c = spec.category
    trim = "colour2" if spec.trim else "dark"
    if c == "sneakers":
        upper = ellipse(u, v, -0.05, 0.12, 0.68, 0.32) & (v < 0.2)
        sole = convex(u, v, [(-0.72, 0.2), (0.66, 0.2), (0.66, 0.3), (-0.72, 0.3)])
        laces = upper & (np.abs(u + 0.05 - 0.5 * (v + 0.1)) < 0.2) & (np.sin(v * 60) > 0.3)
        return [
            Layer("object", upper, "main"),
            Layer("trim", sole, "light"),
            Layer("object", laces & (v < 0.0), "light"),
        ]
    if c == "boots":
        shaft = convex(u, v, [(-0.55, -0.75), (-0.05, -0.75), (0.0, 0.2), (-0.6, 0.2)])
        foot = ellipse(u, v, 0.05, 0.12, 0.6, 0.16) & (v < 0.22)
        sole = convex(u, v, [(-0.6, 0.22), (0.62, 0.22), (0.62, 0.32), (-0.6, 0.32)])
        return [Layer("object", shaft | foot, "main"), Layer("trim", sole, trim)]
    if c == "heels":
        body = convex(u, v, [(-0.6, -0.25), (-0.35, -0.3), (0.7, 0.25), (0.45, 0.3), (-0.55, 0.0)])
        heel = convex(u, v, [(-0.6, -0.05), (-0.5, -0.05), (-0.52, 0.45), (-0.57, 0.45)])
        return [Layer("object", body, "main"), Layer("trim", heel, trim)]
    if c == "tote":
        bag = profile(u, v, [-0.25, 0.7], [0.55, 0.7])
        return [
            Layer("trim", _ring(u, v, 0.0, -0.25, 0.35, 0.5, 0.06) & (v < -0.25), trim),
            Layer("object", bag, "main"),
        ]
    if c == "backpack":
        bag = ellipse(u, v, 0.0, -0.3, 0.5, 0.45) | profile(u, v, [-0.3, 0.75], [0.5, 0.52])
        pocket = profile(u, v, [0.2, 0.6], [0.35, 0.35])
        return [
            Layer("trim", _ring(u, v, 0.0, -0.75, 0.2, 0.15, 0.05), trim),
            Layer("object", bag, "main"),
            Layer("trim", pocket, "main", 0.75),
        ]
    if c == "clutch":
        bag = profile(u, v, [-0.3, 0.3], [0.75, 0.75])
        flap = convex(u, v, [(-0.75, -0.3), (0.75, -0.3), (0.0, 0.1)])
        return [
            Layer("object", bag, "main"),
            Layer("trim", flap, "main", 0.75),
            Layer("trim", ellipse(u, v, 0.0, 0.05, 0.07, 0.07), "metal"),
        ]
    if c == "beanie":
        crown = ellipse(u, v, 0.0, 0.2, 0.6, 0.75) & (v < 0.2)
        band = profile(u, v, [0.05, 0.4], [0.62, 0.62])
        return [
            Layer("object", crown, "main"),
            Layer("trim", band, "rib"),
            Layer("object", ellipse(u, v, 0.0, -0.58, 0.16, 0.14), trim),
        ]
    if c == "cap":
        dome = ellipse(u, v, -0.1, 0.2, 0.55, 0.55) & (v < 0.2)
        brim = ellipse(u, v, 0.5, 0.2, 0.45, 0.08) & (u > 0.2)
        return [Layer("object", dome, "main"), Layer("trim", brim, trim)]
    raise ValueError(f"{c!r} is not an object category")
