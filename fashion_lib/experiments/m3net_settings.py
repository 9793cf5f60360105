"""Settings of the seven rows of M3-Net's tables: what each row is, and what each profile trains.

``ROW_SPECS`` maps the tables' row names to their registry prefix, family (loss, inputs and
evaluation protocol), triplet style and margin; ``RUN_SETTINGS`` holds one frozen ``RunSettings``
per profile. The smoke profile trains in seconds; the cpu profile is sized so that chapters 02-05
fit one hour on a 2-core machine (measurements in chapter 03); gpu and paper use the paper's
recipe (40,000 triplets per epoch, 16 per step, Adam 1e-4 decayed by 0.975 per epoch) end to end.
The paper does not give its number of epochs; we take 50 for the paper profile (ASENv2's README)
and 20 for the gpu profile.

Validation discipline: with a non-empty ``lr_grid`` (cpu profile), each family's learning rate is
chosen on the validation split of ``select_dataset`` by `m3net_selection.select_lr` (one recorded
run per family and rate, seed ``seeds[0]``, validation MAP@all); the test split only fills tables.
``ROW_VARIANTS`` are named changes of the settings for targeted experiments ("last_stage": the
small CNN's last stage trained on cached maps of the frozen stages before it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from fashion_lib.errors import ConfigError
from fashion_lib.profiles import get_profile

__all__ = [
    "FAMILY_PROBES",
    "LAST_STAGE_EXPERIMENT",
    "ROWS",
    "ROW_SECONDS",
    "ROW_SPECS",
    "ROW_VARIANTS",
    "RUN_SETTINGS",
    "RowSpec",
    "RunSettings",
    "primary_relevance",
    "run_settings",
    "variant_settings",
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
# Wall seconds of one cpu-profile run of each row (training and evaluation, mean over the three
# datasets and five seeds of the records of 2026-12-06, idle 2-core machine). Used only to start
# the longest runs first (`engine.workers`); no number depends on it.
ROW_SECONDS: dict[str, float] = {
    "ASEN": 6.6,
    "ASENv2": 5.9,
    "ASEN++": 8.4,
    "MODC": 6.9,
    "M3-Net_a": 8.3,
    "M3-Net_c": 22.3,
    "M3-Net": 23.9,
}
# The row whose validation runs choose each family's learning rate (ASEN++'s two stages would
# need two curves; ASENv2 shares its family's loss and protocol).
FAMILY_PROBES: dict[str, str] = {"asen": "ASENv2", "modc": "MODC", "m3net": "M3-Net"}


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
        workers: processes that `run_table` trains independent (row, seed) runs in, and
            `m3net_selection.selection_runs` the learning-rate selection runs. Measured on a
            shared 2-core machine, 4 M3-Net runs of 200 steps: 2 processes x 1 thread 37 s,
            1 process x 2 threads 533 s (the small ops spin rather than split).
        lr_grid: learning rates tried on validation per family (empty: use ``lr``).
        family_grids: (family, rates) pairs that replace ``lr_grid`` for a family (`grid`), so
            that each family's grid brackets its best rate (chapter 03 checks the choice is not
            at an edge of its grid).
        select_dataset: dataset of the learning-rate selection; curve_points: validation
            evaluations per selection run (evenly spaced steps, the last one at the end).
        trained_stages: 0 (frozen backbone) or 1 (its last stage trained; frozen profiles).
        amp: the engine's autocast mode ("off": full precision; "bf16" pays on a CPU with AMX
            where convolutions train, as in the last-stage rows, not for the frozen rows' small
            heads, where it measured slower).
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
    workers: int = 1
    lr_grid: tuple[float, ...] = ()
    family_grids: tuple[tuple[str, tuple[float, ...]], ...] = ()
    select_dataset: str = "FashionAI"
    curve_points: int = 5
    trained_stages: int = 0
    amp: str = "off"

    def grid(self, family: str) -> tuple[float, ...]:
        """The learning rates tried on validation for `family` (``family_grids``, else ``lr_grid``)."""
        return dict(self.family_grids).get(family, self.lr_grid)


RUN_SETTINGS: dict[str, RunSettings] = {
    "smoke": RunSettings(
        "small",
        "small_cnn",
        16,
        64,
        True,
        64,
        1,
        (0,),
        lr=1e-3,
        threads=1,
        lr_grid=(1e-3,),
        curve_points=2,
    ),
    # heads trained from scratch in ~600 steps instead of the paper's tens of thousands: the rate
    # of each family is chosen on validation among lr_grid (chapter 03 shows the selection)
    "cpu": RunSettings(
        "small",
        "small_cnn",
        16,
        64,
        True,
        3_200,
        3,
        (0, 1, 2, 3, 4),
        threads=1,
        workers=2,
        lr_grid=(3e-4, 1e-3, 3e-3),
        # on the earlier world the ASEN family and M3-Net chose 3e-3, the top of that grid,
        # with validation curves still rising: their grids move one step up
        family_grids=(("asen", (1e-3, 3e-3, 1e-2)), ("m3net", (1e-3, 3e-3, 1e-2))),
    ),
    "gpu": RunSettings("r50", "resnet50_c4", 32, 224, False, 40_000, 20, (0, 1, 2)),
    "paper": RunSettings("r50", "resnet50_c4", 32, 224, False, 40_000, 50, (0, 1, 2)),
}


def run_settings(profile: str) -> RunSettings:
    """The `RunSettings` of a profile (ConfigError for an unknown profile)."""
    return RUN_SETTINGS[get_profile(profile).name]


ROW_VARIANTS: dict[str, dict[str, int | str]] = {"last_stage": {"trained_stages": 1, "amp": "bf16"}}
# The last-stage experiment: one dataset, the paper's strongest baseline (MODC, second in every
# table of the paper: fixed by the paper, not by our numbers) and M3-Net.
LAST_STAGE_EXPERIMENT: tuple[str, tuple[str, str]] = ("FashionAI", ("MODC", "M3-Net"))


def variant_settings(profile: str, variant: str | None) -> RunSettings:
    """The profile's settings with a named variant's changes (None: unchanged)."""
    settings = run_settings(profile)
    if variant is None:
        return settings
    if variant not in ROW_VARIANTS:
        raise ConfigError(f"unknown variant {variant!r}; choose one of {', '.join(ROW_VARIANTS)}")
    return replace(settings, **ROW_VARIANTS[variant])


def primary_relevance(dataset: str) -> str:
    """Relevance of the paper's tables: "multi" on DeepFashion (multi-label), else "single"."""
    return "multi" if dataset == "DeepFashion" else "single"
