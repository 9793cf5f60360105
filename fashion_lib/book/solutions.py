"""The exercises' solutions in a published chapter: one "Solution" dropdown each, or none at all.

An exercise in a chapter source is a markdown cell tagged ``exercise`` (``### Exercise N.M: ...``,
asking for a prediction), a visible code cell tagged ``try-it`` (the one value to change), then a
run of cells tagged ``solution``: the prediction and its reasoning in prose (markdown), then the
code that measures what happens.

`wrap_solutions` puts each run of solution cells inside one collapsed dropdown labelled "Solution"
(sphinx-design's dropdown markup, written as raw HTML around the cells, since a markdown directive
cannot hold an executed code cell). `strip_solutions` removes every solution cell before a chapter
runs: the instructors' book (``make book SOLUTIONS=0``) keeps the exercises and the try-it cells
and holds no solution text.
"""

from __future__ import annotations

import nbformat

__all__ = ["CLOSE", "OPEN", "SOLUTION", "is_solution", "strip_solutions", "wrap_solutions"]

SOLUTION = "solution"
OPEN = (
    '<details class="sd-sphinx-override sd-dropdown sd-card sd-mb-3 solution">\n'
    '<summary class="sd-summary-title sd-card-header">Solution</summary>\n'
    '<div class="sd-summary-content sd-card-body">'
)
CLOSE = "</div>\n</details>"


def is_solution(cell: nbformat.NotebookNode) -> bool:
    """Whether a cell belongs to an exercise's solution (tagged ``solution``)."""
    return SOLUTION in cell.get("metadata", {}).get("tags", [])


def strip_solutions(nb: nbformat.NotebookNode) -> int:
    """Remove every solution cell from `nb` in place; return how many were removed."""
    kept = [cell for cell in nb.cells if not is_solution(cell)]
    removed = len(nb.cells) - len(kept)
    nb.cells = kept
    return removed


def _marker(html: str, tag: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(html, metadata={"tags": [tag]})


def wrap_solutions(nb: nbformat.NotebookNode) -> int:
    """Wrap each run of consecutive solution cells in one "Solution" dropdown; return the count.

    The dropdown's opening and closing HTML are markdown cells of their own (tagged
    ``solution-open`` and ``solution-close``) before and after the run.
    """
    cells, runs, inside = [], 0, False
    for cell in nb.cells:
        if is_solution(cell) and not inside:
            cells.append(_marker(OPEN, "solution-open"))
            runs, inside = runs + 1, True
        elif not is_solution(cell) and inside:
            cells.append(_marker(CLOSE, "solution-close"))
            inside = False
        cells.append(cell)
    if inside:
        cells.append(_marker(CLOSE, "solution-close"))
    nb.cells = cells
    return runs
