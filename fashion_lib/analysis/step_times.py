"""Chapter 10's measurements of the models and the proxy world, at a profile's sizes.

- `world_rates(profile, images, repeats)`: rendered and written images per second of the proxy
  world, per dataset format, through the formats' real writers.
- `m3net_step_times(profile, dataset, steps)`: median milliseconds per Adam step of M3-Net's
  seven table rows.
- `fashionsap_step_times(profile, steps)`: median milliseconds per AdamW step of FashionSAP's
  pre-training task mixes and downstream heads.

Models start from random weights and M3-Net's cached feature maps are random: a step's time does
not depend on the values, only on the shapes. Every function takes a `clock`, as in
`fashion_lib.analysis.cost`, whose `time_steps` times the steps.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from itertools import count
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from fashion_lib.analysis.cost import Clock, Timing, time_steps

__all__ = ["fashionsap_step_times", "m3net_step_times", "world_rates"]


def world_rates(
    profile: str, images: int, repeats: int, clock: Clock = time.perf_counter
) -> pd.DataFrame:
    """Rendered and written images per second of the proxy world, per dataset, one process.

    Each repeat draws about `images` samples of a dataset at the profile's image size (FashionGen:
    `images` products in their views; FashionIQ: families of five) and writes them through the
    real format's writer into a temporary folder, as ``data make`` does.

    Returns:
        One row per dataset: images, render_s, write_s (medians) and images_per_s.
    """
    from fashion_lib.data.atelier import draw as d
    from fashion_lib.data.atelier import make
    from fashion_lib.profiles import SplitSizes, get_profile

    knobs = make.knobs_of(get_profile(profile))
    families = max(2, images // d.FAMILY_SIZE)

    def asen(t: Path, n: str, k: d.Knobs, s: list) -> int:
        return make.write_asen(t, n, k, s, SplitSizes.asen(len(s)))

    jobs = {
        "DeepFashion": (d.draw_deepfashion, images, asen),
        "FashionAI": (d.draw_fashionai, images, asen),
        "DARN": (d.draw_darn, images, asen),
        "FashionGen": (
            d.draw_fashiongen,
            images,
            lambda t, n, k, s: make.write_fashiongen(t, k, s),
        ),
        "FashionIQ": (
            d.draw_fashioniq_family,
            families,
            lambda t, n, k, s: make.write_fashioniq(t, k, s, images),
        ),
    }
    rows = []
    for name, (draw, n, write) in jobs.items():
        render, written, count_ = [], [], 0
        for _ in range(repeats):
            with tempfile.TemporaryDirectory(prefix="world-rate-") as tmp:
                start = clock()
                samples = make.draw_all(draw, knobs, n, workers=1)
                middle = clock()
                count_ = write(Path(tmp), name, knobs, samples)
                render.append(middle - start)
                written.append(clock() - middle)
        total = statistics.median(r + w for r, w in zip(render, written, strict=True))
        rows.append(
            {
                "dataset": name,
                "images": count_,
                "render_s": statistics.median(render),
                "write_s": statistics.median(written),
                "images_per_s": count_ / total,
            }
        )
    return pd.DataFrame(rows)


def _forever(source: Any) -> Iterator[Any]:
    """Batches of epochs 0, 1, 2, ... of a `BatchSource`."""
    for epoch in count():
        yield from source.iter_epoch(epoch)


def _optimizer_step(model: nn.Module, loss_fn: Callable, optimizer: str) -> Callable[[Any], None]:
    params = [p for p in model.parameters() if p.requires_grad]
    opt = (torch.optim.Adam if optimizer == "adam" else torch.optim.AdamW)(params, lr=1e-4)
    model.train()

    def step(batch: Any) -> None:
        loss = torch.stack(list(loss_fn(model, batch).values())).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def _row(model: str, group: str, batch: int, timing: Timing) -> dict[str, Any]:
    ms = [1000 * s for s in timing.seconds]
    return {
        "model": model,
        "group": group,
        "batch": batch,
        "ms_per_step": statistics.median(ms),
        "ms_min": min(ms),
        "ms_max": max(ms),
        "steps": len(ms),
    }


def m3net_step_times(
    profile: str,
    dataset: str,
    steps: int,
    warmup: int = 1,
    frozen: bool | None = None,
    clock: Clock = time.perf_counter,
) -> pd.DataFrame:
    """Median ms per Adam step of M3-Net's seven table rows on `dataset`, at the profile's sizes.

    Frozen profiles step on cached feature maps (here random maps of the right shape), the others
    on images through the backbone, as the row's training does; `frozen` overrides the profile.
    """
    from fashion_lib.experiments import m3net_runs as mr
    from fashion_lib.experiments.backbone_pretrain import PretrainedBackbone, torch_threads
    from fashion_lib.experiments.m3net_training import row_loss
    from fashion_lib.models.backbones import create_cnn_backbone

    settings = mr.run_settings(profile)
    if frozen is not None:
        settings = replace(settings, frozen=frozen)
    data = mr.dataset_for(profile, dataset, settings.eval_split)
    torch.manual_seed(0)
    net = create_cnn_backbone(settings.backbone, width=settings.backbone_width)
    n, size = data.num_train, settings.image_size
    if settings.frozen:
        inputs = torch.randn(n, net.out_channels, size // 8, size // 8).to(torch.float16)
    else:
        inputs = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8)
    triplets = settings.batch_triplets * (steps + warmup)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, torch_threads(settings.threads):
        weights = Path(tmp) / "backbone.pt"
        torch.save(net.body.state_dict(), weights)
        backbone = PretrainedBackbone(settings.backbone, settings.backbone_width, weights, "", None)
        for name in mr.ROWS:
            spec = mr.ROW_SPECS[name]
            model = mr.build_row_model(spec, data, settings, backbone)
            if spec.registry == "asenpp":
                model.set_stage(2)  # both branches: the longer of its two stages
            sampler = mr.TripletSampler(data.train_labels, triplets, 0, spec.style)
            batches = mr.TripletBatches(
                sampler, inputs, data.train_multihot, settings.batch_triplets
            )
            step = _optimizer_step(model, row_loss(spec, model, 1.0), "adam")
            timing = time_steps(step, _forever(batches), steps, warmup, clock)
            rows.append(_row(name, "M3-Net and baselines", 3 * settings.batch_triplets, timing))
    return pd.DataFrame(rows)


def fashionsap_step_times(
    profile: str, steps: int, warmup: int = 1, clock: Clock = time.perf_counter
) -> pd.DataFrame:
    """Median ms per AdamW step of FashionSAP per pre-training task mix and per downstream head.

    Pre-training: every variant the profile trains at its stage's batch size, on the cached maps
    where the image side is frozen (as the runs train). Downstream: retrieval
    fine-tuning (ITS + ITM on plain text), category and sub-category recognition, and TMIR, each on
    the "full" variant's model.
    """
    from fashion_lib.data.masking import TextProcessor
    from fashion_lib.data.vl_data import TripletBatches
    from fashion_lib.experiments import fashionsap_pretrain as fp
    from fashion_lib.experiments import fashionsap_train as ft
    from fashion_lib.experiments.backbone_pretrain import torch_threads, world_root
    from fashion_lib.experiments.fashionsap_runs import LEVELS
    from fashion_lib.experiments.fashionsap_settings import VARIANTS, sap_settings
    from fashion_lib.models.fashionsap import FashionSAP
    from fashion_lib.models.fashionsap_tasks import (
        FashionSAPClassifier,
        FashionSAPTMIR,
        retrieval_config,
    )

    s = sap_settings(profile)
    root = str(world_root(profile))
    plain = TextProcessor(fp.tokenizer(), fp.plain_text(profile))
    rows = []

    def measure(name: str, group: str, model: nn.Module, loss_fn: Callable, batches: Any) -> None:
        timing = time_steps(
            _optimizer_step(model, loss_fn, "adamw"), _forever(batches), steps, warmup, clock
        )
        rows.append(_row(name, group, batches.batch_size, timing))

    with torch_threads(s.threads):
        torch.manual_seed(0)
        for variant in s.variants:
            model = fp.profile_model(VARIANTS[variant], profile)
            maps = fp.frozen_maps(model, profile, "FashionGen", "train")
            batches = fp.pair_batches(
                profile, "train", model.config.text_config(), s.pretrain.batch_size, 0, maps=maps
            )
            loss_fn = ft.pretrain_loss(model.config.alpha, 0, 0)
            measure(f"pre-train {variant}", "FashionSAP pre-training", model, loss_fn, batches)
        base = FashionSAP(retrieval_config(fp.profile_model(VARIANTS["full"], profile).config))
        main = fp.frozen_maps(base, profile, "FashionGen", "train")
        batches = fp.pair_batches(
            profile,
            "train",
            fp.plain_text(profile),
            s.retrieval.batch_size,
            0,
            per_product=True,
            maps=main,
        )
        loss_fn = ft.pretrain_loss(base.config.alpha, 0, 0)
        measure("retrieval", "FashionSAP downstream", base, loss_fn, batches)
        for level, classes in LEVELS.items():
            head = FashionSAPClassifier(base, classes)
            batches = fp.pair_batches(
                profile, "train", fp.plain_text(profile), s.recognition.batch_size, 0, maps=main
            )
            measure(level, "FashionSAP downstream", head, ft.recognition_loss_fn(level), batches)
        split = fp.fashioniq_split(root, "train", s.image_size)
        iq_maps = fp.frozen_maps(base, profile, "FashionIQ", "train")
        batches = TripletBatches(
            split, plain, s.tmir.batch_size, 0, s.image_size, s.augment, maps=iq_maps
        )
        measure("tmir", "FashionSAP downstream", FashionSAPTMIR(base), ft.tmir_loss_fn(), batches)
    return pd.DataFrame(rows)
