"""The book end to end in the smoke profile: every chapter executes and Jupyter Book renders it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fashion_lib import paths
from fashion_lib.book.runner import discover, run_book

ROOT = paths.PROJECT_ROOT
JUPYTER_BOOK = Path(sys.executable).with_name("jupyter-book")


def _toc_files(toc: dict) -> list[str]:
    files = []
    for part in toc.get("parts", []):
        files += [c["file"] for c in part.get("chapters", [])]
    return files


def test_toc_lists_every_notebook_once() -> None:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    chapters = [f for f in _toc_files(toc) if f.startswith("book/executed/")]
    assert chapters == [f"book/executed/{p.stem}" for p in discover()]


def test_jupyter_book_is_1x() -> None:
    out = subprocess.run([JUPYTER_BOOK, "--version"], capture_output=True, text=True, check=True)
    assert re.search(r"Jupyter Book\s*:\s*1\.", out.stdout), out.stdout


@pytest.fixture(scope="module")
def smoke_book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the book's sources with every chapter executed in the smoke profile, then built."""
    site = tmp_path_factory.mktemp("site")
    for name in ("_config.yml", "_toc.yml", "CONTRIBUTING.md"):
        shutil.copy(ROOT / name, site / name)
    shutil.copytree(ROOT / "book", site / "book", ignore=shutil.ignore_patterns("executed"))
    stray = site / ".pytest_cache" / "README.md"  # as a used checkout has; must not be built
    stray.parent.mkdir()
    stray.write_text("# pytest cache\n", encoding="utf-8")
    run_book("smoke", out_dir=site / "book" / "executed", failed_dir=site / "failed")
    cmd = [JUPYTER_BOOK, "build", str(site), "-W", "-n", "--keep-going"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return site / "_build" / "html"


def test_smoke_book_renders_every_chapter(smoke_book: Path) -> None:
    assert (smoke_book / "index.html").exists()
    for source in discover():
        page = smoke_book / "book" / "executed" / f"{source.stem}.html"
        assert page.exists(), f"{page} missing from the built book"


def test_overview_page_shows_its_executed_output(smoke_book: Path) -> None:
    html = (smoke_book / "book" / "executed" / "00_overview.html").read_text(encoding="utf-8")
    assert "profile: smoke" in html
    assert "notebooks/00_overview.py" in html
