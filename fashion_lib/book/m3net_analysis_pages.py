"""The loops behind chapter 04's analyses (co-occurring classes, the gamma sweep), as calls.

Every function reads trained rows through `m3net_runs` (a missing row is trained first) and
checks what it recomputes against the run records: a per-query evaluation must give back the
record's overall MAP@all, and the sweep at the model's own gamma too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from fashion_lib.analysis import cooccurrence as co
from fashion_lib.analysis import gamma as gm
from fashion_lib.data.formats.deepfashion import read_deepfashion, within_type
from fashion_lib.data.retrieval_data import RetrievalDataset, normalise
from fashion_lib.data.samplers import TripletSampler
from fashion_lib.evidence import PerQuery
from fashion_lib.experiments.m3net_eval import query_keys
from fashion_lib.experiments.m3net_runs import (
    ROW_SPECS,
    encode_rows,
    load_row_model,
    run_settings,
)
from fashion_lib.retrieval import RetrievalSide, evaluate_retrieval

__all__ = [
    "ClassMatrix",
    "GammaSweep",
    "class_map_runs",
    "cooccurrence_summary",
    "deepfashion_classes",
    "gain_table",
    "gamma_sweeps",
    "rate_only_excluded",
    "recorded_metric",
]

#: The columns of `cooccurrence_summary`, one per rule.
ALL_PAIRS, WITHIN, FIRST_VERSION = (
    "ours (all pairs)",
    "ours (pairs within an attribute)",
    "first version (1/15 of the max rate)",
)


@dataclass(frozen=True)
class ClassMatrix:
    """Every DeepFashion class of every image, attribute by attribute.

    Attributes:
        labels: (images, K) True where the image carries the class; columns grouped by attribute.
        names: (K,) class names.
        groups: (K,) attribute index of each column.
    """

    labels: np.ndarray
    names: list[str]
    groups: np.ndarray


def deepfashion_classes(folder: Path) -> ClassMatrix:
    """The class matrix of all images of a DeepFashion attribute file (all splits)."""
    data = read_deepfashion(folder)
    kinds = within_type(data.attributes)
    sizes = np.bincount([v.attr for v in kinds.values()])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    column = {g: offsets[v.attr] + v.value for g, v in kinds.items()}  # global -> column
    labels = np.zeros((len(data.images), int(sizes.sum())), dtype=bool)
    for i, image in enumerate(data.images):
        labels[i, [column[g] for g in image.positives]] = True
    names = [""] * int(sizes.sum())
    for g, attribute in enumerate(data.attributes):
        names[column[g]] = attribute.name
    return ClassMatrix(labels, names, np.repeat(np.arange(len(sizes)), sizes))


def cooccurrence_summary(
    classes: ClassMatrix,
) -> tuple[pd.DataFrame, co.CooccurringPairs, co.CooccurringPairs]:
    """The paper's co-occurrence findings beside ours under three rules.

    Returns:
        (summary table, pairs kept among all pairs, pairs kept within an attribute).
    """
    labels = classes.labels
    pairs = co.cooccurring_pairs(labels)
    within = co.cooccurring_pairs(labels, groups=classes.groups, within_attribute=True)
    cutoff = pairs.max_rate * co.PAPER_CUTOFF / co.PAPER_MAX_RATE
    old_rule = co.cooccurring_pairs(labels, cutoff=cutoff)
    columns = {"paper": co.PAPER_FINDINGS}
    for name, found in ((ALL_PAIRS, pairs), (WITHIN, within), (FIRST_VERSION, old_rule)):
        columns[name] = {
            "max rate": found.max_rate,
            "cut-off": found.cutoff,
            "pairs kept": len(found.pairs),
            "unique classes": len(found.classes),
        }
    return pd.DataFrame(columns), pairs, within


def recorded_metric(
    table: pd.DataFrame, model: str, seed: int, relevance: str = "multi", metric: str = "map_all"
) -> float:
    """One overall metric of one run, as its run record holds it (a `run_table` frame)."""
    pick = (table["model"] == model) & (table["seed"] == seed) & (table["relevance"] == relevance)
    return table.loc[pick & (table["attribute"] == "overall"), metric].item()


def _per_query_ap(model: str, seed: int, profile: str) -> tuple[PerQuery, float, RetrievalDataset]:
    """Per-query AP@all (%, multi-label relevance) of a DeepFashion run, its MAP@all, its data."""
    row = load_row_model(model, "DeepFashion", seed, profile)
    data = row.dataset
    q = encode_rows(row.model, row.spec.family, row.eval_inputs, data.queries)
    c = encode_rows(row.model, row.spec.family, row.eval_inputs, data.candidates)
    protocol = "attribute" if row.spec.family == "asen" else "multi_granularity"
    result = evaluate_retrieval(q, c, protocol, "multi", k=row.settings.k)
    ap = PerQuery(query_keys(data), 100 * result.per_query["ap_all"])
    return ap, result.overall["map_all"], data


def class_map_runs(
    profile: str,
    table: pd.DataFrame,
    chosen: Mapping[str, co.CooccurringPairs],
    models: Sequence[str] = ("M3-Net", "MODC"),
) -> tuple[pd.DataFrame, dict[tuple[str, int], PerQuery], RetrievalDataset]:
    """Class MAP on the co-occurring classes against all classes, per model, seed and rule.

    Args:
        profile: the profile of the runs.
        table: DeepFashion's `run_table` frame (each run's recorded MAP@all is checked).
        chosen: rule name -> its co-occurring pairs.
        models: the rows to score.

    Returns:
        (one row per model, seed and rule; per-query AP@all by (model, seed); the test data).
    """
    rows, evidence = [], {}
    for model in models:
        for seed in run_settings(profile).seeds:
            ap, overall, data = _per_query_ap(model, seed, profile)
            recorded = recorded_metric(table, model, seed)
            assert abs(overall - recorded) < 1e-6, (model, seed, overall, recorded)
            evidence[model, seed] = ap
            q = data.queries
            per_class = co.class_map(
                ap.values, q.attr.numpy(), q.labels.numpy(), data.classes_per_attribute
            )
            for scope, pairs in chosen.items():
                found = co.compare_class_map(per_class, pairs.classes)
                rows.append({"model": model, "seed": seed, "pairs": scope, **vars(found)})
    return pd.DataFrame(rows), evidence, data


def gain_table(gain_groups: Sequence[Mapping[str, PerQuery]], seeds: Sequence[int]) -> pd.DataFrame:
    """Queries and mean gain per seed and query group (`co.gain_by_cooccurrence` per seed)."""
    rows = [
        {"seed": seed, "queries": group, "n": len(g.values), "gain": float(np.nanmean(g.values))}
        for seed, groups in zip(seeds, gain_groups, strict=True)
        for group, g in groups.items()
    ]
    return pd.DataFrame(rows).pivot(index="seed", columns="queries", values=["n", "gain"])


def rate_only_excluded(
    data: RetrievalDataset, rate: Tensor, pos_weight: float, gamma: float
) -> float:
    """Share (%) of an evaluated row's classes that a head knowing only ``rate`` excludes."""
    rows = torch.cat([data.queries.attr, data.candidates.attr])  # every evaluated row
    share = gm.prior_excluded_share(rate, rows, data.classes_per_attribute, pos_weight, gamma)
    return 100 * share


@dataclass
class GammaSweep:
    """The gamma sweep of M3-Net on DeepFashion over the profile's seeds.

    Attributes:
        sweep: per gamma (index), the mean over seeds of the shares excluded and the metrics,
            with the rate-only priors over the sampler's rows and over all training images.
        caps: per seed, the metrics at the model's gamma without and with the first version's cap.
        excluded_rows: (seeds, evaluated rows) share (%) excluded at the paper's gamma.
        sides: the last seed's (RetrievalSide, all-class embeddings) of queries and candidates.
        sampled: the last seed's class rates over the rows its head was trained on.
        data: the test data.
        gamma: the model's gamma.
    """

    sweep: pd.DataFrame
    caps: pd.DataFrame
    excluded_rows: np.ndarray
    sides: list[tuple[RetrievalSide, gm.AllClassEmbedding]]
    sampled: Tensor
    data: RetrievalDataset
    gamma: float


def _sides(row) -> list[tuple[RetrievalSide, gm.AllClassEmbedding]]:
    """Queries and candidates of a row, every (image, class) pair encoded once."""
    sides = []
    for rows in (row.dataset.queries, row.dataset.candidates):
        inputs = row.eval_inputs[rows.fid]
        x = inputs.float() if row.frozen else normalise(inputs)
        emb = gm.embed_all_classes(row.model, x, rows.attr)
        side = RetrievalSide(emb.attribute_embeddings, rows.attr, rows.value, rows.labels)
        sides.append((side, emb))
    return sides


def gamma_sweeps(
    profile: str, table: pd.DataFrame, gammas: Sequence[float], cap: int
) -> GammaSweep:
    """Sweep gamma on every seed's trained M3-Net (DeepFashion), without retraining.

    Args:
        profile: the profile of the runs.
        table: DeepFashion's `run_table` frame (the sweep at the model's gamma must give back
            each run's recorded MAP@all).
        gammas: the thresholds to sweep (the model's own is added).
        cap: the first version's cap on class spaces per image, compared at the model's gamma.
    """
    settings = run_settings(profile)
    weight = settings.deepfashion_pos_weight
    sweeps, caps, excluded = [], [], []
    for seed in settings.seeds:
        row = load_row_model("M3-Net", "DeepFashion", seed, profile)
        data, config = row.dataset, row.model.config
        sides = _sides(row)
        points = gm.gamma_sweep(
            sorted({*gammas, config.gamma}),
            config.max_classes,
            *sides,
            relevance="multi",
            k=settings.k,
        )
        at_model = next(p for p in points if p.gamma == config.gamma)
        record = recorded_metric(table, "M3-Net", seed)
        assert abs(at_model.metrics["map_all"] - record) < 1e-3, (at_model.metrics, record)
        logits = torch.cat([side[1].logits for side in sides])
        mask = torch.cat([side[1].mask for side in sides])
        excluded.append(100 * gm.excluded_per_row(logits, mask, gm.PAPER_GAMMA).numpy())
        capped = gm.gamma_sweep([config.gamma], cap, *sides, relevance="multi", k=settings.k)
        for label, point in (("no cap (the paper's rule)", at_model), ("cap of 8", capped[0])):
            caps.append({"seed": seed, "class spaces": label, **gm.as_table([point])[0]})
        # the prior of a rate-only head: class rates over the rows the head was trained on
        style = ROW_SPECS["M3-Net"].style
        sampler = TripletSampler(data.train_labels, settings.triplets_per_epoch, seed, style)
        sampled = gm.sampled_positive_rate(
            sampler, data.train_multihot, settings.epochs, settings.batch_triplets
        )
        for entry, point in zip(gm.as_table(points), points, strict=True):
            prior = rate_only_excluded(data, sampled, weight, point.gamma)
            entry["excluded % (rate-only head, sampler rows)"] = prior
            sweeps.append({"seed": seed, **entry})
    image_rate = data.train_multihot.float().mean(dim=0)  # (A, M_max) the first version's pi
    sweep = pd.DataFrame(sweeps).groupby("gamma").mean().drop(columns="seed")
    sweep["excluded % (rate-only head, all images)"] = [
        rate_only_excluded(data, image_rate, weight, g) for g in sweep.index
    ]
    cap_table = pd.DataFrame(caps).drop(columns=["seed", "gamma"]).groupby("class spaces").mean()
    return GammaSweep(
        sweep, cap_table, np.stack(excluded), sides, sampled, data, float(config.gamma)
    )
