"""FashionSAP pre-training runs: the ALBEF-style warm-ups and the five variants, and shared helpers.

`warmup(profile, cnn)` and `pretrain(variant, seed, profile)` train through `engine.fit` or read the
finished run of the same config (`engine.records`); `load_pretrained` rebuilds a trained model.
The helpers below (cached data splits, the tokenizer, run reuse, the plain-text downstream base
model) are shared with the downstream runs of `fashionsap_runs`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from fashion_lib import atomic
from fashion_lib.data.masking import PLAIN_TEXT, TextProcessor
from fashion_lib.data.vl_data import PairBatches, model_input
from fashion_lib.engine import (
    CheckpointStore,
    find_finished_run,
    fit,
    run_dir_for,
)
from fashion_lib.engine.distributed import is_main
from fashion_lib.engine.records import RunRecord, finish_run
from fashion_lib.errors import ConfigError, DataError
from fashion_lib.evidence import has_groups, write_evidence
from fashion_lib.experiments.backbone_pretrain import torch_threads, world_root
from fashion_lib.experiments.fashionsap_data import (
    data_key,
    decoder_vocabulary,
    fashiongen_split,
    fashioniq_split,
    tokenizer,
)
from fashion_lib.experiments.fashionsap_features import (
    fashiongen_maps,
    fashioniq_maps,
    image_backbone,
)
from fashion_lib.experiments.fashionsap_settings import (
    VARIANTS,
    SAPSettings,
    Stage,
    VariantSpec,
    sap_settings,
    variant_spec,
)
from fashion_lib.experiments.fashionsap_train import (
    ValidationProbe,
    build_pretrain_model,
    curve_point,
    curve_steps,
    load_matching,
    pretrain_loss,
    stage_epochs,
    task_accuracies,
    train_config,
)
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
    "frozen_maps",
    "load_pretrained",
    "pair_batches",
    "plain_text",
    "pretrain",
    "pretrain_config",
    "profile_model",
    "reuse_or_train",
    "run_weights",
    "stage_dict",
    "tokenizer",
    "validation_probe",
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
        "image_width": s.image_width,
        "queue_size": s.queue_size,
        "momentum": s.momentum,
        "frozen_image": s.frozen_image,
        "image_grid": s.image_grid,
        "restrict_decoder": s.restrict_decoder,
    }


def reuse_or_train(
    name: str,
    config: dict[str, Any],
    profile: str,
    seed: int,
    train,
    evidence: Sequence[str] = (),
    threads: int | None = None,
) -> SAPRun:
    """Reuse the finished run of `config`, or call ``train(run_dir)`` with `threads` torch
    threads (None: the profile's `SAPSettings.threads`).

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
    with torch_threads(threads or sap_settings(profile).threads):
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


#: The validation curve points of an unfinished stage, in its run folder.
CURVE_FILE = "curve.json"


def _saved_curve(run_dir: Path) -> dict[int, dict[str, float]]:
    """Curve points measured before the stage was killed (none for a fresh run)."""
    path = Path(run_dir) / CURVE_FILE
    if not path.is_file():
        return {}
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        return {int(step): {k: float(v) for k, v in point.items()} for step, point in saved.items()}
    except (ValueError, AttributeError) as err:
        raise DataError(
            path, f"unreadable validation curve ({err}); delete it to re-measure"
        ) from err


def _save_curve(run_dir: Path, curve: dict[int, dict[str, float]]) -> None:
    if is_main():
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        atomic.write_text(Path(run_dir) / CURVE_FILE, json.dumps(curve, indent=1) + "\n")


def fit_stage(
    model: nn.Module,
    loss_fn,
    batches,
    stage: Stage,
    seed: int,
    run_dir: Path,
    probe: ValidationProbe | None = None,
    points: int = 0,
):
    """Train one stage; with a `probe`, measure the validation curve at `curve_steps` (step 0
    before training) and merge its columns into the history rows of those steps. The points are
    saved beside the checkpoints as they are measured, so a stage killed and resumed keeps them."""
    config = dataclasses.replace(
        train_config(stage, seed), epochs=stage_epochs(stage, batches.steps_per_epoch)
    )
    total = min(config.max_steps or 1 << 62, config.epochs * batches.steps_per_epoch)
    due = set(curve_steps(total, points)) if probe is not None else set()
    curve = _saved_curve(run_dir) if due else {}
    if 0 in due and 0 not in curve:
        curve[0] = curve_point(model, probe)
        _save_curve(run_dir, curve)

    def measure(event) -> None:
        if event.step in due:  # a step after the resumed checkpoint is measured again
            curve[event.step] = curve_point(model, probe)
            _save_curve(run_dir, curve)

    result = fit(model, loss_fn, batches, config, run_dir, callbacks=[measure] if due else ())
    history = [row | curve.pop(int(row["step"]), {}) for row in result.history]
    history += [{"step": float(step), **values} for step, values in curve.items()]
    return sorted(history, key=lambda row: row["step"]), result.wall_time_s


def profile_model(spec: VariantSpec, profile: str) -> FashionSAP:
    """The variant's model of a profile as training starts: the frozen backbone's pre-trained
    weights loaded (``frozen_image``), the decoder restricted to the corpus (``restrict_decoder``)."""
    s = sap_settings(profile)
    vocab = decoder_vocabulary(profile) if s.restrict_decoder and spec.ptp else None
    model = build_pretrain_model(s, spec, vocab)
    if model.config.frozen_image:
        body = image_backbone(profile).build().body.state_dict()
        for name, module in model.named_children():
            if name.startswith("image_encoder"):  # the online encoder and its momentum copy
                module.body.body.load_state_dict(body)
    return model


def frozen_maps(model: nn.Module, profile: str, dataset: str, split: str) -> Tensor | None:
    """The cached maps a model with a frozen image encoder trains on (None otherwise)."""
    if not model.image_encoder.frozen:
        return None
    return (
        fashiongen_maps(profile, split)
        if dataset == "FashionGen"
        else fashioniq_maps(profile, split)
    )


def pair_batches(
    profile: str,
    split: str,
    config_text,
    batch: int,
    seed: int,
    *,
    per_product: bool = False,
    augment: bool | None = None,
    maps: Tensor | None = None,
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
        maps=maps,
    )


#: Validation images whose symbol-image cosines a curve point measures.
SYMBOL_PROBE = 128


def validation_probe(model: FashionSAP, profile: str) -> ValidationProbe:
    """The validation curve's data: the first `curve_products` validation products (all if 0), every
    image of them (cached maps for a frozen encoder), one plain text each, and symbol texts."""
    s = sap_settings(profile)
    split = fashiongen_split(str(world_root(profile)), "validation")
    groups = list(split.products().values())[: s.curve_products or None]
    rows = [row for group in groups for row in group]
    owner = torch.tensor([p for p, group in enumerate(groups) for _ in group])
    maps = frozen_maps(model, profile, "FashionGen", "validation")
    images = model_input(split.images(rows), s.image_size) if maps is None else maps[rows].float()
    rng = np.random.default_rng(0)
    plain = TextProcessor(tokenizer(), plain_text(profile))
    texts = plain.collate([split.records[g[0]].sample for g in groups], rng)
    symbol_text = None
    if model.config.fsis:
        processor = TextProcessor(tokenizer(), model.config.text_config())
        symbol_text = processor.collate([split.records[r].sample for r in rows[:SYMBOL_PROBE]], rng)
    return ValidationProbe(images, owner, texts, symbol_text)


def pretrain_config(variant: str, seed: int, profile: str) -> tuple[str, dict[str, Any]]:
    s = sap_settings(profile)
    if variant in WARMUP_VARIANTS:
        spec, stage = WARMUP_VARIANTS[variant], s.warmup
        base = None
    else:
        spec, stage = variant_spec(variant), s.pretrain
        base = pretrain_config("warmup_r50" if spec.cnn else "warmup", s.warmup_seed, profile)[1]
    model = _model_keys(s)
    if s.frozen_image and not spec.cnn:
        model["backbone"] = image_backbone(profile).digest
    config = {
        "kind": "fashionsap-pretrain",
        "variant": variant,
        "spec": asdict(spec),
        "seed": seed,
        "profile": profile,
        "model": model,
        "stage": stage_dict(stage),
        "curve": [s.curve_points, s.curve_products],
        "data": data_key(profile, "FashionGen"),
        "start": base,
    }
    return f"sap-{variant}-seed{seed}", config


def _spec(variant: str, profile: str) -> VariantSpec:
    if variant in WARMUP_VARIANTS:
        spec = WARMUP_VARIANTS[variant]
    elif variant in sap_settings(profile).variants:
        spec = variant_spec(variant)
    else:
        raise ConfigError(
            f"the {profile} profile trains the variants {list(sap_settings(profile).variants)}, "
            f"not {variant!r}"
        )
    if spec.cnn and sap_settings(profile).cnn_encoder is None:
        raise ConfigError(f"the {profile} profile trains no second image encoder ({variant!r})")
    return spec


def _pretrain(variant: str, seed: int, profile: str) -> SAPRun:
    s = sap_settings(profile)
    name, config = pretrain_config(variant, seed, profile)
    warm = variant in WARMUP_VARIANTS
    spec = _spec(variant, profile)

    def train(run_dir: Path):
        torch.manual_seed(seed)
        model = profile_model(spec, profile)
        stage = s.warmup if warm else s.pretrain
        if not warm:
            start = "warmup_r50" if spec.cnn else "warmup"
            load_matching(model, run_weights(_pretrain(start, s.warmup_seed, profile)))
        text = model.config.text_config()
        train_maps = frozen_maps(model, profile, "FashionGen", "train")
        batches = pair_batches(profile, "train", text, stage.batch_size, seed, maps=train_maps)
        ramp = batches.steps_per_epoch if warm else 0  # continued runs start at full alpha
        loss_fn = pretrain_loss(model.config.alpha, ramp, seed)
        probe = validation_probe(model, profile)
        history, wall = fit_stage(
            model, loss_fn, batches, stage, seed, run_dir, probe, s.curve_points
        )
        val = pair_batches(
            profile, "validation", text, stage.batch_size, 0, augment=False,
            maps=frozen_maps(model, profile, "FashionGen", "validation"),
        )  # fmt: skip
        held_out = (b for i, b in zip(range(VAL_BATCHES), val.iter_epoch(0), strict=False))
        return task_accuracies(model, held_out) | curve_point(model, probe), history, wall, {}

    threads = s.warmup_threads if warm else None  # None: the settings' threads
    return reuse_or_train(name, config, profile, seed, train, threads=threads)


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
    run = _pretrain(variant, seed, profile)
    model = profile_model(_spec(variant, profile), profile)
    model.load_state_dict(run_weights(run))
    return model.eval()


def downstream_base(variant: str, seed: int, profile: str) -> tuple[FashionSAP, dict]:
    """A plain-text ITS + ITM FashionSAP with the variant's pre-trained weights, and its config."""
    pre = _pretrain(variant, seed, profile)
    s = sap_settings(profile)
    base = FashionSAP(retrieval_config(build_pretrain_model(s, _spec(variant, profile)).config))
    load_matching(base, run_weights(pre))
    return base, pretrain_config(variant, seed, profile)[1]


def plain_text(profile: str):
    return dataclasses.replace(PLAIN_TEXT, max_length=sap_settings(profile).max_text_length)
