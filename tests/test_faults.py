"""Faults: killed training, damaged checkpoints, killed `data make` and `book run`, stale records.

Each fault is produced for real (SIGKILL of a subprocess, truncated or flipped bytes on disk) and
the test checks that the library recovers to the state an undisturbed run reaches. The book and
data modules are imported inside their tests, so that the training subprocess starts quickly.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import fashion_lib
from fashion_lib.engine import records
from fashion_lib.engine.batches import TensorBatches
from fashion_lib.engine.checkpoint import CheckpointStore, load_weights
from fashion_lib.engine.config import TrainConfig
from fashion_lib.engine.loop import fit
from fashion_lib.errors import DataError

ROOT = Path(__file__).resolve().parent.parent
PYTHON = [sys.executable, "-c"]
# 4 epochs of 12 steps; every RNG-dependent part of the engine is in play.
TRAIN = TrainConfig(
    epochs=4,
    lr=3e-2,
    optimizer="adamw",
    weight_decay=0.01,
    schedule="cosine",
    warmup_steps=5,
    min_lr=1e-3,
    grad_clip=1.0,
    checkpoint_every=5,
    seed=11,
)


def _data(seed: int, n: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    return {"x": x, "y": (x[:, :3].sum(1) > 0).long()}


def _model() -> nn.Module:
    torch.manual_seed(2)
    return nn.Sequential(
        nn.Linear(6, 12), nn.BatchNorm1d(12), nn.ReLU(), nn.Dropout(0.2), nn.Linear(12, 2)
    )


def _loss(net: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Cross-entropy on inputs jittered by numpy's and python's global RNGs (and dropout's)."""
    # the legacy global numpy RNG on purpose: the checkpoint must carry its state
    jitter = torch.from_numpy(np.random.normal(0, 0.05, batch["x"].shape)).float()  # noqa: NPY002
    logits = net(batch["x"] * random.uniform(0.9, 1.1) + jitter)  # (B, 2)
    return {"ce": nn.functional.cross_entropy(logits, batch["y"])}


def train_tiny(run_dir: str, pace_s: float = 0.0) -> dict[str, object]:
    """Train (or resume) the tiny classifier in `run_dir`; returns metrics, history, resume step."""
    torch.set_num_threads(1)
    model = _model()
    slow = [lambda _: time.sleep(pace_s)] if pace_s else []
    result = fit(
        model, _loss, TensorBatches(_data(0, 96), 8, seed=4), TRAIN, run_dir, callbacks=slow
    )
    model.eval()
    held_out = _data(1, 64)
    with torch.no_grad():
        logits = model(held_out["x"])  # (64, 2)
    metrics = {
        "accuracy": (logits.argmax(1) == held_out["y"]).float().mean().item(),
        "nll": nn.functional.cross_entropy(logits, held_out["y"]).item(),
    }
    records.write_record(
        run_dir, name="tiny", config=TRAIN, seed=TRAIN.seed, profile="smoke",
        wall_time_s=result.wall_time_s, metrics=metrics, history=result.history,
    )  # fmt: skip
    return {"metrics": metrics, "history": result.history, "resumed_from": result.resumed_from}


def _same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"the process ended before {path} appeared"
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def test_sigkilled_training_resumes_to_the_same_metrics_and_weights(tmp_path: Path) -> None:
    straight = train_tiny(str(tmp_path / "straight"))
    killed = tmp_path / "killed"
    code = (
        f"import sys; sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'tests')!r}]; import test_faults"
    )
    code += f"; test_faults.train_tiny({str(killed)!r}, pace_s=0.1)"
    proc = subprocess.Popen([*PYTHON, code], stderr=subprocess.PIPE)
    _wait_for(killed / "checkpoints" / "step-00000010", proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / records.RECORD_FILE).exists()
    steps = [int(p.name[5:]) for p in CheckpointStore(killed / "checkpoints").paths()]
    assert 10 <= steps[-1] < 48, steps

    resumed = train_tiny(str(killed))
    assert resumed["resumed_from"] == steps[-1]
    assert resumed["metrics"] == straight["metrics"]
    assert resumed["history"] == straight["history"]
    assert [h["step"] for h in resumed["history"]] == list(range(1, 49))
    ours = CheckpointStore.read(killed / "checkpoints" / "step-00000048")
    theirs = CheckpointStore.read(tmp_path / "straight" / "checkpoints" / "step-00000048")
    _same_state(ours["model"], theirs["model"])
    for a, b in zip(
        ours["optimizer"]["state"].values(), theirs["optimizer"]["state"].values(), strict=True
    ):
        _same_state(a, b)
    record = records.load_record(killed / records.RECORD_FILE)
    assert record.metrics == straight["metrics"]


def test_damaged_newest_checkpoint_falls_back_to_the_previous_one(tmp_path: Path) -> None:
    config = dataclasses.replace(TRAIN, epochs=1, keep_checkpoints=1)  # 12 steps: 5, 10, 12
    data = _data(0, 96)
    reference = _model()
    fit(reference, _loss, TensorBatches(data, 8, seed=4), config, tmp_path / "ref")
    store = CheckpointStore(tmp_path / "ref" / "checkpoints", keep=1)
    # keep=1 is raised to 2: a damaged newest checkpoint always has a predecessor
    assert [p.name for p in store.paths()] == ["step-00000010", "step-00000012"]

    damages = {
        "truncated": lambda raw: raw[: len(raw) // 3],
        "flipped": lambda raw: raw[:100] + bytes(b ^ 0x5A for b in raw[100:140]) + raw[140:],
    }
    for kind, damage in damages.items():
        run = tmp_path / kind
        fit(_model(), _loss, TensorBatches(data, 8, seed=4), config, run)
        newest = run / "checkpoints" / "step-00000012" / "state.pt"
        newest.write_bytes(damage(newest.read_bytes()))
        leftover = run / "checkpoints" / ".step-00000013.x.tmp"  # a writer killed mid-save
        leftover.mkdir()
        model = _model()
        with pytest.warns(UserWarning, match=re.escape(str(newest))):
            result = fit(model, _loss, TensorBatches(data, 8, seed=4), config, run)
        assert result.resumed_from == 10, kind
        _same_state(model.state_dict(), reference.state_dict())
        assert not leftover.exists(), "the next save removes a killed writer's temporary folder"
        assert load_weights(_model(), run) == 12


def test_checkpoint_with_a_matching_digest_but_bad_pickle_is_skipped(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    store.save({"step": 1, "w": torch.ones(2)}, 1)
    bad = store.save({"step": 2, "w": torch.zeros(2)}, 2)
    (bad / "state.pt").write_bytes(b"not a torch file")
    digest = hashlib.sha256(b"not a torch file").hexdigest()
    (bad / "state.pt.sha256").write_text(digest + "\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="step-00000002/state.pt"):
        state, path = store.load_latest()
    assert state["step"] == 1 and path.name == "step-00000001"


def test_sigkilled_data_make_leaves_nothing_check_or_if_missing_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from fashion_lib.cli import main
    from fashion_lib.data.formats.check import check

    data_root = tmp_path / "data"
    world = data_root / "atelier-smoke"
    env = dict(os.environ, FASHION_DATA_ROOT=str(data_root))
    cmd = [sys.executable, "-m", "fashion_lib", "data", "make", "--profile", "smoke"]
    proc = subprocess.Popen([*cmd, "--if-missing", "--workers", "1"], cwd=ROOT, env=env)
    deadline = time.monotonic() + 120
    while not list(data_root.glob(".atelier-smoke.*.tmp/DeepFashion")):  # mid-generation
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert not world.exists()
    for fmt, folder in (("deepfashion", "DeepFashion"), ("fashionai", "FashionAI")):
        with pytest.raises(DataError, match="missing"):
            check(fmt, world / folder, images=False)

    # the next `data make --if-missing` builds the whole world and clears the killed build
    monkeypatch.setenv("FASHION_DATA_ROOT", str(data_root))
    assert main(["data", "make", "--profile", "smoke", "--if-missing", "--workers", "1"]) == 0
    assert "ready at" in capsys.readouterr().out
    assert sorted(p.name for p in data_root.iterdir()) == ["atelier-smoke"]
    assert "OK" in str(check("fashionai", world / "FashionAI", images=False))
    manifest = json.loads((world / "atelier.json").read_text(encoding="utf-8"))
    assert manifest["images"]["DeepFashion"] == 300


CHAPTER = '# %% tags=["parameters"]\nprofile = "cpu"\n\n# %%\n'


def _chapters(folder: Path, marker: Path) -> Path:
    folder.mkdir()
    (folder / "01_first.py").write_text(CHAPTER + "x = 1\n", encoding="utf-8")
    # kills the runner (the kernel's parent) the first time, then itself
    (folder / "02_killer.py").write_text(
        CHAPTER + "import os, pathlib, signal\n"
        f"marker = pathlib.Path({str(marker)!r})\n"
        "if not marker.exists():\n"
        "    marker.write_text('x')\n"
        "    os.kill(os.getppid(), signal.SIGKILL)\n"
        "    os._exit(1)\n",
        encoding="utf-8",
    )
    (folder / "03_reader.py").write_text(
        CHAPTER + "import json, os, pathlib\n"
        "out = pathlib.Path(os.environ['FASHION_BOOK_OUT'])\n"
        "meta = json.loads((out / '02_killer.ipynb').read_text())['metadata']['fashion_book']\n"
        "print('seconds' in meta, meta['peak_rss_mb'] > 0)\n",
        encoding="utf-8",
    )
    return folder


def test_killed_book_run_resumes_at_the_first_unfinished_notebook(tmp_path: Path) -> None:
    import nbformat

    from fashion_lib.book.progress import progress_path
    from fashion_lib.book.runner import run_book

    chapters = _chapters(tmp_path / "notebooks", tmp_path / "killed-once")
    out = tmp_path / "executed"
    cmd = [sys.executable, "-m", "fashion_lib", "book", "run", "--profile", "smoke"]
    cmd += ["--notebooks", str(chapters), "--out", str(out)]
    first = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert first.returncode == -signal.SIGKILL, first.stderr
    progress = json.loads(progress_path(out, "smoke").read_text(encoding="utf-8"))
    assert [step["name"] for step in progress["plan"]] == ["01_first", "02_killer", "03_reader"]
    assert list(progress["finished"]) == ["01_first"]
    published_first = (out / "01_first.ipynb").read_bytes()

    lines: list[str] = []
    runs = run_book("smoke", notebooks_dir=chapters, out_dir=out, echo=lines.append)
    assert [r.name for r in runs] == ["02_killer", "03_reader"]
    assert "skipping 01_first (finished in the interrupted run)" in lines[0]
    assert (out / "01_first.ipynb").read_bytes() == published_first
    assert not progress_path(out, "smoke").exists(), "a completed run removes its progress file"
    reader = nbformat.read(out / "03_reader.ipynb", as_version=4)
    assert reader.cells[-1].outputs[0]["text"] == "True True\n"
    meta = reader.metadata["fashion_book"]
    assert meta["peak_rss_mb"] > 10 and meta["seconds"] > 0
    assert (
        meta["source_sha256"]
        == hashlib.sha256((chapters / "03_reader.py").read_bytes()).hexdigest()
    )


def test_kernel_death_is_a_one_line_failure_naming_the_cell(tmp_path: Path) -> None:
    from fashion_lib.book.runner import NotebookFailed, run_book

    chapters, out, failed = tmp_path / "notebooks", tmp_path / "out", tmp_path / "failed"
    chapters.mkdir()
    (chapters / "01_dies.py").write_text(
        CHAPTER + "x = 1\n\n# %%\nimport os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n",
        encoding="utf-8",
    )
    out.mkdir()
    (out / "01_dies.ipynb").write_text("stale copy", encoding="utf-8")
    with pytest.raises(NotebookFailed) as caught:
        run_book("smoke", notebooks_dir=chapters, out_dir=out, failed_dir=failed, echo=len)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("notebook 01_dies failed in cell 3 of notebooks/01_dies.py")
    assert "DeadKernelError" in message and str(failed / "01_dies.ipynb") in message
    assert not (out / "01_dies.ipynb").exists(), "a stale published copy is removed"


def test_run_record_of_another_config_or_version_is_never_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = {"model": "m3net_small", "lr": 1e-4, "epochs": 2, "seed": 0}
    run_dir = records.run_dir_for("row", config, root=tmp_path)
    records.write_record(
        run_dir, name="row", config=config, seed=0, profile="smoke", wall_time_s=1.0,
        metrics={"map": 0.5},
    )  # fmt: skip
    assert records.find_finished_run(config, "row", root=tmp_path).metrics == {"map": 0.5}
    for field, value in (("lr", 2e-4), ("epochs", 3), ("seed", 1), ("model", "m3net_r50")):
        assert records.find_finished_run({**config, field: value}, "row", root=tmp_path) is None
    # a record whose folder name matches but whose stored config differs in one field
    path = run_dir / records.RECORD_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**data, "config": {**config, "lr": 1e-3}}), encoding="utf-8")
    assert records.find_finished_run(config, "row", root=tmp_path) is None
    path.write_text(json.dumps(data), encoding="utf-8")
    monkeypatch.setattr(fashion_lib, "__version__", fashion_lib.__version__ + ".post1")
    assert records.find_finished_run(config, "row", root=tmp_path) is None
