"""Small, profile-independent budgets for the book's exercises on M3-Net's rows.

An exercise changes one thing and compares against the unchanged row. Two helpers keep that
comparison cheap in every profile:

- ``train_variant(model_name, dataset, profile, steps=EXERCISE_STEPS, margin=..., lr=...,
  pos_weight=...)`` trains a row for a fixed number of steps (independent of the profile), with at
  most the given settings changed, through the same path as ``m3net_runs.run_row`` (``engine.fit``,
  a run record named ``exercise-<row>-<dataset>-<changes>``). Train the unchanged row with the same
  budget (no changes) to compare like with like; a finished run is reused on the next build.
- ``triplet_embeddings(model_name, dataset, profile, triplets=EXERCISE_TRIPLETS)`` draws a seeded
  batch of training triplets (the row's own sampler style) and returns the class representations a
  trained row gives the anchors, positives and negatives, for exercises on the loss (Eq. 8-10).

Budgets are fixed numbers stated in the exercises, so that a solution takes seconds in the smoke
and cpu profiles alike (the frozen backbone's cached maps make a step a few tens of milliseconds).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
from torch import Tensor

from fashion_lib.data.samplers import TripletSampler
from fashion_lib.engine import derive_seed, find_finished_run
from fashion_lib.experiments.backbone_pretrain import torch_threads
from fashion_lib.experiments.m3net_runs import (
    RowResult,
    TripletBatches,
    _inputs,
    _resolve,
    _result,
    _slug,
    _train_and_evaluate,
    load_row_model,
    settings_config,
)

__all__ = [
    "EXERCISE_STEPS",
    "EXERCISE_TRIPLETS",
    "TripletEmbeddings",
    "train_variant",
    "triplet_embeddings",
]

EXERCISE_STEPS = 40  # training steps of 16 triplets per exercise run, in every profile
EXERCISE_TRIPLETS = 512  # triplets drawn by `triplet_embeddings`, in every profile


def train_variant(
    model_name: str,
    dataset: str,
    profile: str,
    *,
    seed: int = 0,
    steps: int = EXERCISE_STEPS,
    margin: float | None = None,
    lr: float | None = None,
    pos_weight: float | None = None,
) -> RowResult:
    """Train (or reuse) a row for ``steps`` steps with at most the given settings changed.

    Args:
        model_name: one of ``m3net_runs.ROWS``.
        dataset: one of ``m3net_runs.DATASETS``.
        profile: profile name; it chooses the data and the backbone, not the budget.
        seed: seed of the sampler, the initialisation and the loop.
        steps: training steps (one epoch of ``steps`` x the profile's triplets per step).
        margin: triplet margin (None: the row's).
        lr: learning rate (None: the profile's).
        pos_weight: w_p of M3-Net's multi-label loss (None: the dataset's).

    Returns:
        The `RowResult` of the variant (metrics in percent, loss history, wall times).
    """
    base = _resolve(model_name, dataset, seed, profile)
    changes = {
        key: value
        for key, value in (("margin", margin), ("lr", lr), ("pos_weight", pos_weight))
        if value is not None
    }
    spec = replace(base.spec, margin=margin) if margin is not None else base.spec
    settings = replace(
        base.settings,
        epochs=1,
        triplets_per_epoch=steps * base.settings.batch_triplets,
        lr=base.settings.lr if lr is None else lr,
    )
    weight = base.pos_weight if pos_weight is None else pos_weight
    config = base.config | {
        "spec": asdict(spec),
        "settings": settings_config(settings),
        "pos_weight": weight,
        "exercise": {"steps": steps, **changes},
    }
    suffix = "".join(f"-{key}{value:g}" for key, value in changes.items()) or "-unchanged"
    name = f"exercise-{_slug(model_name)}-{dataset.lower()}{suffix}-seed{seed}"
    row = replace(base, spec=spec, settings=settings, pos_weight=weight, config=config, name=name)
    record = find_finished_run(config, name=name)
    if record is not None:
        return _result(row, record, True)
    with torch_threads(settings.threads):
        return _train_and_evaluate(row)


@dataclass(frozen=True)
class TripletEmbeddings:
    """Class representations of a batch of training triplets under a trained row.

    Attributes:
        anchor, positive, negative: (T, D) representations (not normalised); M3-Net rows give the
            representations in the anchor's class space, the ASEN family and MODC their attribute
            representations.
        attribute: (T,) attribute of each triplet.
    """

    anchor: Tensor
    positive: Tensor
    negative: Tensor
    attribute: Tensor


@torch.no_grad()
def triplet_embeddings(
    model_name: str,
    dataset: str,
    profile: str,
    *,
    seed: int = 0,
    triplets: int = EXERCISE_TRIPLETS,
) -> TripletEmbeddings:
    """Embed ``triplets`` seeded training triplets with the trained row of ``seed``.

    Args:
        model_name: one of ``m3net_runs.ROWS``.
        dataset: one of ``m3net_runs.DATASETS``.
        profile: profile name (the row is trained first if it has no record).
        seed: the row's seed; the triplets use a seed derived from it.
        triplets: number of triplets (the budget, the same in every profile).

    Returns:
        A `TripletEmbeddings`.
    """
    row = load_row_model(model_name, dataset, seed, profile)
    base = _resolve(model_name, dataset, seed, profile)
    data = row.dataset
    sampler = TripletSampler(data.train_labels, triplets, derive_seed(seed, 7), row.spec.style)
    inputs = _inputs(data, "train", row.settings, base.backbone)
    batch = next(iter(TripletBatches(sampler, inputs, data.train_multihot, triplets).iter_epoch(0)))
    t = triplets
    if row.spec.family == "m3net":
        classes = batch["class_ids"].repeat(3)  # every row in the anchor's class space
        emb = row.model(batch["inputs"], batch["attr_ids"], classes).class_embeddings  # (3T, D)
    else:
        emb = row.model(batch["inputs"], batch["attr_ids"]).embeddings  # (3T, D)
    return TripletEmbeddings(emb[:t], emb[t : 2 * t], emb[2 * t :], batch["attr_ids"][:t])
