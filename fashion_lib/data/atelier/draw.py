"""One sample of each dataset as a pure function of (seed, dataset, index).

A sample's generators come from ``np.random.SeedSequence([seed, DATASET_IDS[dataset], i])`` and
nothing else, so a sample does not depend on how many others are generated, in which order or in
which process; generation can be parallelised and resumed. The first child generator draws the
product and its labels, then the view; the second the nuisances of the rendering; the third the
label noise, so that the pixels do not depend on the noise knob. A retrieval sample is first
planned (`plan`: product, labels, query, no pixels, so split files can be checked without
rendering) and then rendered; `target` says which attribute (and, for the first images, which
value) sample `i` shows. A FashionGen sample is a product with all its views, a
FashionIQ sample a family of products that differ in a few attributes (candidates and targets).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fashion_lib.data.atelier import garment as g
from fashion_lib.data.atelier import labels as lab
from fashion_lib.data.atelier.render import Look, Rendered, View, render
from fashion_lib.data.atelier.styles import choice
from fashion_lib.data.atelier.text import description
from fashion_lib.errors import ConfigError

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
    knobs: Knobs,
    dataset: str,
    i: int,
    pairs: tuple[tuple[int, int], ...],
    counts: tuple[int, ...],
) -> tuple[tuple[int, int], ...]:
    """The training labels as written: each pair replaced with probability `knobs.label_noise`
    by another value, from the sample's own third generator (the pixels do not depend on it)."""
    rng = np.random.default_rng(
        np.random.SeedSequence([knobs.seed, DATASET_IDS[dataset], i]).spawn(3)[2]
    )
    noise = knobs.label_noise
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


COVERAGE = 2  # the first COVERAGE x (number of values) images of a dataset show every value


def target(counts: tuple[int, ...], i: int) -> tuple[int, int | None]:
    """The (attribute, value) image `i` of a dataset with value `counts` is drawn to show.

    The first ``COVERAGE * sum(counts)`` images cycle through every (attribute, value) pair, so
    that every value has training images even in the smoke world (the official samplers need
    two per value); after them the attribute is ``i % len(counts)`` and the value is left to the
    draw (None), so that every attribute has as many queries and candidates as any other.
    """
    pairs = [(a, v) for a, n in enumerate(counts) for v in range(n)]
    if i < COVERAGE * len(pairs):
        return pairs[i % len(pairs)]
    return i % len(counts), None


@dataclass(frozen=True)
class Plan:
    """A retrieval sample before rendering: everything the split files need, and no pixels."""

    spec: g.GarmentSpec
    labels: tuple[tuple[int, int], ...]
    noisy: tuple[tuple[int, int], ...]
    query: tuple[int, int]
    framing: str
    protect: str | None = None


def _until(draw_spec: Callable[[], g.GarmentSpec], shows: Callable, what: str) -> g.GarmentSpec:
    """The first spec of `draw_spec` that `shows`; a value no spec shows is a generator bug."""
    for _ in range(5000):
        spec = draw_spec()
        if shows(spec):
            return spec
    raise ConfigError(f"the atelier draws no product with {what}")


def _plan_fashionai(knobs: Knobs, i: int) -> tuple[Plan, np.random.Generator, np.random.Generator]:
    rng, nuisance = generators(knobs.seed, "FashionAI", i)
    counts = tuple(len(t.values) + 1 for t in lab.FASHIONAI_TASKS.values())
    a, forced = target(counts, i)
    task = list(lab.FASHIONAI_TASKS.values())[a]
    value = int(rng.integers(counts[a])) if forced is None else forced
    categories = task.categories
    if task.field == "pant_length" and task.values[value - 1] in ("short", "mid"):
        categories = (*categories, "shorts")
    fixed = {task.field: task.values[value - 1]} if value else {}
    spec = g.sample_spec(rng, choice(rng, categories), knobs.style_prob, fixed=fixed)
    truth = ((a, value),)
    noisy = _noisy(knobs, "FashionAI", i, truth, counts)
    framing = task.framing if value else task.hidden_framing
    return Plan(spec, truth, noisy, truth[0], framing, task.part if value else None), rng, nuisance


def _plan_darn(knobs: Knobs, i: int) -> tuple[Plan, np.random.Generator, np.random.Generator]:
    rng, nuisance = generators(knobs.seed, "DARN", i)
    a, forced = target(lab.DARN_PROXY.counts, i)
    if forced is None:
        pool = g.GARMENTS if rng.random() < 0.2 else ("dress", *g.TOPS, *g.OUTER, "jumpsuit")
        spec = g.sample_spec(rng, choice(rng, pool), knobs.style_prob)
    else:
        spec = _until(  # any garment, until it shows the value
            lambda: g.sample_spec(rng, None, knobs.style_prob),
            lambda s: lab.darn_labels(s)[a] == forced,
            f"DARN value {lab.DARN_PROXY.value_name(a, forced)!r}",
        )
    truth = tuple(enumerate(lab.darn_labels(spec)))
    noisy = _noisy(knobs, "DARN", i, truth, lab.DARN_PROXY.counts)
    return Plan(spec, truth, noisy, truth[a], _framing(rng, spec)), rng, nuisance


def _plan_deepfashion(
    knobs: Knobs, i: int
) -> tuple[Plan, np.random.Generator, np.random.Generator]:
    rng, nuisance = generators(knobs.seed, "DeepFashion", i)
    t, forced = target(lab.DEEPFASHION_PROXY.counts, i)
    spec = _until(
        lambda: g.sample_spec(rng, None, knobs.style_prob),
        lambda s: any(p[0] == t and forced in (None, p[1]) for p in lab.deepfashion_labels(s)),
        f"DeepFashion class {t}/{forced}",
    )
    truth = lab.deepfashion_labels(spec)
    of_type = [p for p in truth if p[0] == t and forced in (None, p[1])]
    query = of_type[int(rng.integers(len(of_type)))]
    noisy = _noisy(knobs, "DeepFashion", i, truth, lab.DEEPFASHION_PROXY.counts)
    return Plan(spec, truth, noisy, query, _framing(rng, spec)), rng, nuisance


_PLANNERS = {"FashionAI": _plan_fashionai, "DARN": _plan_darn, "DeepFashion": _plan_deepfashion}


def plan(dataset: str, knobs: Knobs, i: int) -> Plan:
    """Sample `i` of a retrieval dataset without rendering it (labels, query, spec)."""
    return _PLANNERS[dataset](knobs, i)[0]


def _draw(knobs: Knobs, dataset: str, i: int) -> Sample:
    planned, rng, nuisance = _PLANNERS[dataset](knobs, i)
    out = _one(planned.spec, rng, nuisance, knobs, planned.framing, planned.protect)
    return Sample(
        planned.spec,
        (out.image,),
        (_pack(out),),
        planned.labels,
        planned.noisy,
        planned.query,
    )


def draw_fashionai(knobs: Knobs, i: int) -> Sample:
    """One FashionAI image: one attribute (`target`), a value (uniform, "Invisible" included)
    forced on a product that shows it, framed to show it (or to hide it: "Invisible")."""
    return _draw(knobs, "FashionAI", i)


def draw_darn(knobs: Knobs, i: int) -> Sample:
    """One DARN image: all 9 attributes labelled; the query attribute from `target`."""
    return _draw(knobs, "DARN", i)


def draw_deepfashion(knobs: Knobs, i: int) -> Sample:
    """One DeepFashion image: every positive (type, class); the query type from `target` (the
    product is drawn again until it has a class of that type), its class uniform among the
    image's classes of that type."""
    return _draw(knobs, "DeepFashion", i)


def _product_framings(spec: g.GarmentSpec) -> tuple[str, ...]:
    """A catalogue's shots of a product, in order: tops close (three quarter, then the upper
    body), dresses, jumpsuits and coats whole (a coat's length is what tells it from a blazer),
    bottoms from the waist down, shoes, bags and hats alone."""
    if spec.is_object:
        return ("object",)
    if spec.has_skirt or spec.has_legs or spec.category == "coat":
        return ("full", "three_quarter", "upper") if spec.has_torso else ("lower", "full", "legs")
    return ("three_quarter", "upper", "full")


def draw_fashiongen(knobs: Knobs, i: int) -> Sample:
    """One FashionGen product: `knobs.views` views (`_product_framings`, in turn)."""
    rng, nuisance = generators(knobs.seed, "FashionGen", i)
    objects = rng.random() < 0.25
    spec = g.sample_spec(rng, choice(rng, g.OBJECTS if objects else g.GARMENTS), knobs.style_prob)
    look = Look.draw(rng)
    framings = _product_framings(spec)
    images, masks = [], []
    for k in range(knobs.views):
        framing = framings[k % len(framings)]
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
