"""nbval: the key outputs of the smoke chapters (shape tables, equation checks) reproduce on a re-run.

Cells tagged ``nbval-check-output`` in the chapter sources are compared by nbval (``--nbval-lax``)
between the smoke book's executed copy and a fresh execution in the same world and runs folder; the
other cells run but are not compared (figures, timings, provenance).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from fashion_lib import paths

CHECKED = (
    "02_m3net_architecture",
    "03_m3net_training",
    "04_m3net_results",
    "06_fashionsap_design",
)
TAG = "nbval-check-output"


def _nbval(notebooks: list[Path], env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax"]
    command += ["--nbval-current-env", "--rootdir", str(notebooks[0].parent)]
    environment = {**os.environ, "PYTHONPATH": str(paths.PROJECT_ROOT), **env}
    return subprocess.run(
        [*command, *map(str, notebooks)],
        cwd=notebooks[0].parent,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )


def _notebook(source: str, output: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": [TAG]}, execution_count=1)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=output)]
    nb = nbformat.v4.new_notebook(cells=[cell])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def test_nbval_compares_tagged_outputs(tmp_path: Path) -> None:
    """The invocation used below does compare: a wrong stored output fails, a right one passes."""
    nbformat.write(_notebook("print(1 + 1)", "2\n"), tmp_path / "right.ipynb")
    nbformat.write(_notebook("print(1 + 1)", "3\n"), tmp_path / "wrong.ipynb")
    assert _nbval([tmp_path / "right.ipynb"], {}).returncode == 0
    wrong = _nbval([tmp_path / "wrong.ipynb"], {})
    assert wrong.returncode == 1 and "3" in wrong.stdout


def test_marked_smoke_outputs_reproduce(smoke_book, tmp_path: Path) -> None:
    copies = []
    for name in CHECKED:
        copy = tmp_path / f"{name}.ipynb"
        shutil.copy(smoke_book.executed / f"{name}.ipynb", copy)
        tagged = [c for c in nbformat.read(copy, 4).cells if TAG in c.metadata.get("tags", [])]
        assert len(tagged) >= 3 and all(c.outputs for c in tagged), f"{name}: tagged cells"
        copies.append(copy)
    done = _nbval(copies, smoke_book.env)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
