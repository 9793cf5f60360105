"""Shared pytest setup: the project root on sys.path, offline and quiet by default, and the smoke book.

`smoke_site` executes every chapter once per test session in the smoke profile, on a fresh proxy
world and an empty runs folder, with outbound network blocked, then builds the HTML book from a copy
of the sources. Tests that read the built book (test_book, test_browser, test_exercises) share it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

JUPYTER_BOOK = Path(sys.executable).with_name("jupyter-book")
# The book's sources besides book/ and whatever _config.yml names (static files, bibliographies).
SITE_FILES = ("_config.yml", "_toc.yml", "CONTRIBUTING.md")
# In a new network namespace only the loopback device exists: kernels still talk to papermill over
# 127.0.0.1, every other address is unreachable.
OFFLINE_PREFIX = ("unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$0" "$@"')
RUN_SMOKE_BOOK = (
    "import sys; from pathlib import Path; from fashion_lib.book.runner import run_book; "
    "run_book('smoke', out_dir=Path(sys.argv[1]), failed_dir=Path(sys.argv[2]))"
)


def offline_prefix() -> tuple[tuple[str, ...], str]:
    """The command prefix that runs a program without outbound network, and why it may be empty.

    Returns:
        (prefix, reason): the prefix, or () with the reason the network cannot be blocked here.
    """
    if os.geteuid() != 0:
        return (), "not root: `unshare --net` needs root, so the network is not blocked"
    if not (shutil.which("unshare") and shutil.which("ip")):
        return (), "`unshare` or `ip` is missing (util-linux, iproute2)"
    probe = subprocess.run([*OFFLINE_PREFIX, "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return (), f"`unshare --net` refused here: {probe.stderr.strip()}"
    return OFFLINE_PREFIX, ""


def copy_sources(site: Path) -> None:
    """Copy the book's sources (not the executed notebooks) into `site`.

    Raises:
        pytest.fail: a static folder named by _config.yml is missing (MathJax not vendored).
    """
    for name in SITE_FILES:
        shutil.copy(ROOT / name, site / name)
    shutil.copytree(ROOT / "book", site / "book", ignore=shutil.ignore_patterns("executed"))
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    extra = [*config.get("bibtex_bibfiles", [])]
    extra += config.get("sphinx", {}).get("config", {}).get("html_static_path", [])
    for rel in extra:
        source, target = ROOT / rel, site / rel
        if not source.exists():
            pytest.fail(f"_config.yml names {rel}, which is missing; run `make mathjax`")
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        elif not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)


@pytest.fixture(scope="session")
def network_blocker() -> tuple[tuple[str, ...], str]:
    """`offline_prefix()`, probed once per session."""
    return offline_prefix()


@dataclass(frozen=True)
class SmokeBook:
    """The smoke book of this test session: its HTML, executed chapters and the state they used.

    Attributes:
        html: the built book's ``_build/html``.
        executed: the executed chapters (``book/executed`` of the site).
        env: FASHION_DATA_ROOT and FASHION_RUNS_DIR of the run (its world and run records).
    """

    html: Path
    executed: Path
    env: dict[str, str]


@pytest.fixture(scope="session")
def smoke_site(smoke_book: SmokeBook) -> Path:
    """The built smoke book's `_build/html` (see `smoke_book`)."""
    return smoke_book.html


@pytest.fixture(scope="session")
def smoke_book(
    tmp_path_factory: pytest.TempPathFactory, network_blocker: tuple[tuple[str, ...], str]
) -> SmokeBook:
    """The whole book executed in the smoke profile offline, then built."""
    site = tmp_path_factory.mktemp("site")
    scratch = tmp_path_factory.mktemp("smoke-state")
    copy_sources(site)
    stray = site / ".pytest_cache" / "README.md"  # as a used checkout has; must not be built
    stray.parent.mkdir()
    stray.write_text("# pytest cache\n", encoding="utf-8")

    prefix, reason = network_blocker
    if reason:
        warnings.warn(f"smoke book runs with the network on: {reason}", stacklevel=1)
    state = {"FASHION_DATA_ROOT": str(scratch / "data"), "FASHION_RUNS_DIR": str(scratch / "runs")}
    env = {**os.environ, **state}
    executed, failed = site / "book" / "executed", scratch / "failed"
    run = [*prefix, sys.executable, "-c", RUN_SMOKE_BOOK, str(executed), str(failed)]
    proc = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, (
        f"smoke book run failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    )

    build = [str(JUPYTER_BOOK), "build", str(site), "-W", "-n", "--keep-going"]
    proc = subprocess.run(build, capture_output=True, text=True, timeout=900, check=False)
    output = proc.stdout + proc.stderr
    problems = [line for line in output.splitlines() if "WARNING" in line or "ERROR" in line]
    assert proc.returncode == 0, "jupyter-book build failed:\n" + "\n".join(
        problems or [output[-4000:]]
    )
    return SmokeBook(site / "_build" / "html", executed, state)


@pytest.fixture(scope="module")
def tokenizer():
    """The project's tokenizer (offline MiniLM WordPiece plus the nine fashion symbols)."""
    from fashion_lib.data.prompts import build_tokenizer

    return build_tokenizer()


@pytest.fixture(scope="module")
def smoke_env(tmp_path_factory: pytest.TempPathFactory):
    """A fresh smoke world and an empty runs folder for a module, selected through the
    environment (``FASHION_DATA_ROOT``, ``FASHION_RUNS_DIR``); yields their parent folder."""
    from fashion_lib.data.atelier.make import make_world
    from fashion_lib.paths import dataset_root
    from fashion_lib.profiles import get_profile

    root = tmp_path_factory.mktemp("smoke-env")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FASHION_DATA_ROOT", str(root / "data"))
        mp.setenv("FASHION_RUNS_DIR", str(root / "runs"))
        make_world(get_profile("smoke"), out=dataset_root("smoke", True), workers=1)
        yield root


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module (opt in with ``pytest.mark.usefixtures("one_thread")``): on a
    shared 2-core machine one thread is several times faster than two that contend."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
