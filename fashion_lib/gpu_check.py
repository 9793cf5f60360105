"""`make gpu-check`: does the gpu profile train on this GPU, with AMP and DDP, and how fast?

    python -m fashion_lib.gpu_check [--profile gpu] [--steps 200] [--warmup 20] [--only NAME ...]
                                    [--no-ddp]

On one CUDA device it trains every model family of the profile through `engine.fit` with AMP
("auto": bf16, or fp16 with loss scaling on GPUs without bf16), `--steps` optimizer steps each:

- the seven rows of M3-Net's tables (ASEN, ASENv2, ASEN++ in its two-branch stage, MODC,
  M3-Net_a, M3-Net_c, M3-Net) end to end at the profile's backbone, image size and batch
  (gpu: ResNet-50-C4 at 224 px, 16 triplets = 48 images a step);
- FashionSAP pre-training with all five tasks, with the ViT and with the ResNet-50 image encoder
  (gpu: fashionsap_small at 224 px, 64 pairs a step).

Then it runs one data-parallel job, `torchrun --standalone --nproc_per_node=2` of this module's
worker (ASENv2 through `engine.fit` wrapped in DistributedDataParallel; two ranks share one GPU over
gloo, or use two GPUs over NCCL), and checks that both ranks end with the same weights. It prints
images/s (timed after `--warmup` steps, CUDA synchronised) and peak GPU memory per family.

Inputs are fixed batches: random images for M3-Net's rows, one batch of the smoke world's
FashionGen (generated if missing, seconds) resized to the profile's size for FashionSAP. The check
measures the models, AMP and DDP on the device, not data loading or learning. Without a CUDA device
it prints one line and exits 1; `run_family` itself also runs on the CPU (the tests use it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fashion_lib.engine import TrainConfig, fit
from fashion_lib.engine.distributed import BACKEND_ENV, all_gather, cleanup, init_distributed
from fashion_lib.engine.loop import LossFn, StepEvent
from fashion_lib.errors import ConfigError

M3_ROWS = ("ASEN", "ASENv2", "ASEN++", "MODC", "M3-Net_a", "M3-Net_c", "M3-Net")
SAP_VARIANTS = {"FashionSAP": "full", "FashionSAP-R50": "full_r50"}
FAMILIES = (*M3_ROWS, *SAP_VARIANTS)
DDP_FAMILY = "ASENv2"
DDP_RANKS = 2
# The largest heads of the three datasets (DeepFashion's five types) and a gpu-world-sized memory.
CLASSES_PER_ATTRIBUTE = (156, 218, 180, 216, 230)
NUM_TRAIN = 48_000
NO_GPU = (
    "error: gpu-check needs a CUDA GPU and none is visible (torch.cuda.is_available() is False)"
)


@dataclass(frozen=True)
class FamilyResult:
    """One family's measurement: images per second after warm-up, peak GPU memory (None on the
    CPU), the steps trained and the last logged loss."""

    family: str
    steps: int
    images_per_s: float
    peak_mem_mb: float | None
    loss: float


@dataclass(frozen=True)
class DataShape:
    """What `build_row_model` reads of a dataset: the value counts and the training size."""

    classes_per_attribute: tuple[int, ...] = CLASSES_PER_ATTRIBUTE
    num_train: int = NUM_TRAIN


class RepeatBatches:
    """A `BatchSource` that yields the same batch `steps` times per epoch (compute, not loading)."""

    def __init__(self, batch: Any, steps: int) -> None:
        self.batch, self.steps_per_epoch = batch, steps

    def iter_epoch(self, epoch: int, start_step: int = 0) -> Iterator[Any]:
        for _ in range(start_step, self.steps_per_epoch):
            yield self.batch


def m3_setup(
    row: str, profile: str, triplets: int | None = None, seed: int = 0
) -> tuple[nn.Module, LossFn, dict[str, torch.Tensor], int]:
    """(model, loss, one batch, images per step) of an M3-Net table row, end to end at the
    profile's backbone and image size from random weights; `triplets` defaults to the profile's."""
    from fashion_lib.experiments.backbone_pretrain import PretrainedBackbone
    from fashion_lib.experiments.m3net_settings import ROW_SPECS, run_settings
    from fashion_lib.experiments.m3net_training import build_row_model, row_loss
    from fashion_lib.models.backbones import create_cnn_backbone

    settings = replace(run_settings(profile), frozen=False)
    spec = ROW_SPECS[row]
    t = triplets or settings.batch_triplets
    torch.manual_seed(seed)
    net = create_cnn_backbone(settings.backbone, width=settings.backbone_width)
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        weights = Path(tmp) / "backbone.pt"
        torch.save(net.body.state_dict(), weights)
        backbone = PretrainedBackbone(settings.backbone, settings.backbone_width, weights, "", None)
        model = build_row_model(spec, DataShape(), settings, backbone)  # type: ignore[arg-type]
    if spec.registry == "asenpp":
        model.set_stage(2)  # both branches: the heavier of its two stages
    g = torch.Generator().manual_seed(seed)
    n_attr, size = len(CLASSES_PER_ATTRIBUTE), settings.image_size
    attr = torch.randint(n_attr, (t,), generator=g)
    value = torch.randint(min(CLASSES_PER_ATTRIBUTE), (t,), generator=g)
    labels = torch.zeros(3 * t, max(CLASSES_PER_ATTRIBUTE))
    negative = (value + 1) % min(CLASSES_PER_ATTRIBUTE)
    labels[torch.arange(3 * t), torch.cat([value, value, negative])] = 1.0  # (3T, M_max)
    batch = {
        "inputs": torch.randn(3 * t, 3, size, size, generator=g),  # (3T, 3, S, S)
        "attr_ids": attr.repeat(3),
        "class_ids": value,
        "labels": labels,
        "sample_ids": torch.randint(NUM_TRAIN, (3 * t,), generator=g),
        "values": torch.cat([value, value, negative]),
    }
    return model, row_loss(spec, model, 1.0), batch, 3 * t


def sap_setup(variant: str, profile: str) -> tuple[nn.Module, LossFn, Any, int]:
    """(model, loss, one batch, pairs per step) of FashionSAP pre-training with all its tasks:
    one batch of the smoke world's FashionGen, resized to the profile's image size."""
    from fashion_lib.data.masking import TextProcessor
    from fashion_lib.data.vl_data import PairBatches
    from fashion_lib.experiments.backbone_pretrain import world_root
    from fashion_lib.experiments.fashionsap_pretrain import fashiongen_split, tokenizer
    from fashion_lib.experiments.fashionsap_settings import VARIANTS, sap_settings
    from fashion_lib.experiments.fashionsap_train import build_pretrain_model, pretrain_loss

    settings = sap_settings(profile)
    torch.manual_seed(0)
    model = build_pretrain_model(settings, VARIANTS[variant])
    split = fashiongen_split(str(world_root("smoke")), "train")
    size = min(settings.pretrain.batch_size, len(split))
    text = TextProcessor(tokenizer(), model.config.text_config())
    batches = PairBatches(split, text, size, 0, settings.image_size, augment=False)
    batch = next(iter(batches.iter_epoch(0)))
    return model, pretrain_loss(model.config.alpha, 0, 0), batch, size


def run_family(
    family: str,
    profile: str,
    steps: int,
    warmup: int,
    device: torch.device,
    amp: str = "auto",
    setup: tuple[nn.Module, LossFn, Any, int] | None = None,
) -> FamilyResult:
    """Train one family for `steps` steps through `engine.fit` and time the steps after `warmup`.

    Args:
        family: one of `FAMILIES`.
        profile: whose sizes to use (gpu; smoke in the tests).
        steps: optimizer steps; warmup: steps excluded from the timing (< steps).
        device: where to train; amp: the `TrainConfig.amp` mode.
        setup: (model, loss, batch, images per step) to use instead of the family's own.
    """
    if family not in FAMILIES:
        raise ConfigError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")
    if not 0 <= warmup < steps:
        raise ConfigError(f"need 0 <= warmup < steps, got warmup {warmup} and steps {steps}")
    if setup is None:
        setup = (
            m3_setup(family, profile)
            if family in M3_ROWS
            else sap_setup(SAP_VARIANTS[family], profile)
        )
    model, loss_fn, batch, per_step = setup
    cuda = device.type == "cuda"
    marks: dict[int, float] = {}

    def clock(event: StepEvent) -> None:
        if event.step in (warmup, steps):
            if cuda:
                torch.cuda.synchronize(device)
            marks[event.step] = time.perf_counter()

    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    config = TrainConfig(epochs=1, lr=1e-4, amp=amp, log_every=steps, keep_checkpoints=1)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu-check-run-") as run_dir:
        result = fit(
            model, loss_fn, RepeatBatches(batch, steps), config, run_dir, device=device,
            callbacks=[clock],
        )  # fmt: skip
    marks.setdefault(0, started)
    seconds = marks[steps] - marks[warmup]
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if cuda else None
    return FamilyResult(
        family, steps, per_step * (steps - warmup) / seconds, peak, result.history[-1]["loss"]
    )


def format_report(results: Sequence[FamilyResult], ddp: dict[str, Any] | None, device: str) -> str:
    """The table `make gpu-check` prints: one line per family, then the DDP job's line."""
    lines = [
        f"gpu-check on {device}",
        f"{'family':16s} {'steps':>6s} {'images/s':>10s} {'peak GPU MiB':>13s} {'loss':>9s}",
    ]
    for r in results:
        peak = f"{r.peak_mem_mb:13.0f}" if r.peak_mem_mb is not None else f"{'-':>13s}"
        lines.append(f"{r.family:16s} {r.steps:6d} {r.images_per_s:10.1f} {peak} {r.loss:9.4f}")
    if ddp is not None:
        verdict = "same weights on every rank" if ddp["same_weights"] else "WEIGHTS DIFFER"
        lines.append(
            f"DDP {ddp['family']} x{ddp['ranks']} ranks ({ddp['backend']}, torchrun): "
            f"{ddp['images_per_s']:.1f} images/s, peak {ddp['peak_mem_mb']:.0f} MiB per rank, "
            f"{verdict}"
        )
    return "\n".join(lines)


def ddp_worker(profile: str, steps: int, warmup: int) -> None:
    """One rank of the DDP job (run by torchrun): train `DDP_FAMILY` on this rank's shard of the
    global batch, then compare a checksum of the weights across ranks; rank 0 prints JSON."""
    info = init_distributed()
    try:
        from fashion_lib.engine.distributed import default_device
        from fashion_lib.experiments.m3net_settings import run_settings

        device = default_device(info)
        per_rank = run_settings(profile).batch_triplets // info.world_size
        setup = m3_setup(DDP_FAMILY, profile, per_rank, seed=info.rank)  # ranks see other data
        result = run_family(DDP_FAMILY, profile, steps, warmup, device, setup=setup)
        model = setup[0]
        checksum = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum()
        backend = torch.distributed.get_backend()
        sums = all_gather(checksum.reshape(1).to(device if backend == "nccl" else "cpu"))
        if info.is_main:
            report = {
                "family": DDP_FAMILY,
                "ranks": info.world_size,
                "backend": backend,
                "images_per_s": result.images_per_s * info.world_size,
                "peak_mem_mb": result.peak_mem_mb or 0.0,
                "same_weights": bool(torch.allclose(sums, sums[0].expand_as(sums))),
            }
            print(json.dumps(report), flush=True)
    finally:
        cleanup()


def run_ddp(profile: str, steps: int, warmup: int) -> dict[str, Any]:
    """Launch the DDP job through torchrun and return rank 0's report."""
    env = dict(os.environ)
    if torch.cuda.device_count() < DDP_RANKS:
        env[BACKEND_ENV] = "gloo"  # NCCL refuses two ranks on one GPU
    argv = [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc_per_node={DDP_RANKS}", "-m", "fashion_lib.gpu_check", "--ddp-worker",
        "--profile", profile, "--steps", str(steps), "--warmup", str(warmup),
    ]  # fmt: skip
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    reports = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not reports:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"the DDP job failed (exit {done.returncode}): {tail}")
    return json.loads(reports[-1])


def positive(text: str) -> int:
    """argparse type: an integer > 0."""
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer > 0")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """The command's arguments."""
    parser = argparse.ArgumentParser(
        prog="python -m fashion_lib.gpu_check", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--profile", default="gpu", choices=("smoke", "cpu", "gpu", "paper"))
    parser.add_argument("--steps", type=positive, default=200, help="optimizer steps per family")
    parser.add_argument("--warmup", type=int, default=20, help="steps left out of the timing")
    parser.add_argument("--only", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    parser.add_argument("--no-ddp", action="store_true", help="skip the torchrun DDP job")
    parser.add_argument("--ddp-worker", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the check; returns the exit code (1 without a GPU or on a failure, 2 on bad input)."""
    args = build_parser().parse_args(argv)
    if not 0 <= args.warmup < args.steps:
        print(f"error: --warmup must lie in [0, --steps), got {args.warmup}", file=sys.stderr)
        return 2
    if args.ddp_worker:  # launched by `run_ddp`; runs on the CPU too (gloo), as the tests do
        ddp_worker(args.profile, args.steps, args.warmup)
        return 0
    if not torch.cuda.is_available():
        print(NO_GPU, file=sys.stderr)
        return 1
    device = torch.device("cuda", 0)
    started, results = time.perf_counter(), []
    for family in args.only:
        results.append(run_family(family, args.profile, args.steps, args.warmup, device))
        print(f"  {family}: {results[-1].images_per_s:.1f} images/s", flush=True)
    ddp = None if args.no_ddp else run_ddp(args.profile, args.steps, args.warmup)
    print(format_report(results, ddp, torch.cuda.get_device_name(device)))
    print(f"gpu-check done in {time.perf_counter() - started:.0f} s")
    return 0 if ddp is None or ddp["same_weights"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
