"""Words for a garment: FashionGen names and descriptions, FashionIQ relative captions.

Descriptions are composed from one phrase per visible attribute; each phrase has several
wordings (synonyms) and the phrases come in a random order after the opening one, so a text
model cannot match on templates, only on the attribute words. Relative captions describe the
*differences* from the candidate to the target, as FashionIQ's annotators did; the two captions
of a pair split the differences between them (each caption names at least one).
"""

from __future__ import annotations

import numpy as np

from fashion_lib.data.atelier import garment as g
from fashion_lib.data.atelier.palette import COLOUR_NAMES
from fashion_lib.data.atelier.styles import choice

NOUN = {
    "dress": "dress",
    "tee": "t-shirt",
    "blouse": "blouse",
    "shirt": "shirt",
    "sweater": "sweater",
    "blazer": "blazer",
    "coat": "coat",
    "jacket": "jacket",
    "jumpsuit": "jumpsuit",
    "skirt": "skirt",
    "pants": "trousers",
    "jeans": "jeans",
    "shorts": "shorts",
    "sneakers": "sneakers",
    "boots": "boots",
    "heels": "heels",
    "tote": "tote bag",
    "backpack": "backpack",
    "clutch": "clutch",
    "beanie": "beanie",
    "cap": "cap",
}
PATTERN_WORDS = {
    "stripes": ("striped", "stripe-patterned"),
    "dots": ("polka-dot", "dotted"),
    "plaid": ("plaid", "check"),
    "floral": ("floral", "flower-print"),
    "tribal": ("tribal", "geometric"),
    "animal": ("leopard-print", "animal-print"),
}
FABRIC_WORDS = {
    "denim": ("denim", "cotton denim"),
    "knit": ("knit", "rib-knit"),
    "leather": ("leather", "grained leather"),
    "lace": ("lace", "floral lace"),
    "sheer": ("sheer", "semi-sheer"),
    "sequin": ("sequinned", "sequin-embellished"),
}
COMPOSITION = {
    "cotton": "100% cotton",
    "denim": "98% cotton, 2% elastane",
    "knit": "100% wool",
    "leather": "100% lambskin",
    "lace": "100% polyamide",
    "sheer": "100% silk",
    "sequin": "100% polyester",
}


def product_name(spec: g.GarmentSpec) -> str:
    """A FashionGen-style product name, e.g. "Navy Floral Midi Dress"."""
    words = [COLOUR_NAMES[spec.colour]]
    if spec.pattern != "solid":
        words.append(PATTERN_WORDS[spec.pattern][0])
    if spec.fabric != "cotton":
        words.append(FABRIC_WORDS[spec.fabric][0])
    if spec.has_skirt:
        words.append(spec.skirt_length if spec.skirt_length != "short" else "mini")
    words.append(NOUN[spec.category])
    return " ".join(words).title()


def _phrases(spec: g.GarmentSpec, rng: np.random.Generator) -> list[str]:
    out = []
    if spec.sleeve_length == "sleeveless":
        out.append("sleeveless")
    elif spec.sleeve_length != "none":
        cuffs = "" if spec.sleeve_shape == "straight" else f" with {spec.sleeve_shape} cuffs"
        out.append(f"{spec.sleeve_length} {choice(rng, ('sleeves', 'sleeve length'))}{cuffs}")
    for field, words in (
        ("neckline", ("neckline", "neck")),
        ("collar", ("collar",)),
        ("lapel", ("lapel", "lapels")),
        ("neck", ("collar", "neck")),
    ):
        value = getattr(spec, field)
        if value != "none":
            out.append(f"{value} {choice(rng, words)}")
    if spec.has_legs:
        out.append(f"{spec.pant_shape} {choice(rng, ('leg', 'fit'))}, {spec.pant_length} length")
    if spec.has_skirt:
        out.append(f"{spec.skirt_shape} {choice(rng, ('skirt', 'silhouette'))}")
    if spec.category in g.OUTER:
        out.append(f"{spec.body_length} {choice(rng, ('length', 'cut'))}")
    details = {
        "pockets": ("patch pockets", "pockets at front"),
        "belt": ("self-tie belt", "belted waist"),
        "slit": ("slit at hem", "side vent"),
        "trim": (
            f"{COLOUR_NAMES[spec.colour2]} trim",
            f"contrast {COLOUR_NAMES[spec.colour2]} trim",
        ),
        "drape": ("draped front", "gathered drape"),
        "ruffle": ("ruffled hem", "flounce at hem"),
    }
    out += [choice(rng, words) for key, words in details.items() if getattr(spec, key)]
    closure = {
        "single": ("button closure", "buttoned front"),
        "double": ("double-breasted button closure", "double-breasted front"),
        "placket": ("button placket", "buttoned placket"),
        "zip": ("zip closure", "zipper at front"),
    }
    if spec.buttons in closure:
        out.append(choice(rng, closure[spec.buttons]))
    if spec.accent_pattern not in ("none", "solid"):
        out.append(f"{PATTERN_WORDS[spec.accent_pattern][1]} panel")
    if spec.accent_fabric != "none":
        out.append(f"{FABRIC_WORDS[spec.accent_fabric][1]} panel")
    return out


def description(spec: g.GarmentSpec, rng: np.random.Generator) -> str:
    """A FashionGen-style description: an opening phrase, then the others in random order."""
    pattern = "" if spec.pattern == "solid" else choice(rng, PATTERN_WORDS[spec.pattern]) + " "
    fabric = "" if spec.fabric == "cotton" else choice(rng, FABRIC_WORDS[spec.fabric]) + " "
    opening = choice(
        rng,
        (
            f"{pattern}{fabric}{NOUN[spec.category]} in {COLOUR_NAMES[spec.colour]}",
            f"{COLOUR_NAMES[spec.colour]} {pattern}{fabric}{NOUN[spec.category]}",
        ),
    )
    rest = _phrases(spec, rng)
    order = rng.permutation(len(rest))
    sentences = [opening] + [rest[i] for i in order]
    return ". ".join(s[0].upper() + s[1:] for s in sentences) + "."


def _difference_phrases(
    candidate: g.GarmentSpec, target: g.GarmentSpec, rng: np.random.Generator
) -> list[str]:
    out = []
    if target.colour != candidate.colour:
        out.append(
            choice(
                rng,
                (
                    f"is {COLOUR_NAMES[target.colour]}",
                    f"is {COLOUR_NAMES[target.colour]} instead of {COLOUR_NAMES[candidate.colour]}",
                ),
            )
        )
    if target.pattern != candidate.pattern:
        out.append(
            "is solid"
            if target.pattern == "solid"
            else f"has a {PATTERN_WORDS[target.pattern][0]} print"
        )
    if target.fabric != candidate.fabric:
        out.append(f"is made of {target.fabric}")
    ranked = (
        ("sleeve_length", g.SLEEVE_LENGTHS, "sleeves"),
        ("skirt_length", tuple(g.SKIRT_LENGTHS), "skirt"),
        ("pant_length", tuple(g.PANT_LENGTHS), "legs"),
    )
    for field, order, noun in ranked:
        a, b = getattr(candidate, field), getattr(target, field)
        if a != b and "none" not in (a, b):
            longer = order.index(b) > order.index(a)
            out.append(
                choice(
                    rng,
                    (
                        f"has {'longer' if longer else 'shorter'} {noun}",
                        f"is {b} length" if b != "sleeveless" else "is sleeveless",
                    ),
                )
            )
    if target.body_length != candidate.body_length and target.category in g.OUTER:
        out.append(f"is {target.body_length} length")
    for field in ("neckline", "collar", "lapel", "neck"):
        b = getattr(target, field)
        if b != getattr(candidate, field) and b != "none":
            out.append(f"has a {b} {field if field != 'neck' else 'collar'}")
    for field, noun in (("belt", "a belt"), ("pockets", "pockets"), ("trim", "a contrast trim")):
        if getattr(target, field) != getattr(candidate, field):
            out.append(f"has {noun}" if getattr(target, field) else f"has no {noun.split()[-1]}")
    if target.fit != candidate.fit:
        out.append("is looser" if target.fit == "loose" else "is more fitted")
    if target.buttons != candidate.buttons:
        out.append(
            "has no buttons"
            if target.buttons == "none"
            else "has a zip"
            if target.buttons == "zip"
            else "has buttons"
        )
    return out


def relative_captions(
    candidate: g.GarmentSpec, target: g.GarmentSpec, rng: np.random.Generator
) -> tuple[str, str]:
    """Two captions that together describe how `target` differs from `candidate`."""
    phrases = _difference_phrases(candidate, target, rng)
    if not phrases:
        return "is the same", "looks identical"
    order = [phrases[i] for i in rng.permutation(len(phrases))]
    cut = max(1, len(order) // 2)
    first, second = order[:cut], order[cut:] or order[:1]
    return " and ".join(first), " and ".join(second)
