"""The real datasets' taxonomies, as data.

Sources (facts, checked against the public files):

- FashionAI: 8 attributes and their value names, from ASEN's early ``meta.json`` / ``src/meta.py``
  (value 0 is always "Invisible").
- DARN: 9 attribute names and value counts from ASEN++ ``config/DARN/DARN.yaml``. The value names
  were never published, so they are not listed here (``Attribute.value_names`` is ``None``).
- DeepFashion (Category & Attribute Prediction benchmark): 5 attribute types, named as in ASEN++
  (``texture-related`` ...), with the real per-type counts. Value names come from
  ``Anno/list_attr_cloth.txt`` at load time. The benchmark file numbers the types 1..5.
- FashionGen: the 48 category names (``CATE_LIST``) and 121 subcategory names (``SUBCATE_LIST``) of
  FashionSAP ``dataset/fashiongen_dataset_catereg.py``, in that order (it fixes the class indices),
  and the 48 -> 9 fashion-symbol map of ``fashion_annotation/categorys_to_sign.txt`` (note that
  "suits & blazers" maps to dresses there, and we keep it). Real h5 files carry upper-case names
  ("TOPS"); lookups here lower-case and strip, as FashionSAP does.
- FashionIQ: the three categories dress, shirt, toptee.
"""

from __future__ import annotations

from dataclasses import dataclass

from fashion_lib.errors import ConfigError


@dataclass(frozen=True)
class Attribute:
    """One attribute (ASEN's word; DeepFashion calls it an attribute *type*).

    Args:
        name: the name used in ``meta.json`` (e.g. ``skirt_length``, ``clothes color``).
        num_values: how many values it has.
        value_names: the values' names in index order, where the dataset publishes them.
    """

    name: str
    num_values: int
    value_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.value_names is not None and len(self.value_names) != self.num_values:
            raise ConfigError(
                f"attribute {self.name}: {len(self.value_names)} names for {self.num_values} values"
            )


@dataclass(frozen=True)
class AttributeSet:
    """The attributes of one retrieval dataset, in index order."""

    dataset: str
    attributes: tuple[Attribute, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """Attribute names in index order."""
        return tuple(a.name for a in self.attributes)

    @property
    def counts(self) -> tuple[int, ...]:
        """Number of values of each attribute, in index order."""
        return tuple(a.num_values for a in self.attributes)

    def index(self, name: str) -> int:
        """0-based index of the attribute called `name`."""
        try:
            return self.names.index(name)
        except ValueError:
            raise ConfigError(f"{self.dataset} has no attribute {name!r}") from None

    def value_name(self, attr: int, value: int) -> str:
        """Name of value `value` of attribute `attr` (its index as text where names are unknown)."""
        attribute = self.attributes[attr]
        if not 0 <= value < attribute.num_values:
            raise ConfigError(f"{attribute.name} has no value {value}")
        return attribute.value_names[value] if attribute.value_names else str(value)


# The tables below are data: kept compact, one line per attribute or group.
# fmt: off
FASHIONAI = AttributeSet("FashionAI", (
    Attribute("skirt_length", 6, ("Invisible", "Short Length", "Knee Length", "Midi Length",
                                  "Ankle Length", "Floor Length")),
    Attribute("sleeve_length", 9, ("Invisible", "Sleeveless", "Cup Sleeves", "Short Sleeves",
                                   "Elbow Sleeves", "3/4 Sleeves", "Wrist Length", "Long Sleeves",
                                   "Extra Long Sleeves")),
    Attribute("coat_length", 8, ("Invisible", "High Waist Length", "Regular Length", "Long Length",
                                 "Micro Length", "Knee Length", "Midi Length",
                                 "Ankle&Floor Length")),
    Attribute("pant_length", 6, ("Invisible", "Short Pant", "Mid Length", "3/4 Length",
                                 "Cropped Pant", "Full Length")),
    Attribute("collar_design", 5, ("Invisible", "Shirt Collar", "Peter Pan", "Puritan Collar",
                                   "Rib Collar")),
    Attribute("lapel_design", 5, ("Invisible", "Notched", "Collarless", "Shawl Collar",
                                  "Plus Size Shawl")),
    Attribute("neckline_design", 10, ("Invisible", "Strapless Neck", "Deep V Neckline",
                                      "Straight Neck", "V Neck", "Square Neckline", "Off Shoulder",
                                      "Round Neckline", "Sweat Heart Neck",
                                      "OneShoulder Neckline")),
    Attribute("neck_design", 5, ("Invisible", "Turtle Neck", "Ruffle Semi-High Collar",
                                 "Low Turtle Neck", "Draped Collar")),
))

DARN = AttributeSet("DARN", tuple(Attribute(name, n) for name, n in (
    ("clothes category", 20), ("clothes button", 13), ("clothes color", 55),
    ("clothes length", 7), ("clothes pattern", 28), ("clothes shape", 11), ("collar shape", 26),
    ("sleeve length", 8), ("sleeve shape", 17),
)))

#: DeepFashion's attribute types; `type_id` in ``list_attr_cloth.txt`` is the 1-based index here.
DEEPFASHION_TYPES = ("texture", "fabric", "shape", "part", "style")

DEEPFASHION = AttributeSet("DeepFashion", tuple(
    Attribute(f"{t}-related", n)
    for t, n in zip(DEEPFASHION_TYPES, (156, 218, 180, 216, 230), strict=True)
))

RETRIEVAL_DATASETS = {s.dataset: s for s in (DEEPFASHION, FASHIONAI, DARN)}

FASHIONGEN_CATEGORIES = (
    "tote bags", "blankets", "jackets & coats", "boat shoes & moccasins", "lace ups", "loafers",
    "shoulder bags", "briefcases", "ties", "pants", "dresses", "pocket squares & tie bars",
    "travel bags", "hats", "shorts", "gloves", "underwear & loungewear", "scarves",
    "suits & blazers", "keychains", "fine jewelry", "socks", "messenger bags", "duffle bags",
    "boots", "duffle & top handle bags", "sweaters", "eyewear", "shirts", "flats", "sneakers",
    "messenger bags & satchels", "backpacks", "clutches & pouches", "sandals", "jumpsuits",
    "jewelry", "tops", "skirts", "bag accessories", "lingerie", "jeans", "espadrilles",
    "belts & suspenders", "swimwear", "heels", "pouches & document holders", "monkstraps",
)

FASHIONGEN_SUBCATEGORIES = (
    "structured hats", "boy shorts", "monkstraps", "lace ups & oxfords", "messenger bags",
    "fur & shearling", "peacoats", "beach hats", "heeled sandals", "trousers", "crewnecks",
    "denim jackets", "heels", "mid length skirts", "necklaces", "one-piece", "waistcoats",
    "boat shoes & moccasins", "mid length dresses", "vests", "loafers", "biker & combat boots",
    "beanies", "short dresses", "jackets", "messenger bags & satchels", "long dresses", "backpacks",
    "leather pants", "tank tops & camisoles", "sandals", "turtlenecks", "jumpsuits", "pins",
    "shawlnecks", "henleys", "bodysuits", "fedoras & panama hats", "cardigans", "brooches",
    "shorts", "bow ties", "blazers", "tank tops", "aviator", "blankets", "sleepwear", "thongs",
    "caps", "bombers", "clutches", "flat sandals", "low top sneakers", "ankle boots", "sweatshirts",
    "v-necks", "shirts", "ballerina flats", "earrings", "rings", "hoodies & zipups", "sunglasses",
    "sweatpants", "high top sneakers", "trench coats", "cargo pants", "swimsuits", "duffle bags",
    "bras", "coats", "pouches", "espadrilles", "caps & flat caps", "mid-calf boots", "glasses",
    "silks & cashmeres", "briefcases", "short skirts", "long skirts", "tall boots", "jeans",
    "neck ties", "keychains", "slippers & loafers", "wedge sneakers", "leggings", "tanks",
    "flip flops", "cover ups", "duffle & top handle bags", "t-shirts", "socks", "leather jackets",
    "travel bags", "gloves", "tote bags", "knits", "blouses", "lounge pants", "bracelets",
    "zip up & buckled boots", "polos", "robes", "headbands & hair accessories",
    "belts & suspenders", "wingtip boots", "desert boots", "boxers", "shoulder bags", "bikinis",
    "down", "suits", "tuxedos", "lace-up boots", "chelsea boots", "pouches & document holders",
    "pocket squares & tie bars", "lace ups", "scarves", "briefs", "bag accessories",
)

#: The nine fashion symbols, in the order of their token ids 1..9 in FashionSAP's vocab.txt.
SYMBOLS = ("tops", "pants", "skirts", "coats", "dresses", "shoes", "bags", "accessories", "others")

_SYMBOL_MEMBERS = {
    "tops": ("tops", "shirts", "sweaters"),
    "pants": ("pants", "jeans", "shorts"),
    "skirts": ("skirts",),
    "coats": ("jackets & coats",),
    "dresses": ("dresses", "jumpsuits", "suits & blazers"),
    "shoes": ("sandals", "monkstraps", "lace ups", "flats", "boots", "boat shoes & moccasins",
              "espadrilles", "heels", "loafers", "sneakers"),
    "bags": ("tote bags", "duffle & top handle bags", "backpacks", "messenger bags & satchels",
             "clutches & pouches", "pouches & document holders", "travel bags", "shoulder bags",
             "briefcases", "duffle bags", "messenger bags"),
    "accessories": ("ties", "fine jewelry", "eyewear", "hats", "belts & suspenders", "keychains",
                    "blankets", "jewelry", "pocket squares & tie bars", "scarves", "gloves",
                    "socks", "bag accessories"),
    "others": ("lingerie", "underwear & loungewear", "swimwear"),
}
# fmt: on

#: FashionGen category (lower case) -> fashion symbol, exactly as in ``categorys_to_sign.txt``.
CATEGORY_TO_SYMBOL = {c: s for s, members in _SYMBOL_MEMBERS.items() for c in members}

FASHIONIQ_CATEGORIES = ("dress", "shirt", "toptee")


def normalise_category(name: str) -> str:
    """FashionSAP's key for a FashionGen (sub)category: stripped, tabs as spaces, lower case."""
    return name.strip().replace("\t", " ").lower()


def category_index(name: str) -> int:
    """Class index (0..47) of a FashionGen category, any case."""
    try:
        return FASHIONGEN_CATEGORIES.index(normalise_category(name))
    except ValueError:
        raise ConfigError(f"unknown FashionGen category {name!r}") from None


def subcategory_index(name: str) -> int:
    """Class index (0..120) of a FashionGen subcategory, any case."""
    try:
        return FASHIONGEN_SUBCATEGORIES.index(normalise_category(name))
    except ValueError:
        raise ConfigError(f"unknown FashionGen subcategory {name!r}") from None


def symbol_of(category: str) -> str:
    """Fashion symbol (one of `SYMBOLS`) of a FashionGen category, any case."""
    try:
        return CATEGORY_TO_SYMBOL[normalise_category(category)]
    except KeyError:
        raise ConfigError(f"unknown FashionGen category {category!r}") from None


def symbol_token(symbol: str) -> str:
    """The symbol's special token as in FashionSAP's vocabulary, e.g. ``[tops_sign]``."""
    if symbol not in SYMBOLS:
        raise ConfigError(f"unknown fashion symbol {symbol!r}")
    return f"[{symbol}_sign]"


def retrieval_attributes(dataset: str) -> AttributeSet:
    """The `AttributeSet` of DeepFashion, FashionAI or DARN by its ASEN name."""
    try:
        return RETRIEVAL_DATASETS[dataset]
    except KeyError:
        raise ConfigError(
            f"unknown retrieval dataset {dataset!r}; known: {sorted(RETRIEVAL_DATASETS)}"
        ) from None
