"""The atelier's named colours: garment colours, skin tones and backdrop colours.

Garment colours carry names because three datasets name them: DARN's `clothes color`, FashionGen's
product names ("Navy Striped Shirt") and FashionIQ's relative captions ("is red instead of blue").
The 24 garment colours are spread over hue and lightness so that neighbours stay apart after JPEG
compression and the lighting nuisance (a gain of at most about +-25 %).
"""

from __future__ import annotations

import numpy as np

#: Garment colour name -> sRGB in [0, 1]; the index of a name is its colour id.
GARMENT_COLOURS: dict[str, tuple[float, float, float]] = {
    "black": (0.08, 0.08, 0.09),
    "white": (0.95, 0.95, 0.93),
    "grey": (0.55, 0.55, 0.56),
    "charcoal": (0.28, 0.29, 0.31),
    "navy": (0.10, 0.14, 0.38),
    "blue": (0.16, 0.36, 0.80),
    "light blue": (0.58, 0.74, 0.92),
    "teal": (0.05, 0.50, 0.52),
    "green": (0.15, 0.58, 0.25),
    "olive": (0.42, 0.45, 0.16),
    "mint": (0.62, 0.90, 0.74),
    "yellow": (0.96, 0.84, 0.18),
    "mustard": (0.80, 0.62, 0.10),
    "orange": (0.95, 0.50, 0.12),
    "red": (0.82, 0.10, 0.12),
    "burgundy": (0.45, 0.06, 0.14),
    "pink": (0.96, 0.60, 0.72),
    "hot pink": (0.90, 0.16, 0.55),
    "purple": (0.45, 0.20, 0.60),
    "lavender": (0.74, 0.66, 0.90),
    "beige": (0.86, 0.78, 0.62),
    "camel": (0.74, 0.56, 0.34),
    "brown": (0.42, 0.26, 0.14),
    "cream": (0.98, 0.94, 0.82),
}
COLOUR_NAMES: tuple[str, ...] = tuple(GARMENT_COLOURS)
COLOUR_RGB = np.array(list(GARMENT_COLOURS.values()), dtype=np.float32)  # (24, 3)

#: Colours that denim is dyed in (a denim garment always takes one of them).
DENIM_COLOURS = ("navy", "blue", "light blue", "black", "grey")
#: Colours that leather comes in.
LEATHER_COLOURS = ("black", "brown", "camel", "burgundy", "charcoal", "olive")

SKIN_TONES = np.array(
    [
        (0.96, 0.80, 0.69),
        (0.87, 0.67, 0.53),
        (0.70, 0.49, 0.36),
        (0.48, 0.32, 0.22),
        (0.33, 0.22, 0.15),
    ],
    dtype=np.float32,
)  # (5, 3)
HAIR_COLOURS = np.array(
    [(0.07, 0.05, 0.04), (0.30, 0.18, 0.09), (0.62, 0.45, 0.22), (0.85, 0.72, 0.45)],
    dtype=np.float32,
)  # (4, 3)
#: Muted colours of the clothes a model wears besides the product (never a product colour).
FILLER_COLOURS = np.array(
    [(0.22, 0.22, 0.24), (0.36, 0.34, 0.32), (0.62, 0.60, 0.56), (0.82, 0.82, 0.80)],
    dtype=np.float32,
)  # (4, 3)
BACKDROP_COLOURS = np.array(
    [
        (0.93, 0.93, 0.93),
        (0.85, 0.86, 0.88),
        (0.90, 0.86, 0.80),
        (0.70, 0.75, 0.78),
        (0.60, 0.62, 0.58),
        (0.82, 0.78, 0.86),
        (0.40, 0.42, 0.46),
        (0.78, 0.84, 0.76),
    ],
    dtype=np.float32,
)  # (8, 3)


def colour_id(name: str) -> int:
    """Index of a garment colour name in `COLOUR_NAMES`."""
    return COLOUR_NAMES.index(name)


def rgb(name_or_id: str | int) -> np.ndarray:
    """The sRGB triple (3,) of a garment colour given by name or id."""
    idx = colour_id(name_or_id) if isinstance(name_or_id, str) else int(name_or_id)
    return COLOUR_RGB[idx]
