"""Styles: classes that exist only as combinations of other attributes.

DeepFashion's style type holds classes such as "boho" or "office" that no single visual part
shows; a viewer infers them from texture, fabric, shape and parts together. In the atelier each
style is a *rule* over the drawn `GarmentSpec` (a conjunction across at least two other attribute
types) and a *recipe* that nudges a draw towards satisfying it. Labels always come from the rules
applied to what was drawn, never from the recipe that was followed, so a recipe that fails (a
"boho" intent on a category without a skirt or sleeves) simply yields no boho label, and a
garment can satisfy several rules at once (multi-label styles).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fashion_lib.data.atelier.palette import COLOUR_NAMES, DENIM_COLOURS, LEATHER_COLOURS

Fields = dict[str, Any]


def choice(rng: np.random.Generator, options: tuple[str, ...] | list[str]) -> str:
    """A uniform draw from `options`."""
    return str(options[int(rng.integers(len(options)))])


def fabric_colour(rng: np.random.Generator, fabric: str) -> int:
    """A colour id that suits `fabric` (denim and leather come in few colours)."""
    pool = {"denim": DENIM_COLOURS, "leather": LEATHER_COLOURS}.get(fabric, COLOUR_NAMES)
    return COLOUR_NAMES.index(choice(rng, pool))


def _recipe_boho(f: Fields, rng: np.random.Generator) -> None:
    f["pattern"] = choice(rng, ("floral", "tribal"))
    if f["skirt_length"] != "none":
        f["skirt_length"] = choice(rng, ("midi", "ankle", "floor"))
    elif f["sleeve_shape"] != "none":
        f["sleeve_shape"] = "bell"


def _recipe_preppy(f: Fields, rng: np.random.Generator) -> None:
    f["pattern"] = choice(rng, ("plaid", "stripes"))
    if f["lapel"] != "none":
        f["lapel"] = choice(rng, ("notched", "peak"))
    elif f["collar"] != "none" or f["neckline"] != "none" or f["neck"] != "none":
        f.update(neckline="none", neck="none", collar=choice(rng, ("shirt", "peter pan")))
        if f["sleeve_length"] == "none":
            f["sleeve_length"], f["sleeve_shape"] = "short", "straight"


def _recipe_biker(f: Fields, rng: np.random.Generator) -> None:
    f["fabric"] = "leather"
    f["colour"] = fabric_colour(rng, "leather")
    f["buttons"] = "zip"


def _recipe_party(f: Fields, rng: np.random.Generator) -> None:
    f["fabric"] = choice(rng, ("sequin", "sheer"))
    if f["fabric"] == "sheer" and f["skirt_length"] != "none":
        f["skirt_length"] = "short"


def _recipe_office(f: Fields, rng: np.random.Generator) -> None:
    f["pattern"], f["fabric"], f["accent_pattern"] = "solid", "cotton", "none"
    f["colour"] = COLOUR_NAMES.index(choice(rng, ("black", "navy", "grey", "charcoal", "beige")))
    if f["lapel"] != "none":
        f["lapel"] = choice(rng, ("notched", "peak"))
    if f["skirt_shape"] != "none":
        f["skirt_shape"] = "pencil"
    if f["pant_shape"] != "none":
        f["pant_shape"] = "straight"


def _recipe_romantic(f: Fields, rng: np.random.Generator) -> None:
    if rng.random() < 0.5:
        f["fabric"] = "lace"
    else:
        f["ruffle"], f["pattern"] = True, choice(rng, ("floral", "dots"))


def _recipe_sporty(f: Fields, rng: np.random.Generator) -> None:
    f["fabric"], f["trim"] = "knit", True


def _recipe_casual(f: Fields, rng: np.random.Generator) -> None:
    f["fabric"], f["pockets"] = "denim", True
    f["colour"] = fabric_colour(rng, "denim")


def _recipe_minimal(f: Fields, rng: np.random.Generator) -> None:
    f.update(
        pattern="solid",
        fabric="cotton",
        accent_pattern="none",
        accent_fabric="none",
        pockets=False,
        belt=False,
        trim=False,
        ruffle=False,
        drape=False,
        slit=False,
    )
    if f["buttons"] != "placket":
        f["buttons"] = "none"


def _is_plain(s: Any) -> bool:
    return not (
        s.pockets
        or s.belt
        or s.trim
        or s.ruffle
        or s.drape
        or s.slit
        or s.buttons not in ("none", "placket")
        or s.accent_pattern != "none"
        or s.accent_fabric != "none"
    )


#: Style -> (rule over the drawn spec, recipe that makes the rule likely to hold).
STYLE_RULES: dict[
    str, tuple[Callable[[Any], bool], Callable[[dict[str, object], np.random.Generator], None]]
] = {
    "boho": (
        lambda s: (
            s.pattern in ("floral", "tribal")
            and (s.skirt_length in ("midi", "ankle", "floor") or s.sleeve_shape == "bell")
        ),
        _recipe_boho,
    ),
    "preppy": (
        lambda s: (
            s.pattern in ("plaid", "stripes")
            and (s.collar in ("shirt", "peter pan") or s.lapel in ("notched", "peak"))
        ),
        _recipe_preppy,
    ),
    "biker": (lambda s: s.fabric == "leather" and s.buttons == "zip", _recipe_biker),
    "party": (
        lambda s: s.fabric == "sequin" or (s.fabric == "sheer" and s.skirt_length == "short"),
        _recipe_party,
    ),
    "office": (
        lambda s: (
            s.pattern == "solid"
            and s.fabric == "cotton"
            and (
                s.lapel in ("notched", "peak")
                or s.skirt_shape == "pencil"
                or s.pant_shape == "straight"
            )
        ),
        _recipe_office,
    ),
    "romantic": (
        lambda s: s.fabric == "lace" or (s.ruffle and s.pattern in ("floral", "dots")),
        _recipe_romantic,
    ),
    "sporty": (lambda s: s.fabric == "knit" and s.trim, _recipe_sporty),
    "casual": (lambda s: s.fabric == "denim" and s.pockets, _recipe_casual),
    "minimal": (
        lambda s: s.pattern == "solid" and s.fabric == "cotton" and _is_plain(s),
        _recipe_minimal,
    ),
}
STYLES = tuple(STYLE_RULES)


def styles(spec: Any) -> tuple[str, ...]:
    """The styles whose rule holds for `spec` (a `GarmentSpec`; any number, in `STYLES` order)."""
    if spec.is_object:
        return ()
    return tuple(name for name, (rule, _) in STYLE_RULES.items() if rule(spec))
