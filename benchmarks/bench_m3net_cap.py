"""Evaluation cost of M3-Net's class spaces: a cap of 8 per image (the first version) vs none.

Run from the project root:

    .venv/bin/python benchmarks/bench_m3net_cap.py [--queries 240] [--candidates 960] [--repeats 3]

The class branch encodes one (image, class) pair per opened class space, and the class-first
ranking compares the pairs of shared classes, so the evaluation grows with the spaces per image.
This times the worst case of no cap: gamma = 0, every class of the row's attribute opened. It
builds the cpu profile's M3-Net (small CNN of width 16: 128 x 8 x 8 maps, fed as cached maps as
in the frozen profiles) on the proxy DeepFashion taxonomy (M_n = 7, 6, 13, 16, 9), encodes seeded
random maps (cost does not depend on their values) for the default cpu test split (240 queries,
960 candidates) and ranks them with `evaluate_retrieval` (multi-granularity, multi-label). It
prints, per cap, the class spaces per image and the median seconds of encoding and of ranking.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch
from torch import nn

from fashion_lib.data.atelier.labels import DEEPFASHION_PROXY
from fashion_lib.models import create_model
from fashion_lib.retrieval import ClassSpaces, RetrievalSide, evaluate_retrieval


def random_side(
    model: nn.Module, channels: int, n: int, seed: int
) -> tuple[RetrievalSide, float, int]:
    """Encode n random 8 x 8 maps; returns the side, the encoding seconds and the pair count."""
    g = torch.Generator().manual_seed(seed)
    counts = torch.tensor(DEEPFASHION_PROXY.counts)
    maps = torch.randn(n, channels, 8, 8, generator=g)
    attr = torch.randint(0, len(counts), (n,), generator=g)
    value = (torch.rand(n, generator=g) * counts[attr]).long()
    labels = torch.zeros(n, int(counts.max()), dtype=torch.bool)
    labels[torch.arange(n), value] = True
    started = time.perf_counter()
    emb, parts, sizes = [], [], []
    with torch.no_grad():
        for i in range(0, n, 256):
            out = model(maps[i : i + 256], attr[i : i + 256])
            emb.append(out.attribute_embeddings)
            parts.append(ClassSpaces(out.pair_image, out.pair_class, out.class_embeddings))
            sizes.append(len(out.attribute_embeddings))
    spaces = ClassSpaces.concat(parts, sizes)
    side = RetrievalSide(torch.cat(emb), attr, value, labels, spaces)
    return side, time.perf_counter() - started, len(spaces.image)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=240)
    parser.add_argument("--candidates", type=int, default=960)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)  # the cpu profile's evaluation thread count
    torch.manual_seed(0)
    model = create_model(
        "m3net_small", classes_per_attribute=DEEPFASHION_PROXY.counts, backbone_width=16
    ).eval()
    channels = model.backbone.out_channels
    model.backbone = nn.Identity()  # cached maps, as in the frozen profiles
    for cap in (8, None):
        model.config = dataclasses.replace(model.config, gamma=0.0, max_classes=cap)
        encode, rank = [], []
        for _ in range(args.repeats):
            (q, tq, pq), (c, tc, pc) = (
                random_side(model, channels, n, seed)
                for n, seed in ((args.queries, 1), (args.candidates, 2))
            )
            started = time.perf_counter()
            evaluate_retrieval(q, c, "multi_granularity", "multi")
            rank.append(time.perf_counter() - started)
            encode.append(tq + tc)
        per_image = (pq + pc) / (args.queries + args.candidates)
        print(
            f"cap {cap}: {per_image:.2f} class spaces per image, encode "
            f"{statistics.median(encode):.2f} s, rank {statistics.median(rank):.2f} s"
        )


if __name__ == "__main__":
    main()
