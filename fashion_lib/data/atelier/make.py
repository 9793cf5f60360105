"""Build one profile's proxy world and write it through the real formats' writers.

`make_world(profile)` draws every sample (`draw`), in a pool of worker processes, splits each
retrieval dataset as the profile's `SplitSizes` say with query:candidate = 1:4 in every
evaluation split (ASEN's layout: DARN and DeepFashion take the last fifth of a split as queries,
FashionAI interleaves them), and writes DeepFashion, FashionAI, DARN, FashionGen and FashionIQ
folders plus ASEN's shared ``meta.json`` with the formats' own writers, ASEN++'s dataset configs
(``asenpp/<Dataset>.yaml``) and the files FashionSAP's code expects beside FashionGen. Part
masks go beside each dataset (`masks.PARTS_FILE`) and ``atelier.json`` records the knobs, the
proxy taxonomies, the counts and the generator's code fingerprint (`ensure_world` regenerates a
world made by other code). The whole world is built in a temporary folder renamed into place at
the end, so an interrupted make leaves the previous world or none, never a partial one that
`check` would accept; `invariants` checks what the papers' own loaders need of it.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from functools import partial
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

from fashion_lib import atomic
from fashion_lib.data.atelier import draw as d
from fashion_lib.data.atelier import labels as lab
from fashion_lib.data.atelier.masks import PARTS_FILE, save_part_masks
from fashion_lib.data.atelier.records import (
    asen_splits,
    deepfashion_data,
    fashionai_data,
    fashiongen_rows,
    fashioniq_data,
)
from fashion_lib.data.formats import asenpp, darn, deepfashion, fashionai, fashiongen, fashioniq
from fashion_lib.data.formats.asen import AsenMeta
from fashion_lib.data.taxonomy import FASHIONAI
from fashion_lib.fingerprint import WORLD_CODE, code_fingerprint
from fashion_lib.paths import dataset_root
from fashion_lib.profiles import DataScale, Profile, SplitSizes

MANIFEST = "atelier.json"


@dataclass(frozen=True)
class WorldSummary:
    """What `make_world` built: where, how many images per dataset, and how long it took."""

    root: Path
    images: dict[str, int]
    seconds: float

    @property
    def images_per_second(self) -> float:
        """Rendered and written images per second, over all datasets."""
        return sum(self.images.values()) / max(self.seconds, 1e-9)


Drawer = Callable[[d.Knobs, int], Any]


def start_drawing(pool: Pool | None, fn: Drawer, knobs: d.Knobs, n: int) -> Callable[[], list]:
    """Queue ``[fn(knobs, i) for i in range(n)]`` on `pool` (None: compute on demand, in this
    process); returns the function that waits for and returns the list."""
    if pool is None or n < 64:
        return lambda: [fn(knobs, i) for i in range(n)]
    pending = pool.map_async(partial(fn, knobs), range(n), chunksize=max(16, n // 64))
    return pending.get


def draw_all(fn: Drawer, knobs: d.Knobs, n: int, workers: int) -> list:
    """``[fn(knobs, i) for i in range(n)]``, in `workers` processes when that pays off."""
    if workers <= 1 or n < 64:
        return start_drawing(None, fn, knobs, n)()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return start_drawing(pool, fn, knobs, n)()


def _df_path(spec: Any, i: int) -> str:
    noun = spec.category.title().replace(" ", "_")
    return f"img/{spec.pattern.title()}_{noun}/img_{i:08d}.jpg"


def _fashionai_path(knobs: d.Knobs, sample: d.Sample, i: int) -> str:
    name = list(lab.FASHIONAI_TASKS)[sample.query[0]]
    digest = hashlib.md5(f"atelier-{knobs.seed}-{i}".encode()).hexdigest()
    return f"Images/{name}_labels/{digest}.jpg"


ASEN_SETS = {
    "DeepFashion": lab.DEEPFASHION_PROXY,
    "FashionAI": FASHIONAI,
    "DARN": lab.DARN_PROXY,
}


def split_sizes(scale: DataScale) -> dict[str, SplitSizes]:
    """The split sizes of each ASEN-protocol dataset of a profile's `DataScale`."""
    return {"DeepFashion": scale.deepfashion, "FashionAI": scale.fashionai, "DARN": scale.darn}


def write_asen(
    tmp: Path, name: str, knobs: d.Knobs, samples: list[d.Sample], sizes: SplitSizes
) -> int:
    """Write one ASEN-protocol dataset (DeepFashion, FashionAI or DARN) and its part masks.

    Args:
        tmp: the world folder being built; the dataset goes into ``tmp / name``.
        name: "DeepFashion", "FashionAI" or "DARN".
        knobs: the world's knobs (seed and image size).
        samples: the drawn samples, one image each, in index order.
        sizes: how many of them train, validate and test.

    Returns:
        The number of images written.
    """
    n = len(samples)
    if name == "DeepFashion":
        paths = [_df_path(s.spec, i) for i, s in enumerate(samples)]
    elif name == "FashionAI":
        paths = [_fashionai_path(knobs, s, i) for i, s in enumerate(samples)]
    else:
        paths = [darn.image_path(i // 10, f"{i:07d}") for i in range(n)]
    splits = asen_splits(ASEN_SETS[name], paths, samples, name == "FashionAI", sizes)
    images = ((p, s.images[0]) for p, s in zip(paths, samples, strict=True))
    folder = tmp / name
    if name == "DeepFashion":
        deepfashion.write_deepfashion(folder, deepfashion_data(splits, paths, samples), images)
    elif name == "FashionAI":
        fashionai.write_fashionai(folder, fashionai_data(splits, paths, samples), images)
    else:
        darn.write_darn(folder, splits, images)
    save_part_masks(folder / PARTS_FILE, paths, [s.masks[0] for s in samples], knobs.size)
    return n


def write_fashiongen(tmp: Path, knobs: d.Knobs, samples: list[d.Sample]) -> int:
    """Write FashionGen's split HDF5 files into ``tmp / "FashionGen"``, with the part masks.

    Args:
        tmp: the world folder being built.
        knobs: the world's knobs (seed and image size).
        samples: the drawn products, each with its views.

    Returns:
        The number of images (product views) written over all splits.
    """
    folder = tmp / "FashionGen"
    folder.mkdir(parents=True, exist_ok=True)
    keys, masks, total = [], [], 0
    for split, (items, rows) in fashiongen_rows(knobs, samples).items():
        fashiongen.write_fashiongen(
            fashiongen.h5_path(folder, split), items, (samples[p].images[v] for p, v in rows)
        )
        keys += [f"{split}/{r}" for r in range(len(rows))]
        masks += [samples[p].masks[v] for p, v in rows]
        total += len(rows)
    fashiongen.write_fashionsap_extras(folder)
    save_part_masks(folder / PARTS_FILE, keys, masks, knobs.size)
    return total


def write_fashioniq(tmp: Path, knobs: d.Knobs, samples: list[list[d.Sample]], n_pairs: int) -> int:
    """Write FashionIQ (images, captions, splits) into ``tmp / "FashionIQ"``, with the part masks.

    Args:
        tmp: the world folder being built.
        knobs: the world's knobs (seed and image size).
        samples: the drawn families of related garments, one image each.
        n_pairs: about how many relative-caption triplets to make, spread over the families.

    Returns:
        The number of images written.
    """
    data, asins = fashioniq_data(knobs, samples, n_pairs)
    flat = [s for family in samples for s in family]
    folder = tmp / "FashionIQ"
    images = ((a, s.images[0]) for a, s in zip(asins, flat, strict=True))
    fashioniq.write_fashioniq(folder, data, images)
    save_part_masks(folder / PARTS_FILE, asins, [s.masks[0] for s in flat], knobs.size)
    return len(flat)


def knobs_of(profile: Profile, **overrides: Any) -> d.Knobs:
    """The world knobs of a profile (seed, image size, views), with optional overrides."""
    knobs = d.Knobs(
        seed=profile.seed, size=profile.data.image_size, views=profile.data.views_per_product
    )
    return replace(knobs, **overrides)


def remove_stale_builds(root: Path) -> None:
    """Delete what a killed build of `root` left beside it (`atomic_dir`'s hidden temporary and
    old folders); a world is built by one process at a time."""
    for stale in [*root.parent.glob(f".{root.name}.*.tmp"), root.parent / f".{root.name}.old"]:
        shutil.rmtree(stale, ignore_errors=True)


def make_world(
    profile: Profile, out: str | Path | None = None, workers: int = 2, **overrides: Any
) -> WorldSummary:
    """Generate the proxy world of `profile` atomically.

    Args:
        profile: a proxy profile (its `DataScale` gives the counts).
        out: destination folder; default `paths.dataset_root(profile.name, True)`.
        workers: processes that render (the cpu profile uses the machine's 2 cores).
        **overrides: `draw.Knobs` fields to change (strength, label_noise, style_prob, seed).

    Returns:
        A `WorldSummary`.
    """
    start = time.perf_counter()
    root = Path(out) if out is not None else dataset_root(profile.name, True)
    knobs = knobs_of(profile, **overrides)
    scale = profile.data
    counts: dict[str, int] = {}
    sizes = split_sizes(scale)
    jobs: list[tuple[str, Drawer, int]] = [
        ("DeepFashion", d.draw_deepfashion, sizes["DeepFashion"].total),
        ("FashionAI", d.draw_fashionai, sizes["FashionAI"].total),
        ("DARN", d.draw_darn, sizes["DARN"].total),
        ("FashionGen", d.draw_fashiongen, scale.fashiongen_products),
        # at least a train and a validation family per category
        ("FashionIQ", d.draw_fashioniq_family, max(6, scale.fashioniq_images // d.FAMILY_SIZE)),
    ]
    remove_stale_builds(root)
    pool = multiprocessing.get_context("fork").Pool(workers) if workers > 1 else None
    try:
        with atomic.atomic_dir(root) as tmp:
            # Every dataset is queued at once: the workers render the next datasets while this
            # process encodes and writes the current one.
            results = {name: start_drawing(pool, fn, knobs, n) for name, fn, n in jobs}
            for name in ASEN_SETS:
                counts[name] = write_asen(tmp, name, knobs, results[name](), sizes[name])
            metas = [AsenMeta.from_attribute_set(s) for s in ASEN_SETS.values()]
            asenpp.write_configs(tmp, metas, root.absolute())
            counts["FashionGen"] = write_fashiongen(tmp, knobs, results["FashionGen"]())
            counts["FashionIQ"] = write_fashioniq(
                tmp, knobs, results["FashionIQ"](), scale.fashioniq_pairs
            )
            seconds = time.perf_counter() - start
            manifest = {
                "profile": profile.name,
                "knobs": asdict(knobs),
                "images": counts,
                "splits": {k: asdict(v) for k, v in sizes.items()},
                "scale": asdict(scale),
                "seconds": round(seconds, 2),
                "generator": code_fingerprint(WORLD_CODE),
                "taxonomies": lab.proxy_taxonomies(),
            }
            atomic.write_text(tmp / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    finally:
        if pool is not None:
            pool.terminate()
    return WorldSummary(root, counts, time.perf_counter() - start)


def ensure_world(profile: Profile, workers: int = 2) -> Path:
    """The profile's world folder, generated first unless a complete one with the same knobs,
    data scale (every count of `DataScale`) and generator code exists (its ``atelier.json`` is
    written last, inside the atomic build; an unreadable one means an incomplete world)."""
    root = dataset_root(profile.name, True)
    manifest = root / MANIFEST
    if manifest.is_file():
        try:
            recorded = json.loads(manifest.read_text(encoding="utf-8"))
        except ValueError:
            recorded = {}
        if (
            recorded.get("generator") == code_fingerprint(WORLD_CODE)
            and recorded.get("knobs") == asdict(knobs_of(profile))
            and recorded.get("scale") == asdict(profile.data)
        ):
            return root
    return make_world(profile, workers=workers).root
