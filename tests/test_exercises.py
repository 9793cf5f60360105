"""Every chapter states its learning objectives and ends with exercises whose solutions run.

Static checks read the sources (notebooks/*.py) through jupytext: a "Learning objectives" cell
near the top with 3-5 "you can" bullets and a "Symbols used" line whose {term} roles name terms of
the glossary; an "Exercises" section (before "Provenance") of markdown cells tagged "exercise",
each asking for a prediction and followed by code cells tagged "solution" and "hide-cell" whose
first lines are a comment (the expected prediction and its reasoning). Chapters 02-09 have at least
three exercises, the others at least one.

Checks on the built smoke book (the session fixture `smoke_site`): each solution is rendered
collapsed (myst-nb turns "hide-cell" into a <details> element without `open`) and carries the
output of its execution, with no error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import jupytext
import pytest
import yaml
from bs4 import BeautifulSoup

from fashion_lib import paths
from fashion_lib.book.runner import discover

_ROOT_PAGE = yaml.safe_load((paths.PROJECT_ROOT / "_toc.yml").read_text(encoding="utf-8"))["root"]
# The chapters; the book's landing page (the toc's root, e.g. the claims scoreboard) is not one.
SOURCES = [s for s in discover(paths.NOTEBOOKS_DIR) if f"book/executed/{s.stem}" != _ROOT_PAGE]
GLOSSARY_DIR = paths.PROJECT_ROOT / "book" / "glossary"
MIN_EXERCISES = 3  # chapters 02-09; the others (00, 01, 10, ...) need one
MIN_EXERCISES_OTHER = 1
OBJECTIVES_WITHIN = 3  # the objectives cell is one of the first cells (title, objectives, ...)
TERM = re.compile(r"\{term\}`([^`]+)`")


def _number(source: Path) -> int:
    return int(source.stem.split("_", 1)[0])


def _tags(cell: dict) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def _heading(cell: dict, title: str) -> bool:
    return cell["cell_type"] == "markdown" and bool(
        re.search(rf"^##\s+{re.escape(title)}\s*$", cell["source"], flags=re.MULTILINE)
    )


@dataclass(frozen=True)
class Exercise:
    """One exercise cell and the solution cells that follow it, as source cells."""

    prompt: dict
    solutions: tuple[dict, ...]


def _exercises(cells: list[dict]) -> list[Exercise]:
    """Exercise cells with the run of solution cells right after each."""
    found = []
    for i, cell in enumerate(cells):
        if "exercise" not in _tags(cell):
            continue
        run = []
        for after in cells[i + 1 :]:
            if "solution" not in _tags(after):
                break
            run.append(after)
        found.append(Exercise(cell, tuple(run)))
    return found


def _cells(source: Path) -> list[dict]:
    return jupytext.read(source)["cells"]


def _glossary_terms() -> set[str]:
    """Terms defined in the {glossary} blocks of book/glossary/*.md (unindented lines)."""
    terms = set()
    for path in sorted(GLOSSARY_DIR.glob("*.md")):
        inside = False
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("```{glossary}"):
                inside = True
            elif line.startswith("```"):
                inside = False
            elif inside and line.strip() and not line[0].isspace() and not line.startswith(":"):
                terms.add(line.strip())
    return terms


def _minimum(source: Path) -> int:
    return MIN_EXERCISES if 2 <= _number(source) <= 9 else MIN_EXERCISES_OTHER


def test_helpers_find_exercises_and_terms() -> None:
    """The parsing helpers on a hand-made notebook: the checks below rest on them."""
    cells = [
        {"cell_type": "markdown", "source": "# T", "metadata": {}},
        {"cell_type": "markdown", "source": "## Exercises", "metadata": {}},
        {"cell_type": "markdown", "source": "Predict", "metadata": {"tags": ["exercise"]}},
        {"cell_type": "code", "source": "# P\n1", "metadata": {"tags": ["solution", "hide-cell"]}},
        {"cell_type": "code", "source": "2", "metadata": {"tags": ["solution", "hide-cell"]}},
        {"cell_type": "markdown", "source": "Predict", "metadata": {"tags": ["exercise"]}},
        {"cell_type": "code", "source": "3", "metadata": {}},
    ]
    found = _exercises(cells)
    assert [len(e.solutions) for e in found] == [2, 0]
    assert _heading(cells[1], "Exercises") and not _heading(cells[0], "Exercises")
    assert {"psi", "gamma", "FSIS"} <= _glossary_terms()


def test_every_chapter_is_checked() -> None:
    assert len(SOURCES) >= 10, SOURCES
    assert {_number(s) for s in SOURCES} >= set(range(10))


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_learning_objectives_near_the_top(source: Path) -> None:
    cells = _cells(source)
    head = [
        i for i, c in enumerate(cells[:OBJECTIVES_WITHIN]) if _heading(c, "Learning objectives")
    ]
    assert head, f"{source.name}: no '## Learning objectives' cell among the first cells"
    text = cells[head[0]]["source"]
    bullets = [line for line in text.splitlines() if line.lstrip().startswith("- ")]
    assert 3 <= len(bullets) <= 5, f"{source.name}: {len(bullets)} objectives, want 3-5"
    assert re.search(r"you can", text, flags=re.IGNORECASE), f"{source.name}: no 'you can ...'"
    symbols = [line for line in text.splitlines() if line.startswith("Symbols used:")]
    assert symbols, f"{source.name}: no 'Symbols used:' line after the objectives"
    used = TERM.findall(text[text.index("Symbols used:") :])
    assert used, f"{source.name}: 'Symbols used:' names no {{term}}"
    missing = sorted(set(used) - _glossary_terms())
    assert not missing, f"{source.name}: terms not in book/glossary/*.md: {missing}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_exercises_with_collapsed_solutions(source: Path) -> None:
    cells = _cells(source)
    found = _exercises(cells)
    assert len(found) >= _minimum(source), (
        f"{source.name}: {len(found)} exercise cells, want >= {_minimum(source)}"
    )
    starts = [i for i, c in enumerate(cells) if _heading(c, "Exercises")]
    assert len(starts) == 1, f"{source.name}: want one '## Exercises' section, found {len(starts)}"
    ends = [i for i, c in enumerate(cells) if _heading(c, "Provenance")] or [len(cells)]
    positions = [i for i, c in enumerate(cells) if "exercise" in _tags(c)]
    assert starts[0] < min(positions) and max(positions) < ends[0], (
        f"{source.name}: exercises must sit between '## Exercises' and '## Provenance'"
    )
    for n, exercise in enumerate(found, 1):
        where = f"{source.name}, exercise {n}"
        assert exercise.prompt["cell_type"] == "markdown", f"{where}: not a markdown cell"
        assert "predict" in exercise.prompt["source"].lower(), f"{where}: asks for no prediction"
        assert exercise.solutions, f"{where}: no solution cell right after it"
        for cell in exercise.solutions:
            assert cell["cell_type"] == "code", f"{where}: a solution is not a code cell"
            assert {"solution", "hide-cell"} <= _tags(cell), f"{where}: solution not hide-cell"
        first = exercise.solutions[0]["source"].splitlines()
        comment = [line for line in first[:2] if line.startswith("#")]
        assert len(comment) == 2, f"{where}: the solution must open with the prediction comment"
    orphans = [
        i
        for i, c in enumerate(cells)
        if "solution" in _tags(c) and not ({"exercise", "solution"} & _tags(cells[i - 1]))
    ]
    assert not orphans, f"{source.name}: solution cells {orphans} follow no exercise"


def _rendered_solutions(page: Path) -> list:
    return BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser").select("div.tag_solution")


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_solutions_render_collapsed_with_output(smoke_site: Path, source: Path) -> None:
    page = smoke_site / "book" / "executed" / f"{source.stem}.html"
    assert page.is_file(), f"{page} missing from the built book"
    expected = sum(len(e.solutions) for e in _exercises(_cells(source)))
    rendered = _rendered_solutions(page)
    assert len(rendered) == expected, f"{page.name}: {len(rendered)} solutions, want {expected}"
    for n, cell in enumerate(rendered, 1):
        where = f"{page.name}, solution cell {n}"
        details = cell.find("details")
        assert details is not None, f"{where}: not wrapped in <details> (hide-cell)"
        assert not details.has_attr("open"), f"{where}: rendered expanded"
        assert details.select_one("div.cell_input"), f"{where}: the code is not inside <details>"
        outputs = cell.select("div.cell_output div.output")
        assert outputs, f"{where}: no executed output"
        errors = [o for o in outputs if {"traceback", "error"} & set(o.get("class", []))]
        assert not errors, f"{where}: the solution raised: {errors[0].get_text()[:300]}"
