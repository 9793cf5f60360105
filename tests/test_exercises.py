"""Every chapter states its learning objectives and ends with exercises a reader can try.

Static checks read the sources (notebooks/*.py) through jupytext: a "Learning objectives" cell
near the top with 3-5 "you can" bullets and a "Symbols used" line whose {term} roles name terms of
the glossary; an "Exercises" section (before "Provenance") where each exercise is, in this order,
a markdown cell tagged "exercise" headed "### Exercise N.M: ..." (N the chapter's number, M
counting from 1 across the chapter's files) that asks for a prediction, one visible code cell
tagged "try-it" (the one value to change), then the solution: a markdown cell tagged "solution"
with the prediction in prose and the code cells tagged "solution". Chapters 02-09 have at least
three exercises, the others at least one. The book's own pages (landing, report, scoreboard:
numbers 90-99) are not chapters.

`fashion_lib.book.solutions` is checked on a hand-made notebook, and the instructors' book on one
real chapter run with ``--no-solutions`` and rendered by Jupyter Book: no solution text at all.
On the built smoke book (the session fixture `smoke_site`) every exercise's solution is one
collapsed "Solution" dropdown holding the prose prediction, the code and its executed output.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat
import pytest
from bs4 import BeautifulSoup

from fashion_lib import paths
from fashion_lib.book.runner import discover
from fashion_lib.book.solutions import CLOSE, OPEN, strip_solutions, wrap_solutions

ROOT = paths.PROJECT_ROOT
JUPYTER_BOOK = Path(sys.executable).with_name("jupyter-book")
# The chapters; the book's own pages (landing, report, scoreboard: 90-99) are not chapters.
SOURCES = [s for s in discover(paths.NOTEBOOKS_DIR) if int(s.stem[:2]) < 90]
GLOSSARY_DIR = paths.PROJECT_ROOT / "book" / "glossary"
MIN_EXERCISES = 3  # chapters 02-09; the others (00, 01, 10, ...) need one
MIN_EXERCISES_OTHER = 1
OBJECTIVES_WITHIN = 3  # the objectives cell is one of the first cells (title, objectives, ...)
TERM = re.compile(r"\{term\}`([^`]+)`")


def _number(source: Path) -> int:
    return int(source.stem.split("_", 1)[0])


def _first_exercise(source: Path) -> int:
    """M of the file's first exercise: a chapter split over several files numbers on across them."""
    earlier = [s for s in SOURCES if _number(s) == _number(source) and s.stem < source.stem]
    return 1 + sum(len(_exercises(_cells(s))) for s in earlier)


def _tags(cell: dict) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def _heading(cell: dict, title: str) -> bool:
    return cell["cell_type"] == "markdown" and bool(
        re.search(rf"^##\s+{re.escape(title)}\s*$", cell["source"], flags=re.MULTILINE)
    )


@dataclass(frozen=True)
class Exercise:
    """One exercise cell, the try-it cells after it and the solution cells after those."""

    prompt: dict
    try_it: tuple[dict, ...]
    solutions: tuple[dict, ...]


def _run(cells: list[dict], tag: str) -> list[dict]:
    """The leading cells of `cells` tagged `tag`."""
    run = []
    for cell in cells:
        if tag not in _tags(cell):
            break
        run.append(cell)
    return run


def _exercises(cells: list[dict]) -> list[Exercise]:
    """Exercise cells, each with the try-it cells and then the solution cells right after it."""
    found = []
    for i, cell in enumerate(cells):
        if "exercise" in _tags(cell):
            try_it = _run(cells[i + 1 :], "try-it")
            solutions = _run(cells[i + 1 + len(try_it) :], "solution")
            found.append(Exercise(cell, tuple(try_it), tuple(solutions)))
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


def _cell(kind: str, source: str, *tags: str) -> dict:
    return {"cell_type": kind, "source": source, "metadata": {"tags": list(tags)}}


def test_helpers_find_exercises_and_terms() -> None:
    """The parsing helpers on a hand-made notebook: the checks below rest on them."""
    cells = [
        _cell("markdown", "# T"),
        _cell("markdown", "## Exercises"),
        _cell("markdown", "### Exercise 1.1: a\nPredict", "exercise"),
        _cell("code", "x = 1", "try-it"),
        _cell("markdown", "**Prediction.** p", "solution"),
        _cell("code", "2", "solution"),
        _cell("markdown", "### Exercise 1.2: b\nPredict", "exercise"),
        _cell("code", "3"),
    ]
    found = _exercises(cells)
    assert [(len(e.try_it), len(e.solutions)) for e in found] == [(1, 2), (0, 0)]
    assert _heading(cells[1], "Exercises") and not _heading(cells[0], "Exercises")
    assert {"psi", "gamma", "FSIS"} <= _glossary_terms()


def _notebook() -> nbformat.NotebookNode:
    cells = [
        nbformat.v4.new_markdown_cell("### Exercise 1.1: a", metadata={"tags": ["exercise"]}),
        nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["try-it"]}),
        nbformat.v4.new_markdown_cell("**Prediction.** p", metadata={"tags": ["solution"]}),
        nbformat.v4.new_code_cell("x + 1", metadata={"tags": ["solution"]}),
        nbformat.v4.new_markdown_cell("## Provenance"),
        nbformat.v4.new_code_cell("y", metadata={"tags": ["solution"]}),
    ]
    return nbformat.v4.new_notebook(cells=cells)


def test_wrap_puts_each_run_of_solution_cells_in_one_dropdown() -> None:
    nb = _notebook()
    assert wrap_solutions(nb) == 2
    sources = [c.source for c in nb.cells]
    assert sources == [
        "### Exercise 1.1: a",
        "x = 1",
        OPEN,
        "**Prediction.** p",
        "x + 1",
        CLOSE,
        "## Provenance",
        OPEN,
        "y",
        CLOSE,
    ]
    assert "<summary" in OPEN and ">Solution</summary>" in OPEN and " open" not in OPEN
    nbformat.validate(nb)


def test_strip_removes_every_solution_cell_and_nothing_else() -> None:
    nb = _notebook()
    assert strip_solutions(nb) == 3
    assert [c.source for c in nb.cells] == ["### Exercise 1.1: a", "x = 1", "## Provenance"]
    assert wrap_solutions(nb) == 0 and len(nb.cells) == 3


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


HIDDEN = {"hide-input", "hide-cell", "hide-output", "remove-input", "remove-cell"}
EXERCISE_HEADING = re.compile(r"^### Exercise (\d+)\.(\d+): \S", flags=re.MULTILINE)


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_exercises_have_a_try_it_cell_and_a_prose_solution(source: Path) -> None:
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
    for n, exercise in enumerate(found, _first_exercise(source)):
        where = f"{source.name}, exercise {n}"
        prompt = exercise.prompt
        assert prompt["cell_type"] == "markdown", f"{where}: not a markdown cell"
        heading = EXERCISE_HEADING.search(prompt["source"])
        assert heading, f"{where}: no '### Exercise N.M: title' heading"
        assert (int(heading[1]), int(heading[2])) == (_number(source), n), (
            f"{where}: numbered {heading[1]}.{heading[2]}, want {_number(source)}.{n}"
        )
        assert "predict" in prompt["source"].lower(), f"{where}: asks for no prediction"
        assert len(exercise.try_it) == 1, f"{where}: want one try-it cell right after it"
        try_it = exercise.try_it[0]
        assert try_it["cell_type"] == "code" and not HIDDEN & _tags(try_it), (
            f"{where}: the try-it cell must be a visible code cell"
        )
        prose, *code = exercise.solutions
        assert prose["cell_type"] == "markdown" and "**Prediction.**" in prose["source"], (
            f"{where}: the solution must open with the prediction in prose"
        )
        assert code and all(c["cell_type"] == "code" for c in code), f"{where}: no solution code"
        for cell in exercise.solutions:  # the dropdown wraps them; a heading would break it
            assert not HIDDEN & _tags(cell), f"{where}: a solution cell carries a hide tag"
            assert not re.search(r"^#", cell["source"], flags=re.M) or cell["cell_type"] == "code"
    orphans = [
        i
        for i, c in enumerate(cells)
        if {"solution", "try-it"} & _tags(c)
        and not ({"exercise", "solution", "try-it"} & _tags(cells[i - 1]))
    ]
    assert not orphans, f"{source.name}: solution or try-it cells {orphans} follow no exercise"


def test_no_solutions_book_holds_no_solution_text(tmp_path: Path) -> None:
    """`make book SOLUTIONS=0` passes --no-solutions; a chapter run so keeps its exercise and
    try-it cells, runs and publishes no solution, and Jupyter Book renders no solution text."""
    dry = [["make", "-n", "book", "PROFILE=smoke", *extra] for extra in ([], ["SOLUTIONS=0"])]
    made = [subprocess.run(c, cwd=ROOT, capture_output=True, text=True, check=True) for c in dry]
    assert "--no-solutions" not in made[0].stdout and "--no-solutions" in made[1].stdout
    source = next(s for s in SOURCES if _number(s) == 0)
    site = tmp_path / "site"
    out = site / "book"
    env = {**os.environ, "FASHION_RUNS_DIR": str(tmp_path / "runs")}
    run = [sys.executable, "-m", "fashion_lib", "book", "run", "--profile", "smoke"]
    run += ["--only", source.stem[:2], "--out", str(out), "--no-solutions"]
    proc = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    nb = nbformat.read(out / f"{source.stem}.ipynb", as_version=4)
    assert nb.metadata["fashion_book"]["solutions"] is False
    tags = [set(c.metadata.get("tags", [])) for c in nb.cells]
    assert any("exercise" in t for t in tags) and any("try-it" in t for t in tags)
    assert not any({"solution", "solution-open"} & t for t in tags)
    solution_lines = [
        line.strip()
        for e in _exercises(_cells(source))
        for cell in e.solutions
        for line in cell["source"].splitlines()
        if len(line.strip()) > 20
    ]
    (site / "_config.yml").write_text(
        'title: t\nexecute: {execute_notebooks: "off"}\nonly_build_toc_files: true\n',
        encoding="utf-8",
    )
    (site / "_toc.yml").write_text(f"format: jb-book\nroot: book/{source.stem}\n", "utf-8")
    build = [str(JUPYTER_BOOK), "build", str(site)]
    proc = subprocess.run(build, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    page = (site / "_build" / "html" / "book" / f"{source.stem}.html").read_text("utf-8")
    assert "Exercise 0.1" in page and "tag_try-it" in page
    soup = BeautifulSoup(page, "html.parser")
    assert not soup.select("details.solution") and "Prediction." not in soup.get_text()
    shown = [line for line in solution_lines if line.lstrip("# ") in page]
    assert not shown, f"solution text in the instructors' book: {shown[:3]}"


def _rendered_solutions(page: Path) -> list:
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    return soup.select("details.solution")


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_solutions_render_in_one_collapsed_dropdown_with_output(
    smoke_site: Path, source: Path
) -> None:
    page = smoke_site / "book" / "executed" / f"{source.stem}.html"
    assert page.is_file(), f"{page} missing from the built book"
    exercises = _exercises(_cells(source))
    rendered = _rendered_solutions(page)
    assert len(rendered) == len(exercises), (
        f"{page.name}: {len(rendered)} solutions, want {len(exercises)}"
    )
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    for cell in soup.select("div.tag_try-it"):
        assert cell.find_parent("details") is None, f"{page.name}: a try-it cell is hidden"
    for n, (details, exercise) in enumerate(zip(rendered, exercises, strict=True), 1):
        where = f"{page.name}, solution {n}"
        assert not details.has_attr("open"), f"{where}: rendered expanded"
        assert details.find("summary").get_text(strip=True) == "Solution", where
        assert "Prediction." in details.get_text(), f"{where}: no prose prediction inside"
        code = details.select("div.tag_solution")
        assert len(code) == len(exercise.solutions) - 1, f"{where}: code cells outside it"
        assert all(c.select_one("div.cell_input") for c in code), f"{where}: no code shown"
        outputs = details.select("div.cell_output div.output")
        assert outputs, f"{where}: no executed output"
        errors = [o for o in outputs if {"traceback", "error"} & set(o.get("class", []))]
        assert not errors, f"{where}: the solution raised: {errors[0].get_text()[:300]}"
