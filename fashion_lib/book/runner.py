"""Execute the book's notebooks with papermill, publishing only the ones that succeed.

Each `notebooks/NN_name.py` (jupytext percent format, the source of truth) becomes a notebook with
the `python3` kernel set, is executed by papermill in a scratch folder with the profile injected as a
parameter, and is moved into `book/executed/` only when every cell ran. A failure keeps the failed
notebook in `build/failed-notebooks/` (outside the book), removes any stale published copy, and
raises `NotebookFailed` naming the notebook and the cell.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jupytext
import nbformat
import papermill as pm
from papermill.exceptions import PapermillExecutionError

from fashion_lib import paths
from fashion_lib.errors import ConfigError, FashionLibError
from fashion_lib.profiles import get_profile

KERNEL = "python3"
# Set for the kernels papermill starts: no network, no progress bars in published outputs.
KERNEL_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TQDM_DISABLE": "1"}


class NotebookFailed(FashionLibError):
    """A notebook raised; the message names the notebook, the cell and where the failed copy is."""


@dataclass(frozen=True)
class NotebookRun:
    """One executed notebook: its name, where it was published, and its wall time in seconds."""

    name: str
    output: Path
    seconds: float


def discover(notebooks_dir: Path = paths.NOTEBOOKS_DIR) -> list[Path]:
    """Return the chapter sources `NN_name.py` in reading order."""
    return sorted(p for p in notebooks_dir.glob("[0-9][0-9]_*.py"))


def select(sources: Sequence[Path], only: Sequence[str]) -> list[Path]:
    """Keep the sources named in `only` (by number `03` or stem `03_train`); all when empty."""
    if not only:
        return list(sources)
    chosen = []
    for key in only:
        hits = [p for p in sources if p.stem == key or p.stem.split("_", 1)[0] == key]
        if not hits:
            names = ", ".join(p.stem for p in sources)
            raise ConfigError(f"no notebook matches {key!r}; notebooks are: {names}")
        chosen.extend(h for h in hits if h not in chosen)
    return sorted(chosen)


def to_notebook(source: Path) -> nbformat.NotebookNode:
    """Read a jupytext `.py` and return a notebook with the kernel and language set."""
    nb = jupytext.read(source)
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    nb.metadata.setdefault("language_info", {"name": "python"})
    # Without this key, a later `jupytext --sync` of an executed copy cannot write a stray .py.
    nb.metadata.pop("jupytext", None)
    return nb


def _source_cell_number(executed: nbformat.NotebookNode, cell_index: int) -> int:
    """1-based number of the failing cell in the source, not counting papermill's injected cell."""
    injected = sum(
        "injected-parameters" in c.metadata.get("tags", []) for c in executed.cells[:cell_index]
    )
    return cell_index - injected + 1


def run_notebook(
    source: Path,
    profile: str,
    out_dir: Path = paths.EXECUTED_DIR,
    failed_dir: Path = paths.FAILED_DIR,
    cell_timeout: int | None = None,
) -> NotebookRun:
    """Execute one chapter in `profile` and publish it into `out_dir`.

    Args:
        source: the jupytext `.py` chapter.
        profile: profile name, injected as the notebook's `profile` parameter.
        out_dir: where successful notebooks are published (the book reads them from there).
        failed_dir: where a failed notebook is kept for inspection.
        cell_timeout: seconds one cell may run; None means no limit.

    Returns:
        The published notebook's name, path and wall time.

    Raises:
        NotebookFailed: a cell raised; names the notebook and the cell.
    """
    name = source.stem
    out_dir.mkdir(parents=True, exist_ok=True)
    published = out_dir / f"{name}.ipynb"
    # Scratch folder beside the destination, so the final move is an atomic rename.
    with tempfile.TemporaryDirectory(prefix=f".{name}.", dir=out_dir) as tmp:
        src_nb = Path(tmp) / f"{name}.input.ipynb"
        out_nb = Path(tmp) / f"{name}.ipynb"
        nbformat.write(to_notebook(source), src_nb)
        started = time.perf_counter()
        try:
            pm.execute_notebook(
                str(src_nb),
                str(out_nb),
                parameters={"profile": profile},
                kernel_name=KERNEL,
                language="python",
                cwd=str(source.parent),
                progress_bar=False,
                log_output=False,
                execution_timeout=cell_timeout,
            )
        except PapermillExecutionError as err:
            published.unlink(missing_ok=True)
            failed_dir.mkdir(parents=True, exist_ok=True)
            kept = failed_dir / f"{name}.ipynb"
            shutil.copyfile(out_nb, kept)
            cell = _source_cell_number(nbformat.read(out_nb, as_version=4), err.cell_index)
            detail = (err.evalue.strip().splitlines() or [""])[-1]
            raise NotebookFailed(
                f"notebook {name} failed in cell {cell} of notebooks/{source.name} "
                f"(In [{err.exec_count}]): {err.ename}: {detail}; failed copy kept at {kept}"
            ) from None
        seconds = time.perf_counter() - started
        nb = nbformat.read(out_nb, as_version=4)
        nb.metadata["fashion_book"] = {
            "profile": profile,
            "seconds": round(seconds, 2),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "source": f"notebooks/{source.name}",
        }
        nbformat.write(nb, out_nb)
        os.replace(out_nb, published)
    return NotebookRun(name=name, output=published, seconds=seconds)


def run_book(
    profile: str,
    only: Sequence[str] = (),
    notebooks_dir: Path = paths.NOTEBOOKS_DIR,
    out_dir: Path = paths.EXECUTED_DIR,
    failed_dir: Path = paths.FAILED_DIR,
    cell_timeout: int | None = None,
    echo: Callable[[str], None] = print,
) -> list[NotebookRun]:
    """Execute the chosen chapters in order, one progress line each; stop at the first failure."""
    get_profile(profile)  # fail before starting kernels on a misspelt profile
    sources = select(discover(notebooks_dir), only)
    if not sources:
        raise ConfigError(f"no notebooks found in {notebooks_dir}")
    os.environ.update(KERNEL_ENV)
    runs = []
    for i, source in enumerate(sources, 1):
        head = f"[{i}/{len(sources)}] {source.stem} ({profile})"
        echo(f"{head} ...")
        sys.stdout.flush()
        run = run_notebook(source, profile, out_dir, failed_dir, cell_timeout)
        echo(f"{head} ok in {run.seconds:.1f} s")
        runs.append(run)
    return runs
