"""Two smoke runs with the same seed write identical run records.

Each run is a fresh process with its own proxy world (FASHION_DATA_ROOT) and its own empty runs
folder (FASHION_RUNS_DIR), and trains what chapters 03 and 07 train first: the proxy pre-training
of the backbone, one M3-Net row (DeepFashion, seed 0), and FashionSAP's warm-up followed by the full
pre-training with the symbol-aware losses. Every `record.json` of one run must equal the other's in
config, metrics and per-step loss history, exactly; only timings, the commit and the machine may
differ. The two processes run side by side to keep the test near a minute.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fashion_lib import paths

TRAIN = """
import torch
torch.set_num_threads(1)
from fashion_lib.data.atelier.make import make_world
from fashion_lib.experiments import fashionsap_pretrain as sap
from fashion_lib.experiments.m3net_runs import run_row
from fashion_lib.paths import dataset_root
from fashion_lib.profiles import get_profile

make_world(get_profile("smoke"), out=dataset_root("smoke", True), workers=1)
run_row("M3-Net", "DeepFashion", 0, "smoke")
sap.pretrain("full", 0, "smoke")
"""
# Fields of record.json that describe when and where a run happened, not what it computed.
CIRCUMSTANCES = frozenset({"wall_time_s", "git_commit", "machine"})
EXPECTED_RUNS = (
    "backbone-",
    "m3row-m3net-deepfashion-seed0",
    "sap-warmup-seed0",
    "sap-full-seed0",
)


def _computed(record: dict[str, Any]) -> dict[str, Any]:
    """A record without its circumstances, and without timing metrics (`*_time_s`)."""
    kept = {k: v for k, v in record.items() if k not in CIRCUMSTANCES}
    kept["metrics"] = {k: v for k, v in record["metrics"].items() if not k.endswith("_time_s")}
    return kept


def _records(runs: Path) -> dict[str, dict[str, Any]]:
    """Every record under `runs` by run name (the folder name without its config hash)."""
    records = [json.loads(p.read_text(encoding="utf-8")) for p in runs.glob("*/record.json")]
    return {r["name"]: _computed(r) for r in records}


def _differences(a: Any, b: Any, where: str = "") -> list[str]:
    """The paths at which two JSON values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            d
            for k in sorted(a.keys() | b.keys())
            for d in _differences(a.get(k), b.get(k), f"{where}/{k}")
        ]
    return [] if a == b else [where or "/"]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    """The records of two identical smoke runs, trained in parallel from nothing."""
    procs = []
    for label in ("a", "b"):
        root = tmp_path_factory.mktemp(f"repro-{label}")
        env = {
            **os.environ,
            "FASHION_DATA_ROOT": str(root / "data"),
            "FASHION_RUNS_DIR": str(root / "runs"),
            "OMP_NUM_THREADS": "1",
        }
        with (root / "log.txt").open("w") as log:
            proc = subprocess.Popen(
                [sys.executable, "-c", TRAIN],
                cwd=paths.PROJECT_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        procs.append((proc, root))
    records = []
    for proc, root in procs:
        returncode = proc.wait(timeout=900)
        log = (root / "log.txt").read_text(encoding="utf-8")
        assert returncode == 0, f"smoke training failed:\n{log[-3000:]}"
        records.append(_records(root / "runs"))
    return records[0], records[1]


def test_both_runs_trained_the_same_runs(two_runs: tuple[dict, dict]) -> None:
    first, second = two_runs
    assert sorted(first) == sorted(second)
    assert len(first) >= len(EXPECTED_RUNS), sorted(first)
    for prefix in EXPECTED_RUNS:
        assert any(name.startswith(prefix) for name in first), (
            f"no {prefix}* run in {sorted(first)}"
        )


def test_same_seed_gives_identical_metrics_and_history(two_runs: tuple[dict, dict]) -> None:
    first, second = two_runs
    for name, record in first.items():
        assert record["metrics"] and record["history"], f"{name}: nothing to compare"
        differ = _differences(record, second[name])
        assert not differ, f"{name}: two same-seed runs differ at {differ}"
