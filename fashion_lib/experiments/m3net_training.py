"""Training one row of M3-Net's tables: triplet batches, the row's model, loss and fit.

`TripletBatches` feeds `engine.fit` from a `TripletSampler` over in-memory inputs (cached float16
feature maps of a frozen backbone, or uint8 images); `row_inputs` makes them. `build_row_model`
creates the row's model from the registry and, in the frozen profiles, replaces its backbone
modules by identities so the cached maps pass straight into the attention modules. `train_row` runs
`fit` (ASEN++ in its two stages).

Last backbone stage trained (``RunSettings.trained_stages == 1``, the variant of M3-Net's issue 11,
deliverable 6): the cached maps are those of the frozen stages before the small CNN's last stage
(`split_last_stage`), and each backbone module of the model becomes a copy of the pre-trained last
stage, trained with the heads at the same learning rate (the paper fine-tunes its whole backbone
with the heads' rate). BatchNorm of that stage uses batch statistics while training, running ones
in evaluation, as end-to-end training does.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from fashion_lib.data.retrieval_data import (
    Inputs,
    LazyImages,
    RetrievalDataset,
    feature_maps,
    normalise,
)
from fashion_lib.data.samplers import TripletSampler
from fashion_lib.engine import TrainConfig, fit
from fashion_lib.engine.distributed import dist_info, shard_bounds
from fashion_lib.engine.loop import LossFn, StepEvent
from fashion_lib.errors import ConfigError
from fashion_lib.experiments.backbone_pretrain import PretrainedBackbone, nhwc_encoder
from fashion_lib.experiments.m3net_settings import RowSpec, RunSettings
from fashion_lib.losses import ASENLoss, M3NetLoss, MODCLoss, TripletTargets
from fashion_lib.models import create_model

__all__ = [
    "TripletBatches",
    "build_row_model",
    "prepare_inputs",
    "row_inputs",
    "row_loss",
    "split_last_stage",
    "train_row",
]


def prepare_inputs(inputs: Tensor) -> Tensor:
    """Batch inputs -> float: cached maps are upcast, uint8 images normalised."""
    return normalise(inputs) if inputs.dtype == torch.uint8 else inputs.float()


class TripletBatches:
    """Triplet batches of a `TripletSampler` over in-memory inputs (a `engine.BatchSource`).

    A batch of T triplets is a dict with "inputs" (3T, ...) laid out [anchors; positives;
    negatives], "attr_ids" (3T,), "class_ids" (T,), "labels" (3T, M_max) multi-hot values of each
    row's attribute, "sample_ids" (3T,) and "values" (3T,).

    Args:
        sampler: the seeded triplet sampler (epoch e is a pure function of its seed and e).
        inputs: (N_train, ...) images (uint8 tensor or `LazyImages`) or cached maps (float16), in
            training fid order.
        multihot: (N_train, A, M_max) bool training labels.
        batch_triplets: triplets per global step.
    """

    def __init__(
        self, sampler: TripletSampler, inputs: Inputs, multihot: Tensor, batch_triplets: int
    ) -> None:
        self.sampler, self.inputs, self.multihot = sampler, inputs, multihot
        self.batch_triplets = batch_triplets
        self.bounds = shard_bounds(batch_triplets, dist_info())
        self.steps_per_epoch = len(sampler) // batch_triplets
        if self.steps_per_epoch == 0:
            raise ConfigError(f"{len(sampler)} triplets make no batch of {batch_triplets}")

    def iter_epoch(self, epoch: int, start_step: int = 0) -> Iterator[dict[str, Tensor]]:
        """Yield this rank's batches of `epoch` from `start_step` on."""
        ep = self.sampler.epoch(epoch)
        lo, hi = self.bounds
        for step in range(start_step, self.steps_per_epoch):
            s = slice(step * self.batch_triplets + lo, step * self.batch_triplets + hi)
            image = torch.from_numpy(np.concatenate([ep.anchor[s], ep.positive[s], ep.negative[s]]))
            attr = torch.from_numpy(np.tile(ep.attribute[s], 3))  # (3T,)
            value = torch.from_numpy(ep.value[s])  # (T,)
            yield {
                "inputs": prepare_inputs(self.inputs[image]),  # (3T, ...)
                "attr_ids": attr,
                "class_ids": value,
                "labels": self.multihot[image, attr].float(),  # (3T, M_max)
                "sample_ids": image,
                "values": torch.cat([value, value, torch.from_numpy(ep.negative_value[s])]),
            }


def _targets(batch: dict[str, Tensor]) -> TripletTargets:
    return TripletTargets(
        attr_ids=batch["attr_ids"],
        class_ids=batch["class_ids"],
        labels=batch["labels"],
        sample_ids=batch["sample_ids"],
        values=batch["values"],
    )


def row_loss(spec: RowSpec, model: nn.Module, pos_weight: float) -> LossFn:
    """(net, batch) -> named loss terms for the row's family."""
    if spec.family == "m3net":
        loss: nn.Module = M3NetLoss(model.prototypes, pos_weight=pos_weight, margin=spec.margin)

        def run(net: nn.Module, batch: dict[str, Tensor]) -> dict[str, Tensor]:
            classes = batch["class_ids"].repeat(3)  # the anchor's class for all three rows
            return loss(net(batch["inputs"], batch["attr_ids"], classes), _targets(batch))

        return run
    loss = (
        MODCLoss(model.memory, margin=spec.margin)
        if spec.family == "modc"
        else ASENLoss(margin=spec.margin)
    )

    def run_asen(net: nn.Module, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        return loss(net(batch["inputs"], batch["attr_ids"]), _targets(batch))

    return run_asen


def split_last_stage(backbone: nn.Module) -> tuple[nn.Sequential, nn.Sequential]:
    """A small CNN's body cut before its last stage: (frozen stages, last stage).

    The last stage is everything after the body's last max-pool (`models.backbones.SmallCNN`).
    """
    body = getattr(backbone, "body", None)
    pools = [i for i, m in enumerate(body or ()) if isinstance(m, nn.MaxPool2d)]
    if not pools:
        raise ConfigError("training the last stage needs the small_cnn backbone (pooled stages)")
    cut = pools[-1] + 1
    return body[:cut], body[cut:]


def row_inputs(
    data: RetrievalDataset, split: str, settings: RunSettings, backbone: PretrainedBackbone
) -> Inputs:
    """Inputs of a split in fid order: cached maps of the frozen stages, or lazy images."""
    if not settings.frozen:
        return LazyImages(data.folder, data.filenames[split], settings.image_size)
    body, key = backbone.build(), backbone.cache_key
    if settings.trained_stages:
        body, key = split_last_stage(body)[0], f"{key}:without-last-stage"
    return feature_maps(nhwc_encoder(body), key, data, split, settings.image_size)


def build_row_model(
    spec: RowSpec, data: RetrievalDataset, settings: RunSettings, backbone: PretrainedBackbone
) -> nn.Module:
    """The row's model from the registry, its backbone frozen-and-removed or initialised.

    With ``settings.frozen`` the backbone modules become identities (inputs are cached maps), or
    copies of the pre-trained last stage when ``settings.trained_stages`` is 1; otherwise they
    load the pre-trained weights and train end to end.
    """
    kw: dict[str, Any] = {"backbone": settings.backbone, "backbone_width": settings.backbone_width}
    if not settings.frozen:
        kw["backbone_weights"] = str(backbone.weights)
    if spec.family == "modc":
        kw["num_samples"] = data.num_train
    if spec.registry == "asenpp" and settings.frozen:
        # the local branch reads a crop of the cached map: same channels, map-sized crop
        kw |= {
            "local_backbone": settings.backbone,
            "local_width": settings.backbone_width,
            "local_size": settings.image_size // 8,
        }
    kw["classes_per_attribute"] = data.classes_per_attribute
    model = create_model(f"{spec.registry}_{settings.size}", **kw)
    if settings.frozen:
        encoder = model.encoder if spec.family == "modc" else model
        branches = (
            [encoder]
            if spec.family == "m3net"
            else [b for b in (encoder.global_branch, encoder.local_branch) if b is not None]
        )
        if settings.trained_stages and spec.registry == "asenpp":
            raise ConfigError("the last-stage variant does not support ASEN++'s local branch")
        last = split_last_stage(backbone.build())[1] if settings.trained_stages else nn.Identity()
        for branch in branches:
            branch.backbone = copy.deepcopy(last)
    return model


def _train_config(
    settings: RunSettings, seed: int, epochs: int, max_steps: int | None
) -> TrainConfig:
    return TrainConfig(
        epochs=epochs,
        max_steps=max_steps,
        lr=settings.lr,
        gamma=settings.lr_decay,
        seed=seed,
        log_every=5,
        keep_checkpoints=1,
        checkpoint_every=500,
        amp=settings.amp,
    )


def train_row(
    spec: RowSpec,
    model: nn.Module,
    batches: TripletBatches,
    stage2: TripletBatches | None,
    settings: RunSettings,
    seed: int,
    pos_weight: float,
    run_dir: Path,
    callbacks: tuple[Callable[[StepEvent], None], ...] = (),
) -> tuple[list[dict[str, float]], float]:
    """Fit the row (ASEN++ in two stages); returns the history and the training wall time.

    ``callbacks`` go to `engine.fit` (single-stage rows only), e.g. validation checkpoints.
    """
    loss_fn = row_loss(spec, model, pos_weight)
    total = settings.epochs * batches.steps_per_epoch
    if stage2 is None:
        config = _train_config(settings, seed, settings.epochs, None)
        result = fit(model, loss_fn, batches, config, run_dir, callbacks=callbacks)
        return result.history, result.wall_time_s
    if callbacks:
        raise ConfigError("step callbacks are not supported for ASEN++'s two stages")
    spe = batches.steps_per_epoch
    if total < 2:
        raise ConfigError(f"ASEN++ trains in two stages and needs >= 2 steps, got {total}")
    first = total // 2
    model.set_stage(1)
    r1 = fit(
        model,
        loss_fn,
        batches,
        _train_config(settings, seed, -(-first // spe), first),
        run_dir / "stage1",
    )
    model.set_stage(2)
    rest = total - first
    r2 = fit(
        model,
        loss_fn,
        stage2,
        _train_config(settings, seed, -(-rest // spe), rest),
        run_dir,
        lr_scales={"global_branch": 0.1, "attr_embedding": 0.1},
    )
    history = [{**h, "stage": 1.0} for h in r1.history]
    history += [{**h, "step": h["step"] + first, "stage": 2.0} for h in r2.history]
    return history, r1.wall_time_s + r2.wall_time_s
