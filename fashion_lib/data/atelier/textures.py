"""Patterns and fabric cues, evaluated on the garment's own coordinates.

Every function takes the canonical body coordinates ``u, v`` of the pixels of one region (1-D
arrays), so a pattern moves, scales and rotates with the garment under the camera nuisances.
Periods are tied to the pixel pitch ``px`` (canonical units per output pixel): a pattern finer
than about 4 px would alias away at 64 px, and the point of the world is that what is labelled is
visible. Patterns return colours; fabrics modulate them and return an opacity (lace and sheer let
the layer below show through).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TextureParams:
    """Per-product pattern placement, drawn once so that every view shows the same cloth.

    Args:
        period_px: pattern period in output pixels at the reference framing.
        angle: stripe / plaid direction in radians.
        phase_u: horizontal phase in periods.
        phase_v: vertical phase in periods.
    """

    period_px: float
    angle: float
    phase_u: float
    phase_v: float

    @classmethod
    def draw(cls, rng: np.random.Generator) -> TextureParams:
        """Random placement: period 5-8 px, horizontal, vertical or diagonal direction."""
        angle = float(rng.choice([0.0, np.pi / 2, np.pi / 4, -np.pi / 4], p=[0.4, 0.3, 0.15, 0.15]))
        return cls(float(rng.uniform(5.0, 8.0)), angle, float(rng.random()), float(rng.random()))


def _frac(x: np.ndarray) -> np.ndarray:
    return x - np.floor(x)


def _mix(a: np.ndarray, b: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    t = np.asarray(t, dtype=np.float32)
    return a * (1 - t[..., None]) + b * t[..., None] if t.ndim else a * (1 - t) + b * t


def pattern_colours(
    pattern: str,
    u: np.ndarray,
    v: np.ndarray,
    c1: np.ndarray,
    c2: np.ndarray,
    params: TextureParams,
    px: float,
) -> np.ndarray:
    """Colours (N, 3) of `pattern` at the points (u, v) (each (N,)), base `c1`, motif `c2`.

    Args:
        pattern: one of `garment.PATTERNS`.
        u: horizontal canonical coordinates of the pixels.
        v: vertical canonical coordinates.
        c1: base colour (3,).
        c2: motif colour (3,).
        params: the product's `TextureParams`.
        px: canonical units per pixel of the reference framing.
    """
    n = u.shape[0]
    out = np.broadcast_to(c1, (n, 3)).astype(np.float32)  # (N, 3)
    if pattern == "solid" or n == 0:
        return out
    period = params.period_px * px
    x = u / period + params.phase_u  # (N,) in periods
    y = v / period + params.phase_v  # (N,)
    if pattern == "stripes":
        along = x * np.cos(params.angle) + y * np.sin(params.angle)
        return np.where((_frac(along) < 0.45)[:, None], c2, out)
    if pattern == "dots":
        row = np.floor(y)
        dx, dy = _frac(x + 0.5 * (row % 2)) - 0.5, _frac(y) - 0.5
        return np.where((dx * dx + dy * dy < 0.07)[:, None], c2, out)
    if pattern == "plaid":
        a = (_frac(x * 0.7) < 0.3).astype(np.float32)
        b = (_frac(y * 0.7) < 0.3).astype(np.float32)
        line = (np.abs(_frac(x * 0.7 + 0.5) - 0.5) < 0.05) | (
            np.abs(_frac(y * 0.7 + 0.5) - 0.5) < 0.05
        )
        out = _mix(out, np.broadcast_to(c2, (n, 3)), 0.45 * (a + b))
        return np.where(line[:, None], c2 * 0.5, out)
    if pattern == "floral":
        xs, ys = x * 0.6, y * 0.6
        row = np.floor(ys)
        dx, dy = _frac(xs + 0.5 * (row % 2)) - 0.5, _frac(ys) - 0.5
        r, theta = np.sqrt(dx * dx + dy * dy), np.arctan2(dy, dx)
        petal = r < 0.32 * (0.55 + 0.45 * np.cos(5 * theta))
        out = np.where(petal[:, None], c2, out)
        return np.where((r < 0.07)[:, None], np.float32([0.98, 0.85, 0.25]), out)
    if pattern == "tribal":
        band = np.floor(y * 0.8 + 0.9 * np.abs(2 * _frac(x * 0.8) - 1)) % 3
        return np.where((band == 1)[:, None], c2, np.where((band == 2)[:, None], c1 * 0.35, out))
    if pattern == "animal":
        noise = np.sin(x * 2.1 + 1.7 * np.sin(y * 1.3)) + np.sin(y * 2.3 + 1.9 * np.sin(x * 1.1))
        out = np.where((noise > 0.9)[:, None], np.float32([0.12, 0.08, 0.05]), out)
        return np.where((noise > 1.3)[:, None], c2, out)
    raise ValueError(f"unknown pattern {pattern!r}")


def apply_fabric(
    fabric: str, colours: np.ndarray, u: np.ndarray, v: np.ndarray, px: float
) -> tuple[np.ndarray, np.ndarray]:
    """Modulate `colours` (N, 3) by a fabric cue; returns (colours (N, 3), opacity (N,)).

    denim: a diagonal twill of 2-px period and faded highlights; knit: vertical ribs of 3 px;
    leather: darker, with thin specular streaks; lace: a lattice of holes (opacity 0.15);
    sheer: opacity 0.45; sequin: a glitter of bright and dark 2-px cells; cotton: unchanged.
    """
    n = colours.shape[0]
    alpha = np.ones(n, dtype=np.float32)
    if fabric == "cotton" or n == 0:
        return colours, alpha
    x, y = u / px, v / px  # in output pixels
    if fabric == "denim":
        twill = np.where(_frac((x + y) / 2.2) < 0.5, 1.12, 0.88).astype(np.float32)
        return colours * twill[:, None], alpha
    if fabric == "knit":
        rib = np.where(_frac(x / 3.0) < 0.5, 1.15, 0.78).astype(np.float32)
        return colours * rib[:, None], alpha
    if fabric == "leather":
        streak = np.maximum(np.sin(x * 0.55 + 0.8 * np.sin(y * 0.15)), 0) ** 12
        return np.clip(colours * 0.8 + 0.55 * streak[:, None], 0, 1), alpha
    if fabric == "lace":
        hole = (_frac(x / 3.0) - 0.5) ** 2 + (_frac(y / 3.0) - 0.5) ** 2 < 0.09
        return colours * 1.05, np.where(hole, 0.15, 1.0).astype(np.float32)
    if fabric == "sheer":
        return colours, np.full(n, 0.45, dtype=np.float32)
    if fabric == "sequin":
        cell = np.sin(np.floor(x / 2.0) * 12.9898 + np.floor(y / 2.0) * 78.233) * 43758.5453
        h = _frac(cell)
        out = np.where(
            (h > 0.78)[:, None], 1.0, np.where((h < 0.3)[:, None], colours * 0.6, colours)
        )
        return out.astype(np.float32), alpha
    raise ValueError(f"unknown fabric {fabric!r}")
