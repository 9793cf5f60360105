"""Settings of the seven rows of M3-Net's tables: what each row is, and what each profile trains.

``ROW_SPECS`` maps the tables' row names to their registry prefix, family (loss, inputs and
evaluation protocol), triplet style and margin; ``RUN_SETTINGS`` holds one frozen ``RunSettings``
per profile. The smoke profile trains in seconds; the cpu profile is sized so that chapters 02-05
fit one hour on a 2-core machine (measurements in chapter 03); gpu and paper use the paper's
recipe (40,000 triplets per epoch, 16 per step, Adam 1e-4 decayed by 0.975 per epoch) end to end.
The paper does not give its number of epochs; we take 50 for the paper profile (ASENv2's README)
and 20 for the gpu profile.
"""

from __future__ import annotations

from dataclasses import dataclass

from fashion_lib.profiles import get_profile

__all__ = [
    "ROWS",
    "ROW_SPECS",
    "RUN_SETTINGS",
    "RowSpec",
    "RunSettings",
    "primary_relevance",
    "run_settings",
]


@dataclass(frozen=True)
class RowSpec:
    """How one table row is built and trained.

    Attributes:
        registry: registry prefix (``<registry>_<size>``: asen, asenv2, asenpp, modc, m3net...).
        family: "asen", "modc" or "m3net" (loss, inputs and evaluation protocol).
        style: triplet sampling style.
        margin: triplet margin.
    """

    registry: str
    family: str
    style: str
    margin: float


ROW_SPECS: dict[str, RowSpec] = {
    "ASEN": RowSpec("asen", "asen", "asen", 0.2),
    "ASENv2": RowSpec("asenv2", "asen", "asen", 0.2),
    "ASEN++": RowSpec("asenpp", "asen", "asenpp", 0.2),
    "MODC": RowSpec("modc", "modc", "asenpp", 0.4),
    "M3-Net_a": RowSpec("m3net_a", "m3net", "m3net", 0.4),
    "M3-Net_c": RowSpec("m3net_c", "m3net", "m3net", 0.4),
    "M3-Net": RowSpec("m3net", "m3net", "m3net", 0.4),
}
ROWS = tuple(ROW_SPECS)


@dataclass(frozen=True)
class RunSettings:
    """Per-profile training settings of the seven rows.

    Attributes:
        size: registry size suffix ("small" = small CNN presets, "r50" = the papers' sizes).
        backbone: CNN backbone name; backbone_width: first-stage width of "small_cnn".
        image_size: input side in pixels.
        frozen: freeze the pre-trained backbone and train on cached feature maps.
        triplets_per_epoch: triplets drawn per epoch (paper: 40,000).
        epochs: training epochs.
        seeds: seeds of the table (every row is trained once per seed).
        batch_triplets: triplets per step (paper: 16, i.e. 48 images).
        lr: Adam learning rate; lr_decay: factor per epoch.
        eval_split: split of the reported queries and candidates.
        k: cut-off of MAP@k and Recall@k.
        deepfashion_pos_weight: w_p of M3-Net's multi-label loss on DeepFashion (1 elsewhere).
        threads: torch threads while a row trains and evaluates (None: leave as is). The frozen
            rows are small ops on 8 x 8 maps, where one thread is several times faster than two
            on a busy 2-core machine (measured: 25 ms vs 150-950 ms per step).
    """

    size: str
    backbone: str
    backbone_width: int
    image_size: int
    frozen: bool
    triplets_per_epoch: int
    epochs: int
    seeds: tuple[int, ...]
    batch_triplets: int = 16
    lr: float = 1e-4
    lr_decay: float = 0.975
    eval_split: str = "test"
    k: int = 100
    deepfashion_pos_weight: float = 100.0
    threads: int | None = None


RUN_SETTINGS: dict[str, RunSettings] = {
    "smoke": RunSettings("small", "small_cnn", 16, 64, True, 64, 1, (0,), lr=1e-3, threads=1),
    # lr 1e-3: heads trained from scratch in ~600 steps instead of the paper's tens of thousands;
    # measured on FashionAI (450 steps), MAP@all rose by 3-5 points over lr 1e-4 for every family.
    "cpu": RunSettings("small", "small_cnn", 16, 64, True, 3_200, 3, (0, 1, 2), lr=1e-3, threads=1),
    "gpu": RunSettings("r50", "resnet50_c4", 32, 224, False, 40_000, 20, (0, 1, 2)),
    "paper": RunSettings("r50", "resnet50_c4", 32, 224, False, 40_000, 50, (0, 1, 2)),
}


def run_settings(profile: str) -> RunSettings:
    """The `RunSettings` of a profile (ConfigError for an unknown profile)."""
    return RUN_SETTINGS[get_profile(profile).name]


def primary_relevance(dataset: str) -> str:
    """Relevance of the paper's tables: "multi" on DeepFashion (multi-label), else "single"."""
    return "multi" if dataset == "DeepFashion" else "single"
