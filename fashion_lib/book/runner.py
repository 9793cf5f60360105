"""Execute the book's notebooks with papermill, publishing only the ones that succeed.

Each `notebooks/NN_name.py` (jupytext percent format, the source of truth) becomes a notebook with
the `python3` kernel set, is executed by papermill in a scratch folder with the profile injected as a
parameter, and is moved into `book/executed/` only when every cell ran. A failure keeps the failed
notebook in `build/failed-notebooks/` (outside the book), removes any stale published copy, and
raises `NotebookFailed` naming the notebook and the cell.

Every published notebook carries `metadata.fashion_book`: profile, wall time (`seconds`), peak
resident memory of the kernel's process tree (`peak_rss_mb`), the source's sha256 and when it
finished. Kernels see `FASHION_BOOK_OUT`, the publish folder, so a chapter can read the metadata of
the chapters published before it.

Each run of one of the book's own sources (`notebooks/`) also records the chapter's time under its
profile (`fashion_lib.book.timings`), for the landing page. With `solutions=False` (``make book
SOLUTIONS=0``, the instructors' book) every exercise's solution cells are removed before the
chapter runs; otherwise each exercise's solution is published inside one "Solution" dropdown
(`fashion_lib.book.solutions`).

An interrupted `run_book` resumes at its first unfinished notebook (`fashion_lib.book.progress`).
Before the first chapter, `fashion_lib.book.preflight` checks the real datasets the chapters need
(paper profile) and that a GPU profile has a GPU.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jupytext
import nbformat
import papermill as pm
import psutil
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from papermill.exceptions import PapermillExecutionError

from fashion_lib import paths
from fashion_lib.book.chapters import discover
from fashion_lib.book.preflight import preflight
from fashion_lib.book.progress import BookProgress
from fashion_lib.book.solutions import strip_solutions, wrap_solutions
from fashion_lib.book.timings import record_time
from fashion_lib.errors import ConfigError, FashionLibError
from fashion_lib.fingerprint import file_digest
from fashion_lib.profiles import get_profile

KERNEL = "python3"
# Set for the kernels papermill starts: no network, no progress bars in published outputs
# (transformers' and huggingface_hub's bars, e.g. "Loading weights", ignore TQDM_DISABLE).
KERNEL_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TQDM_DISABLE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    # matplotlib's font list, cached per environment: a shared ~/.cache/matplotlib written by
    # another environment's matplotlib of the same version can list none of this one's fonts,
    # and every figure with math text then logs "findfont: Font family ... not found".
    "MPLCONFIGDIR": str(Path(sys.prefix) / "matplotlib"),
}
OUT_ENV = "FASHION_BOOK_OUT"
RSS_INTERVAL_S = 0.2


class NotebookFailed(FashionLibError):
    """A notebook raised; the message names the notebook, the cell and where the failed copy is."""


@dataclass(frozen=True)
class NotebookRun:
    """One executed notebook: its name, where it was published, and its wall time in seconds."""

    name: str
    output: Path
    seconds: float


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


def _failure(
    err: PapermillExecutionError | CellTimeoutError | DeadKernelError,
    source: Path,
    out_nb: Path,
    failed_dir: Path,
) -> NotebookFailed:
    """The one-line error of a failed notebook; keeps the partly executed copy in `failed_dir`."""
    name = source.stem
    if not out_nb.is_file():  # the kernel died before papermill wrote anything
        return NotebookFailed(f"notebook {name} (notebooks/{source.name}): {err}")
    failed_dir.mkdir(parents=True, exist_ok=True)
    kept = failed_dir / f"{name}.ipynb"
    shutil.copyfile(out_nb, kept)
    executed = nbformat.read(out_nb, as_version=4)
    if isinstance(err, PapermillExecutionError):
        index, count = err.cell_index, err.exec_count
        detail = f"{err.ename}: {(err.evalue.strip().splitlines() or [''])[-1]}"
    else:  # the cell that was started but never got the kernel's reply (death or time-out)
        started = [i for i, c in enumerate(executed.cells) if c.metadata.get("papermill", {})]
        replied = [
            "shell.execute_reply" in executed.cells[i].metadata.get("execution", {})
            for i in started
        ]
        index = next(
            (i for i, ok in zip(started, replied, strict=True) if not ok), len(started) - 1
        )
        count = executed.cells[index].get("execution_count")
        detail = f"{type(err).__name__}: {str(err).strip().splitlines()[0]}"
    cell = _source_cell_number(executed, index)
    return NotebookFailed(
        f"notebook {name} failed in cell {cell} of notebooks/{source.name} "
        f"(In [{count}]): {detail}; failed copy kept at {kept}"
    )


class PeakRss:
    """Peak resident memory (MB) of this process's descendants (the kernel and what it starts),
    summed over the process tree every `interval` seconds by a background thread while in use."""

    def __init__(self, interval: float = RSS_INTERVAL_S) -> None:
        self.interval, self.peak_mb = interval, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="peak-rss", daemon=True)

    def _watch(self) -> None:
        while True:
            total = 0
            for child in psutil.Process().children(recursive=True):
                with contextlib.suppress(psutil.Error):  # ended between listing and reading
                    total += child.memory_info().rss
            self.peak_mb = max(self.peak_mb, total / 2**20)
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def _kernel_env(out_dir: Path) -> Iterator[None]:
    """Set the kernels' environment (KERNEL_ENV and FASHION_BOOK_OUT) for the block, then restore."""
    wanted = {**KERNEL_ENV, OUT_ENV: str(out_dir.resolve())}
    saved = {key: os.environ.get(key) for key in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _show_parameters_once(nb: nbformat.NotebookNode) -> None:
    """Hide the source's default parameters cell where papermill injected the values it ran with.

    The page then shows one parameters cell, the one that ran (``profile = "smoke"``), while the
    `.py` source keeps its default for JupyterLab readers.
    """
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    if any("injected-parameters" in t for t in tags):
        for cell, cell_tags in zip(nb.cells, tags, strict=True):
            if "parameters" in cell_tags and "remove-cell" not in cell_tags:
                cell.metadata["tags"] = [*cell_tags, "remove-cell"]


def run_notebook(
    source: Path,
    profile: str,
    out_dir: Path = paths.EXECUTED_DIR,
    failed_dir: Path = paths.FAILED_DIR,
    cell_timeout: int | None = None,
    solutions: bool = True,
) -> NotebookRun:
    """Execute one chapter in `profile` and publish it into `out_dir`.

    Args:
        source: the jupytext `.py` chapter.
        profile: profile name, injected as the notebook's `profile` parameter.
        out_dir: where successful notebooks are published (the book reads them from there).
        failed_dir: where a failed notebook is kept for inspection.
        cell_timeout: seconds one cell may run; None means no limit.
        solutions: False removes the exercises' solution cells before the chapter runs.

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
        nb = to_notebook(source)
        if not solutions:
            strip_solutions(nb)
        nbformat.write(nb, src_nb)
        started = time.perf_counter()
        try:
            with _kernel_env(out_dir), PeakRss() as rss:
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
        except (PapermillExecutionError, CellTimeoutError, DeadKernelError) as err:
            published.unlink(missing_ok=True)
            raise _failure(err, source, out_nb, failed_dir) from None
        seconds = time.perf_counter() - started
        nb = nbformat.read(out_nb, as_version=4)
        _show_parameters_once(nb)
        wrap_solutions(nb)
        # papermill records its scratch paths; a published page names only project paths.
        nb.metadata.get("papermill", {}).update(
            input_path=f"notebooks/{source.name}", output_path=f"book/executed/{name}.ipynb"
        )
        nb.metadata["fashion_book"] = {
            "profile": profile,
            "seconds": round(seconds, 2),
            "peak_rss_mb": round(rss.peak_mb, 1),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "solutions": solutions,
            "source": f"notebooks/{source.name}",
            "source_sha256": file_digest(source),
        }
        nbformat.write(nb, out_nb)
        os.replace(out_nb, published)
    if source.parent.resolve() == paths.NOTEBOOKS_DIR.resolve():  # the book's, not a test's
        meta = nb.metadata["fashion_book"]
        record_time(
            profile, name, {k: v for k, v in meta.items() if k not in ("profile", "source")}
        )
    return NotebookRun(name=name, output=published, seconds=seconds)


def run_book(
    profile: str,
    only: Sequence[str] = (),
    notebooks_dir: Path = paths.NOTEBOOKS_DIR,
    out_dir: Path = paths.EXECUTED_DIR,
    failed_dir: Path = paths.FAILED_DIR,
    cell_timeout: int | None = None,
    echo: Callable[[str], None] = print,
    allow_cpu: bool = False,
    solutions: bool = True,
) -> list[NotebookRun]:
    """Execute the chosen chapters in order, one progress line each; stop at the first failure.

    First, with no kernel started: the paper profile's datasets are checked under the data root
    and a GPU profile without a GPU stops unless `allow_cpu` (or FASHION_ALLOW_CPU=1); both are
    one-line `ConfigError`s (`book.preflight`).

    A run interrupted earlier (killed, or stopped by a failure) with the same profile and plan is
    resumed: its leading finished notebooks are skipped while their source and published copy are
    unchanged (and ran with the same `solutions`). Returns the notebooks executed by this call.
    """
    settings = get_profile(profile)  # fail before starting kernels on a misspelt profile
    sources = select(discover(notebooks_dir), only)
    if not sources:
        raise ConfigError(f"no notebooks found in {notebooks_dir}")
    warning = preflight(settings, [s.stem for s in sources], allow_cpu)
    if warning:
        echo(warning)
    flavour = "" if solutions else "+no-solutions"  # a resumed run never mixes the two books
    plan = {source.stem: file_digest(source) + flavour for source in sources}
    progress = BookProgress(out_dir, profile, plan)
    skipped = progress.resume()
    runs = []
    for i, source in enumerate(sources, 1):
        head = f"[{i}/{len(sources)}] {source.stem} ({profile})"
        if source.stem in skipped:
            echo(f"{head} skipping {source.stem} (finished in the interrupted run)")
            continue
        echo(f"{head} ...")
        sys.stdout.flush()
        run = run_notebook(source, profile, out_dir, failed_dir, cell_timeout, solutions)
        progress.record(source.stem, run.output)
        echo(f"{head} ok in {run.seconds:.1f} s")
        runs.append(run)
    progress.complete()
    return runs
