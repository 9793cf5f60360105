"""Clean chapter pages: setup hidden, no lint escapes, short visible code.

The page shows about 80 columns and a reader should not scroll past ~150 lines of code. Every
source of the book is checked: a new chapter must join `CLEAN`.
"""

from __future__ import annotations

import jupytext
import pytest

from fashion_lib import paths
from fashion_lib.book.chapters import discover

CLEAN = (
    "00_overview",
    "01_data",
    "02_m3net_architecture",
    "03_m3net_training",
    "04_m3net_results",
    "04_m3net_results_analyses",
    "05_m3net_figures",
    "06_fashionsap_design",
    "07_fashionsap_pretraining",
    "08_fashionsap_results",
    "09_fashionsap_ablation",
    "10_performance",
    "97_landing",
    "98_report",
    "99_scoreboard",
)
# An exercise's solution cells are published inside a collapsed "Solution" dropdown.
HIDDEN = {"hide-input", "hide-cell", "remove-input", "remove-cell", "solution"}
MAX_VISIBLE_LINES = 150
MAX_COLUMNS = 80


def test_every_page_of_the_book_is_checked() -> None:
    assert sorted(CLEAN) == [s.stem for s in discover(paths.NOTEBOOKS_DIR)]


def visible_code(name: str) -> list[str]:
    """Non-blank code lines of the cells a reader sees without expanding anything."""
    notebook = jupytext.read(paths.NOTEBOOKS_DIR / f"{name}.py")
    return [
        line
        for cell in notebook.cells
        if cell.cell_type == "code" and not HIDDEN & set(cell.metadata.get("tags", []))
        for line in cell.source.splitlines()
        if line.strip()
    ]


@pytest.mark.parametrize("name", CLEAN)
def test_visible_code_is_short_and_fits_the_page(name: str) -> None:
    lines = visible_code(name)
    assert len(lines) <= MAX_VISIBLE_LINES, f"{name}: {len(lines)} visible code lines"
    wide = [line for line in lines if len(line) > MAX_COLUMNS]
    assert not wide, f"{name}: lines wider than {MAX_COLUMNS} columns: {wide}"


@pytest.mark.parametrize("name", CLEAN)
def test_setup_and_provenance_are_collapsed_and_nothing_escapes_lint(name: str) -> None:
    source = (paths.NOTEBOOKS_DIR / f"{name}.py").read_text()
    assert "noqa" not in source
    cells = [c for c in jupytext.read(paths.NOTEBOOKS_DIR / f"{name}.py").cells]
    code = [c for c in cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert "hide-input" in code[1].metadata.get("tags", [])  # the imports and settings
    assert "provenance_block" in code[-1].source
    assert "hide-input" in code[-1].metadata.get("tags", [])
