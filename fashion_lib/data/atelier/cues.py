"""The cues that define a category: what tells a sweater from a tee, a blazer from a jacket.

Real FashionGen's categories can be told apart from the pictures (FashionSAP's category
recognition reaches 98%) because each has its defining construction. The atelier draws them
here, on top of the garment and below the labelled details, sized to stay visible at 64 px:

- sweaters: deep, darker ribbed knit bands at the hem, the cuffs and around the neckline;
- shirts: cuffs at the sleeve ends and a breast pocket (with the shirt collar, the button
  placket and the curved shirttail hem drawn elsewhere);
- tees: a chest print;
- blazers: a pocket square in the breast pocket and flap pockets at the hips;
- jackets: a contrasting ribbed waistband and cuffs on a zipped jacket (a bomber), flap chest
  pockets on a buttoned one;
- jeans: contrast topstitching down the outer seams and around the front pockets, rivets, a
  waistband with a metal button, and faded thighs and knees;
- pants: a pressed crease down each leg, slanted side pockets and a waistband; jumpsuits the
  same on their legs, which tells them from dresses.

Cue layers recolour the pixels of the part they sit on and keep its mask (`KEEP`): a cue is
never a labelled part, so a blazer's flap pockets are not DeepFashion's "pockets" class.
"""

from __future__ import annotations

import numpy as np

from fashion_lib.data.atelier import garment as g
from fashion_lib.data.atelier.figure import HIP_V, WAIST_V, Frame, Layer, neckline_cut
from fashion_lib.data.atelier.shapes import convex, ellipse

KEEP = "keep"  # a cue layer's part: the renderer leaves the part map as it was


def _cuffs(frame: Frame, spec: g.GarmentSpec, arc: float) -> np.ndarray:
    """The last `arc` of each sleeve (arm arc units; empty without sleeves)."""
    if spec.sleeve_length in ("none", "sleeveless"):
        return np.zeros(frame.u.shape, dtype=bool)
    end = g.SLEEVE_ENDS[g.SLEEVE_LENGTHS.index(spec.sleeve_length)]
    return frame.arms.tube(([0.0, 1.3], [0.13, 0.13]), max(end - arc, 0.0), end)


def _segment(u: np.ndarray, v: np.ndarray, a: tuple, b: tuple, half: float) -> np.ndarray:
    """Pixels within `half` of the segment a-b, on both sides of the body (mirrored in u)."""
    au = np.abs(u)
    du, dv = b[0] - a[0], b[1] - a[1]
    t = np.clip(((au - a[0]) * du + (v - a[1]) * dv) / (du * du + dv * dv), 0.0, 1.0)
    return (au - a[0] - t * du) ** 2 + (v - a[1] - t * dv) ** 2 < half * half


def _flaps(u: np.ndarray, v: np.ndarray, top: float, inner: float, outer: float) -> np.ndarray:
    """A pocket flap on each side: a band 0.045 high from |u| = inner to outer."""
    au = np.abs(u)
    return (au > inner) & (au < outer) & (v > top) & (v < top + 0.045)


def _waistband(u: np.ndarray, v: np.ndarray, product: np.ndarray) -> list[Layer]:
    band = product & (v > WAIST_V) & (v < WAIST_V + 0.045)
    return [Layer(KEEP, band, "main", 0.8)]


def _jeans(u: np.ndarray, v: np.ndarray, spec: g.GarmentSpec, product: np.ndarray) -> list[Layer]:
    hem = g.PANT_LENGTHS[spec.pant_length]
    w = {"skinny": 0.045, "straight": 0.062, "wide": 0.1}[spec.pant_shape]
    fade = ellipse(np.abs(u), v, 0.09, 0.1, 0.045, 0.13) | ellipse(
        np.abs(u), v, 0.09, 0.42, 0.04, 0.06
    )
    seams = _segment(u, v, (0.168, 0.0), (0.09 + w - 0.008, hem), 0.011)
    pocket = ellipse(np.abs(u), v, 0.175, WAIST_V, 0.085, 0.12)
    pocket &= ~ellipse(np.abs(u), v, 0.175, WAIST_V, 0.065, 0.10)
    fly = _segment(u, v, (0.035, WAIST_V + 0.04), (0.035, -0.02), 0.009)
    rivets = ellipse(np.abs(u), v, 0.1, WAIST_V + 0.1, 0.016, 0.016)
    button = ellipse(u, v, 0.0, WAIST_V + 0.022, 0.018, 0.018)
    return [
        Layer(KEEP, product & fade & (v < hem), "main", 1.35),
        *_waistband(u, v, product),
        Layer(KEEP, product & (seams | pocket | fly), "stitch"),
        Layer(KEEP, product & (rivets | button), "metal"),
    ]


def _pants(u: np.ndarray, v: np.ndarray, spec: g.GarmentSpec, product: np.ndarray) -> list[Layer]:
    hem = g.PANT_LENGTHS[spec.pant_length]
    crease = (np.abs(np.abs(u) - 0.09) < 0.013) & (v > 0.0) & (v < hem)
    pocket = _segment(u, v, (0.125, WAIST_V + 0.045), (0.17, WAIST_V + 0.16), 0.01)
    return [*_waistband(u, v, product), Layer(KEEP, product & (crease | pocket), "main", 0.6)]


def cue_layers(frame: Frame, spec: g.GarmentSpec, product: np.ndarray, hem: float) -> list[Layer]:
    """The category cues of `spec`, clipped to the `product`'s pixels (hem: its lowest hem)."""
    u, v, c = frame.u, frame.v, spec.category
    if c == "sweater":
        neck = neckline_cut(u, v - 0.06, spec.neckline) & ~neckline_cut(u, v, spec.neckline)
        bands = (v > hem - 0.15) | neck if spec.neckline != "none" else v > hem - 0.15
        sleeve_bands = _cuffs(frame, spec, 0.28)
        return [
            Layer(KEEP, product & bands, "rib", 0.62),
            Layer(KEEP, product & sleeve_bands, "rib", 0.62),
        ]
    if c == "shirt":
        pocket = (np.abs(u - 0.1) < 0.055) & (np.abs(v + 0.5) < 0.055)
        return [
            Layer(KEEP, product & _cuffs(frame, spec, 0.12), "main", 0.78),
            Layer(KEEP, product & pocket & (v < hem - 0.02), "main", 0.6),
        ]
    if c == "tee":
        return [Layer(KEEP, product & ellipse(u, v, 0.0, -0.47, 0.07, 0.07), "colour2")]
    if c == "blazer":
        square = convex(u, v, [(-0.18, -0.575), (-0.065, -0.575), (-0.12, -0.48)])
        flaps = _flaps(u, v, HIP_V - 0.07, 0.04, 0.165) & (v < hem - 0.02)
        return [
            Layer(KEEP, product & square, "colour2"),
            Layer(KEEP, product & flaps, "main", 0.62),
        ]
    if c == "jacket" and spec.buttons == "zip":
        bands = (v > hem - 0.08) & product
        return [
            Layer(KEEP, bands, "rib2"),
            Layer(KEEP, product & _cuffs(frame, spec, 0.14), "rib2"),
        ]
    if c == "jacket":
        return [Layer(KEEP, product & _flaps(u, v, -0.56, 0.045, 0.15), "main", 0.6)]
    if c == "jeans":
        return _jeans(u, v, spec, product)
    if c in ("pants", "jumpsuit"):
        return _pants(u, v, spec, product)
    return []
