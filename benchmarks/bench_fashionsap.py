"""Median FashionSAP pre-training step time per task mix, and the retrieval evaluation time.

Run from the project root (generates the profile's proxy world first if it is missing):

    .venv/bin/python benchmarks/bench_fashionsap.py --profile cpu --steps 6 --threads 1

Prints, per task mix (ITS+ITM, +PTP, +PTP+TRP, all five, all five with the CNN image encoder), the
median wall and CPU (process) time of one optimizer step at the profile's batch size, then the time
of one full retrieval evaluation (encoding the validation split, both protocols). CPU time is shown
beside wall time because the book's machine is shared: wall time grows with the load, CPU time
much less.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from fashion_lib.data.masking import PLAIN_TEXT, TextProcessor
from fashion_lib.data.prompts import build_tokenizer
from fashion_lib.data.vl_data import FashionGenSplit
from fashion_lib.engine import autocast, resolve_amp
from fashion_lib.experiments import fashionsap_eval as ev
from fashion_lib.experiments.backbone_pretrain import world_root
from fashion_lib.experiments.fashionsap_pretrain import frozen_maps, pair_batches, profile_model
from fashion_lib.experiments.fashionsap_settings import VARIANTS, sap_settings
from fashion_lib.experiments.fashionsap_train import build_pretrain_model, pretrain_loss


def step_times(variant: str, profile: str, steps: int) -> tuple[float, float]:
    """Median (wall, cpu) seconds of one pre-training step of `variant` (first step excluded),
    on the batches the runs use (cached maps where the image encoder is frozen), in the stage's
    precision."""
    settings = sap_settings(profile)
    model = profile_model(VARIANTS[variant], profile)
    maps = frozen_maps(model, profile, "FashionGen", "train")
    text = model.config.text_config()
    batches = pair_batches(profile, "train", text, settings.pretrain.batch_size, 0, maps=maps)
    loss_fn = pretrain_loss(model.config.alpha, 0, 0)
    precision = resolve_amp(settings.pretrain.amp, torch.device("cpu"))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    walls, cpus = [], []
    for i, batch in zip(range(steps + 1), batches.iter_epoch(0), strict=False):
        wall, cpu = time.perf_counter(), time.process_time()
        with autocast(precision):
            loss = torch.stack(list(loss_fn(model, batch).values())).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if i:  # the first step pays for lazy initialisation (WordNet, allocator)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def retrieval_time(profile: str) -> tuple[float, dict[str, float]]:
    """Seconds of one retrieval evaluation (both protocols) of a fresh model, and its metrics."""
    settings = sap_settings(profile)
    model = build_pretrain_model(settings, VARIANTS["albef"])
    split = FashionGenSplit(world_root(profile) / "FashionGen", "validation")
    text = TextProcessor(build_tokenizer(), PLAIN_TEXT)
    start = time.perf_counter()
    emb = ev.encode_retrieval(model, split, text, settings.image_size, settings.eval_batch)
    metrics = ev.full_protocol(*emb)
    metrics |= ev.subset_protocol(
        *emb,
        ev.product_labels(split),
        settings.subset_queries,
        settings.subset_negatives,
        settings.subset_draws,
    )
    return time.perf_counter() - start, metrics


def main() -> None:
    """Parse the arguments and print the measurements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    batch = sap_settings(args.profile).pretrain.batch_size
    print(
        f"profile {args.profile}, batch {batch}, {args.threads} thread(s), median of {args.steps}"
    )
    for variant in sap_settings(args.profile).variants:
        wall, cpu = step_times(variant, args.profile, args.steps)
        print(f"  step {variant:9s} wall {wall:6.3f} s   cpu {cpu:6.3f} s")
    seconds, metrics = retrieval_time(args.profile)
    print(
        f"  retrieval evaluation {seconds:.2f} s (untrained full mean R@1 {metrics['mean_r1']:.1f})"
    )


if __name__ == "__main__":
    main()
