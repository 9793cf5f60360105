"""Geometry of the model and of a garment: ordered layers of (part, region, paint source).

`figure_layers` turns a `GarmentSpec` and a `Pose` into layers, back to front; the renderer paints
them. A layer's `source` says how it is coloured ("main" = the product's pattern and fabric,
"accent" = the accent region, "skin", "hair", "filler" = clothes that are not the product, "inner"
= the shirt inside a V opening, "colour2", "dark", "metal"), and `shade` multiplies the colour.
Lengths are canonical v values (garment.SKIRT_LENGTHS etc.); the arm is a poly-line whose arc
parameter is 0.5 at the elbow, 1.0 at the wrist and 1.3 at the fingertips, so sleeve lengths are
fractions of the arm.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from fashion_lib.data.atelier import garment as g
from fashion_lib.data.atelier.shapes import PolyField, convex, ellipse, mirrored_field, profile

NECK_V, WAIST_V, HIP_V = -0.715, -0.24, -0.05
ARM_KNOTS = [0.0, 0.5, 1.0, 1.3]


@dataclass(frozen=True)
class Pose:
    """The model's pose in one view: arm angle (radians from vertical) and stance width."""

    arm_angle: float = 0.22
    stance: float = 0.0


@dataclass(frozen=True)
class Layer:
    """One painted region; `part` names its mask (None for the model and other clothes)."""

    part: str | None
    mask: np.ndarray
    source: str
    shade: float = 1.0


def arm_points(pose: Pose, side: int) -> list[tuple[float, float]]:
    """Shoulder, elbow, wrist and fingertip of the arm on `side` (-1 image left, +1 right)."""
    a = pose.arm_angle
    pts = [(0.19, -0.63)]
    for length, angle in ((0.30, a), (0.28, 0.7 * a), (0.10, 0.7 * a)):
        pts.append((pts[-1][0] + length * np.sin(angle), pts[-1][1] + length * np.cos(angle)))
    return [(side * x, y) for x, y in pts]


@dataclass(frozen=True)
class Frame:
    """The pixels of one view in canonical coordinates, with the distance fields of both arms
    and both legs (computed once, shared by skin, sleeves, trims and masks)."""

    u: np.ndarray
    v: np.ndarray
    arms: PolyField
    legs: PolyField

    @classmethod
    def build(cls, u: np.ndarray, v: np.ndarray, pose: Pose) -> Frame:
        """Frame of the pixel coordinates `u`, `v` for `pose`."""
        x = 0.085 + pose.stance
        legs = [(0.085, HIP_V), (x, 0.40), (x, 0.86)]
        return cls(
            u,
            v,
            mirrored_field(u, v, arm_points(pose, 1), ARM_KNOTS),
            mirrored_field(u, v, legs, [0.0, 0.5, 1.0], reach=0.08),
        )


def _sleeve_radius(shape: str, end: float) -> tuple[list[float], list[float]]:
    return {
        "straight": ([0.0, 1.3], [0.062, 0.05]),
        "fitted": ([0.0, 1.3], [0.05, 0.042]),
        "puff": ([0.0, 0.12, 0.3, 1.3], [0.07, 0.1, 0.055, 0.045]),
        "bell": ([0.0, max(end - 0.3, 0.01), end], [0.058, 0.055, 0.115]),
        "lantern": ([0.0, end * 0.5, max(end - 0.03, 0.01), end], [0.055, 0.095, 0.06, 0.05]),
    }.get(shape, ([0.0, 1.3], [0.06, 0.05]))


def body_layers(frame: Frame, pose: Pose) -> list[Layer]:
    """The model: hair, head, neck, arms, hands, legs and shoes."""
    u, v = frame.u, frame.v
    arms = frame.arms.tube(([0.0, 0.5, 1.0, 1.3], [0.045, 0.038, 0.03, 0.036]))
    legs = frame.legs.tube(([0.0, 0.5, 1.0], [0.075, 0.05, 0.035]))
    x = 0.105 + pose.stance
    feet = ellipse(u, v, -x, 0.885, 0.055, 0.03) | ellipse(u, v, x, 0.885, 0.055, 0.03)
    neck = (np.abs(u) < 0.036) & (v > -0.81) & (v < -0.66)
    return [
        Layer(None, ellipse(u, v, 0.0, -0.905, 0.088, 0.08), "hair"),
        Layer(None, ellipse(u, v, 0.0, -0.87, 0.072, 0.092) | neck | arms | legs, "skin"),
        Layer(None, feet, "dark"),
    ]


def neckline_cut(u: np.ndarray, v: np.ndarray, neckline: str) -> np.ndarray:
    """Region a neckline removes from the top of the torso (skin shows through)."""
    if neckline == "round":
        return ellipse(u, v, 0.0, NECK_V, 0.085, 0.075)
    if neckline == "v":
        return convex(u, v, [(-0.075, -0.73), (0.075, -0.73), (0.0, -0.55)])
    if neckline == "deep v":
        return convex(u, v, [(-0.08, -0.73), (0.08, -0.73), (0.0, -0.36)])
    if neckline == "square":
        return convex(u, v, [(-0.085, -0.73), (0.085, -0.73), (0.085, -0.58), (-0.085, -0.58)])
    if neckline == "straight":
        return (np.abs(u) < 0.14) & (v < -0.675)
    if neckline == "strapless":
        return v < -0.53
    if neckline == "sweetheart":
        return v < -0.50 - 0.07 * np.clip(1 - ((np.abs(u) - 0.075) / 0.075) ** 2, 0, 1)
    if neckline == "off shoulder":
        return v < -0.585
    if neckline == "one shoulder":
        return v < -0.68 + (u + 0.2) * (0.21 / 0.37)
    return ellipse(u, v, 0.0, NECK_V, 0.045, 0.02)  # closed neck under a collar or neck piece


def _torso(u: np.ndarray, v: np.ndarray, spec: g.GarmentSpec, hem: float) -> np.ndarray:
    fit = 0.95 if spec.fit == "fitted" else 1.35
    flare = 0.12 if spec.category in g.OUTER else 0.05
    ys = [-0.66, -0.50, WAIST_V, HIP_V, max(hem, HIP_V + 0.01)]
    hw = [0.2, 0.175, 0.13 * fit, 0.165 * fit, 0.165 * fit + flare * max(hem - HIP_V, 0.0)]
    region = profile(u, v, ys, hw) & (v <= hem)
    if spec.category == "shirt":  # the shirttail: a hem that curves up at the sides
        region &= v <= hem - 3.0 * np.maximum(np.abs(u) - 0.06, 0.0) ** 2
    region |= convex(u, v, [(-0.065, NECK_V), (0.065, NECK_V), (0.205, -0.635), (-0.205, -0.635)])
    if spec.sleeve_length == "sleeveless":
        region &= np.abs(u) < 0.165
    return region


def _lapels(u: np.ndarray, v: np.ndarray, lapel: str) -> tuple[np.ndarray, np.ndarray]:
    """(lapel region, notch region cut out of it) on both sides."""
    au = -np.abs(u)  # fold onto the image-left side: the two lapels are mirror images
    if lapel == "notched":
        piece = convex(au, v, [(-0.07, -0.725), (-0.165, -0.60), (0.0, -0.34)])
        notch = convex(au, v, [(-0.17, -0.69), (-0.175, -0.615), (-0.105, -0.645)])
    elif lapel == "peak":
        piece = convex(au, v, [(-0.07, -0.725), (-0.195, -0.705), (-0.16, -0.60), (0.0, -0.34)])
        notch = convex(au, v, [(-0.19, -0.655), (-0.185, -0.635), (-0.115, -0.655)])
    elif lapel in ("shawl", "plus size shawl"):
        ru = 0.085 if lapel == "shawl" else 0.15
        piece = ellipse(au, v, -0.035, -0.54, ru, 0.22) & (au < 0.0)
        notch = np.zeros(u.shape, dtype=bool)
    else:  # collarless: only the opening's edge
        piece = convex(au, v, [(-0.065, -0.715), (-0.09, -0.715), (-0.02, -0.30), (0.0, -0.30)])
        notch = np.zeros(u.shape, dtype=bool)
    return piece, notch


def _collar(u: np.ndarray, v: np.ndarray, spec: g.GarmentSpec) -> list[Layer]:
    au = -np.abs(u)
    if spec.collar == "shirt":
        wing = convex(au, v, [(-0.005, -0.64), (-0.06, -0.745), (-0.125, -0.70), (-0.09, -0.585)])
        return [Layer("collar", wing | ellipse(u, v, 0.0, -0.73, 0.07, 0.025), "main", 0.7)]
    if spec.collar == "peter pan":
        return [Layer("collar", ellipse(au, v, -0.052, -0.672, 0.06, 0.043), "colour2")]
    if spec.collar == "puritan":
        return [
            Layer("collar", ellipse(au, v, -0.085, -0.655, 0.11, 0.072) & (v > -0.725), "colour2")
        ]
    if spec.collar == "rib":
        ring = ellipse(u, v, 0.0, NECK_V, 0.11, 0.1) & ~ellipse(u, v, 0.0, NECK_V, 0.075, 0.068)
        return [Layer("collar", ring & (v > -0.735), "rib")]
    if spec.neck in ("turtle", "low turtle"):
        top = -0.82 if spec.neck == "turtle" else -0.765
        return [Layer("collar", profile(u, v, [top, -0.70], [0.05, 0.066]), "rib")]
    if spec.neck == "ruffle semi-high":
        band = profile(u, v, [-0.79, -0.69], [0.06, 0.08]) & (v > -0.78 + 0.014 * np.sin(u * 90))
        return [Layer("collar", band, "main", 1.2)]
    if spec.neck == "draped":
        folds = np.zeros(u.shape, dtype=bool)
        for ru, rv in ((0.1, 0.09), (0.14, 0.14), (0.17, 0.2)):
            folds |= ellipse(u, v, 0.0, -0.74, ru, rv) & ~ellipse(
                u, v, 0.0, -0.74, ru - 0.018, rv - 0.02
            )
        return [Layer("collar", folds & (v > -0.70), "main", 0.7)]
    return []


def hem_y(spec: g.GarmentSpec) -> float:
    """The lowest hem of the product (canonical v)."""
    if spec.has_skirt:
        return g.SKIRT_LENGTHS[spec.skirt_length]
    if spec.has_legs:
        return g.PANT_LENGTHS[spec.pant_length]
    return g.BODY_LENGTHS[spec.body_length]


def _skirt(u: np.ndarray, v: np.ndarray, spec: g.GarmentSpec) -> np.ndarray:
    hem = g.SKIRT_LENGTHS[spec.skirt_length]
    length = hem - WAIST_V
    if spec.skirt_shape == "pencil":
        return profile(
            u, v, [WAIST_V, HIP_V, hem], [0.135, 0.175, max(0.13, 0.175 - 0.06 * (hem - HIP_V))]
        )
    if spec.skirt_shape == "flared":
        return profile(u, v, [WAIST_V, -0.12, hem], [0.14, 0.19, 0.19 + 0.45 * (hem + 0.12)])
    return profile(u, v, [WAIST_V, hem], [0.14, 0.165 + 0.3 * length])


def _pants(u: np.ndarray, v: np.ndarray, spec: g.GarmentSpec) -> np.ndarray:
    hem = g.PANT_LENGTHS[spec.pant_length]
    w = {"skinny": 0.045, "straight": 0.062, "wide": 0.1}[spec.pant_shape]
    region = profile(u, v, [WAIST_V, 0.03], [0.14, 0.175])
    for side in (-1, 1):
        c = side * 0.09
        region |= convex(
            u,
            v,
            [(side * 0.004, 0.0), (side * 0.176, 0.0), (c + side * w, hem), (c - side * w, hem)],
        )
    return region & (v <= hem) & ~((np.abs(u) < 0.018) & (v > 0.06))  # the legs stay apart


def garment_layers(frame: Frame, spec: g.GarmentSpec) -> list[Layer]:
    """The product and the clothes worn with it, back to front."""
    u, v = frame.u, frame.v
    layers: list[Layer] = []
    if not spec.has_legs and not (spec.has_skirt and spec.skirt_length in ("ankle", "floor")):
        filler = _pants(u, v, replace(spec, pant_length="full", pant_shape="straight"))
        layers.append(Layer(None, filler, "filler"))
    if not spec.has_torso:
        tee = _torso(u, v, replace(spec, fit="fitted", sleeve_length="short"), WAIST_V + 0.02)
        tee |= frame.arms.tube(([0.0, 1.3], [0.06, 0.05]), end=0.3)
        layers.append(Layer(None, tee & ~neckline_cut(u, v, "round"), "filler2"))
    accent_lower = spec.category in ("dress", "jumpsuit")
    if spec.has_skirt:
        layers.append(Layer("skirt", _skirt(u, v, spec), "accent" if accent_lower else "main"))
    if spec.has_legs:
        layers.append(Layer("legs", _pants(u, v, spec), "accent" if accent_lower else "main"))
    if spec.has_torso:
        hem = _torso_hem(spec)
        layers.append(
            Layer("torso", _torso(u, v, spec, hem) & ~neckline_cut(u, v, spec.neckline), "main")
        )
        if spec.lapel != "none":
            opening = convex(u, v, [(-0.065, NECK_V), (0.065, NECK_V), (0.0, min(-0.30, hem))])
            layers.append(Layer(None, opening, "inner"))
            piece, notch = _lapels(u, v, spec.lapel)
            layers.append(Layer("lapel", piece & ~notch & (v < hem), "main", 0.72))
        layers += _collar(u, v, spec)
    if spec.sleeve_length not in ("none", "sleeveless"):
        end = g.SLEEVE_ENDS[g.SLEEVE_LENGTHS.index(spec.sleeve_length)]
        start = 0.13 if spec.neckline == "off shoulder" else 0.0
        sleeves = frame.arms.tube(_sleeve_radius(spec.sleeve_shape, end), start, end)
        if spec.neckline == "one shoulder":  # the sleeve of the covered shoulder only
            sleeves &= u < 0
        accent = "main" if accent_lower else "accent"
        layers.append(Layer("sleeves", sleeves, accent))
    return layers


def _torso_hem(spec: g.GarmentSpec) -> float:
    if spec.category == "dress":
        return WAIST_V + 0.02
    return HIP_V + 0.03 if spec.category == "jumpsuit" else g.BODY_LENGTHS[spec.body_length]


def torso_envelope(u: np.ndarray, v: np.ndarray, spec: g.GarmentSpec) -> np.ndarray:
    """The torso's outline before the neckline is cut (empty without a torso)."""
    if not spec.has_torso:
        return np.zeros(u.shape, dtype=bool)
    return _torso(u, v, spec, _torso_hem(spec))


def hem_band(v: np.ndarray, spec: g.GarmentSpec, width: float = 0.05) -> np.ndarray:
    """Rows within `width` of the product's lowest hem (intersected with the product later)."""
    return np.abs(v - hem_y(spec)) < width
