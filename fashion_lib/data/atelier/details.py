"""Small parts drawn on top of a garment: buttons, zip, pockets, belt, slit, trim, drape, ruffle.

Each detail is sized to cover at least 2 output pixels in the close framings (upper body, three
quarter) so that DeepFashion's part classes and DARN's button attribute are visible; in the full
figure framing buttons shrink to about 1 px, which is part of the world's difficulty.
"""

from __future__ import annotations

import numpy as np

from fashion_lib.data.atelier import garment as g
from fashion_lib.data.atelier.figure import HIP_V, NECK_V, WAIST_V, Frame, Layer
from fashion_lib.data.atelier.palette import COLOUR_RGB
from fashion_lib.data.atelier.shapes import convex, ellipse


def _buttons(
    u: np.ndarray, v: np.ndarray, spec: g.GarmentSpec, top: float, bottom: float
) -> list[Layer]:
    light = float(COLOUR_RGB[spec.colour] @ np.float32([0.3, 0.59, 0.11])) > 0.5
    contrast = "dark" if light else "light"  # buttons and zips stand out from the cloth
    if spec.buttons == "zip":
        return [Layer("buttons", (np.abs(u) < 0.016) & (v > top) & (v < bottom), contrast)]
    if spec.buttons == "placket":
        band = (np.abs(u) < 0.022) & (v > top) & (v < bottom)
        dots = np.zeros(u.shape, dtype=bool)
        for y in np.arange(top + 0.04, bottom - 0.02, 0.09):
            dots |= ellipse(u, v, 0.0, y, 0.016, 0.016)
        return [Layer("buttons", band, "main", 1.15), Layer("buttons", dots, contrast)]
    columns = (0.0,) if spec.buttons == "single" else (-0.05, 0.05)
    dots = np.zeros(u.shape, dtype=bool)
    for y in np.arange(top + 0.05, bottom - 0.02, 0.1):
        for x in columns:
            dots |= ellipse(u, v, x, y, 0.028, 0.028)
    return [Layer("buttons", dots, contrast)]


def detail_layers(
    frame: Frame, spec: g.GarmentSpec, product: np.ndarray, hem: float
) -> list[Layer]:
    """Layers of the details of `spec`, to paint over the garment.

    Args:
        frame: the view's pixels (sleeve ends follow the arms).
        spec: the product.
        product: pixels already covered by the product.
        hem: canonical v of the product's lowest hem.
    """
    u, v = frame.u, frame.v
    layers: list[Layer] = []
    if spec.skirt_shape == "pleated":
        fan = np.arctan2(u, v + 0.6) * 30.0
        pleat = product & (v > WAIST_V) & (fan - np.floor(fan) < 0.28)
        layers.append(Layer("skirt", pleat, "main", 0.72))
    if spec.drape:
        stripes = (u + 0.6 * v) / 0.06
        fold = product & (v > -0.58) & (v < WAIST_V) & (stripes - np.floor(stripes) < 0.3)
        layers.append(Layer("drape", fold, "main", 0.7))
    if spec.buttons != "none" and spec.lapel == "none":
        top = NECK_V + 0.03 if spec.has_torso else WAIST_V
        bottom = min(hem, HIP_V + 0.05) if spec.has_torso else WAIST_V + 0.1
        layers += [
            Layer(d.part, d.mask & product, d.source, d.shade)
            for d in _buttons(u, v, spec, top, bottom)
        ]
    elif spec.buttons != "none":  # on a coat: below the V opening
        layers += [
            Layer(d.part, d.mask & product, d.source, d.shade)
            for d in _buttons(u, v, spec, -0.32, min(hem, HIP_V + 0.2))
        ]
    if spec.pockets:
        py = min(HIP_V - 0.06, hem - 0.1) if spec.has_torso and not spec.has_skirt else -0.16
        for side in (-1, 1):
            patch = convex(
                u,
                v,
                [
                    (side * 0.05, py),
                    (side * 0.125, py),
                    (side * 0.125, py + 0.075),
                    (side * 0.05, py + 0.075),
                ],
            )
            layers.append(Layer("pockets", patch & product, "main", 0.78))
            layers.append(Layer("pockets", patch & product & (v < py + 0.014), "dark"))
    if spec.belt:
        band = product & (np.abs(v - (WAIST_V + 0.005)) < 0.022)
        layers.append(Layer("belt", band, "dark"))
        layers.append(Layer("belt", band & (np.abs(u) < 0.025), "metal"))
    if spec.slit and spec.has_skirt:
        height = min(0.22, 0.5 * (hem - WAIST_V))
        cut = convex(u, v, [(0.05, hem), (0.11, hem), (0.08, hem - height)])
        layers.append(Layer("slit", cut & product, "skin"))
    if spec.trim:
        band = product & (v > hem - 0.035) & (v <= hem)
        if spec.sleeve_length not in ("none", "sleeveless"):
            end = g.SLEEVE_ENDS[g.SLEEVE_LENGTHS.index(spec.sleeve_length)]
            band |= product & frame.arms.tube(([0.0, 1.3], [0.12, 0.12]), end - 0.07, end)
        layers.append(Layer("trim", band, "colour2"))
    if spec.ruffle:
        wave = v < hem + 0.04 + 0.015 * np.sin(u * 70.0)
        below = np.roll(product, 2, axis=0) | np.roll(product, 3, axis=0)
        layers.append(Layer("hem", below & ~product & wave & (v > hem - 0.01), "main", 1.2))
    return layers
