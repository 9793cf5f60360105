"""What a product is: the typed `GarmentSpec`, its vocabulary, and how specs are drawn.

A spec names everything the renderer draws and every dataset labels: the category, colours,
pattern and fabric (with an *accent* pattern/fabric on one region, so that two textures or two
fabrics on one garment are common), the cut of each part (sleeves, neck region, body, skirt,
legs) and the details (buttons, pockets, belt, slit, trim, drape, ruffle). Styles are not drawn:
`styles.styles` derives them from combinations of the other attributes (see `STYLE_RULES`), so that a
style class is a composition of classes of other attribute types, the structure M3-Net argues for.
To make styles common, `sample_spec` first picks a style *intent* and then biases the draw towards
its recipe; the label is still computed from what was drawn.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

import numpy as np

from fashion_lib.data.atelier.palette import COLOUR_NAMES
from fashion_lib.data.atelier.styles import STYLE_RULES, STYLES, Fields, choice, fabric_colour
from fashion_lib.errors import ConfigError

TOPS = ("tee", "blouse", "shirt", "sweater")
OUTER = ("blazer", "coat", "jacket")
BOTTOMS = ("skirt", "pants", "jeans", "shorts")
GARMENTS = ("dress", *TOPS, *OUTER, "jumpsuit", *BOTTOMS)
OBJECTS = ("sneakers", "boots", "heels", "tote", "backpack", "clutch", "beanie", "cap")
CATEGORIES = GARMENTS + OBJECTS

PATTERNS = ("solid", "stripes", "dots", "plaid", "floral", "tribal", "animal")
FABRICS = ("cotton", "denim", "knit", "leather", "lace", "sheer", "sequin")
#: Canonical y (body units, y down, head top -1, floor +0.95) where each length ends.
SLEEVE_LENGTHS = (
    "none",
    "sleeveless",
    "cup",
    "short",
    "elbow",
    "3/4",
    "wrist",
    "long",
    "extra long",
)
SLEEVE_ENDS = (0.0, 0.0, 0.14, 0.32, 0.52, 0.72, 0.93, 1.07, 1.24)  # fraction of the arm
SLEEVE_SHAPES = ("none", "straight", "fitted", "puff", "bell", "lantern")
NECKLINES = (
    "none",
    "strapless",
    "deep v",
    "straight",
    "v",
    "square",
    "off shoulder",
    "round",
    "sweetheart",
    "one shoulder",
)
COLLARS = ("none", "shirt", "peter pan", "puritan", "rib")
LAPELS = ("none", "notched", "collarless", "shawl", "plus size shawl", "peak")
NECKS = ("none", "turtle", "ruffle semi-high", "low turtle", "draped")
SKIRT_LENGTHS = {
    "none": 0.0,
    "short": 0.16,
    "knee": 0.38,
    "midi": 0.58,
    "ankle": 0.80,
    "floor": 0.93,
}
SKIRT_SHAPES = ("none", "a-line", "pencil", "flared", "pleated")
PANT_LENGTHS = {"none": 0.0, "short": 0.12, "mid": 0.36, "3/4": 0.55, "cropped": 0.70, "full": 0.86}
PANT_SHAPES = ("none", "skinny", "straight", "wide")
#: Hem of the upper garment; coats use FashionAI's coat lengths, tops the first three keys.
BODY_LENGTHS = {
    "none": 0.0,
    "cropped": -0.30,
    "regular": -0.02,
    "tunic": 0.14,
    "micro": -0.38,
    "high waist": -0.22,
    "long": 0.16,
    "knee": 0.38,
    "midi": 0.58,
    "ankle&floor": 0.86,
}
COAT_LENGTHS = ("high waist", "regular", "long", "micro", "knee", "midi", "ankle&floor")
BUTTONS = ("none", "single", "double", "placket", "zip")
FITS = ("fitted", "loose")


@dataclass(frozen=True)
class GarmentSpec:
    """One product. Fields that do not apply to the category hold "none" (or False)."""

    category: str
    colour: int
    colour2: int
    pattern: str
    fabric: str
    accent_pattern: str
    accent_fabric: str
    fit: str
    sleeve_length: str
    sleeve_shape: str
    neckline: str
    collar: str
    lapel: str
    neck: str
    body_length: str
    skirt_length: str
    skirt_shape: str
    pant_length: str
    pant_shape: str
    buttons: str
    pockets: bool
    belt: bool
    slit: bool
    trim: bool
    drape: bool
    ruffle: bool

    @property
    def has_torso(self) -> bool:
        """Whether the product covers the upper body."""
        return self.category in ("dress", "jumpsuit", *TOPS, *OUTER)

    @property
    def has_skirt(self) -> bool:
        """Whether the product has a skirt (dresses and skirts)."""
        return self.skirt_length != "none"

    @property
    def has_legs(self) -> bool:
        """Whether the product has trouser legs."""
        return self.pant_length != "none"

    @property
    def is_object(self) -> bool:
        """Shoes, bags and hats: drawn alone, without a model."""
        return self.category in OBJECTS


def _neck_region(rng: np.random.Generator, category: str) -> dict[str, str]:
    """Exactly one of neckline / collar / lapel / neck is drawn, with odds by category: blazers
    and coats have lapels (blazers notched or peak), jackets a collar or an untailored lapel
    (collarless or shawl), shirts a collar
    (mostly the shirt collar, which no other top has unless a dataset forces it)."""
    out = {"neckline": "none", "collar": "none", "lapel": "none", "neck": "none"}
    if category == "blazer":
        out["lapel"] = choice(rng, ("notched", "peak"))
        return out
    odds = {
        "coat": (0.0, 0.0, 1.0, 0.0),
        "jacket": (0.0, 0.7, 0.3, 0.0),
        "dress": (0.7, 0.15, 0.0, 0.15),
        "tee": (0.85, 0.05, 0.0, 0.1),
        "blouse": (0.5, 0.3, 0.0, 0.2),
        "shirt": (0.0, 1.0, 0.0, 0.0),
        "sweater": (0.4, 0.1, 0.0, 0.5),
        "jumpsuit": (0.7, 0.3, 0.0, 0.0),
    }
    kind = ("neckline", "collar", "lapel", "neck")[int(rng.choice(4, p=odds[category]))]
    vocab = {"neckline": NECKLINES, "collar": COLLARS, "lapel": LAPELS, "neck": NECKS}[kind][1:]
    if kind == "collar" and category in ("shirt", "jacket"):
        vocab = ("shirt",) * 6 + vocab[1:] if category == "shirt" else ("rib",)
    elif kind == "lapel" and category == "jacket":
        vocab = ("collarless", "shawl")  # the tailored notched and peak lapels are the blazer's
    elif kind == "collar":
        vocab = vocab[1:]  # the shirt collar belongs to shirts
    out[kind] = choice(rng, vocab)
    return out


#: Sleeve lengths a category is usually drawn with (any length stays possible).
_USUAL_SLEEVES = {
    "tee": ("sleeveless", "cup", "short", "elbow"),
    "sweater": ("3/4", "wrist", "long", "extra long"),
    "shirt": ("short", "wrist", "long", "long"),
    "blazer": ("wrist", "long"),
    "coat": ("wrist", "long", "extra long"),
    "jacket": ("wrist", "long", "extra long"),
}
#: Body lengths of the upper garments (coat_length's values for the outer ones).
_BODY_LENGTHS = {
    "blazer": ("regular",),
    "coat": ("knee", "midi", "ankle&floor"),
    "jacket": ("micro", "high waist", "regular"),
}
#: Fabric odds in `FABRICS` order (cotton, denim, knit, leather, lace, sheer, sequin).
_FABRIC_ODDS = {
    "tee": (0.7, 0.05, 0.0, 0.05, 0.05, 0.1, 0.05),
    "blouse": (0.35, 0.0, 0.0, 0.0, 0.25, 0.3, 0.1),
    "shirt": (0.65, 0.2, 0.0, 0.05, 0.0, 0.05, 0.05),
    "sweater": (0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0),
    "blazer": (0.75, 0.05, 0.0, 0.1, 0.0, 0.0, 0.1),
    "coat": (0.55, 0.05, 0.2, 0.2, 0.0, 0.0, 0.0),
    "jacket": (0.3, 0.35, 0.0, 0.35, 0.0, 0.0, 0.0),
    "pants": (0.65, 0.0, 0.1, 0.15, 0.03, 0.04, 0.03),
    "jeans": (0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0),
}
_DEFAULT_FABRIC_ODDS = (0.4, 0.12, 0.14, 0.1, 0.08, 0.08, 0.08)  # cotton is the common case


def _sleeves(rng: np.random.Generator, neckline: str, category: str) -> tuple[str, str]:
    if neckline in ("strapless", "sweetheart"):
        return "none", "none"
    usual = _USUAL_SLEEVES.get(category)
    length = choice(rng, usual if usual and rng.random() < 0.85 else SLEEVE_LENGTHS[1:])
    shape = "none" if length == "sleeveless" else choice(rng, SLEEVE_SHAPES[1:])
    if category in OUTER and length != "sleeveless":
        shape = choice(rng, ("straight", "fitted"))
    return length, shape


#: Closure odds in `BUTTONS` order (none, single, double, placket, zip); only shirts (and the
#: cardigan sweaters' single row) have a placket or many buttons down the front.
_BUTTON_ODDS = {
    "shirt": (0.0, 0.0, 0.0, 1.0, 0.0),
    "tee": (0.95, 0.05, 0.0, 0.0, 0.0),
    "sweater": (0.7, 0.25, 0.0, 0.0, 0.05),
    "blazer": (0.0, 0.65, 0.35, 0.0, 0.0),
    "coat": (0.15, 0.35, 0.4, 0.0, 0.1),
    "jacket": (0.05, 0.25, 0.0, 0.0, 0.7),
}


#: Cloths a category is made of: suiting for blazers, knits for sweaters.
_PATTERNS_OF = {
    "blazer": ("solid", "stripes", "plaid"),
    "sweater": ("solid", "stripes", "plaid", "tribal"),
}


def _category_rules(f: Fields, rng: np.random.Generator) -> None:
    """What a style recipe may not change about a category: jeans are plain denim, pants are not,
    sweaters are knitted, shirts close with a placket (and alone have the shirt collar), blazers
    with one or two rows of buttons; jackets have no tailored lapel, jumpsuits no wide legs;
    blazers are cut from suiting and sweaters from knits' patterns (`_PATTERNS_OF`)."""
    category = f["category"]
    if category == "jeans":
        f.update(pattern="solid", accent_pattern="none")
    if category == "jeans" and f["fabric"] != "denim":
        f["fabric"], f["colour"] = "denim", fabric_colour(rng, "denim")
    if category == "pants" and f["fabric"] == "denim":
        f["fabric"] = "cotton"
    if category == "shirt":
        f["buttons"] = "placket"
    elif f["collar"] == "shirt":
        f["collar"] = "rib" if category == "jacket" else "peter pan"
    if f["pattern"] not in _PATTERNS_OF.get(category, PATTERNS):
        f["pattern"], f["accent_pattern"] = "solid", "none"
    if category == "blazer" and f["buttons"] not in ("single", "double"):
        f["buttons"] = "single"
    if category == "sweater":
        f["fabric"] = "knit"
    if category == "jacket" and f["lapel"] in ("notched", "peak"):
        f["lapel"] = "shawl"  # the tailored lapels are the blazer's
    if category == "jumpsuit" and f["pant_shape"] == "wide":
        f["pant_shape"] = "straight"  # wide legs would read as a long skirt: a dress


def _base_fields(rng: np.random.Generator, category: str) -> Fields:
    """An unconstrained draw for `category` (a garment)."""
    f: Fields = {"category": category}
    f["fabric"] = str(rng.choice(FABRICS, p=_FABRIC_ODDS.get(category, _DEFAULT_FABRIC_ODDS)))
    f["pattern"] = "solid" if rng.random() < 0.3 else choice(rng, PATTERNS[1:])
    f["colour"] = fabric_colour(rng, str(f["fabric"]))
    f["colour2"] = int(
        (int(f["colour"]) + rng.integers(3, len(COLOUR_NAMES) - 2)) % len(COLOUR_NAMES)
    )
    accent = rng.random()
    f["accent_pattern"] = choice(rng, PATTERNS) if accent < 0.3 else "none"
    f["accent_fabric"] = choice(rng, FABRICS[1:]) if 0.3 <= accent < 0.55 else "none"
    f["fit"] = choice(rng, FITS)
    top = category in ("dress", "jumpsuit", *TOPS, *OUTER)
    f.update(
        _neck_region(rng, category)
        if top
        else {"neckline": "none", "collar": "none", "lapel": "none", "neck": "none"}
    )
    f["sleeve_length"], f["sleeve_shape"] = (
        _sleeves(rng, str(f["neckline"]), category) if top else ("none", "none")
    )
    f["body_length"] = {"dress": "none", "jumpsuit": "none"}.get(
        category,
        choice(rng, _BODY_LENGTHS[category])
        if category in OUTER
        else choice(rng, ("cropped", "regular", "regular", "tunic"))
        if top
        else "none",
    )
    skirt = category in ("dress", "skirt")
    f["skirt_length"] = choice(rng, tuple(SKIRT_LENGTHS)[1:]) if skirt else "none"
    f["skirt_shape"] = choice(rng, SKIRT_SHAPES[1:]) if skirt else "none"
    legs = category in ("pants", "jeans", "shorts", "jumpsuit")
    pant_lengths = ("short", "mid") if category == "shorts" else tuple(PANT_LENGTHS)[3:]
    f["pant_length"] = choice(rng, pant_lengths) if legs else "none"
    f["pant_shape"] = choice(rng, PANT_SHAPES[1:]) if legs else "none"
    f["buttons"] = str(
        rng.choice(BUTTONS, p=_BUTTON_ODDS.get(category, (0.75, 0.15, 0.0, 0.0, 0.1)))
    )
    if not top and f["buttons"] in ("double", "placket"):
        f["buttons"] = "single"
    f["pockets"] = bool(rng.random() < 0.35)
    f["belt"] = bool(rng.random() < 0.25) and category not in ("tee", "sweater")
    f["slit"] = bool(skirt and rng.random() < 0.25)
    f["trim"] = bool(rng.random() < 0.25)
    f["drape"] = bool(top and rng.random() < 0.2)
    f["ruffle"] = bool(rng.random() < 0.2) and category not in OUTER
    return f


def _object_fields(rng: np.random.Generator, category: str) -> Fields:
    """Fields of a shoe, bag or hat: only colour, pattern, fabric and trim apply."""
    none: Fields = {f.name: "none" for f in fields(GarmentSpec)}
    none.update(
        category=category,
        pockets=False,
        belt=False,
        slit=False,
        trim=False,
        drape=False,
        ruffle=False,
        fit="fitted",
    )
    fabric = choice(
        rng,
        ("cotton", "leather", "knit") if category == "beanie" else ("cotton", "leather", "denim"),
    )
    none.update(
        fabric="knit" if category == "beanie" else fabric,
        pattern="solid" if rng.random() < 0.6 else choice(rng, PATTERNS[1:]),
    )
    none["colour"] = fabric_colour(rng, str(none["fabric"]))
    none["colour2"] = int((int(none["colour"]) + 7) % len(COLOUR_NAMES))
    none["trim"] = bool(rng.random() < 0.4)
    return none


NECK_KEYS = ("neckline", "collar", "lapel", "neck")


def _finish(f: Fields, rng: np.random.Generator, fixed: Mapping[str, object]) -> GarmentSpec:
    """Apply `fixed`, then restore consistency: one neck region, sleeves that fit the neckline."""
    for key, value in fixed.items():
        if key not in f:
            raise ConfigError(f"GarmentSpec has no field {key!r}")
        f[key] = value
    forced = [k for k in NECK_KEYS if k in fixed and fixed[k] != "none"]
    if forced:
        f.update({k: "none" for k in NECK_KEYS if k != forced[0]})
    if f["neckline"] in ("strapless", "sweetheart"):
        if "sleeve_length" in fixed:
            f["neckline"] = "round"
        else:
            f["sleeve_length"] = "none"
    has_torso = f["category"] in ("dress", "jumpsuit", *TOPS, *OUTER)
    if (
        has_torso
        and f["sleeve_length"] == "none"
        and f["neckline"] not in ("strapless", "sweetheart")
    ):
        f["sleeve_length"] = "sleeveless"
    if f["sleeve_length"] in ("none", "sleeveless"):
        f["sleeve_shape"] = "none"
    elif f["sleeve_shape"] == "none":
        f["sleeve_shape"] = choice(rng, SLEEVE_SHAPES[1:])
    if f["pattern"] == f["accent_pattern"]:
        f["accent_pattern"] = "none"
    if f["fabric"] == f["accent_fabric"]:
        f["accent_fabric"] = "none"
    return GarmentSpec(**f)


def sample_spec(
    rng: np.random.Generator,
    category: str | None = None,
    style_prob: float = 0.6,
    categories: tuple[str, ...] = GARMENTS,
    fixed: Mapping[str, object] | None = None,
) -> GarmentSpec:
    """Draw one product.

    Args:
        rng: the per-image generator (the spec is a pure function of its state).
        category: the category; by default drawn uniformly from `categories`.
        style_prob: probability of following a style recipe (styles still come from `styles`).
        categories: categories to draw from when `category` is None.
        fixed: fields to force after drawing (e.g. ``{"skirt_length": "midi"}``); a forced neck
            region clears the other three, a forced sleeve length replaces a strapless neckline.

    Returns:
        The frozen `GarmentSpec`.
    """
    category = category or choice(rng, categories)
    if category not in CATEGORIES:
        raise ConfigError(f"unknown atelier category {category!r}; known: {CATEGORIES}")
    if category in OBJECTS:
        return GarmentSpec(**_object_fields(rng, category))
    f = _base_fields(rng, category)
    if rng.random() < style_prob:
        STYLE_RULES[choice(rng, STYLES)][1](f, rng)
    _category_rules(f, rng)
    return _finish(f, rng, fixed or {})


MUTABLE = (
    "colour",
    "pattern",
    "fabric",
    "sleeve_length",
    "skirt_length",
    "pant_length",
    "body_length",
    "belt",
    "pockets",
    "trim",
    "neckline",
    "collar",
    "neck",
    "lapel",
    "buttons",
    "fit",
)


def mutate(spec: GarmentSpec, rng: np.random.Generator, n_changes: int) -> GarmentSpec:
    """A variant of `spec` with up to `n_changes` visible attributes redrawn (for FashionIQ).

    The neck region and the sleeves change together so that the variant stays consistent.
    """
    fresh = sample_spec(rng, spec.category, style_prob=0.3)
    keys = [k for k in MUTABLE if getattr(fresh, k) != getattr(spec, k)]
    picked = [keys[i] for i in rng.permutation(len(keys))[:n_changes]]
    changes = {k: getattr(fresh, k) for k in picked}
    group = (*NECK_KEYS, "sleeve_length", "sleeve_shape")
    if set(group) & set(changes):
        changes.update({k: getattr(fresh, k) for k in group})
    f = asdict(spec)
    f.update(changes)
    return _finish(f, rng, {})
