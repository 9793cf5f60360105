"""Fair schedules: every FashionSAP variant of a family continues from the same warm-up with the
same stage, momentum, queue and fine-tuning; the variants' configs differ only in the task flags."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from fashion_lib.experiments import fashionsap_pretrain as pre
from fashion_lib.experiments.fashionsap_settings import VARIANTS, sap_settings
from fashion_lib.experiments.fashionsap_train import curve_steps
from fashion_lib.experiments.m3net_settings import run_settings

PROFILES = ("smoke", "cpu", "gpu", "paper")
TASK_FLAGS = {"ptp", "trp", "fsis"}


@pytest.fixture(autouse=True)
def no_data(monkeypatch):
    """Configs without a world or a backbone run: the data and weight digests are stand-ins."""
    monkeypatch.setattr(pre, "data_key", lambda profile, dataset: f"{profile}-{dataset}")
    monkeypatch.setattr(pre, "image_backbone", lambda profile: SimpleNamespace(digest="weights"))


@pytest.mark.parametrize("profile", PROFILES)
def test_variants_differ_only_in_their_task_flags(profile):
    settings = sap_settings(profile)
    for family in (False, True):
        variants = [v for v in settings.variants if VARIANTS[v].cnn == family]
        configs = {v: pre.pretrain_config(v, 0, profile)[1] for v in variants}
        for variant, config in configs.items():
            spec = dataclasses.asdict(VARIANTS[variant])
            assert config["spec"] == spec and config["stage"] == dataclasses.asdict(
                settings.pretrain
            )
            rest = {k: v for k, v in config.items() if k not in ("variant", "spec")}
            first = configs[variants[0]]
            assert rest == {k: v for k, v in first.items() if k not in ("variant", "spec")}
            other = dataclasses.asdict(VARIANTS[variants[0]])
            assert {k for k in spec if spec[k] != other[k]} <= TASK_FLAGS
        if variants:  # one warm-up per family, the same for every variant of it
            warm = pre.pretrain_config("warmup_r50" if family else "warmup", 0, profile)[1]
            assert all(c["start"] == warm for c in configs.values())


@pytest.mark.parametrize("profile", PROFILES)
def test_every_stage_warms_its_learning_rate_up(profile):
    settings = sap_settings(profile)
    for stage in (settings.warmup, settings.pretrain):
        assert stage.warmup_steps > 0 and stage.warmup_lr < stage.lr


def test_cpu_momentum_and_queue_fit_the_stage_lengths():
    s = sap_settings("cpu")
    lag = 1 / (1 - s.momentum)  # steps an EMA lags behind
    for stage in (s.warmup, s.pretrain, s.retrieval):
        assert 3 * lag <= stage.steps
        assert s.queue_size // stage.batch_size <= stage.steps / 3  # refilled several times


@pytest.mark.parametrize("profile", ("smoke", "cpu"))
def test_frozen_image_side_is_the_m3net_backbone(profile):
    s, m3 = sap_settings(profile), run_settings(profile)
    assert s.frozen_image and s.image_encoder == m3.backbone
    assert s.image_size == m3.image_size and s.image_width == m3.backbone_width


def test_curve_steps_include_the_start_and_the_last_fifth():
    assert curve_steps(200, 5) == [0, 40, 80, 120, 160, 200]
    assert curve_steps(7, 2) == [0, 4, 7] and curve_steps(10, 0) == []
