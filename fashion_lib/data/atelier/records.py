"""Drawn samples -> the formats' typed records (splits, label files, h5 rows, caption triplets).

Split rule: sample ids train, validate and test in this order, as many as the profile's
`SplitSizes` say (8:1:1 for DeepFashion; larger evaluation splits for FashionAI and DARN). In
each evaluation split one image in five is a query (ASEN's 1:4): the last fifth of the split for
DARN and DeepFashion, every fifth id for FashionAI, as in ASEN's files. FashionGen: a tenth of
the products, and at least `SUBSET_PRODUCTS`, validate. Training lines carry the
labels *after* label noise; evaluation lines and DeepFashion's ``label_{valid,test}.txt`` carry
the truth, so the noise knob makes training harder without corrupting the measurement.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from fashion_lib.data.atelier import draw as d
from fashion_lib.data.atelier import labels as lab
from fashion_lib.data.atelier.text import COMPOSITION, product_name, relative_captions
from fashion_lib.data.formats.asen import AsenMeta, AsenSplits, AttrValue, EvalItem, LabelledImage
from fashion_lib.data.formats.deepfashion import DeepFashionData, DFAttribute, DFImage
from fashion_lib.data.formats.fashionai import FashionAIData, FashionAILabel
from fashion_lib.data.formats.fashiongen import FashionGenItem
from fashion_lib.data.formats.fashioniq import FashionIQData, FashionIQTriplet
from fashion_lib.data.taxonomy import AttributeSet, symbol_of
from fashion_lib.profiles import SplitSizes

BRANDS = (
    "Atelier Nord",
    "Maison Lune",
    "Kestrel & Co",
    "Oro Studio",
    "Vessel",
    "Hanami",
    "Brume",
    "Calder Row",
)
SEASONS = ("SS2016", "FW2016", "SS2017", "FW2017")


SUBSET_PRODUCTS = 101  # FashionSAP's subset test ranks a product's text among 101 products


def split_ranges(sizes: SplitSizes) -> dict[str, range]:
    """Sample ids of train / valid / test."""
    n_train, n_valid = sizes.train, sizes.valid
    return {
        "train": range(0, n_train),
        "valid": range(n_train, n_train + n_valid),
        "test": range(n_train + n_valid, sizes.total),
    }


def sizes_of(splits: AsenSplits) -> SplitSizes:
    """The split sizes of written split files."""
    return SplitSizes(*(len(splits.filenames[s]) for s in ("train", "valid", "test")))


def is_query(fid: int, m: int, interleave: bool) -> bool:
    """Whether evaluation image `fid` of a split of `m` images is a query."""
    return fid % 5 == 4 if interleave else fid >= m - m // 5


def asen_splits(
    attribute_set: AttributeSet,
    paths: Sequence[str],
    samples: Sequence[d.Sample | d.Plan],
    interleave: bool,
    sizes: SplitSizes,
) -> AsenSplits:
    """ASEN split files of one dataset of `samples` (index = sample id; plans need no pixels)."""
    if sizes.total != len(samples):
        raise ValueError(f"{len(samples)} samples for splits of {sizes.total}")
    ranges = split_ranges(sizes)
    filenames = {s: tuple(paths[i] for i in r) for s, r in ranges.items()}
    train = tuple(
        LabelledImage(fid, tuple(AttrValue(a, v) for a, v in samples[i].noisy))
        for fid, i in enumerate(ranges["train"])
    )
    queries, candidates = {}, {}
    for split in ("valid", "test"):
        ids, m = ranges[split], len(ranges[split])
        items = [(fid, EvalItem(fid, *samples[i].query)) for fid, i in enumerate(ids)]
        queries[split] = tuple(e for fid, e in items if is_query(fid, m, interleave))
        candidates[split] = tuple(e for fid, e in items if not is_query(fid, m, interleave))
    return AsenSplits(
        AsenMeta.from_attribute_set(attribute_set), filenames, train, queries, candidates
    )


def deepfashion_data(
    splits: AsenSplits, paths: Sequence[str], samples: Sequence[d.Sample]
) -> DeepFashionData:
    """DeepFashion benchmark records: attributes by type, positives, partition, multi-labels."""
    attributes = tuple(
        DFAttribute(name, t + 1) for t, names in enumerate(lab.DF_CLASSES) for name in names
    )
    offsets = np.cumsum([0] + [len(c) for c in lab.DF_CLASSES])
    ranges = split_ranges(sizes_of(splits))
    partition = {
        i: p for p, s in zip(("train", "val", "test"), ranges.values(), strict=True) for i in s
    }
    images = []
    for i, (path, sample) in enumerate(zip(paths, samples, strict=True)):
        pairs = sample.noisy if partition[i] == "train" else sample.labels
        images.append(
            DFImage(path, tuple(sorted(int(offsets[t] + v) for t, v in pairs)), partition[i])
        )
    multilabels = {
        split: tuple(
            LabelledImage(fid, tuple(AttrValue(t, v) for t, v in samples[i].labels))
            for fid, i in enumerate(ranges[split])
        )
        for split in ("valid", "test")
    }
    return DeepFashionData(attributes, tuple(images), splits, multilabels)


def fashionai_data(
    splits: AsenSplits, paths: Sequence[str], samples: Sequence[d.Sample]
) -> FashionAIData:
    """FashionAI ``label.csv`` rows agreeing with the split files."""
    train = set(split_ranges(sizes_of(splits))["train"])
    counts = splits.meta.counts
    rows = []
    for i, (path, sample) in enumerate(zip(paths, samples, strict=True)):
        a, v = (sample.noisy if i in train else sample.labels)[0]
        rows.append(FashionAILabel.from_value(path, splits.meta.attributes[a], v, counts[a]))
    return FashionAIData(tuple(rows), splits)


def fashiongen_validation_products(n: int) -> int:
    """How many of `n` FashionGen products validate: a tenth, at least `SUBSET_PRODUCTS`, and
    at least one product left to train on."""
    return min(n - 1, max(SUBSET_PRODUCTS, round(0.1 * n)))


def fashiongen_rows(
    knobs: d.Knobs, samples: Sequence[d.Sample]
) -> dict[str, tuple[list[FashionGenItem], list[tuple[int, int]]]]:
    """Per split ("train", "validation"): h5 rows and their (product, view) sources."""
    n = len(samples)
    n_train = n - fashiongen_validation_products(n)
    out: dict[str, tuple[list[FashionGenItem], list[tuple[int, int]]]] = {}
    for split, products in (
        ("train", range(n_train)),
        ("validation", range(n_train, len(samples))),
    ):
        items, rows = [], []
        for k, p in enumerate(products):
            spec, text = samples[p].spec, samples[p].text
            rng = np.random.default_rng([knobs.seed, 99, p])  # metadata only, not the images
            category, subcategory = lab.fashiongen_category(spec)
            name = product_name(spec)
            women = spec.category in ("dress", "skirt", "blouse", "heels", "clutch")
            department = {"shoes": "SHOES", "bags": "BAGS", "accessories": "ACCESSORIES"}.get(
                symbol_of(category), "CLOTHING"
            )
            price = float(round(rng.uniform(80, 600) * (2.5 if spec.fabric == "leather" else 1)))
            for view in range(len(samples[p].images)):
                items.append(
                    FashionGenItem(
                        index=len(rows),
                        index_2=k,
                        brand=BRANDS[int(rng.integers(len(BRANDS)))],
                        category=category.upper(),
                        composition=COMPOSITION[spec.fabric],
                        concat_description=f"{name}. {text}",
                        department=department,
                        description=text,
                        gender="WOMEN" if women or rng.random() < 0.5 else "MEN",
                        msrp_usd=price,
                        name=name,
                        pose=f"id_gridfs_{view + 1}",
                        product_id=100_000 + p,
                        season=SEASONS[p % len(SEASONS)],
                        subcategory=subcategory.upper(),
                    )
                )
                rows.append((p, view))
        out[split] = (items, rows)
    return out


def fashioniq_data(
    knobs: d.Knobs, families: Sequence[Sequence[d.Sample]], n_pairs: int
) -> tuple[FashionIQData, list[str]]:
    """Caption triplets within families and image splits (families 4:1 train:val).

    Returns:
        The records and the ASIN of every sample, in family order.
    """
    per_family = max(1, math.ceil(n_pairs / len(families)))
    asins, captions, image_splits = [], {}, {}
    for f, family in enumerate(families):
        category = ("dress", "shirt", "toptee")[f % 3]
        split = "val" if (f // 3) % 5 == 1 else "train"  # family rounds 1, 6, 11, ... validate
        ids = [f"B0{f * d.FAMILY_SIZE + k:08d}" for k in range(len(family))]
        asins += ids
        rng = np.random.default_rng([knobs.seed, 98, f])
        pairs = [(a, b) for a in range(len(family)) for b in range(len(family)) if a != b]
        chosen = [pairs[i] for i in rng.permutation(len(pairs))[:per_family]]
        triplets = [
            FashionIQTriplet(ids[a], ids[b], relative_captions(family[a].spec, family[b].spec, rng))
            for a, b in chosen
        ]
        captions.setdefault((category, split), []).extend(triplets)
        image_splits.setdefault((category, split), []).extend(ids)
    data = FashionIQData(
        {k: tuple(v) for k, v in captions.items()}, {k: tuple(v) for k, v in image_splits.items()}
    )
    return data, asins
