"""Bad input at every entry point: one `error:` line naming what and where, exit 2, nothing written.

Entry points: the command line (`book run`, `data make`, `data check`, and the environment
variables FASHION_DATA_ROOT / FASHION_RUNS_DIR they read), a chapter's papermill parameter, and
the files the library reads back (run records, checkpoints, the runner's progress file, the
atelier manifest). The command line runs in-process through `cli.main`, plus two real processes.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from torch import nn

from fashion_lib import paths
from fashion_lib.book.progress import progress_path
from fashion_lib.book.runner import NotebookFailed, run_book, run_notebook
from fashion_lib.cli import main
from fashion_lib.data.atelier import make
from fashion_lib.engine import records
from fashion_lib.engine.checkpoint import CheckpointStore, load_weights
from fashion_lib.errors import DataError
from fashion_lib.profiles import get_profile

ROOT = Path(__file__).resolve().parent.parent

# (argv, environment, words the one error line must contain); {t} is the test's scratch folder,
# which holds `file` (a plain file), `empty/` (an empty folder) and `junk/` (a malformed copy).
OUT = ["--out", "{t}/out"]
CASES = [
    (["nope"], {}, ["COMMAND", "invalid choice: 'nope'"]),
    (["book"], {}, ["book", "required"]),
    (["book", "run", "--profile", "nope", *OUT], {}, ["--profile", "'nope'"]),
    (["book", "run", "--profile", "smoke", "--only", "77", *OUT], {}, ["'77'", "00_overview"]),
    (["book", "run", "--only", "00", "--cell-timeout", "-5", *OUT], {}, ["--cell-timeout", "> 0"]),
    (["book", "run", "--only", "00", "--cell-timeout", "0", *OUT], {}, ["--cell-timeout"]),
    (["book", "run", "--only", "00", *OUT, "--cell-timeout"], {}, ["--cell-timeout"]),
    (["book", "run", "--only", "00", "--out", "{t}/file/out"], {}, ["--out", "inside a file"]),
    (["book", "run", "--notebooks", "{t}/missing", *OUT], {}, ["--notebooks", "missing"]),
    (["book", "run", *OUT], {"FASHION_RUNS_DIR": "{t}/file"}, ["FASHION_RUNS_DIR", "not a folder"]),
    (["book", "run", *OUT], {"FASHION_RUNS_DIR": "{t}/file/runs"}, ["FASHION_RUNS_DIR", "file"]),
    (["book", "run", *OUT], {"FASHION_RUNS_DIR": " "}, ["FASHION_RUNS_DIR", "empty"]),
    (["book", "run", *OUT], {"FASHION_DATA_ROOT": "{t}/missing"}, ["FASHION_DATA_ROOT", "exist"]),
    (["book", "run", *OUT], {"FASHION_DATA_ROOT": "{t}/file"}, ["FASHION_DATA_ROOT", "folder"]),
    (["data"], {}, ["data", "required"]),
    (["data", "check", "--format", "fashionai", "{t}/missing"], {}, ["{t}/missing", "missing"]),
    (["data", "check", "--format", "xyz", "{t}/empty"], {}, ["--format", "'xyz'"]),
    (["data", "check", "{t}/empty"], {}, ["--format", "required"]),
    (["data", "check", "--format", "fashionai", "{t}/empty"], {}, ["{t}/empty/", "missing"]),
    (["data", "check", "--format", "darn", "{t}/junk"], {}, ["{t}/junk/meta.json:1", "JSON"]),
    (["data", "check", "--format", "fashiongen", "{t}/junk/x.h5"], {}, ["x.h5", "h5"]),
    (["data", "check", "--format", "deepfashion", "{t}/junk"], {}, ["{t}/junk/", "missing"]),
    (["data", "make", "--profile", "nope"], {}, ["--profile", "'nope'"]),
    (["data", "make", "--profile", "paper"], {}, ["'paper'", "real datasets"]),
    (["data", "make", "--profile", "smoke", "--strength", "2"], {}, ["--strength", "[0, 1]"]),
    (["data", "make", "--profile", "smoke", "--strength", "x"], {}, ["--strength", "number"]),
    (["data", "make", "--profile", "smoke", "--label-noise", "-0.1"], {}, ["--label-noise"]),
    (["data", "make", "--profile", "smoke", "--workers", "0"], {}, ["--workers", "> 0"]),
    (["data", "make", "--profile", "smoke", "--out", "{t}/file"], {}, ["--out", "not a folder"]),
    (["data", "make", "--profile", "smoke", "--if-missing", "--strength", "0.5"], {}, ["knobs"]),
    (["data", "make", "--profile", "smoke"], {"FASHION_DATA_ROOT": "{t}/file"}, ["FASHION_DATA"]),
    (["data", "make", "--profile", "smoke", "--out", "/proc/x/w"], {}, ["/proc/x/w", "cannot write"]),
    # the paper profile reads real data or stops before any chapter runs (missing or empty root)
    (["book", "run", "--profile", "paper", "--only", "03", *OUT], {"FASHION_DATA_ROOT": "{t}/no"},
     ["dataset DeepFashion", "{t}/no/DeepFashion", "does not exist", "Anno/list_attr_img.txt"]),
    (["book", "run", "--profile", "paper", "--only", "07", *OUT], {},
     ["dataset FashionGen", "{t}/empty/FashionGen", "fashiongen_256_256_train.h5"]),
]  # fmt: skip


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    (tmp_path / "file").write_text("not a folder\n", encoding="utf-8")
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "meta.json").write_text("{not json\n", encoding="utf-8")
    (tmp_path / "junk" / "x.h5").write_text("not hdf5\n", encoding="utf-8")
    return tmp_path


def snapshot(*folders: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under `folders` with its size and modification time."""
    found = {}
    for folder in folders:
        for path in [folder, *folder.rglob("*")] if folder.exists() else []:
            stat = path.stat()
            found[str(path)] = (stat.st_size if path.is_file() else -1, stat.st_mtime_ns)
    return found


@pytest.mark.parametrize(("argv", "env", "words"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_cli_rejects_bad_input_in_one_line_and_writes_nothing(
    argv: list[str],
    env: dict[str, str],
    words: list[str],
    scratch: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    for name in ("FASHION_DATA_ROOT", "FASHION_RUNS_DIR"):
        monkeypatch.setenv(name, str(scratch / "empty"))
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(t=scratch))
    before = snapshot(scratch, paths.data_root() / "atelier-smoke")
    try:
        code = main([arg.format(t=scratch) for arg in argv])
    except SystemExit as stop:  # argparse's usage errors
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    for word in words:
        assert word.format(t=scratch) in err, err
    assert snapshot(scratch, paths.data_root() / "atelier-smoke") == before


def test_paper_profile_names_the_one_missing_or_invalid_dataset(
    scratch: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Raw DeepFashion and FashionAI pass the check (split files derived outside the root)."""
    from test_raw_layouts import make_raw_deepfashion, make_raw_fashionai

    root = scratch / "root"
    make_raw_deepfashion(root / "DeepFashion")
    make_raw_fashionai(root / "FashionAI")
    monkeypatch.setenv("FASHION_DATA_ROOT", str(root))
    monkeypatch.setenv("FASHION_DERIVED_DIR", str(scratch / "derived"))
    argv = ["book", "run", "--profile", "paper", "--only", "04", "--out", str(scratch / "out")]
    for darn, words in (
        (None, ["dataset DARN not found at", "no such folder", "pic/"]),
        ("{not json", ["dataset DARN at", "is invalid", "meta.json:1", "pic/"]),
    ):
        if darn is not None:
            (root / "DARN").mkdir()
            (root / "DARN" / "meta.json").write_text(darn)
        before = snapshot(root)
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and err.startswith("error: profile paper: ")
        assert all(w in err for w in [str(root / "DARN"), *words]), err
        assert snapshot(root) == before and not (scratch / "out").exists()


def test_gpu_profiles_without_a_gpu_stop_unless_allowed(
    scratch: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import torch

    from fashion_lib.book.preflight import require_gpu

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("FASHION_ALLOW_CPU", raising=False)
    run = ["book", "run", "--only", "00", "--out", str(scratch), "--profile"]
    for argv in ([*run, "gpu"], [*run, "paper"], ["book", "check", "--profile", "gpu"]):
        code = main(argv)  # `book check` is `make book`'s first step
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert f"profile {argv[-1]} expects a GPU" in err and "--allow-cpu" in err
    assert require_gpu(get_profile("cpu")) is None
    assert "going on" in require_gpu(get_profile("gpu"), allow_cpu=True)
    monkeypatch.setenv("FASHION_ALLOW_CPU", "1")
    assert "going on" in require_gpu(get_profile("gpu"))


def test_a_real_process_exits_2_with_one_line(scratch: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fashion_lib", "book", "run", "--out", str(scratch / "out")],
        cwd=ROOT,
        env={"FASHION_RUNS_DIR": str(scratch / "file"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == f"error: environment variable FASHION_RUNS_DIR='{scratch / 'file'}' " + (
        "is not a folder\n"
    )
    assert not (scratch / "out").exists()


def test_chapter_with_a_bad_profile_parameter_fails_naming_it(scratch: Path) -> None:
    out, failed = scratch / "out", scratch / "failed"
    with pytest.raises(NotebookFailed) as caught:
        run_notebook(paths.NOTEBOOKS_DIR / "00_overview.py", "nope", out, failed, cell_timeout=120)
    message = str(caught.value)
    assert "\n" not in message
    assert "00_overview" in message and "ConfigError: unknown profile 'nope'" in message
    assert [p.name for p in out.iterdir()] == [], "nothing is published"
    assert (failed / "00_overview.ipynb").is_file()


def test_malformed_run_record_names_file_and_line_and_is_not_reused(tmp_path: Path) -> None:
    config = {"lr": 0.1}
    run_dir = records.run_dir_for("row", config, root=tmp_path)
    run_dir.mkdir(parents=True)
    record = run_dir / records.RECORD_FILE
    for text, where in (('{\n "name": "row",\n oops\n}\n', f"{record}:3"), ("[]", str(record))):
        record.write_text(text, encoding="utf-8")
        with pytest.raises(DataError) as caught:
            records.load_record(record)
        assert str(caught.value).startswith(where)
        before = snapshot(tmp_path)
        assert records.find_finished_run(config, "row", root=tmp_path) is None
        assert snapshot(tmp_path) == before


def test_unreadable_checkpoints_name_the_file(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "run" / "checkpoints")
    folder = store.save({"step": 3, "model": nn.Linear(2, 2).state_dict()}, 3)
    (folder / "state.pt").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=re.escape(f"sha256 of {folder / 'state.pt'}")):
        CheckpointStore.read(folder)
    (folder / "state.pt.sha256").unlink()
    with pytest.raises(ValueError, match=re.escape("state.pt.sha256 is missing")):
        CheckpointStore.read(folder)
    with (
        pytest.warns(UserWarning, match=re.escape(str(folder / "state.pt"))),
        pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "run" / "checkpoints"))),
    ):
        load_weights(nn.Linear(2, 2), tmp_path / "run")


def test_malformed_progress_file_warns_and_runs_everything(tmp_path: Path) -> None:
    chapters, out = tmp_path / "notebooks", tmp_path / "out"
    chapters.mkdir()
    (chapters / "01_only.py").write_text('# %% tags=["parameters"]\nprofile = "cpu"\n')
    progress = progress_path(out, "smoke")
    out.mkdir()
    progress.write_text('{"plan": [', encoding="utf-8")
    with pytest.warns(UserWarning, match=re.escape(str(progress))):
        runs = run_book("smoke", notebooks_dir=chapters, out_dir=out, echo=lambda _: None)
    assert [r.name for r in runs] == ["01_only"]
    assert not progress.exists()
    nb = nbformat.read(out / "01_only.ipynb", as_version=4)
    assert nb.metadata["fashion_book"]["profile"] == "smoke"


def test_malformed_world_manifest_means_an_incomplete_world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FASHION_DATA_ROOT", str(tmp_path))
    world = tmp_path / "atelier-smoke"
    world.mkdir()
    (world / make.MANIFEST).write_text('{"knobs": ', encoding="utf-8")
    built = []
    monkeypatch.setattr(
        make,
        "make_world",
        lambda profile, workers: built.append(profile.name) or make.WorldSummary(world, {}, 0.0),
    )
    assert make.ensure_world(get_profile("smoke")) == world
    assert built == ["smoke"]
    (world / make.MANIFEST).write_text(json.dumps({"knobs": {}, "images": {}}), encoding="utf-8")
    make.ensure_world(get_profile("smoke"))
    assert built == ["smoke", "smoke"], "a manifest of other knobs is not a complete world"
