"""One sample of each dataset as a pure function of (seed, dataset, index).

`draw(knobs, dataset, i)` derives the sample's generators from
``np.random.SeedSequence([seed, DATASET_IDS[dataset], i])`` and nothing else, so a sample does not
depend on how many others are generated, in which order or in which process; generation can be
parallelised and resumed. The first child generator draws the product, the view and the labels;
the second the nuisances of the rendering. A FashionGen sample is a product with all its views, a
FashionIQ sample a family of products that differ in a few attributes (candidates and targets).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fashion_lib.data.atelier import garment as g
from fashion_lib.data.atelier import labels as lab
from fashion_lib.data.atelier.render import Look, Rendered, View, render
from fashion_lib.data.atelier.styles import choice
from fashion_lib.data.atelier.text import description

DATASET_IDS = {"DeepFashion": 0, "FashionAI": 1, "DARN": 2, "FashionGen": 3, "FashionIQ": 4}
FAMILY_SIZE = 5  # FashionIQ products per family: a base and four variants


@dataclass(frozen=True)
class Knobs:
    """The world's knobs.

    Args:
        seed: the world seed.
        size: image side in pixels.
        strength: nuisance strength (0 = clean catalogue shots).
        label_noise: probability that a written training label is replaced by a random value.
        style_prob: probability that a product follows a style recipe.
        views: views per FashionGen product.
    """

    seed: int
    size: int
    strength: float = 0.8
    label_noise: float = 0.05
    style_prob: float = 0.6
    views: int = 2


@dataclass(frozen=True)
class Sample:
    """Rendered views of one product with its spec; `labels` and `text` are dataset-specific.

    `labels` holds (attribute, value) pairs (the truth, before label noise); `noisy` the pairs
    as written for a training image; `query` the one pair an evaluation line uses.
    """

    spec: g.GarmentSpec
    images: tuple[np.ndarray, ...]
    masks: tuple[np.ndarray, ...]
    labels: tuple[tuple[int, int], ...] = ()
    noisy: tuple[tuple[int, int], ...] = ()
    query: tuple[int, int] = (0, 0)
    text: str = ""


def generators(seed: int, dataset: str, i: int) -> tuple[np.random.Generator, np.random.Generator]:
    """(content generator, nuisance generator) of sample `i` of `dataset`."""
    content, nuisance = np.random.SeedSequence([seed, DATASET_IDS[dataset], i]).spawn(2)
    return np.random.default_rng(content), np.random.default_rng(nuisance)


def _pack(rendered: Rendered) -> np.ndarray:
    return np.packbits(rendered.masks, axis=-1)  # (P, H, ceil(W / 8)) uint8


def _framing(rng: np.random.Generator, spec: g.GarmentSpec) -> str:
    """A product-shot framing: tops close up, dresses and bottoms whole (DARN, DeepFashion)."""
    if spec.has_torso and not spec.has_skirt and not spec.has_legs:
        return str(rng.choice(("three_quarter", "upper", "full"), p=(0.55, 0.3, 0.15)))
    if spec.has_torso:
        return str(rng.choice(("full", "three_quarter"), p=(0.5, 0.5)))
    return str(rng.choice(("full", "lower"), p=(0.5, 0.5)))


def _noisy(
    rng: np.random.Generator,
    pairs: tuple[tuple[int, int], ...],
    counts: tuple[int, ...],
    noise: float,
) -> tuple[tuple[int, int], ...]:
    out = []
    for a, v in pairs:
        if rng.random() < noise:
            v = int((v + rng.integers(1, counts[a])) % counts[a])
        out.append((a, v))
    return tuple(sorted(set(out)))


def _one(
    spec: g.GarmentSpec,
    rng: np.random.Generator,
    nuisance: np.random.Generator,
    knobs: Knobs,
    framing: str,
    protect: str | None = None,
) -> Rendered:
    """Render one view; if the camera nuisance pushed the labelled part out of the frame, render
    it again without nuisances (a label must stay visible)."""
    look, view = Look.draw(rng), View.draw(rng, framing)
    out = render(spec, look, view, knobs.size, nuisance, knobs.strength, protect)
    if protect is not None and not out.mask(protect).any():
        out = render(spec, look, view, knobs.size, nuisance, 0.0, protect)
    return out


def draw_fashionai(knobs: Knobs, i: int) -> Sample:
    """One FashionAI image: an attribute, a value (uniform, "Invisible" included), a product."""
    rng, nuisance = generators(knobs.seed, "FashionAI", i)
    a = int(rng.integers(len(lab.FASHIONAI_TASKS)))
    task = list(lab.FASHIONAI_TASKS.values())[a]
    value = int(rng.integers(len(task.values) + 1))
    categories = task.categories
    if task.field == "pant_length" and task.values[value - 1] in ("short", "mid"):
        categories = (*categories, "shorts")
    fixed = {task.field: task.values[value - 1]} if value else {}
    spec = g.sample_spec(rng, choice(rng, categories), knobs.style_prob, fixed=fixed)
    framing = task.framing if value else task.hidden_framing
    out = _one(spec, rng, nuisance, knobs, framing, task.part if value else None)
    counts = tuple(len(t.values) + 1 for t in lab.FASHIONAI_TASKS.values())
    truth = ((a, value),)
    return Sample(
        spec,
        (out.image,),
        (_pack(out),),
        truth,
        _noisy(rng, truth, counts, knobs.label_noise),
        truth[0],
    )


def draw_darn(knobs: Knobs, i: int) -> Sample:
    """One DARN image: all 9 attributes labelled; the query attribute uniform."""
    rng, nuisance = generators(knobs.seed, "DARN", i)
    pool = g.GARMENTS if rng.random() < 0.2 else ("dress", *g.TOPS, *g.OUTER, "jumpsuit")
    spec = g.sample_spec(rng, choice(rng, pool), knobs.style_prob)
    out = _one(spec, rng, nuisance, knobs, _framing(rng, spec))
    truth = tuple(enumerate(lab.darn_labels(spec)))
    noisy = _noisy(rng, truth, lab.DARN_PROXY.counts, knobs.label_noise)
    return Sample(
        spec, (out.image,), (_pack(out),), truth, noisy, truth[int(rng.integers(len(truth)))]
    )


def draw_deepfashion(knobs: Knobs, i: int) -> Sample:
    """One DeepFashion image: every positive (type, class); the query pair uniform over them."""
    rng, nuisance = generators(knobs.seed, "DeepFashion", i)
    spec = g.sample_spec(rng, None, knobs.style_prob)
    out = _one(spec, rng, nuisance, knobs, _framing(rng, spec))
    truth = lab.deepfashion_labels(spec)
    noisy = _noisy(rng, truth, lab.DEEPFASHION_PROXY.counts, knobs.label_noise)
    return Sample(
        spec, (out.image,), (_pack(out),), truth, noisy, truth[int(rng.integers(len(truth)))]
    )


def draw_fashiongen(knobs: Knobs, i: int) -> Sample:
    """One FashionGen product: `knobs.views` views (a product shot, then closer framings)."""
    rng, nuisance = generators(knobs.seed, "FashionGen", i)
    objects = rng.random() < 0.25
    spec = g.sample_spec(rng, choice(rng, g.OBJECTS if objects else g.GARMENTS), knobs.style_prob)
    look = Look.draw(rng)
    images, masks = [], []
    for k in range(knobs.views):
        framing = "object" if spec.is_object else ("full", "three_quarter", "upper")[k % 3]
        view = View.draw(rng, framing)
        out = render(spec, look, view, knobs.size, nuisance, knobs.strength)
        images.append(out.image)
        masks.append(_pack(out))
    return Sample(spec, tuple(images), tuple(masks), text=description(spec, rng))


def draw_fashioniq_family(knobs: Knobs, f: int) -> list[Sample]:
    """Family `f` of FashionIQ: a base product of category dress/shirt/toptee and variants."""
    rng, nuisance = generators(knobs.seed, "FashionIQ", f)
    category = ("dress", "shirt", "toptee")[f % 3]
    kinds = {"dress": ("dress",), "shirt": ("shirt",), "toptee": ("tee", "blouse", "sweater")}
    base = g.sample_spec(rng, choice(rng, kinds[category]), knobs.style_prob)
    specs = [base] + [g.mutate(base, rng, int(rng.integers(1, 4))) for _ in range(FAMILY_SIZE - 1)]
    samples = []
    for spec in specs:
        framing = "full" if category == "dress" else "three_quarter"
        out = _one(spec, rng, nuisance, knobs, framing)
        samples.append(Sample(spec, (out.image,), (_pack(out),)))
    return samples
