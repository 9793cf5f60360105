"""Render a `GarmentSpec` to a uint8 image and one boolean mask per part.

The pipeline: a `Camera` (framing x nuisance: scale, shift, rotation, mirror) maps every pixel to
canonical body coordinates; the backdrop, the model, the clothes worn with the product, the
product and its details are painted back to front as layers (figure, details, objects), each
layer writing its part id into a part map; then an optional occluder, the lighting nuisance and
sensor noise. `strength` scales every nuisance (0 = a clean catalogue shot).

Masks are the *visible* pixels of each part, plus three region masks whose class is a shape of
the garment rather than a painted piece: "neckline" (the opening and the band below its edge),
"hem" (the product within 0.05 units of its lowest hem) and, for sleeveless garments, "sleeves"
(the bare arm-hole region).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fashion_lib.data.atelier import garment as g
from fashion_lib.data.atelier import palette
from fashion_lib.data.atelier.cues import KEEP, cue_layers
from fashion_lib.data.atelier.details import detail_layers
from fashion_lib.data.atelier.figure import (
    Frame,
    Pose,
    body_layers,
    garment_layers,
    hem_band,
    hem_y,
    neckline_cut,
    torso_envelope,
)
from fashion_lib.data.atelier.objects import object_layers
from fashion_lib.data.atelier.shapes import Camera, convex, ellipse
from fashion_lib.data.atelier.textures import TextureParams, apply_fabric, pattern_colours

PARTS = (
    "torso",
    "sleeves",
    "skirt",
    "legs",
    "collar",
    "neckline",
    "lapel",
    "hem",
    "pockets",
    "buttons",
    "slit",
    "trim",
    "belt",
    "drape",
    "object",
)
#: Framing -> (centre u, centre v, span) in canonical units.
FRAMINGS = {
    "full": (0.0, -0.03, 2.05),
    "three_quarter": (0.0, -0.36, 1.32),
    "upper": (0.0, -0.60, 0.80),
    "lower": (0.0, 0.30, 1.40),
    "legs": (0.0, 0.52, 0.95),
    "object": (0.0, 0.0, 2.3),
}
_CONSTANT = {
    "dark": (0.1, 0.09, 0.09),
    "light": (0.93, 0.92, 0.88),
    "metal": (0.72, 0.72, 0.7),
    "inner": (0.92, 0.92, 0.9),
    "stitch": (0.86, 0.62, 0.22),  # the contrast topstitching of jeans
}


@dataclass(frozen=True)
class Look:
    """What stays the same across the views of one product: model, other clothes, cloth layout."""

    skin: int
    hair: int
    filler: int
    filler2: int
    texture: TextureParams

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Look:
        """A random model and outfit."""
        return cls(
            int(rng.integers(len(palette.SKIN_TONES))),
            int(rng.integers(len(palette.HAIR_COLOURS))),
            int(rng.integers(2)),
            int(rng.integers(2, 4)),
            TextureParams.draw(rng),
        )


@dataclass(frozen=True)
class View:
    """One photograph of a product: framing (a key of `FRAMINGS`), pose and mirror."""

    framing: str
    pose: Pose = field(default_factory=Pose)
    flip: bool = False

    @classmethod
    def draw(cls, rng: np.random.Generator, framing: str) -> View:
        """A random pose and mirror for `framing`."""
        return cls(
            framing,
            Pose(float(rng.uniform(0.12, 0.38)), float(rng.uniform(0, 0.03))),
            bool(rng.random() < 0.5),
        )


@dataclass(frozen=True)
class Rendered:
    """A rendered image (H, W, 3) uint8 and its part masks (len(PARTS), H, W) bool."""

    image: np.ndarray
    masks: np.ndarray

    def mask(self, part: str) -> np.ndarray:
        """The (H, W) mask of `part`."""
        return self.masks[PARTS.index(part)]


def _colours(
    source: str, spec: g.GarmentSpec, look: Look, u: np.ndarray, v: np.ndarray, px: float
) -> tuple[np.ndarray, np.ndarray]:
    """(colours (N, 3), opacity (N,)) of a layer's pixels."""
    n = u.shape[0]
    ones = np.ones(n, dtype=np.float32)
    c1, c2 = palette.rgb(spec.colour), palette.rgb(spec.colour2)
    if source in ("main", "accent", "rib", "rib2"):
        pattern, fabric = spec.pattern, spec.fabric
        if source == "accent" and spec.accent_pattern != "none":
            pattern, c1, c2 = spec.accent_pattern, c2, c1
        if source == "accent" and spec.accent_fabric != "none":
            fabric = spec.accent_fabric
        if source in ("rib", "rib2"):
            pattern, fabric = "solid", "knit"
            c1 = c2 if source == "rib2" else c1
        cols = pattern_colours(pattern, u, v, c1, c2, look.texture, px)
        return apply_fabric(fabric, cols, u, v, px)
    table = {
        "skin": palette.SKIN_TONES[look.skin],
        "hair": palette.HAIR_COLOURS[look.hair],
        "filler": palette.FILLER_COLOURS[look.filler],
        "filler2": palette.FILLER_COLOURS[look.filler2],
        "colour2": c2,
    }
    colour = table[source] if source in table else np.float32(_CONSTANT[source])
    return np.broadcast_to(colour, (n, 3)), ones


def _backdrop(rng: np.random.Generator, size: int, strength: float) -> np.ndarray:
    base = palette.BACKDROP_COLOURS[int(rng.integers(len(palette.BACKDROP_COLOURS)))]
    ramp = np.linspace(-0.5, 0.5, size, dtype=np.float32)[:, None, None]  # (H, 1, 1)
    canvas = np.broadcast_to(base * (1 + rng.uniform(-0.15, 0.15) * ramp), (size, size, 3)).copy()
    if rng.random() < 0.5 * strength:  # clutter: a shelf or door frame behind the model
        other = palette.BACKDROP_COLOURS[int(rng.integers(len(palette.BACKDROP_COLOURS)))]
        lo = int(rng.integers(size))
        width = int(rng.integers(2, max(3, size // 5)))
        if rng.random() < 0.5:
            canvas[:, lo : lo + width] = other
        else:
            canvas[lo : lo + width] = other
    return canvas


def _camera(rng: np.random.Generator, view: View, strength: float) -> Camera:
    cu, cv, span = FRAMINGS[view.framing]
    shift = rng.uniform(-0.06, 0.06, size=2) * strength * span
    return Camera(
        cu + float(shift[0]),
        cv + float(shift[1]),
        span,
        scale=float(np.exp(rng.uniform(-0.12, 0.12) * strength)),
        angle=float(np.deg2rad(rng.uniform(-10, 10) * strength)),
        flip=view.flip,
    )


def _region_masks(frame: Frame, spec: g.GarmentSpec, product: np.ndarray) -> dict[str, np.ndarray]:
    u, v = frame.u, frame.v
    regions = {"hem": product & hem_band(v, spec)}
    if spec.neckline != "none":
        near = neckline_cut(u, v, spec.neckline) | neckline_cut(u, v - 0.035, spec.neckline)
        regions["neckline"] = near & torso_envelope(u, v, spec)
    if spec.sleeve_length == "sleeveless":
        regions["sleeves"] = frame.arms.tube(([0.0, 1.3], [0.06, 0.06]), 0.0, 0.35) & ~product
    return regions


def _occluder(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A hand-bag, a plant or a passer-by's arm in front of the model: (mask, colour)."""
    gy, gx = np.mgrid[0:size, 0:size].astype(np.float32) / size  # (H, W) each
    cx, cy = rng.uniform(0.05, 0.95, size=2)
    rx, ry = rng.uniform(0.06, 0.16, size=2)
    if rng.random() < 0.5:
        mask = ellipse(gx, gy, float(cx), float(cy), float(rx), float(ry))
    else:
        mask = convex(
            gx, gy, [(cx - rx, cy - ry), (cx + rx, cy - ry), (cx + rx, cy + ry), (cx - rx, cy + ry)]
        )
    return mask, rng.uniform(0.05, 0.95, size=3).astype(np.float32)


def render(
    spec: g.GarmentSpec,
    look: Look,
    view: View,
    size: int,
    rng: np.random.Generator,
    strength: float = 1.0,
    protect: str | None = None,
) -> Rendered:
    """Render one view of one product.

    Args:
        spec: the product.
        look: the model and outfit (shared by the product's views).
        view: framing, pose and mirror.
        size: output side in pixels.
        rng: draws the nuisances of this image.
        strength: nuisance strength; 0 gives a clean, centred shot.
        protect: a part an occluder may not hide more than a quarter of (the labelled one).

    Returns:
        The `Rendered` image and masks.
    """
    camera = _camera(rng, view, strength)
    u, v = camera.grid(size)  # (H, W) each
    px = FRAMINGS[view.framing][2] / size
    canvas = _backdrop(rng, size, strength)  # (H, W, 3)
    part_map = np.full((size, size), -1, dtype=np.int8)
    if spec.is_object:
        layers = object_layers(u, v, spec)
    else:
        frame = Frame.build(u, v, view.pose)
        layers = body_layers(frame, view.pose) + garment_layers(frame, spec)
        product = np.zeros((size, size), dtype=bool)
        for layer in layers:
            if layer.part:
                product |= layer.mask
        layers += cue_layers(frame, spec, product, hem_y(spec))
        layers += detail_layers(frame, spec, product, hem_y(spec))
    flat, flat_parts = canvas.reshape(-1, 3), part_map.reshape(-1)  # views: (H*W, 3), (H*W,)
    flat_u, flat_v = u.reshape(-1), v.reshape(-1)
    for layer in layers:
        idx = np.flatnonzero(layer.mask)  # flat indices are cheaper than boolean masks twice
        if idx.size == 0:
            continue
        cols, alpha = _colours(layer.source, spec, look, flat_u[idx], flat_v[idx], px)
        a = alpha[:, None]
        flat[idx] = np.clip(cols * layer.shade, 0, 1) * a + flat[idx] * (1 - a)
        if layer.part != KEEP:
            flat_parts[idx] = PARTS.index(layer.part) if layer.part else -1
    masks = part_map[None] == np.arange(len(PARTS), dtype=np.int8)[:, None, None]  # (P, H, W)
    if not spec.is_object:
        for name, region in _region_masks(frame, spec, part_map >= 0).items():
            masks[PARTS.index(name)] |= region
    if rng.random() < 0.5 * strength:
        occ, colour = _occluder(rng, size)
        guard = masks[PARTS.index(protect)] if protect else np.zeros_like(occ)
        if (occ & guard).sum() <= 0.25 * guard.sum():
            canvas[occ] = colour
            masks &= ~occ
    gain = rng.uniform(1 - 0.25 * strength, 1 + 0.2 * strength)
    cast = 1 + rng.uniform(-0.06, 0.06, size=3) * strength
    slope = rng.uniform(-0.25, 0.25, size=2) * strength
    ramp = np.linspace(-0.5, 0.5, size, dtype=np.float32)
    light = 1 + slope[0] * ramp[None, :] + slope[1] * ramp[:, None]  # (H, W)
    canvas = canvas * (gain * light)[..., None] * cast.astype(np.float32)
    canvas += rng.standard_normal(canvas.shape, dtype=np.float32) * np.float32(0.02 * strength)
    image = (np.clip(canvas, 0, 1) * 255 + 0.5).astype(np.uint8)
    return Rendered(image, masks)
