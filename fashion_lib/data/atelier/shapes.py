"""Vectorised 2-D shape tests on a pixel grid, and the camera that maps pixels to the body frame.

Every garment part is a union of a few analytic regions (convex polygons, ellipses, symmetric
width profiles and tubes around poly-lines) tested for all pixels at once with numpy. Written by hand
because the usual rasterisers (PIL.ImageDraw, skimage.draw) draw one polygon at a time in pixel
space, while here every region is tested in the garment's own coordinates after the camera
transform, which makes rotation/scale/shift free and yields exact part masks.

Coordinates: canonical body units, ``u`` to the model's left in the image (x), ``v`` downwards;
the head top is at v = -1 and the floor at about +0.95.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class Camera:
    """Maps output pixels to canonical coordinates.

    Args:
        center_u: canonical u at the image centre.
        center_v: canonical v at the image centre.
        span: canonical units covered by the image side (before `scale`).
        scale: zoom factor (>1 magnifies).
        angle: in-plane rotation in radians.
        flip: mirror left and right.
    """

    center_u: float
    center_v: float
    span: float
    scale: float = 1.0
    angle: float = 0.0
    flip: bool = False

    def grid(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Canonical (u, v) of every pixel centre, each (size, size) float32."""
        gx, gy = _unit_grid(size)
        half = self.span / self.scale
        c, s = np.cos(self.angle), np.sin(self.angle)
        u = (c * gx - s * gy) * half + self.center_u  # (H, W)
        v = (s * gx + c * gy) * half + self.center_v  # (H, W)
        return (-u if self.flip else u), v

    def pixel_pitch(self, size: int) -> float:
        """Canonical units per output pixel."""
        return self.span / self.scale / size


@lru_cache(maxsize=8)
def _unit_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    centres = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5  # (W,) in [-0.5, 0.5]
    gy, gx = np.meshgrid(centres, centres, indexing="ij")
    gx.setflags(write=False)
    gy.setflags(write=False)
    return gx, gy


def convex(u: np.ndarray, v: np.ndarray, points: list[tuple[float, float]]) -> np.ndarray:
    """Inside test of a convex polygon given in either winding order."""
    pts = np.asarray(points, dtype=np.float32)
    inside_pos = np.ones(u.shape, dtype=bool)
    inside_neg = np.ones(u.shape, dtype=bool)
    for (ax, ay), (bx, by) in zip(pts, np.roll(pts, -1, axis=0), strict=True):
        cross = (bx - ax) * (v - ay) - (by - ay) * (u - ax)
        inside_pos &= cross >= 0
        inside_neg &= cross <= 0
    return inside_pos | inside_neg


def ellipse(u: np.ndarray, v: np.ndarray, cu: float, cv: float, ru: float, rv: float) -> np.ndarray:
    """Inside test of an axis-aligned ellipse."""
    return ((u - cu) / ru) ** 2 + ((v - cv) / rv) ** 2 < 1.0


def profile(
    u: np.ndarray, v: np.ndarray, ys: list[float], half_widths: list[float], cu: float = 0.0
) -> np.ndarray:
    """Region symmetric about u = cu whose half width is interpolated over increasing `ys`."""
    hw = np.interp(v, ys, half_widths).astype(np.float32)  # (H, W)
    return (v >= ys[0]) & (v <= ys[-1]) & (np.abs(u - cu) < hw)


@dataclass(frozen=True)
class PolyField:
    """For every pixel: the arc parameter `g` of, and squared distance `d2` to, the nearest point
    of a set of poly-lines (e.g. both arms). Tubes of any radius profile are then one comparison.
    """

    g: np.ndarray
    d2: np.ndarray

    def tube(
        self, radius: tuple[list[float], list[float]], start: float = 0.0, end: float = 1e9
    ) -> np.ndarray:
        """Pixels within `radius` (parameters, radii; interpolated along the arc) of the lines,
        between arc parameters `start` and `end` (flat cuts)."""
        r = np.interp(self.g, radius[0], radius[1])
        return (self.d2 < r * r) & (self.g >= start) & (self.g <= end)


def mirrored_field(
    u: np.ndarray,
    v: np.ndarray,
    points: list[tuple[float, float]],
    knots: list[float],
    reach: float = 0.15,
) -> PolyField:
    """The `PolyField` of a poly-line on the right (u > 0) and its mirror image on the left.

    Both arms (and both legs) are mirror images, so every pixel is tested against one poly-line
    at |u|, and only pixels within `reach` of the poly-line's bounding box are computed: this is
    the renderer's most expensive step.

    Args:
        u: canonical u of the pixels.
        v: canonical v of the pixels.
        points: vertices of the right-hand poly-line.
        knots: arc parameter at each vertex (increasing).
        reach: largest tube radius that will be asked of the field.
    """
    pts = np.asarray(points, dtype=np.float32)
    au = np.abs(u).reshape(-1)
    fv = v.reshape(-1)
    lo, hi = pts.min(0) - reach, pts.max(0) + reach
    idx = np.flatnonzero((au >= lo[0]) & (au <= hi[0]) & (fv >= lo[1]) & (fv <= hi[1]))
    x, y = au[idx], fv[idx]  # (M,) pixels near the poly-line
    best_g = np.zeros(idx.size, dtype=np.float32)
    best_d2 = np.full(idx.size, np.inf, dtype=np.float32)
    for k in range(len(points) - 1):
        (ax, ay), (bx, by) = points[k], points[k + 1]
        du, dv = bx - ax, by - ay
        t = np.clip(((x - ax) * du + (y - ay) * dv) / (du * du + dv * dv), 0.0, 1.0)
        d2 = (x - ax - t * du) ** 2 + (y - ay - t * dv) ** 2
        closer = d2 < best_d2
        best_d2 = np.where(closer, d2, best_d2)
        best_g = np.where(closer, knots[k] + t * (knots[k + 1] - knots[k]), best_g)
    g = np.zeros(au.size, dtype=np.float32)
    d2_all = np.full(au.size, np.inf, dtype=np.float32)
    g[idx], d2_all[idx] = best_g, best_d2
    return PolyField(g.reshape(u.shape), d2_all.reshape(u.shape))
