"""Training step time of the seven M3-Net table rows, and the evaluation time of the largest gallery.

Run from the project root (generates the cpu proxy world first if it is missing, ~4 minutes):

    .venv/bin/python benchmarks/bench_m3net_train.py [--steps 10] [--profile cpu]

For every row it prints the median wall time of one optimizer step on a batch of 16 triplets
(48 images) with the profile's settings, twice: with the backbone frozen (inputs are cached
feature maps, the cpu profile's way, run with the profile's thread count) and end to end (inputs
are images through the backbone, the gpu/paper way at the cpu profile's image size). Weights and
inputs are random: step time does not depend on their values. Then it times `evaluate_model` of
M3-Net (multi-granularity protocol, both relevances) on the largest proxy test split.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from fashion_lib.data.retrieval_data import load_retrieval_dataset
from fashion_lib.data.samplers import TripletSampler
from fashion_lib.engine.loop import LossFn
from fashion_lib.experiments.backbone_pretrain import PretrainedBackbone, torch_threads, world_root
from fashion_lib.experiments.m3net_runs import (
    DATASETS,
    ROW_SPECS,
    ROWS,
    TripletBatches,
    build_row_model,
    evaluate_model,
    run_settings,
)
from fashion_lib.experiments.m3net_training import row_loss
from fashion_lib.models.backbones import create_cnn_backbone


def step_times(
    model: torch.nn.Module, loss_fn: LossFn, batches: TripletBatches, steps: int
) -> list[float]:
    """Wall time of `steps` optimizer steps after two warm-up steps."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=1e-4)
    model.train()
    times = []
    for i, batch in enumerate(batches.iter_epoch(0)):
        if i >= steps + 2:
            break
        started = time.perf_counter()
        loss = torch.stack(list(loss_fn(model, batch).values())).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if i >= 2:
            times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    settings = run_settings(args.profile)
    root = str(world_root(args.profile))
    sizes = {name: load_retrieval_dataset(root, name, settings.eval_split) for name in DATASETS}
    data = max(sizes.values(), key=lambda d: len(d.candidates))  # the largest gallery
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "backbone.pt"
        net = create_cnn_backbone(settings.backbone, width=settings.backbone_width)
        torch.save(net.body.state_dict(), weights)
        backbone = PretrainedBackbone(settings.backbone, settings.backbone_width, weights, "", None)
        n, s = data.num_train, settings.image_size
        maps = torch.randn(n, net.out_channels, s // 8, s // 8).to(torch.float16)
        images = torch.randint(0, 256, (n, 3, s, s), dtype=torch.uint8)
        print(f"dataset {data.name}: {n} training images, {settings.batch_triplets} triplets/step")
        print(f"{'row':10s} {'frozen ms':>10s} {'end-to-end ms':>14s}")
        for name in ROWS:
            spec = ROW_SPECS[name]
            sampler = TripletSampler(data.train_labels, 64 * settings.batch_triplets, 0, spec.style)
            medians = []
            for frozen, inputs, threads in ((True, maps, settings.threads), (False, images, None)):
                mode = replace(settings, frozen=frozen)
                model = build_row_model(spec, data, mode, backbone)
                if spec.registry == "asenpp":
                    model.set_stage(2)
                batches = TripletBatches(sampler, inputs, data.train_multihot, mode.batch_triplets)
                steps = args.steps if frozen else max(3, args.steps // 3)
                with torch_threads(threads):
                    times = step_times(model, row_loss(spec, model, 1.0), batches, steps)
                medians.append(1000 * statistics.median(times))
            print(f"{name:10s} {medians[0]:10.1f} {medians[1]:14.1f}", flush=True)
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
