"""The book's sources: chapters `notebooks/NN_name.py` in reading order, and their titles.

Numbers 00-89 are chapters (objectives, exercises, provenance); 90-99 are the book's own pages,
run after them: the landing page, the reproducibility report and the claims scoreboard. Imports
nothing heavy, so that the claims ledger and the command line can use it.
"""

from __future__ import annotations

from pathlib import Path

from fashion_lib import paths

__all__ = ["FIRST_PAGE", "chapter_labels", "chapter_title", "discover", "is_chapter"]

FIRST_PAGE = 90  # the first number of the book's own pages


def discover(notebooks_dir: Path = paths.NOTEBOOKS_DIR) -> list[Path]:
    """Return the sources `NN_name.py` (chapters, then the book's pages) in reading order."""
    return sorted(p for p in notebooks_dir.glob("[0-9][0-9]_*.py"))


def chapter_labels(sources: list[Path]) -> list[str]:
    """Each source's chapter number, lettered where a chapter spans files ("04a", "04b")."""
    numbers = [s.stem[:2] for s in sources]
    seen: dict[str, int] = {}
    labels = []
    for n in numbers:
        seen[n] = seen.get(n, 0) + 1
        labels.append(n + "abcdefghij"[seen[n] - 1] if numbers.count(n) > 1 else n)
    return labels


def is_chapter(source: Path) -> bool:
    """Whether a source is a chapter (00-89) rather than one of the book's own pages."""
    return int(source.stem[:2]) < FIRST_PAGE


def chapter_title(source: Path) -> str:
    """The first markdown heading (``# # Title``) of a jupytext source, else its stem."""
    for line in source.read_text(encoding="utf-8").splitlines():
        if line.startswith("# # "):
            return line[4:].strip()
    return source.stem
