"""The loops behind chapter 05 (M3-Net's Figures 3 and 4 and the attention scores), as calls.

Nothing is recomputed for a figure that a model already returns: the attention maps are the
``attention`` fields of the trained rows' outputs, and the rankings are the evaluation's own
class-first rankings (`fashion_lib.analysis.ranking`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import Tensor

from fashion_lib import viz
from fashion_lib.analysis.attention_score import class_part, score_attention
from fashion_lib.analysis.ranking import rank_queries
from fashion_lib.data.atelier.masks import PARTS_FILE, PartMasks
from fashion_lib.data.formats.deepfashion import read_deepfashion
from fashion_lib.data.retrieval_data import RetrievalDataset, load_images, normalise
from fashion_lib.experiments.m3net_runs import RowModel, encode_rows, load_row_model
from fashion_lib.retrieval import RetrievalSide

__all__ = [
    "LabelledPairs",
    "attention_maps",
    "figure3",
    "figure4",
    "first_pairs",
    "labelled_pairs",
    "mass_by_type",
    "mass_scores",
    "mass_summary",
    "ranking_sides",
    "top_k_precision",
]

DATASET = "DeepFashion"


@dataclass
class LabelledPairs:
    """Every labelled (image, attribute, class) pair of the test split, with what names them.

    Attributes:
        pairs: (P, 3) fid, attribute, class.
        keys: (P,) image file of each pair.
        names: attribute names; value_names: class names per attribute, in class-index order.
        part_masks: the proxy world's part masks, or None for a real copy.
        parts: (P,) the part that shows each pair's class, or None without masks.
    """

    pairs: Tensor
    keys: list[str]
    names: list[str]
    value_names: list[list[str]]
    part_masks: PartMasks | None
    parts: list[str] | None


def labelled_pairs(data: RetrievalDataset, max_pairs: int) -> LabelledPairs:
    """The first `max_pairs` labelled pairs of the queries, then of the candidates."""
    rows: dict[tuple[int, int, int], None] = {}
    for side in (data.queries, data.candidates):
        for fid, attr, labels in zip(
            side.fid.tolist(), side.attr.tolist(), side.labels, strict=True
        ):
            for m in labels.nonzero().squeeze(1).tolist():
                rows.setdefault((fid, attr, m), None)
    pairs = torch.tensor(list(rows))[:max_pairs]  # (P, 3): fid, attribute, class
    names = list(data.attributes)
    attribute_file = read_deepfashion(data.folder).attributes  # in class-index order
    value_names = [
        [a.name for a in attribute_file if a.type_id == t + 1] for t in range(len(names))
    ]
    keys = [data.filenames[data.split][f] for f in pairs[:, 0].tolist()]
    has_masks = (data.folder / PARTS_FILE).is_file()  # only a generated world has them
    masks = PartMasks(data.folder / PARTS_FILE) if has_masks else None
    parts = [class_part(DATASET, a, m) for a, m in pairs[:, 1:].tolist()] if has_masks else None
    return LabelledPairs(pairs, keys, names, value_names, masks, parts)


@torch.no_grad()
def attention_maps(row: RowModel, pairs: Tensor, batch_size: int = 256) -> dict[str, Tensor]:
    """The spatial attention maps (P, h, w) a trained row returns for (fid, attr, class) pairs.

    M3-Net rows return "attribute" (SCA-A) and "class" (SCA-C) maps, where they have them; the
    ASEN family and MODC one "attribute" map (the global branch's spatial attention).
    """
    maps: dict[str, list[Tensor]] = {}
    for start in range(0, len(pairs), batch_size):
        p = pairs[start : start + batch_size]
        inputs = row.eval_inputs[p[:, 0]]
        x = inputs.float() if row.frozen else normalise(inputs)
        if row.spec.family == "m3net":
            out = row.model(x, p[:, 1], p[:, 2])  # one pair per row, in row order
            found = {"attribute": out.attribute_attention, "class": out.class_attention}
        else:
            found = {"attribute": row.model(x, p[:, 1]).attention}
        for kind, value in found.items():
            if value is not None:
                maps.setdefault(kind, []).append(value)
    return {kind: torch.cat(parts) for kind, parts in maps.items()}


def mass_scores(
    maps: Mapping[tuple[str, int], Mapping[str, Tensor]], tp: LabelledPairs
) -> pd.DataFrame:
    """One row per model, map, seed and pair: mass on the named part and the part's area."""
    scored = []
    for (name, seed), found in maps.items():
        for kind, attention in found.items():
            s = score_attention(attention, tp.keys, tp.parts, tp.part_masks)
            scored.append(
                pd.DataFrame(
                    {
                        "model": name,
                        "map": kind,
                        "seed": seed,
                        "attribute": [tp.names[a] for a in tp.pairs[:, 1].tolist()],
                        "part": tp.parts,
                        "mass": s.mass.numpy(),
                        "area": s.area.numpy(),
                    }
                )
            )
    return pd.concat(scored, ignore_index=True)


def mass_summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Mass and area (percent) and lift = mass / area per model and map, mean and std over seeds."""
    per_seed = scores.groupby(["model", "map", "seed"])[["mass", "area"]].mean().mul(100)
    per_seed["lift"] = per_seed["mass"] / per_seed["area"]
    return per_seed.groupby(["model", "map"]).agg(["mean", "std"]).fillna(0.0)


def mass_by_type(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean mass (percent) of M3-Net's two maps and ASEN's per attribute type, and part areas."""
    chosen = scores[scores["model"].isin(["M3-Net", "ASEN"])]
    by_type = (
        chosen.assign(column=chosen["model"] + " " + chosen["map"])
        .pivot_table(index="attribute", columns="column", values="mass", aggfunc="mean")
        .mul(100)
    )
    one_map = (scores["model"] == "M3-Net") & (scores["map"] == "class")  # each pair once per seed
    by_type["part area"] = scores[one_map].groupby("attribute")["area"].mean() * 100
    return by_type


def first_pairs(tp: LabelledPairs, targets: Sequence[tuple[str, str | None]]) -> list[int]:
    """Index of the first pair of each (attribute, class) target; None matches any class.

    A target absent from the pairs is skipped.
    """
    chosen = []
    for attribute, klass in targets:
        for i, (a, m) in enumerate(tp.pairs[:, 1:].tolist()):
            if tp.names[a] == attribute and (klass is None or tp.value_names[a][m] == klass):
                chosen.append(i)
                break
    return chosen


def figure3(
    panels: Mapping[str, Tensor],
    tp: LabelledPairs,
    chosen: Sequence[int],
    data: RetrievalDataset,
    image_size: int,
) -> Figure:
    """Figure 3: the chosen pairs' images with each map, the named part outlined, its mass."""
    keys = [tp.keys[i] for i in chosen]
    images = load_images(data.folder, keys, image_size)
    under, outlines = {}, None
    if tp.part_masks is not None:
        parts = [tp.parts[i] for i in chosen]
        outlines = [tp.part_masks.part(k, p) for k, p in zip(keys, parts, strict=True)]
        for title, found in panels.items():
            mass = score_attention(found, keys, parts, tp.part_masks).mass
            under[title] = [f"mass on part {100 * v:.0f}%" for v in mass.tolist()]
    labels = []
    for i in chosen:
        a, m = tp.pairs[i, 1].item(), tp.pairs[i, 2].item()
        labels.append(f"{tp.names[a].removesuffix('-related')}: {tp.value_names[a][m]}")
    return viz.attention_overlays(
        images.permute(0, 2, 3, 1).numpy(),
        panels,
        row_labels=labels,
        map_labels=under,
        masks=outlines,
    )


def ranking_sides(
    profile: str, seed: int, models: Sequence[str] = ("M3-Net", "MODC")
) -> dict[str, tuple[RetrievalSide, RetrievalSide]]:
    """Each model's encoded DeepFashion test queries and candidates, as the evaluation has them."""
    sides = {}
    for name in models:
        row = load_row_model(name, DATASET, seed, profile)
        data = row.dataset
        sides[name] = tuple(
            encode_rows(row.model, row.spec.family, row.eval_inputs, r)
            for r in (data.queries, data.candidates)
        )
    return sides


def figure4(
    sides: Mapping[str, tuple[RetrievalSide, RetrievalSide]],
    data: RetrievalDataset,
    tp: LabelledPairs,
    k: int,
    image_size: int,
) -> Figure:
    """Figure 4: the top `k` of each model for the first two single- and multi-label queries."""
    positives = data.queries.labels.sum(dim=1)  # (Q,) positive classes of each query
    single = (positives == 1).nonzero().squeeze(1)[:2].tolist()
    multi = (positives > 1).nonzero().squeeze(1)[:2].tolist()
    ranked = {
        name: rank_queries(q, c, single + multi, "multi_granularity", "multi", k)
        for name, (q, c) in sides.items()
    }
    grid_rows, labels = [], []
    for j, query in enumerate(single + multi):
        attr = int(data.queries.attr[query])
        found = data.queries.labels[query].nonzero()[:, 0]
        classes = ", ".join(tp.value_names[attr][m] for m in found)
        kind = "single" if query in single else "multi"
        for name in sides:
            grid_rows.append(ranked[name][j])
            short = tp.names[attr].removesuffix("-related")
            labels.append(f"{name}, {kind}-label query. {short}: {classes}")
    split_names = data.filenames[data.split]
    fids = [int(data.queries.fid[r.query]) for r in grid_rows]
    query_images = load_images(data.folder, [split_names[f] for f in fids], image_size)
    shown = min(len(r.candidates) for r in grid_rows)
    results = [
        load_images(
            data.folder,
            [split_names[f] for f in data.candidates.fid[r.candidates[:shown]].tolist()],
            image_size,
        )
        .permute(0, 2, 3, 1)
        .numpy()
        for r in grid_rows
    ]
    return viz.retrieval_grid(
        query_images.permute(0, 2, 3, 1).numpy(),
        results,
        np.stack([r.relevant[:shown].numpy() for r in grid_rows]),
        row_labels=labels,
    )


def top_k_precision(
    sides: Mapping[str, tuple[RetrievalSide, RetrievalSide]], data: RetrievalDataset, k: int
) -> dict[str, dict[str, float]]:
    """Share (%) of true positives in every query's top `k`, all queries and multi-label ones."""
    multi = (data.queries.labels.sum(dim=1) > 1).numpy()
    everyone = range(len(data.queries))
    precision = {}
    for name, (q, c) in sides.items():
        ranked = rank_queries(q, c, everyone, "multi_granularity", "multi", k)
        hits = np.array([float(r.relevant.float().mean()) for r in ranked])
        precision[name] = {
            f"P@{k}, all queries": 100 * hits.mean(),
            f"P@{k}, multi-label queries": 100 * hits[multi].mean(),
            "queries": len(hits),
        }
    return precision
