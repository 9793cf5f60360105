"""Learnability of the proxy world: a small CNN per dataset, held-out accuracy vs chance.

    .venv/bin/python -m fashion_lib data make --profile cpu      # once
    .venv/bin/python benchmarks/probe_learnability.py [--root data/atelier-cpu] [--epochs 6]

Trains `fashion_lib.data.atelier.probe.SmallCNN` (one head per attribute) on FashionAI's 8 and
DARN's 9 attributes of a generated world and prints, per attribute, the held-out accuracy beside
the majority-class and uniform chance levels. A well-tuned world is well above chance and well
below perfect on every attribute.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from fashion_lib.data.atelier.probe import format_probe, probe_learnability
from fashion_lib.paths import dataset_root


def main() -> None:
    """Parse arguments, run the probe on FashionAI and DARN, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=dataset_root("cpu", True))
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--datasets", nargs="*", default=["FashionAI", "DARN"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for dataset in args.datasets:
        result = probe_learnability(args.root / dataset, dataset, epochs=args.epochs)
        print(format_probe(result))
        print()


if __name__ == "__main__":
    main()
