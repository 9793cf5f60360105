"""The landing page's picture of the two tasks, its reading paths and its chapter table.

- `task_figure(seed, size)`: M3-Net's task (a query image and an attribute; the gallery images a
  perfect retriever returns first share the query's value of that attribute, the others follow)
  and FashionSAP's (an image with its description), drawn by the proxy world in a second.
- `READING_PATHS`, `reading_paths()` and `reading_paths_html()`: which chapters, in which order,
  for a student, an instructor and an engineer (as a table whose chapter numbers link to pages).
- `profile_table(profiles)`: what each profile is (proxy data or not, sizes, purpose).
- `chapter_table(profiles)`: every chapter's number, title and recorded wall time per profile
  (`fashion_lib.book.timings`; "not measured" where a profile never ran here).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from fashion_lib import paths
from fashion_lib.book.chapters import chapter_labels, chapter_title, discover, is_chapter
from fashion_lib.book.timings import time_table
from fashion_lib.data.atelier.draw import Knobs, draw_fashiongen
from fashion_lib.data.atelier.gallery import fashionai_examples
from fashion_lib.data.atelier.labels import FASHIONAI_TASKS
from fashion_lib.profiles import Profile

__all__ = [
    "READING_PATHS",
    "ReadingPath",
    "chapter_table",
    "profile_table",
    "reading_paths",
    "reading_paths_html",
    "task_figure",
]

GREEN, RED = (0.17, 0.62, 0.33), (0.82, 0.29, 0.36)


def _framed(ax: plt.Axes, image: np.ndarray, colour: tuple | None, title: str) -> None:
    ax.imshow(image)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set(visible=colour is not None, color=colour or "none", linewidth=4)
    ax.set_title(title, fontsize=9)


def task_figure(
    seed: int = 0, size: int = 96, attribute: str = "skirt_length", value: int = 3
) -> plt.Figure:
    """The two papers' tasks on proxy images.

    Top: a query of FashionAI `attribute` = `value` (1-based, after "Invisible") and six gallery
    images, the three of the same value first (green), then three of other values (red). Bottom:
    a FashionGen product image and its description.
    """
    task = FASHIONAI_TASKS[attribute]
    query, *same = fashionai_examples(attribute, value, 4, seed=seed, size=size)
    others = [v for v in range(1, len(task.values) + 1) if v != value][:3]
    other = [fashionai_examples(attribute, v, 1, seed=seed + 1, size=size)[0] for v in others]
    name = attribute.replace("_", " ")
    fig = plt.figure(figsize=(9, 4.0))
    grid = fig.add_gridspec(2, 7, height_ratios=(1, 1), hspace=0.5)
    asked = f"query: {name}\n(here {task.values[value - 1]})"
    _framed(fig.add_subplot(grid[0, 0]), query.image, None, asked)
    ranked = [(r, GREEN, task.values[value - 1]) for r in same]
    ranked += [(r, RED, task.values[v - 1]) for r, v in zip(other, others, strict=True)]
    for k, (rendered, colour, label) in enumerate(ranked, 1):
        _framed(fig.add_subplot(grid[0, k]), rendered.image, colour, f"#{k}: {label}")
    product = draw_fashiongen(Knobs(seed=seed, size=size), 0)
    _framed(fig.add_subplot(grid[1, 0]), product.images[0], None, "product image")
    text = fig.add_subplot(grid[1, 1:])
    text.axis("off")
    caption = "\n".join(textwrap.wrap(product.text, 70))
    text.text(0, 0.5, f"its description:\n\n{caption}", va="center", fontsize=9, wrap=True)
    fig.suptitle(
        f"M3-Net: rank the gallery by the query's {name} (green: same value).   "
        "FashionSAP: match images and texts.",
        fontsize=10,
    )
    return fig


@dataclass(frozen=True)
class ReadingPath:
    """One reader's way through the book: who, what for, and the chapters in order."""

    reader: str
    goal: str
    chapters: tuple[str, ...]
    then: str


READING_PATHS = (
    ReadingPath(
        "student",
        "learn the two papers' ideas and check them yourself",
        ("00", "01", "02", "03", "04", "06", "07", "08"),
        "05 and 09 (what the models look at), the exercises of each chapter",
    ),
    ReadingPath(
        "instructor",
        "teach a session on attribute-specific retrieval or vision-language pre-training",
        ("00", "01", "02", "06", "03", "07", "04", "08"),
        "the exercises (make book SOLUTIONS=0 builds the book without solutions)",
    ),
    ReadingPath(
        "engineer",
        "run the reproduction, trust its numbers, extend it",
        ("00", "10", "01", "03", "04", "98"),
        "the appendix: real data, contributing",
    ),
)


def _link(number: str, pages: dict[str, str]) -> str:
    """A chapter number as a link to its page beside the landing page (plain if unknown)."""
    return f'<a href="{pages[number]}.html">{number}</a>' if number in pages else number


def reading_paths() -> pd.DataFrame:
    """The reading paths as a table: reader, goal, chapters in order (linked), then."""
    pages: dict[str, str] = {}
    for source in discover(paths.NOTEBOOKS_DIR):  # a split chapter links to its first file
        pages.setdefault(source.stem[:2], source.stem)
    rows = [
        {
            "reader": p.reader,
            "goal": p.goal,
            "read": " → ".join(_link(n, pages) for n in p.chapters),
            "then": p.then,
        }
        for p in READING_PATHS
    ]
    return pd.DataFrame(rows).set_index("reader")


def reading_paths_html() -> str:
    """`reading_paths` as HTML, its chapter numbers linking to their pages."""
    return reading_paths().to_html(escape=False, border=0)


def profile_table(profiles: Iterable[Profile]) -> pd.DataFrame:
    """One row per profile: proxy data or not, image size, images per dataset, and its purpose.

    A dataset's count sums its splits (train, validation, test).
    """
    rows = [
        {
            "profile": p.name,
            "proxy data": p.proxy,
            **{k: getattr(v, "total", v) for k, v in vars(p.data).items()},
            "purpose": p.description,
        }
        for p in profiles
    ]
    return pd.DataFrame(rows).set_index("profile")


def chapter_table(profiles: tuple[str, ...] = ("smoke", "cpu", "gpu", "paper")) -> pd.DataFrame:
    """Chapters 00-89 with their titles and recorded wall time per profile, and the whole book."""
    sources = [s for s in discover(paths.NOTEBOOKS_DIR) if is_chapter(s)]
    times = time_table([s.stem for s in sources], profiles)
    titles = [chapter_title(s) for s in sources] + [""]
    times.insert(0, "title", titles)
    times.index = [*chapter_labels(sources), "all"]
    return times.rename_axis("chapter")
