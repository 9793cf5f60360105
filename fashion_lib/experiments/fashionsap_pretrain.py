"""FashionSAP pre-training runs: the ALBEF-style warm-ups and the five variants, and shared helpers.

`warmup(profile, cnn)` and `pretrain(variant, seed, profile)` train through `engine.fit` or read the
finished run of the same config (`engine.records`); `load_pretrained` rebuilds a trained model.
The helpers below (cached data splits, the tokenizer, run reuse, the plain-text downstream base
model) are shared with the downstream runs of `fashionsap_runs`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fashion_lib.data.masking import PLAIN_TEXT, TextProcessor
from fashion_lib.data.prompts import build_tokenizer
from fashion_lib.data.vl_data import FashionGenSplit, FashionIQSplit, PairBatches
from fashion_lib.engine import (
    CheckpointStore,
    find_finished_run,
    fit,
    run_dir_for,
)
from fashion_lib.engine.distributed import is_main
from fashion_lib.engine.records import RunRecord, finish_run
from fashion_lib.errors import ConfigError
from fashion_lib.evidence import has_groups, write_evidence
from fashion_lib.experiments.backbone_pretrain import torch_threads, world_root
from fashion_lib.experiments.fashionsap_settings import (
    VARIANTS,
    SAPSettings,
    Stage,
    sap_settings,
    variant_spec,
)
from fashion_lib.experiments.fashionsap_train import (
    build_pretrain_model,
    load_matching,
    pretrain_loss,
    stage_epochs,
    task_accuracies,
    train_config,
)
from fashion_lib.fingerprint import file_digest
from fashion_lib.models.fashionsap import FashionSAP
from fashion_lib.models.fashionsap_tasks import (
    retrieval_config,
)

__all__ = [
    "VARIANTS",
    "WARMUP_VARIANTS",
    "SAPRun",
    "data_key",
    "downstream_base",
    "fashiongen_split",
    "fashioniq_split",
    "fit_stage",
    "load_pretrained",
    "pair_batches",
    "plain_text",
    "pretrain",
    "pretrain_config",
    "reuse_or_train",
    "run_weights",
    "stage_dict",
    "tokenizer",
    "warmup",
]

#: The two warm-ups: ITS + ITM only, with the ViT or the CNN image encoder.
WARMUP_VARIANTS = {
    "warmup": VARIANTS["albef"],
    "warmup_r50": dataclasses.replace(VARIANTS["albef"], cnn=True),
}
VAL_BATCHES = 4  # held-out batches for the task accuracies of a pre-trained variant


@dataclass(frozen=True)
class SAPRun:
    """One finished run: where it lives, what it measured, its loss history, whether reused."""

    name: str
    run_dir: Path
    metrics: dict[str, float]
    history: list[dict[str, float]]
    wall_time_s: float
    reused: bool
    record: RunRecord | None


@functools.lru_cache(maxsize=4)
def fashiongen_split(root: str, split: str) -> FashionGenSplit:
    return FashionGenSplit(Path(root) / "FashionGen", split)


@functools.lru_cache(maxsize=4)
def fashioniq_split(root: str, split: str, size: int) -> FashionIQSplit:
    return FashionIQSplit(Path(root) / "FashionIQ", split, size)


@functools.lru_cache(maxsize=2)
def tokenizer():
    return build_tokenizer()


@functools.lru_cache(maxsize=8)
def _digest(path: str) -> str:
    return file_digest(path)


def data_key(profile: str, dataset: str) -> str:
    folder = world_root(profile) / dataset
    pattern = "*.h5" if dataset == "FashionGen" else "captions/*.json"
    return "".join(_digest(str(p))[:16] for p in sorted(folder.glob(pattern)))


def stage_dict(stage: Stage) -> dict[str, Any]:
    return asdict(stage)


def _model_keys(s: SAPSettings) -> dict[str, Any]:
    return {
        "model": s.model,
        "cnn_encoder": s.cnn_encoder,
        "image_size": s.image_size,
        "max_text_length": s.max_text_length,
        "augment": s.augment,
        "image_encoder": s.image_encoder,
        "queue_size": s.queue_size,
        "momentum": s.momentum,
    }


def reuse_or_train(
    name: str,
    config: dict[str, Any],
    profile: str,
    seed: int,
    train,
    evidence: Sequence[str] = (),
) -> SAPRun:
    """Reuse the finished run of `config`, or call ``train(run_dir)``.

    ``train`` returns (metrics, history, wall time, evidence groups); the groups are written beside
    the record (`fashion_lib.evidence`) before it. A finished run is reused only if its evidence
    holds every group named in `evidence`; otherwise `train` runs again, and `fit` resumes from
    the run's last checkpoint, so only the evaluation is repeated.
    """
    record = find_finished_run(config, name=name)
    run_dir = run_dir_for(name, config)
    if record is not None and (not evidence or has_groups(run_dir, evidence)):
        return SAPRun(
            name, run_dir, record.metrics, record.history, record.wall_time_s, True, record
        )
    with torch_threads(sap_settings(profile).threads):
        metrics, history, wall, groups = train(run_dir)
    if groups and is_main():
        write_evidence(run_dir, groups)
    record = finish_run(
        run_dir,
        name=name,
        config=config,
        seed=seed,
        profile=profile,
        wall_time_s=wall,
        metrics=metrics,
        history=history,
    )
    if record is None:  # not rank 0
        return SAPRun(name, run_dir, metrics, history, wall, False, None)
    return SAPRun(name, run_dir, record.metrics, record.history, wall, False, record)


def run_weights(run: SAPRun) -> dict[str, torch.Tensor]:
    """The model state dict of a finished run's newest readable checkpoint."""
    loaded = CheckpointStore(run.run_dir / "checkpoints").load_latest()
    if loaded is None:
        raise FileNotFoundError(f"no readable checkpoint in {run.run_dir / 'checkpoints'}")
    return loaded[0]["model"]


def fit_stage(model: nn.Module, loss_fn, batches, stage: Stage, seed: int, run_dir: Path):
    config = dataclasses.replace(
        train_config(stage, seed), epochs=stage_epochs(stage, batches.steps_per_epoch)
    )
    result = fit(model, loss_fn, batches, config, run_dir)
    return result.history, result.wall_time_s


def pair_batches(
    profile: str,
    split: str,
    config_text,
    batch: int,
    seed: int,
    *,
    per_product: bool = False,
    augment: bool | None = None,
) -> PairBatches:
    s = sap_settings(profile)
    return PairBatches(
        fashiongen_split(str(world_root(profile)), split),
        TextProcessor(tokenizer(), config_text),
        batch,
        seed,
        s.image_size,
        per_product=per_product,
        augment=s.augment if augment is None else augment,
    )


def pretrain_config(variant: str, seed: int, profile: str) -> tuple[str, dict[str, Any]]:
    s = sap_settings(profile)
    if variant in WARMUP_VARIANTS:
        spec, stage = WARMUP_VARIANTS[variant], s.warmup
        base = None
    else:
        spec, stage = variant_spec(variant), s.pretrain
        base = pretrain_config("warmup_r50" if spec.cnn else "warmup", s.warmup_seed, profile)[1]
    config = {
        "kind": "fashionsap-pretrain",
        "variant": variant,
        "spec": asdict(spec),
        "seed": seed,
        "profile": profile,
        "model": _model_keys(s),
        "stage": stage_dict(stage),
        "data": data_key(profile, "FashionGen"),
        "start": base,
    }
    return f"sap-{variant}-seed{seed}", config


def _pretrain(variant: str, seed: int, profile: str) -> SAPRun:
    s = sap_settings(profile)
    name, config = pretrain_config(variant, seed, profile)
    warm = variant in WARMUP_VARIANTS
    spec = WARMUP_VARIANTS[variant] if warm else variant_spec(variant)

    def train(run_dir: Path):
        torch.manual_seed(seed)
        model = build_pretrain_model(s, spec)
        stage = s.warmup if warm else s.pretrain
        if not warm:
            start = "warmup_r50" if spec.cnn else "warmup"
            load_matching(model, run_weights(_pretrain(start, s.warmup_seed, profile)))
        batches = pair_batches(profile, "train", model.config.text_config(), stage.batch_size, seed)
        ramp = batches.steps_per_epoch if warm else 0  # continued runs start at full alpha
        loss_fn = pretrain_loss(model.config.alpha, ramp, seed)
        history, wall = fit_stage(model, loss_fn, batches, stage, seed, run_dir)
        val = pair_batches(
            profile, "validation", model.config.text_config(), stage.batch_size, 0, augment=False
        )
        held_out = (b for i, b in zip(range(VAL_BATCHES), val.iter_epoch(0), strict=False))
        return task_accuracies(model, held_out), history, wall, {}

    return reuse_or_train(name, config, profile, seed, train)


def warmup(profile: str, cnn: bool = False) -> SAPRun:
    """The ALBEF-style ITS + ITM warm-up of the ViT model (or of the CNN one with ``cnn``)."""
    return _pretrain("warmup_r50" if cnn else "warmup", sap_settings(profile).warmup_seed, profile)


def pretrain(variant: str, seed: int, profile: str) -> SAPRun:
    """Pre-train `variant` (one of ``VARIANTS``) from its warm-up, or reuse the finished run."""
    if variant not in VARIANTS:
        raise ConfigError(f"unknown FashionSAP variant {variant!r}; choose one of {list(VARIANTS)}")
    return _pretrain(variant, seed, profile)


def load_pretrained(variant: str, seed: int, profile: str) -> FashionSAP:
    """The pre-trained model of a variant (or "warmup" / "warmup_r50"), in eval mode."""
    spec = WARMUP_VARIANTS.get(variant) or variant_spec(variant)
    run = _pretrain(variant, seed, profile)
    model = build_pretrain_model(sap_settings(profile), spec)
    model.load_state_dict(run_weights(run))
    return model.eval()


def downstream_base(variant: str, seed: int, profile: str) -> tuple[FashionSAP, dict]:
    """A plain-text ITS + ITM FashionSAP with the variant's pre-trained weights, and its config."""
    pre = _pretrain(variant, seed, profile)
    s = sap_settings(profile)
    spec = WARMUP_VARIANTS.get(variant) or variant_spec(variant)
    base = FashionSAP(retrieval_config(build_pretrain_model(s, spec).config))
    load_matching(base, run_weights(pre))
    return base, pretrain_config(variant, seed, profile)[1]


def plain_text(profile: str):
    return dataclasses.replace(PLAIN_TEXT, max_length=sap_settings(profile).max_text_length)
