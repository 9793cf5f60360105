"""FashionSAP training pieces: models per variant, loss functions for `engine.fit`, weight transfer.

- `build_pretrain_model(settings, spec, decoder_vocab=None)`: the registered model with the
  variant's task switches (weights as initialised; `fashionsap_pretrain.profile_model` loads the
  frozen backbone and restricts the decoder to a profile's corpus).
- `train_config(stage, seed)`: AdamW + cosine `TrainConfig` of a `Stage`.
- `pretrain_loss(alpha, ramp_steps, seed)`: the loss callable of pre-training and of retrieval
  fine-tuning: ``FashionSAPLoss()(model(images, text, ids, alpha=ramped, generator=g))``; alpha ramps
  linearly over the first `ramp_steps` (ALBEF's ``warm_up``; 0: no ramp), the ITM negatives are drawn from a
  generator seeded by (seed, step).
- `recognition_loss_fn(level)`, `tmir_loss_fn()`: the downstream losses.
- `load_matching(model, state)`: copy every tensor whose name and shape match, as FashionSAP loads
  ALBEF with ``strict=False`` (new heads start random).
- `task_accuracies(model, batches)`: what each pre-training task learned, on held-out pairs.
- `ValidationProbe`, `curve_point(model, probe)`, `curve_steps(total, points)`: the validation
  curve of a stage: full-protocol mean R@1 (``val_mean_r1``) on validation products and, for FSIS
  variants, the mean cosine of each symbol with its own image (``fsis_cos_matched``) and with the
  images of other symbols (``fsis_cos_mismatched``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from fashion_lib.data.masking import TextBatch
from fashion_lib.data.vl_data import PairBatch, TripletBatch
from fashion_lib.engine import TrainConfig, make_generator
from fashion_lib.errors import ConfigError
from fashion_lib.experiments.fashionsap_eval import full_protocol
from fashion_lib.experiments.fashionsap_settings import SAPSettings, Stage, VariantSpec
from fashion_lib.losses.fashionsap import FashionSAPLoss, recognition_loss, tmir_loss
from fashion_lib.models import create_model
from fashion_lib.models.fashionsap import FashionSAP

__all__ = [
    "ValidationProbe",
    "build_pretrain_model",
    "curve_point",
    "curve_steps",
    "load_matching",
    "pretrain_loss",
    "recognition_loss_fn",
    "task_accuracies",
    "tmir_loss_fn",
    "train_config",
]


def build_pretrain_model(
    settings: SAPSettings, spec: VariantSpec, decoder_vocab: tuple[int, ...] | None = None
) -> FashionSAP:
    """The variant's FashionSAP (ITS and ITM always on) at the profile's size.

    Args:
        settings: the profile's settings.
        spec: the variant (its task switches and image encoder family).
        decoder_vocab: rows of a restricted PTP/MLM decoder (None: the whole vocabulary).
    """
    overrides: dict[str, object] = {
        "image_size": settings.image_size,
        "max_text_length": settings.max_text_length,
        "ptp": spec.ptp,
        "trp": spec.trp,
        "fsis": spec.fsis,
        "decoder_vocab": decoder_vocab,
    }
    if spec.cnn:
        if settings.cnn_encoder is None:
            raise ConfigError("this profile trains no second image encoder family (full_r50)")
        overrides |= {"image_encoder": settings.cnn_encoder, "frozen_image": False, "image_grid": 0}
    elif settings.image_encoder is not None:
        overrides["image_encoder"] = settings.image_encoder
    if settings.image_width is not None:
        overrides["image_width"] = settings.image_width
    if settings.frozen_image and not spec.cnn:
        overrides |= {"frozen_image": True, "image_grid": settings.image_grid}
    if settings.queue_size is not None:
        overrides["queue_size"] = settings.queue_size
    if settings.momentum is not None:
        overrides["momentum"] = settings.momentum
    return create_model(settings.model, **overrides)


#: Steps between checkpoints: a killed stage resumes losing at most this many (the cpu warm-up
#: is 2,000 steps, about 12 minutes).
CHECKPOINT_EVERY = 250


def train_config(stage: Stage, seed: int) -> TrainConfig:
    """AdamW with a linear warm-up and a cosine decay, as the released configs; a checkpoint
    every `CHECKPOINT_EVERY` steps and at the end."""
    return TrainConfig(
        epochs=max(1, stage.epochs),
        max_steps=stage.steps,
        lr=stage.lr,
        optimizer="adamw",
        weight_decay=stage.weight_decay,
        schedule="cosine",
        warmup_steps=stage.warmup_steps,
        warmup_lr=stage.warmup_lr,
        min_lr=stage.min_lr,
        grad_clip=5.0,
        seed=seed,
        amp=stage.amp,
        checkpoint_every=CHECKPOINT_EVERY,
    )


def stage_epochs(stage: Stage, steps_per_epoch: int) -> int:
    """Epochs `fit` must run for `stage` (enough to reach its step cap)."""
    if stage.epochs:
        return stage.epochs
    return -(-(stage.steps or 1) // steps_per_epoch)


def pretrain_loss(alpha: float, ramp_steps: int, seed: int):
    """The (model, PairBatch) -> named terms callable of pre-training and retrieval fine-tuning."""
    objective = FashionSAPLoss()

    def loss_fn(net: nn.Module, batch: PairBatch) -> dict[str, Tensor]:
        ramped = alpha * min(1.0, batch.step / ramp_steps) if ramp_steps else alpha
        g = make_generator(seed, batch.step)
        out = net(batch.images, batch.text, batch.product_ids, alpha=ramped, generator=g)
        return objective(out)

    return loss_fn


def recognition_loss_fn(level: str):
    """Cross-entropy on categories (``level="category"``) or sub-categories."""

    def loss_fn(net: nn.Module, batch: PairBatch) -> dict[str, Tensor]:
        labels = batch.categories if level == "category" else batch.subcategories
        out = net(batch.images, batch.text.input_ids, batch.text.attention_mask)
        return recognition_loss(out, labels)

    return loss_fn


def tmir_loss_fn():
    """The contrastive TMIR loss on (reference + text, target) pairs."""

    def loss_fn(net: nn.Module, batch: TripletBatch) -> dict[str, Tensor]:
        text = batch.text
        out = net(batch.reference, text.input_ids, text.attention_mask, batch.target)
        return tmir_loss(out, batch.target_ids)

    return loss_fn


def load_matching(model: nn.Module, state: Mapping[str, Tensor]) -> list[str]:
    """Load every tensor of `state` whose name and shape exist in `model`.

    Returns:
        The model's parameter and buffer names left as initialised (sorted).
    """
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(usable, strict=False)
    return sorted(set(own) - set(usable))


@torch.no_grad()
def task_accuracies(model: FashionSAP, batches: Iterable[PairBatch]) -> dict[str, float]:
    """Held-out accuracies of the enabled tasks, in percent.

    Keys: ``ptp_acc`` (prompt blanks), ``mlm_acc`` (caption masks), ``trp_acc`` (all real tokens),
    ``trp_recall`` (replaced tokens found), ``itm_acc``, ``fsis_cos`` (mean adapted cosine x 100),
    ``its_i2t_r1`` (in-batch image-to-text R@1).
    """
    model.eval()
    sums: dict[str, list[float]] = {}

    def add(key: str, hits: Tensor) -> None:
        total = sums.setdefault(key, [0.0, 0.0])
        total[0] += hits.float().sum().item()
        total[1] += hits.numel()

    for batch in batches:
        out = model(batch.images, batch.text, batch.product_ids, generator=make_generator(0))
        if out.ptp is not None:
            where = batch.text.mlm_labels != -100  # (B, L)
            correct = out.ptp.logits.argmax(-1) == out.ptp.labels  # (M,)
            prompt = batch.text.prompt_mask[where]  # (M,)
            add("ptp_acc", correct[prompt])
            add("mlm_acc", correct[~prompt])
        if out.trp is not None:
            labels, guess = out.trp.labels, out.trp.logits.argmax(-1)  # (B, L)
            add("trp_acc", (guess == labels)[labels != -100])
            add("trp_recall", (guess == 1)[labels == 1])
        if out.itm is not None:
            add("itm_acc", out.itm.logits.argmax(-1) == out.itm.labels)
        if out.fsis is not None:
            add("fsis_cos", 100 * (out.fsis.symbol * out.fsis.image).sum(-1))
        sim = out.image_emb @ out.text_emb.t()  # (B, B)
        same = batch.product_ids[:, None] == batch.product_ids[None, :]
        add("its_i2t_r1", same.gather(1, sim.argmax(1, keepdim=True)).squeeze(1))
    return {k: 100.0 * s / n if k != "fsis_cos" else s / n for k, (s, n) in sums.items() if n}


@dataclass(frozen=True)
class ValidationProbe:
    """What a validation curve point reads.

    Attributes:
        images: (N, ...) model inputs (images or cached maps) of the probed validation images.
        owner: (N,) the probed product (0..P-1) of each image.
        texts: one plain text per probed product (P rows).
        symbol_text: pre-training text with the symbol of the first images (None: no FSIS).
    """

    images: Tensor
    owner: Tensor
    texts: TextBatch
    symbol_text: TextBatch | None


def curve_steps(total: int, points: int) -> list[int]:
    """The steps of a stage of `total` steps at which a curve is measured (0 and `points` more)."""
    return sorted({0, *(round(total * (i + 1) / points) for i in range(points))}) if points else []


@torch.no_grad()
def curve_point(model: FashionSAP, probe: ValidationProbe) -> dict[str, float]:
    """Full-protocol mean R@1 (``val_mean_r1``) of the probe and, with FSIS, the symbol-image
    cosines of matched pairs (``fsis_cos_matched``) and of pairs of different symbols
    (``fsis_cos_mismatched``), in the ITS space FSIS is computed in."""
    was = model.training
    model.eval()
    image = model.encode_image(probe.images)
    text = model.encode_text(probe.texts.input_ids, probe.texts.attention_mask)
    out = {"val_mean_r1": full_protocol(image.emb, text.emb, probe.owner)["mean_r1"]}
    sym_text = probe.symbol_text
    if sym_text is not None and model.config.fsis:
        states = model.text_encoder(sym_text.input_ids, sym_text.attention_mask)
        cos = model.encode_symbol(states, sym_text) @ image.emb[: len(states)].t()  # (M, M)
        same = sym_text.symbol_ids[:, None] == sym_text.symbol_ids[None, :]
        out["fsis_cos_matched"] = cos.diagonal().mean().item()
        out["fsis_cos_mismatched"] = cos[~same].mean().item()
    model.train(was)
    return out
