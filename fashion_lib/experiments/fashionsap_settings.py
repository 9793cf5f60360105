"""What each profile trains for FashionSAP: model size, steps, batch, learning rates, seeds, protocols.

``VARIANTS`` are the pre-trained models of Tables 2-6, each continued from an "ALBEF-style" warm-up
(ITS + ITM only, trained once per image encoder and profile, as the paper starts from ALBEF):

- "albef": the warm-up continued with ITS + ITM only (the ALBEF row; Table 6's first row),
- "ptp", "ptp_trp": ITS + ITM plus PTP, plus TRP (Table 6),
- "full": all five tasks (FashionSAP; ViT image encoder),
- "full_r50": all five tasks with the ResNet-50-style image encoder (its own warm-up).

Every variant trains the same number of steps from its warm-up, so that rows differ only in tasks.
On the cpu profile the main rows use the small CNN and the "full_r50" row a ResNet-34 (up to its
third stage): a ViT-tiny trained from random weights did not start aligning images and texts within
the cpu budget (its ITS loss stayed at log(batch) for 200 steps at learning rates 1e-4 to 1e-3),
while the small CNN did within about 125 steps. The gpu and paper profiles use ViT and ResNet-50.
The gpu and paper profiles use the paper's recipe (AdamW, 6e-5 / wd 0.02 / cosine to 1e-5 with a
500-step warm-up from 1e-5 for pre-training; fine-tuning as the released configs); smoke runs in
seconds; cpu is sized so chapters 06-09 fit an hour on a 2-core machine (chapter 07 measures it).
"""

from __future__ import annotations

from dataclasses import dataclass

from fashion_lib.errors import ConfigError
from fashion_lib.profiles import get_profile

__all__ = ["SAP_SETTINGS", "VARIANTS", "SAPSettings", "Stage", "VariantSpec", "sap_settings"]


@dataclass(frozen=True)
class VariantSpec:
    """Which pre-training tasks a variant adds to ITS + ITM, and its image encoder family."""

    ptp: bool
    trp: bool
    fsis: bool
    cnn: bool = False


VARIANTS: dict[str, VariantSpec] = {
    "albef": VariantSpec(False, False, False),
    "ptp": VariantSpec(True, False, False),
    "ptp_trp": VariantSpec(True, True, False),
    "full": VariantSpec(True, True, True),
    "full_r50": VariantSpec(True, True, True, cnn=True),
}


@dataclass(frozen=True)
class Stage:
    """One training stage: length, batch and AdamW / cosine schedule.

    Attributes:
        steps: optimizer steps (if `epochs` is 0) or a cap on them (None: no cap).
        epochs: passes over the data (0: `steps` alone decides).
        batch_size: global batch size.
        lr: peak learning rate; weight_decay: AdamW decay (not on biases and norms).
        warmup_steps: linear warm-up from `warmup_lr`; min_lr: end of the cosine.
    """

    steps: int | None
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float = 0.02
    warmup_steps: int = 0
    warmup_lr: float = 0.0
    min_lr: float = 0.0


@dataclass(frozen=True)
class SAPSettings:
    """Per-profile FashionSAP settings.

    Attributes:
        model: registry name of the model (``fashionsap_<size>``).
        cnn_encoder: image encoder of the "full_r50" row.
        image_encoder: image encoder of the other rows (None: the registered model's ViT).
        queue_size, momentum: ITS queue rows and EMA coefficient (None: the model's defaults).
        image_size: model input side; max_text_length: longest token sequence.
        warmup: the ALBEF-style ITS + ITM run; pretrain: each variant after the warm-up.
        retrieval, recognition, tmir: fine-tuning stages.
        seeds: seeds of every variant and downstream run (warm-up: `warmup_seed`); five on the
            cpu profile, where every row a claim compares is judged over them (the warm-up is
            shared, so the verdicts' intervals do not cover the warm-up's variance).
        subset_queries, subset_negatives, subset_draws: the subset protocol (paper: 1000 queries,
            100 negatives of the query's sub-category, 5 draws), scaled to the proxy's size.
        eval_batch: images per forward pass at evaluation.
        augment: random crop and flip while training.
        threads: torch threads while training (None: unchanged); one thread was faster than two
            on the busy 2-core machine.
    """

    model: str
    cnn_encoder: str
    image_size: int
    max_text_length: int
    warmup: Stage
    pretrain: Stage
    retrieval: Stage
    recognition: Stage
    tmir: Stage
    seeds: tuple[int, ...]
    subset_queries: int
    subset_negatives: int
    subset_draws: int = 5
    eval_batch: int = 128
    augment: bool = True
    warmup_seed: int = 0
    threads: int | None = None
    image_encoder: str | None = None
    queue_size: int | None = None
    momentum: float | None = None


SAP_SETTINGS: dict[str, SAPSettings] = {
    "smoke": SAPSettings(
        model="fashionsap_tiny",
        cnn_encoder="small_cnn",
        image_size=32,
        max_text_length=48,
        warmup=Stage(6, 0, 8, 5e-4),
        pretrain=Stage(4, 0, 8, 5e-4),
        retrieval=Stage(3, 0, 8, 2e-4),
        recognition=Stage(3, 0, 8, 2e-4),
        tmir=Stage(3, 0, 8, 2e-4, weight_decay=0.2),
        seeds=(0,),
        subset_queries=20,
        subset_negatives=5,
        subset_draws=2,
        eval_batch=64,
        threads=1,
    ),
    "cpu": SAPSettings(
        model="fashionsap_cpu",
        cnn_encoder="resnet34_c4",
        image_encoder="small_cnn",
        image_size=32,
        max_text_length=64,
        warmup=Stage(250, 0, 32, 3e-4, warmup_steps=20, warmup_lr=3e-5, min_lr=3e-5),
        pretrain=Stage(60, 0, 32, 2e-4, min_lr=2e-5),
        retrieval=Stage(40, 0, 32, 1e-4, min_lr=1e-5),
        recognition=Stage(50, 0, 32, 5e-4, min_lr=5e-5),
        tmir=Stage(40, 0, 32, 2e-4, weight_decay=0.2, min_lr=2e-5),
        seeds=(0, 1, 2, 3, 4),
        subset_queries=200,
        subset_negatives=20,
        threads=1,
        queue_size=256,
        momentum=0.99,
    ),
    "gpu": SAPSettings(
        model="fashionsap_small",
        cnn_encoder="resnet50_c4",
        image_size=224,
        max_text_length=128,
        warmup=Stage(None, 10, 64, 1e-4, warmup_steps=500, warmup_lr=1e-5, min_lr=1e-5),
        pretrain=Stage(None, 10, 64, 6e-5, warmup_steps=500, warmup_lr=1e-5, min_lr=1e-5),
        retrieval=Stage(None, 10, 64, 1e-5, warmup_steps=100, warmup_lr=1e-6, min_lr=1e-6),
        recognition=Stage(None, 10, 128, 2e-5, warmup_steps=100, warmup_lr=1e-5, min_lr=1e-6),
        tmir=Stage(
            None, 10, 32, 2e-5, weight_decay=0.2, warmup_steps=100, warmup_lr=1e-5, min_lr=1e-6
        ),
        seeds=(0, 1, 2),
        subset_queries=1000,
        subset_negatives=100,
    ),
    "paper": SAPSettings(
        model="fashionsap_vit_b16",
        cnn_encoder="resnet50_c4",
        image_size=256,
        max_text_length=180,
        warmup=Stage(None, 30, 64, 1e-4, warmup_steps=500, warmup_lr=1e-5, min_lr=1e-5),
        pretrain=Stage(None, 30, 64, 6e-5, warmup_steps=500, warmup_lr=1e-5, min_lr=1e-5),
        retrieval=Stage(None, 20, 64, 1e-5, warmup_steps=100, warmup_lr=1e-6, min_lr=1e-6),
        recognition=Stage(None, 30, 128, 2e-5, warmup_steps=100, warmup_lr=1e-5, min_lr=1e-6),
        tmir=Stage(
            None, 20, 32, 2e-5, weight_decay=0.2, warmup_steps=100, warmup_lr=1e-5, min_lr=1e-6
        ),
        seeds=(0, 1, 2),
        subset_queries=1000,
        subset_negatives=100,
        eval_batch=256,
    ),
}


def sap_settings(profile: str) -> SAPSettings:
    """The `SAPSettings` of a profile (ConfigError for an unknown profile)."""
    return SAP_SETTINGS[get_profile(profile).name]


def variant_spec(variant: str) -> VariantSpec:
    """The `VariantSpec` of a variant name (ConfigError listing the names otherwise)."""
    if variant not in VARIANTS:
        raise ConfigError(f"unknown FashionSAP variant {variant!r}; choose one of {list(VARIANTS)}")
    return VARIANTS[variant]
