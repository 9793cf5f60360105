"""The notebook runner: publish on success only, name the notebook and cell on failure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from fashion_lib.book.progress import BookProgress, progress_path
from fashion_lib.book.runner import NotebookFailed, discover, run_book, select
from fashion_lib.errors import ConfigError
from fashion_lib.fingerprint import file_digest

HEADER = '# %% tags=["parameters"]\nprofile = "cpu"\n\n'


def _write(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.py"
    path.write_text(HEADER + body, encoding="utf-8")
    return path


@pytest.fixture
def chapters(tmp_path: Path) -> Path:
    src = tmp_path / "notebooks"
    src.mkdir()
    _write(src, "00_ok", "# %%\nanswer = 6 * 7\nprint(profile, answer)\n")
    _write(src, "01_boom", '# %%\nx = 1\n\n# %%\nraise ValueError("planted failure")\n')
    return src


def test_discover_and_select(chapters: Path) -> None:
    sources = discover(chapters)
    assert [p.stem for p in sources] == ["00_ok", "01_boom"]
    assert [p.stem for p in select(sources, ["01"])] == ["01_boom"]
    assert [p.stem for p in select(sources, ["00_ok", "00"])] == ["00_ok"]
    with pytest.raises(ConfigError, match="no notebook matches '7'"):
        select(sources, ["7"])


def test_success_publishes_with_parameters_and_duration(chapters: Path, tmp_path: Path) -> None:
    out = tmp_path / "executed"
    runs = run_book("smoke", only=["00"], notebooks_dir=chapters, out_dir=out, echo=lambda _: None)
    assert [r.name for r in runs] == ["00_ok"]
    nb = nbformat.read(out / "00_ok.ipynb", as_version=4)
    assert nb.metadata["papermill"]["parameters"] == {"profile": "smoke"}
    assert nb.metadata["fashion_book"]["profile"] == "smoke"
    assert nb.metadata["fashion_book"]["seconds"] > 0
    outputs = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )
    assert "smoke 42" in outputs
    assert not list(out.glob(".*")), "no scratch folder is left beside the published notebooks"


def test_failure_names_notebook_and_cell_and_is_not_published(
    chapters: Path, tmp_path: Path
) -> None:
    out, failed = tmp_path / "executed", tmp_path / "failed"
    out.mkdir()
    (out / "01_boom.ipynb").write_text("stale copy from an earlier run", encoding="utf-8")
    with pytest.raises(NotebookFailed) as err:
        run_book(
            "smoke", notebooks_dir=chapters, out_dir=out, failed_dir=failed, echo=lambda _: None
        )
    message = str(err.value)
    assert "01_boom" in message and "cell 3" in message and "planted failure" in message
    assert (out / "00_ok.ipynb").exists()
    assert not (out / "01_boom.ipynb").exists()
    assert (failed / "01_boom.ipynb").exists()


def test_cli_exits_nonzero_with_one_line(chapters: Path, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "fashion_lib", "book", "run", "--profile", "smoke"]
    cmd += ["--notebooks", str(chapters), "--out", str(tmp_path / "out"), "--only", "01"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: notebook 01_boom failed in cell 3")


def test_unknown_profile_is_rejected_before_running(chapters: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown profile 'huge'"):
        run_book("huge", notebooks_dir=chapters, out_dir=tmp_path, echo=lambda _: None)


def test_progress_resumes_only_the_unchanged_prefix(tmp_path: Path) -> None:
    plan = {"01_a": "sha-a", "02_b": "sha-b", "03_c": "sha-c"}
    first = BookProgress(tmp_path, "smoke", plan)
    assert first.resume() == []  # no progress file yet
    for name in plan:
        (tmp_path / f"{name}.ipynb").write_text(f"published {name}", encoding="utf-8")
        first.record(name, tmp_path / f"{name}.ipynb")
    saved = json.loads(progress_path(tmp_path, "smoke").read_text(encoding="utf-8"))
    assert saved["profile"] == "smoke" and [s["name"] for s in saved["plan"]] == list(plan)
    assert saved["finished"]["02_b"] == {
        "source_sha256": "sha-b",
        "published_sha256": file_digest(tmp_path / "02_b.ipynb"),
    }
    (tmp_path / "02_b.ipynb").write_text("edited by hand", encoding="utf-8")
    again = BookProgress(tmp_path, "smoke", plan)
    assert again.resume() == ["01_a"]  # 03_c is intact but follows a changed notebook
    assert BookProgress(tmp_path, "smoke", {**plan, "01_a": "new source"}).resume() == []
    assert BookProgress(tmp_path, "smoke", dict(reversed(plan.items()))).resume() == []
    assert BookProgress(tmp_path, "cpu", plan).resume() == []  # another profile's file
    again.complete()
    assert not progress_path(tmp_path, "smoke").exists()


def test_published_pages_carry_no_progress_bars(tmp_path: Path) -> None:
    """The library's bars (tqdm's) and transformers' ("Loading weights", a widget in a kernel)."""
    src = tmp_path / "notebooks"
    src.mkdir()
    body = (
        "# %%\nfrom tqdm import tqdm\nfrom transformers.utils import logging\n"
        'total = sum(tqdm(range(3), desc="plain")) + sum(logging.tqdm(range(3), desc="weights"))\n'
        "print(total)\n"
    )
    _write(src, "00_bars", body)
    out = tmp_path / "executed"
    run_book("smoke", notebooks_dir=src, out_dir=out, echo=lambda _: None)
    nb = nbformat.read(out / "00_bars.ipynb", as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert [o.get("text", "") for o in outputs] == ["6\n"], outputs


def test_kernels_keep_matplotlibs_font_cache_in_the_environment(tmp_path: Path) -> None:
    src = tmp_path / "notebooks"
    src.mkdir()
    _write(src, "00_mpl", "# %%\nimport matplotlib\nprint(matplotlib.get_cachedir())\n")
    out = tmp_path / "executed"
    run_book("smoke", notebooks_dir=src, out_dir=out, echo=lambda _: None)
    nb = nbformat.read(out / "00_mpl.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert printed.strip() == str(Path(sys.prefix) / "matplotlib")
