"""`runs pack` / `runs unpack`: a class shares one profile's finished runs, checked on arrival."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from fashion_lib.engine import records
from fashion_lib.errors import ConfigError, DataError
from fashion_lib.runs_archive import MANIFEST, pack_runs, unpack_runs

ROOT = Path(__file__).resolve().parent.parent
CONFIG = {"row": "M3-Net", "dataset": "FashionAI", "lr": 1e-3}


def _finished_run(root: Path, seed: int, profile: str = "smoke") -> Path:
    config = {**CONFIG, "seed": seed, "profile": profile}
    run = records.run_dir_for(f"m3row-seed{seed}", config, root)
    (run / "step-00000010").mkdir(parents=True)
    (run / "step-00000010" / "state.pt").write_bytes(b"weights" * 10)
    records.write_record(
        run,
        name=f"m3row-seed{seed}",
        config=config,
        seed=seed,
        profile=profile,
        wall_time_s=1.0,
        metrics={"single/map_all": 40.0 + seed},
    )
    return run


@pytest.fixture
def instructor(tmp_path: Path) -> Path:
    """An instructor's runs folder: two smoke runs, one cpu run, a smoke ledger and a cache."""
    root = tmp_path / "instructor"
    for seed in (0, 1):
        _finished_run(root, seed)
    _finished_run(root, 7, profile="cpu")
    (root / "claims" / "smoke").mkdir(parents=True)
    (root / "claims" / "smoke" / "04_m3net_results.json").write_text("{}\n")
    (root / "cache").mkdir()
    (root / "cache" / "maps.pt").write_bytes(b"cache")
    (root / "book-times").mkdir()
    times = {"03_m3net_training": {"seconds": 900.0}, "04_m3net_results": {"seconds": 60.0}}
    (root / "book-times" / "smoke.json").write_text(json.dumps(times))
    return root


def test_unpacked_runs_are_found_as_finished(instructor: Path, tmp_path: Path) -> None:
    archive = tmp_path / "smoke-runs.tar.gz"
    packed = pack_runs("smoke", archive, instructor)
    assert (packed.runs, packed.files) == (2, 2 * 2 + 2)  # record, state.pt; ledger, times

    student = tmp_path / "student"
    (student / "book-times").mkdir(parents=True)  # the student already built chapter 04 here
    (student / "book-times" / "smoke.json").write_text('{"04_m3net_results": {"seconds": 5.0}}')
    done = unpack_runs(archive, student, profile="smoke")
    assert (done.runs, done.skipped) == (2, 0)
    for seed in (0, 1):
        config = {**CONFIG, "seed": seed, "profile": "smoke"}
        found = records.find_finished_run(config, name=f"m3row-seed{seed}", root=student)
        assert found is not None and found.metrics["single/map_all"] == 40.0 + seed
    assert (student / "claims" / "smoke" / "04_m3net_results.json").read_text() == "{}\n"
    assert not (student / "cache").exists()  # recomputed from the data, never shipped
    times = json.loads((student / "book-times" / "smoke.json").read_text())
    assert times == {"03_m3net_training": {"seconds": 900.0}, "04_m3net_results": {"seconds": 5.0}}
    assert sorted(p.name for p in student.iterdir() if p.name.startswith(".")) == []
    assert unpack_runs(archive, student).skipped == 2  # a second unpack keeps what is there


def _rewrite(archive: Path, out: Path, edit) -> Path:
    """Copy `archive` to `out`, passing each (info, bytes) through `edit` (None drops it)."""
    with tarfile.open(archive, "r:gz") as src, tarfile.open(out, "w:gz") as dst:
        for member in src:
            kept = edit(member, src.extractfile(member).read())
            if kept is not None:
                info, data = kept
                info.size = len(data)
                dst.addfile(info, io.BytesIO(data))
    return out


def _packed(instructor: Path, tmp_path: Path) -> Path:
    return pack_runs("smoke", tmp_path / "runs.tar.gz", instructor).archive


def test_a_flipped_byte_is_refused_and_nothing_is_unpacked(instructor, tmp_path) -> None:
    def flip(info, data):
        return (info, data[:-1] + b"X") if info.name.endswith("state.pt") else (info, data)

    bad = _rewrite(_packed(instructor, tmp_path), tmp_path / "bad.tar.gz", flip)
    student = tmp_path / "student"
    with pytest.raises(DataError, match="does not match its sha256"):
        unpack_runs(bad, student)
    assert list(student.iterdir()) == []


def test_other_code_is_refused(instructor, tmp_path) -> None:
    def other_code(info, data):
        if info.name != MANIFEST:
            return info, data
        manifest = json.loads(data)
        manifest["run_code"] = "0" * 16
        return info, json.dumps(manifest).encode()

    bad = _rewrite(_packed(instructor, tmp_path), tmp_path / "old.tar.gz", other_code)
    with pytest.raises(ConfigError, match="another training and evaluation code"):
        unpack_runs(bad, tmp_path / "student")


def test_missing_file_link_and_wrong_profile_are_refused(instructor, tmp_path) -> None:
    archive = _packed(instructor, tmp_path)
    drop = _rewrite(
        archive,
        tmp_path / "drop.tar.gz",
        lambda info, data: None if info.name.endswith("record.json") else (info, data),
    )
    with pytest.raises(DataError, match=r"listed in manifest\.json but missing"):
        unpack_runs(drop, tmp_path / "s1")

    def escape(info, data):
        if info.name.endswith("state.pt"):
            info.name = "../../evil.pt"
        return info, data

    with pytest.raises(DataError, match="not a plain relative file"):
        unpack_runs(_rewrite(archive, tmp_path / "evil.tar.gz", escape), tmp_path / "s2")
    assert not (tmp_path / "evil.pt").exists()
    with pytest.raises(ConfigError, match="holds smoke runs, not cpu"):
        unpack_runs(archive, tmp_path / "s3", profile="cpu")
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(DataError, match="not a readable runs archive"):
        unpack_runs(tmp_path / "junk.tar.gz", tmp_path / "s4")


def test_nothing_to_pack_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no finished cpu runs"):
        pack_runs("cpu", tmp_path / "x.tar.gz", tmp_path / "empty")
    assert not (tmp_path / "x.tar.gz").exists()


def test_command_line_round_trip(instructor: Path, tmp_path: Path) -> None:
    def cli(*args: str, runs: Path) -> subprocess.CompletedProcess:
        env = {"FASHION_RUNS_DIR": str(runs), "PATH": "/usr/bin:/bin"}
        return subprocess.run(
            [sys.executable, "-m", "fashion_lib", "runs", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    archive = tmp_path / "class.tar.gz"
    packed = cli("pack", "--profile", "smoke", "--out", str(archive), runs=instructor)
    assert packed.returncode == 0, packed.stderr
    assert "packed 2 smoke runs" in packed.stdout
    unpacked = cli("unpack", str(archive), runs=tmp_path / "student")
    assert unpacked.returncode == 0, unpacked.stderr
    assert "unpacked 2 smoke runs" in unpacked.stdout
    refused = cli("unpack", str(tmp_path / "nope.tar.gz"), runs=tmp_path / "student")
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: ") and len(refused.stderr.splitlines()) == 1
