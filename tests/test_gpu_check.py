"""`make gpu-check` without a GPU: its arguments, the one-line exit, every family's training for
two steps on the CPU at smoke size, the torchrun DDP job over gloo, and the report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fashion_lib import gpu_check as gc
from fashion_lib.data.atelier.make import make_world
from fashion_lib.paths import dataset_root
from fashion_lib.profiles import get_profile

ROOT = Path(__file__).resolve().parent.parent
CPU = torch.device("cpu")


@pytest.mark.parametrize(
    "argv",
    [["--steps", "0"], ["--steps", "x"], ["--only", "nope"], ["--profile", "nope"], ["--bogus"]],
)
def test_bad_arguments_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        gc.build_parser().parse_args(argv)
    assert stop.value.code == 2


def test_warmup_must_leave_timed_steps(capsys: pytest.CaptureFixture) -> None:
    assert gc.main(["--steps", "5", "--warmup", "5"]) == 2
    assert capsys.readouterr().err.startswith("error: --warmup")


def test_defaults_cover_every_family() -> None:
    args = gc.build_parser().parse_args([])
    assert args.profile == "gpu" and args.only == list(gc.FAMILIES) and not args.no_ddp
    assert set(gc.FAMILIES) == {*gc.M3_ROWS, "FashionSAP", "FashionSAP-R50"}


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_without_a_gpu_one_line_and_exit_1() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fashion_lib.gpu_check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == gc.NO_GPU + "\n"


# One row per family (the ASEN family's one- and two-branch models, MODC, M3-Net): the other rows
# are these models with other settings.
@pytest.mark.parametrize("family", ["ASENv2", "ASEN++", "MODC", "M3-Net"])
def test_m3net_rows_train_two_steps_on_the_cpu(family: str) -> None:
    result = gc.run_family(family, "smoke", steps=2, warmup=1, device=CPU)
    assert result.family == family and result.steps == 2 and result.peak_mem_mb is None
    assert result.images_per_s > 0 and torch.isfinite(torch.tensor(result.loss))


@pytest.fixture(scope="module")
def smoke_world(tmp_path_factory: pytest.TempPathFactory):
    """A smoke world under a scratch data root (FashionSAP's batch comes from its FashionGen)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FASHION_DATA_ROOT", str(tmp_path_factory.mktemp("data")))
        make_world(get_profile("smoke"), out=dataset_root("smoke", True), workers=1)
        yield


@pytest.mark.parametrize("family", list(gc.SAP_VARIANTS))
def test_fashionsap_trains_two_steps_on_the_cpu(smoke_world, family: str) -> None:
    result = gc.run_family(family, "smoke", steps=2, warmup=1, device=CPU)
    assert result.images_per_s > 0 and torch.isfinite(torch.tensor(result.loss))


def test_ddp_job_through_torchrun_keeps_ranks_in_step() -> None:
    report = gc.run_ddp("smoke", steps=2, warmup=1)  # gloo on the CPU, as on a one-GPU machine
    assert report["ranks"] == 2 and report["backend"] == "gloo" and report["same_weights"]
    assert report["family"] == gc.DDP_FAMILY and report["images_per_s"] > 0


def test_report_lists_families_and_the_ddp_verdict() -> None:
    results = [
        gc.FamilyResult("M3-Net", 200, 1234.56, 5120.0, 0.4321),
        gc.FamilyResult("FashionSAP", 200, 321.0, None, 7.5),
    ]
    ddp = {
        "family": "ASENv2",
        "ranks": 2,
        "backend": "gloo",
        "images_per_s": 999.0,
        "peak_mem_mb": 2048.0,
        "same_weights": True,
    }
    text = gc.format_report(results, ddp, "NVIDIA H100")
    lines = text.splitlines()
    assert lines[0] == "gpu-check on NVIDIA H100" and "images/s" in lines[1]
    assert lines[2].split() == ["M3-Net", "200", "1234.6", "5120", "0.4321"]
    assert lines[3].split() == ["FashionSAP", "200", "321.0", "-", "7.5000"]
    assert "999.0 images/s" in lines[4] and "same weights on every rank" in lines[4]
    assert "WEIGHTS DIFFER" in gc.format_report([], {**ddp, "same_weights": False}, "x")
