"""What each dataset calls a `GarmentSpec`: the labels written into the five real formats.

- FashionAI: the real 8 attributes and value names (`taxonomy.FASHIONAI`); one attribute per
  image, chosen *before* drawing so that its value can be forced (`FASHIONAI_TASKS`).
- DARN: the real 9 attribute names with the atelier's own value names (the real ones were never
  published), all 9 labelled per image.
- DeepFashion: the 5 real attribute types with the atelier's own classes per type; multi-label,
  and several classes of one type on one garment are common (two textures, two fabrics, a length
  and a silhouette, several parts, several styles).
- FashionGen: real category and subcategory names (so the 48 -> 9 symbol map applies verbatim).
- FashionIQ: dress, shirt, toptee.
Every label comes with the part whose mask shows it (`*_PART`), for attention scoring.
"""

from __future__ import annotations

from dataclasses import dataclass

from fashion_lib.data.atelier import garment as g
from fashion_lib.data.atelier.figure import hem_y
from fashion_lib.data.atelier.palette import COLOUR_NAMES
from fashion_lib.data.atelier.styles import STYLES, styles
from fashion_lib.data.taxonomy import DARN, DEEPFASHION, FASHIONAI, Attribute, AttributeSet


@dataclass(frozen=True)
class FashionAITask:
    """How an image of one FashionAI attribute is drawn.

    Args:
        field: the `GarmentSpec` field the attribute reads.
        values: spec values in FashionAI's value order, after "Invisible".
        categories: categories that show the attribute.
        framing: the framing that shows it; `hidden_framing` hides it ("Invisible").
        part: the part whose mask shows it.
    """

    field: str
    values: tuple[str, ...]
    categories: tuple[str, ...]
    framing: str
    hidden_framing: str
    part: str


_TOPS_AND_DRESSES = ("dress", "tee", "blouse", "sweater", "jumpsuit")
FASHIONAI_TASKS: dict[str, FashionAITask] = {
    "skirt_length": FashionAITask(
        "skirt_length",
        ("short", "knee", "midi", "ankle", "floor"),
        ("dress", "skirt"),
        "full",
        "upper",
        "hem",
    ),
    "sleeve_length": FashionAITask(
        "sleeve_length",
        g.SLEEVE_LENGTHS[1:],
        ("dress", *g.TOPS, *g.OUTER),
        "three_quarter",
        "legs",
        "sleeves",
    ),
    "coat_length": FashionAITask("body_length", g.COAT_LENGTHS, g.OUTER, "full", "upper", "hem"),
    "pant_length": FashionAITask(
        "pant_length",
        ("short", "mid", "3/4", "cropped", "full"),
        ("pants", "jeans", "jumpsuit"),
        "full",
        "upper",
        "hem",
    ),
    "collar_design": FashionAITask(
        "collar", g.COLLARS[1:], ("shirt", *_TOPS_AND_DRESSES), "upper", "legs", "collar"
    ),
    "lapel_design": FashionAITask(
        "lapel",
        ("notched", "collarless", "shawl", "plus size shawl"),
        g.OUTER,
        "upper",
        "legs",
        "lapel",
    ),
    "neckline_design": FashionAITask(
        "neckline", g.NECKLINES[1:], _TOPS_AND_DRESSES, "upper", "legs", "neckline"
    ),
    "neck_design": FashionAITask("neck", g.NECKS[1:], _TOPS_AND_DRESSES, "upper", "legs", "collar"),
}
assert tuple(FASHIONAI_TASKS) == FASHIONAI.names

# DARN: real attribute names, atelier value names; never more values than the real DARN has
# (`taxonomy.DARN`), and as many where the atelier draws them apart (lengths, sleeve lengths).
DARN_LENGTHS = ("cropped", "hip", "mini", "knee", "midi", "ankle", "floor")
#: "sleeveless" also covers strapless products and bottoms: no sleeve is drawn on any of them.
DARN_SLEEVE_LENGTHS = g.SLEEVE_LENGTHS[1:]
DARN_SHAPES = (
    "fitted",
    "loose",
    "a-line",
    "pencil",
    "flared",
    "pleated",
    "skinny",
    "straight",
    "wide",
)
DARN_COLLARS = (
    "none",
    *(f"{n} neckline" for n in g.NECKLINES[1:]),
    *(f"{n} collar" for n in g.COLLARS[1:]),
    *(f"{n} lapel" for n in g.LAPELS[1:]),
    *(f"{n} neck" for n in g.NECKS[1:]),
)
DARN_BUTTONS = ("none", "single-breasted", "double-breasted", "placket", "zip")
_DARN_VALUES = (
    g.GARMENTS,
    DARN_BUTTONS,
    COLOUR_NAMES,
    DARN_LENGTHS,
    g.PATTERNS,
    DARN_SHAPES,
    DARN_COLLARS,
    DARN_SLEEVE_LENGTHS,
    g.SLEEVE_SHAPES,
)
DARN_PROXY = AttributeSet(
    "DARN",
    tuple(
        Attribute(a.name, len(v), tuple(v))
        for a, v in zip(DARN.attributes, _DARN_VALUES, strict=True)
    ),
)
DARN_PART = ("torso", "buttons", "torso", "hem", "torso", "torso", "collar", "sleeves", "sleeves")

# DeepFashion: real type names, atelier classes.
DF_CLASSES = (
    ("striped", "dotted", "plaid", "floral", "tribal", "leopard", "colorblock"),
    ("denim", "knit", "leather", "lace", "sheer", "sequin"),
    (
        "mini",
        "knee-length",
        "midi",
        "maxi",
        "cropped",
        "fitted",
        "loose",
        "a-line",
        "pencil",
        "flared",
        "pleated",
        "skinny",
        "wide-leg",
    ),
    (
        "sleeveless",
        "short-sleeve",
        "long-sleeve",
        "v-neck",
        "off-shoulder",
        "shirt-collar",
        "lapel",
        "turtleneck",
        "pockets",
        "buttons",
        "zip",
        "belt",
        "slit",
        "trim",
        "drape",
        "ruffle",
    ),
    STYLES,
)
DEEPFASHION_PROXY = AttributeSet(
    "DeepFashion",
    tuple(
        Attribute(a.name, len(c), tuple(c))
        for a, c in zip(DEEPFASHION.attributes, DF_CLASSES, strict=True)
    ),
)
_TEXTURE = {
    "stripes": "striped",
    "dots": "dotted",
    "plaid": "plaid",
    "floral": "floral",
    "tribal": "tribal",
    "animal": "leopard",
}


def darn_length(spec: g.GarmentSpec) -> str:
    """DARN's clothes length: the lowest hem, bucketed."""
    y = hem_y(spec)
    for name, limit in zip(DARN_LENGTHS[:-1], (-0.2, 0.05, 0.25, 0.45, 0.65, 0.9), strict=True):
        if y < limit:
            return name
    return DARN_LENGTHS[-1]


def darn_shape(spec: g.GarmentSpec) -> str:
    """DARN's clothes shape: the skirt's or legs' cut, else the body's fit."""
    if spec.has_skirt:
        return spec.skirt_shape
    return spec.pant_shape if spec.has_legs else spec.fit


def darn_collar(spec: g.GarmentSpec) -> str:
    """DARN's collar shape: whichever neck region the garment has."""
    for field, suffix in (
        ("neckline", "neckline"),
        ("collar", "collar"),
        ("lapel", "lapel"),
        ("neck", "neck"),
    ):
        if getattr(spec, field) != "none":
            return f"{getattr(spec, field)} {suffix}"
    return "none"


def darn_labels(spec: g.GarmentSpec) -> tuple[int, ...]:
    """The 9 DARN value ids of `spec`, in attribute order."""
    names = (
        spec.category,
        DARN_BUTTONS[g.BUTTONS.index(spec.buttons)],
        COLOUR_NAMES[spec.colour],
        darn_length(spec),
        spec.pattern,
        darn_shape(spec),
        darn_collar(spec),
        "sleeveless" if spec.sleeve_length == "none" else spec.sleeve_length,
        spec.sleeve_shape,
    )
    return tuple(values.index(n) for values, n in zip(_DARN_VALUES, names, strict=True))


def _df_shape(spec: g.GarmentSpec) -> list[str]:
    out = []
    if spec.has_skirt:
        out.append(
            {"short": "mini", "knee": "knee-length", "midi": "midi"}.get(spec.skirt_length, "maxi")
        )
        out.append(spec.skirt_shape)
    if spec.has_legs:
        out += {"skinny": ["skinny"], "wide": ["wide-leg"]}.get(spec.pant_shape, [])
        out += ["cropped"] if spec.pant_length in ("3/4", "cropped") else []
    if spec.has_torso and not spec.has_skirt:
        out += ["cropped"] if spec.body_length in ("cropped", "micro") else []
        out.append(spec.fit)
    return out


def _df_part(spec: g.GarmentSpec) -> list[str]:
    sleeve = {
        "sleeveless": "sleeveless",
        "cup": "short-sleeve",
        "short": "short-sleeve",
        "elbow": "short-sleeve",
    }.get(spec.sleeve_length, "long-sleeve")
    flags = {
        "v-neck": spec.neckline in ("v", "deep v"),
        "off-shoulder": spec.neckline in ("off shoulder", "one shoulder", "strapless"),
        "shirt-collar": spec.collar == "shirt",
        "lapel": spec.lapel not in ("none", "collarless"),
        "turtleneck": spec.neck in ("turtle", "low turtle"),
        "pockets": spec.pockets,
        "buttons": spec.buttons in ("single", "double", "placket"),
        "zip": spec.buttons == "zip",
        "belt": spec.belt,
        "slit": spec.slit,
        "trim": spec.trim,
        "drape": spec.drape,
        "ruffle": spec.ruffle,
    }
    return ([sleeve] if spec.sleeve_length != "none" else []) + [k for k, v in flags.items() if v]


def deepfashion_labels(spec: g.GarmentSpec) -> tuple[tuple[int, int], ...]:
    """Every positive (type, class) pair of `spec`, both 0-based, sorted."""
    texture = [_TEXTURE[p] for p in (spec.pattern, spec.accent_pattern) if p in _TEXTURE]
    if spec.accent_pattern == "solid" or (spec.trim and spec.pattern == "solid"):
        texture.append("colorblock")
    fabric = [f for f in (spec.fabric, spec.accent_fabric) if f not in ("cotton", "none")]
    per_type = (texture, fabric, _df_shape(spec), _df_part(spec), list(styles(spec)))
    return tuple(
        sorted({(t, DF_CLASSES[t].index(n)) for t, names in enumerate(per_type) for n in names})
    )


DEEPFASHION_PART = {
    0: "torso",
    1: "torso",
    2: "hem",
    4: "torso",
    3: {
        "sleeveless": "sleeves",
        "short-sleeve": "sleeves",
        "long-sleeve": "sleeves",
        "v-neck": "neckline",
        "off-shoulder": "neckline",
        "shirt-collar": "collar",
        "lapel": "lapel",
        "turtleneck": "collar",
        "pockets": "pockets",
        "buttons": "buttons",
        "zip": "buttons",
        "belt": "belt",
        "slit": "slit",
        "trim": "trim",
        "drape": "drape",
        "ruffle": "hem",
    },
}

_FASHIONGEN = {
    "dress": "dresses",
    "jumpsuit": "jumpsuits",
    "tee": "tops",
    "blouse": "tops",
    "shirt": "shirts",
    "sweater": "sweaters",
    "blazer": "suits & blazers",
    "coat": "jackets & coats",
    "jacket": "jackets & coats",
    "skirt": "skirts",
    "pants": "pants",
    "jeans": "jeans",
    "shorts": "shorts",
    "sneakers": "sneakers",
    "boots": "boots",
    "heels": "heels",
    "tote": "tote bags",
    "backpack": "backpacks",
    "clutch": "clutches & pouches",
    "beanie": "hats",
    "cap": "hats",
}


def fashiongen_category(spec: g.GarmentSpec) -> tuple[str, str]:
    """(category, subcategory) of `spec` with FashionGen's real names, lower case."""
    c = spec.category
    sub = {
        "jumpsuit": "jumpsuits",
        "blouse": "blouses",
        "shirt": "shirts",
        "blazer": "blazers",
        "jeans": "jeans",
        "shorts": "shorts",
        "sneakers": "low top sneakers",
        "boots": "mid-calf boots",
        "heels": "heels",
        "tote": "tote bags",
        "backpack": "backpacks",
        "clutch": "clutches",
        "beanie": "beanies",
        "cap": "caps",
    }
    if c == "dress" or c == "skirt":
        length = {"short": "short", "knee": "short", "midi": "mid length"}.get(
            spec.skirt_length, "long"
        )
        name = f"{length} {c}{'es' if c == 'dress' else 's'}"
    elif c == "tee":
        name = "tank tops" if spec.sleeve_length == "sleeveless" else "t-shirts"
    elif c == "sweater":
        name = (
            "turtlenecks"
            if spec.neck in ("turtle", "low turtle")
            else "v-necks"
            if spec.neckline in ("v", "deep v")
            else "cardigans"
            if spec.buttons in ("single", "double")
            else "crewnecks"
        )
    elif c in ("coat", "jacket"):
        name = (
            "leather jackets"
            if spec.fabric == "leather"
            else "denim jackets"
            if spec.fabric == "denim"
            else "bombers"
            if spec.buttons == "zip"
            else f"{c}s"
        )
    elif c == "pants":
        name = (
            "leather pants"
            if spec.fabric == "leather"
            else ("cargo pants" if spec.pockets else "trousers")
        )
    else:
        name = sub[c]
    return _FASHIONGEN[c], name


FASHIONIQ_OF = {
    "dress": "dress",
    "shirt": "shirt",
    "tee": "toptee",
    "blouse": "toptee",
    "sweater": "toptee",
}


def proxy_taxonomies() -> dict[str, dict[str, list[str]]]:
    """The atelier's value names of DARN and DeepFashion (attribute -> values), for the manifest."""
    return {
        s.dataset: {a.name: list(a.value_names or ()) for a in s.attributes}
        for s in (DARN_PROXY, DEEPFASHION_PROXY)
    }
