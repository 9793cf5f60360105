"""What the papers' own data code needs of a proxy world, checked (review 2026-12, section 4).

- ASEN, ASEN++ (DeepFashion, FashionAI, DARN): no attribute has more values than the real
  dataset's (`taxonomy.RETRIEVAL_DATASETS`; FashionAI's are equal); every (attribute, value) has
  at least two training images (ASEN++'s sampler draws two distinct images of a value, ASEN's
  loops forever on a value without one); every attribute has a query and a candidate in each
  evaluation split (both evaluators divide by these counts); ASEN++'s configs beside the world
  carry the world's value counts.
- FashionSAP: at least 101 validation products (its subset test ranks a product among 101), its
  symbol map and the folders its preparation script writes into; FashionIQ's merged caption files.

`split_problems` checks split files (written, or planned without pixels by `plan_splits`);
`world_problems` checks a generated world on disk; `gallery_sizes` counts queries and
candidates per attribute and evaluation split. Each returns data, never raises on a violation,
so `data check`, the tests and the data chapter can all report the same list.
"""

from __future__ import annotations

from collections import Counter
from functools import partial
from pathlib import Path

import yaml

from fashion_lib.data.atelier import draw as d
from fashion_lib.data.atelier.make import ASEN_SETS, draw_all, knobs_of, split_sizes
from fashion_lib.data.atelier.records import SUBSET_PRODUCTS, asen_splits
from fashion_lib.data.formats import asenpp, fashiongen, fashioniq
from fashion_lib.data.formats.asen import EVAL_SPLITS, AsenSplits, read_splits
from fashion_lib.data.taxonomy import FASHIONIQ_CATEGORIES, RETRIEVAL_DATASETS
from fashion_lib.profiles import Profile

MIN_TRAIN_PER_VALUE = 2


def gallery_sizes(splits: AsenSplits) -> list[dict[str, object]]:
    """Rows (attribute, split, queries, candidates), one per attribute and evaluation split."""
    rows = []
    for split in EVAL_SPLITS:
        queries = Counter(q.attr for q in splits.queries[split])
        candidates = Counter(c.attr for c in splits.candidates[split])
        for a, name in enumerate(splits.meta.attributes):
            rows.append(
                {
                    "attribute": name,
                    "split": split,
                    "queries": queries[a],
                    "candidates": candidates[a],
                }
            )
    return rows


def split_problems(splits: AsenSplits) -> list[str]:
    """Violations of the ASEN invariants in one dataset's split files (empty: none)."""
    meta, real = splits.meta, RETRIEVAL_DATASETS[splits.meta.dataset]
    out = []
    if meta.attributes != real.names:
        out.append(f"{meta.dataset}: attributes {meta.attributes} are not the real {real.names}")
    for name, n, n_real in zip(meta.attributes, meta.counts, real.counts, strict=False):
        if n > n_real or (meta.dataset == "FashionAI" and n != n_real):
            out.append(f"{meta.dataset} {name}: {n} values, the real dataset has {n_real}")
    train = Counter((p.attr, p.value) for r in splits.train_labels for p in r.labels)
    for a, (name, n) in enumerate(zip(meta.attributes, meta.counts, strict=True)):
        few = [v for v in range(n) if train[a, v] < MIN_TRAIN_PER_VALUE]
        if few:
            out.append(
                f"{meta.dataset} {name}: values {few} have fewer than "
                f"{MIN_TRAIN_PER_VALUE} training images"
            )
    for row in gallery_sizes(splits):
        for kind in ("queries", "candidates"):
            if row[kind] == 0:
                out.append(f"{meta.dataset} {row['attribute']}: no {kind} in {row['split']}")
    return out


def plan_splits(profile: Profile, workers: int = 2) -> dict[str, AsenSplits]:
    """The split files `make_world(profile)` would write for DeepFashion, FashionAI and DARN,
    computed from the drawn labels without rendering an image (image paths are placeholders)."""
    knobs = knobs_of(profile)
    out = {}
    for name, sizes in split_sizes(profile.data).items():
        plans = draw_all(partial(d.plan, name), knobs, sizes.total, workers)
        paths = [f"plan/{i}.jpg" for i in range(sizes.total)]
        out[name] = asen_splits(ASEN_SETS[name], paths, plans, name == "FashionAI", sizes)
    return out


def _asenpp_problems(root: Path, splits: AsenSplits) -> list[str]:
    path = asenpp.config_path(root, splits.meta.dataset)
    if not path.is_file():
        return [f"{path}: missing ASEN++ config"]
    data = yaml.safe_load(path.read_text(encoding="utf-8"))["DATA"]
    ok = (
        data["ATTRIBUTES"]["NAME"] == list(splits.meta.attributes)
        and data["ATTRIBUTES"]["NUM"] == list(splits.meta.counts)
        and data["NUM_ATTRIBUTES"] == len(splits.meta.counts)
        and (Path(data["BASE_PATH"]) / splits.meta.dataset).is_dir()
    )
    return [] if ok else [f"{path}: attributes, counts or BASE_PATH differ from the world"]


def _fashionsap_problems(root: Path) -> list[str]:
    out = []
    folder = root / "FashionGen"
    with fashiongen.FashionGenFile(fashiongen.h5_path(folder, "validation")) as f:
        products = {item.product_id for item in f.items()}
    if len(products) < SUBSET_PRODUCTS:
        out.append(f"{folder}: {len(products)} validation products, FashionSAP needs 101")
    symbol_map = folder / fashiongen.SYMBOL_MAP_FILE
    if not symbol_map.is_file() or len(symbol_map.read_text().splitlines()) != 48:
        out.append(f"{symbol_map}: missing or not 48 categories")
    out += [f"{folder / s}: missing folder" for s in fashiongen.SPLITS if not (folder / s).is_dir()]
    iq = fashioniq.read_fashioniq(root / "FashionIQ")
    for split in fashioniq.SPLITS:
        path = fashioniq.merged_caption_file(root / "FashionIQ", split)
        expected = sum(len(iq.captions[c, split]) for c in FASHIONIQ_CATEGORIES)
        if not path.is_file() or len(fashioniq.load_json_array(path)) != expected:
            out.append(f"{path}: missing or not the merged per-category captions")
    return out


def world_problems(root: str | Path) -> list[str]:
    """Every invariant of a generated world under `root` (empty: the official loaders can run)."""
    root = Path(root)
    out = []
    for name in ASEN_SETS:
        splits = read_splits(root / name, name)
        out += split_problems(splits) + _asenpp_problems(root, splits)
    return out + _fashionsap_problems(root)
