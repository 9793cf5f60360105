"""Training step time of the seven M3-Net table rows, and the evaluation time of the largest gallery.

Run from the project root (generates the cpu proxy world first if it is missing, ~4 minutes):

    .venv/bin/python benchmarks/bench_m3net_train.py [--steps 10] [--profile cpu]

For every row it prints the median wall time of one optimizer step on a batch of 16 triplets
(48 images) with the profile's settings, twice: with the backbone frozen (inputs are cached
feature maps, the cpu profile's way) and end to end (inputs are images through the backbone, the
gpu/paper way at the profile's image size), both with the profile's thread count. Weights and
inputs are random: step time does not depend on their values. The steps are timed by
`fashion_lib.analysis.step_times.m3net_step_times`, as chapter 10 does. Then it times
`evaluate_model` of M3-Net (multi-granularity protocol, both relevances) on the largest proxy test
split.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from fashion_lib.analysis.step_times import m3net_step_times
from fashion_lib.experiments.backbone_pretrain import PretrainedBackbone, torch_threads
from fashion_lib.experiments.m3net_runs import (
    DATASETS,
    ROW_SPECS,
    build_row_model,
    dataset_for,
    evaluate_model,
    run_settings,
)
from fashion_lib.models.backbones import create_cnn_backbone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    settings = run_settings(args.profile)
    sizes = {name: dataset_for(args.profile, name, settings.eval_split) for name in DATASETS}
    data = max(sizes.values(), key=lambda d: len(d.candidates))  # the largest gallery
    triplets = settings.batch_triplets
    print(f"dataset {data.name}: {data.num_train} training images, {triplets} triplets/step")
    frozen = m3net_step_times(args.profile, data.name, args.steps, frozen=True)
    end_to_end = m3net_step_times(args.profile, data.name, max(3, args.steps // 3), frozen=False)
    print(f"{'row':10s} {'frozen ms':>10s} {'end-to-end ms':>14s}")
    for a, b in zip(frozen.itertuples(), end_to_end.itertuples(), strict=True):
        print(f"{a.model:10s} {a.ms_per_step:10.1f} {b.ms_per_step:14.1f}")
    torch.manual_seed(0)
    net = create_cnn_backbone(settings.backbone, width=settings.backbone_width)
    s = settings.image_size
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "backbone.pt"
        torch.save(net.body.state_dict(), weights)
        backbone = PretrainedBackbone(settings.backbone, settings.backbone_width, weights, "", None)
        model = build_row_model(ROW_SPECS["M3-Net"], data, settings, backbone)
    eval_maps = torch.randn(len(data.filenames[data.split]), net.out_channels, s // 8, s // 8)
    with torch_threads(settings.threads):
        started = time.perf_counter()
        evaluate_model(model, ROW_SPECS["M3-Net"], data, eval_maps.to(torch.float16))
        seconds = time.perf_counter() - started
    print(
        f"evaluation of M3-Net on {data.name} {data.split}: {len(data.queries)} queries x "
        f"{len(data.candidates)} candidates, both relevances: {seconds:.2f} s"
    )


if __name__ == "__main__":
    main()
