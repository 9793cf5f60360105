"""Ties or collapse? The retrieval runs of a few variants, and what their rankings are made of.

Run from the project root (trains whatever runs are missing, on the profile's world):

    .venv/bin/python benchmarks/probe_ties.py --profile cpu --variants albef full --seeds 0

Prints, per variant and seed, the full-protocol R@1 (pessimistic tie rule; where no positive
ties, every tie rule gives the same R@1), the percent of queries whose positive ties, the
embeddings' effective rank and mean pairwise cosine, and the percent of candidates that are some
query's first choice, then the chapter's sentence (`fashionsap_runs.tie_sentence`) and the CPU
seconds this process spent (training whatever was missing).
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from fashion_lib.experiments import fashionsap_runs as sap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--variants", nargs="+", default=["albef", "full"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    args = parser.parse_args()
    start = time.process_time()
    report = sap.tie_report(args.variants, args.profile, args.seeds)
    r1 = pd.DataFrame(
        [
            {
                f"full/{d}_r1": sap.evaluate_retrieval(v, s, args.profile)[f"full/{d}_r1"]
                for d in ("i2t", "t2i")
            }
            for v, s in report[["variant", "seed"]].values
        ]
    )
    pd.set_option("display.width", 200)
    print(pd.concat([report, r1], axis=1).set_index(["variant", "seed"]).T.round(3))
    print(sap.tie_sentence(report, args.profile))
    print(f"CPU time of this process: {time.process_time() - start:.0f} s")


if __name__ == "__main__":
    main()
