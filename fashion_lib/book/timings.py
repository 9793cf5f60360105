"""How long each chapter took to run, per profile, kept beside the run records.

The runner adds one entry per published chapter to ``<runs_dir>/book-times/<profile>.json``
(wall time, peak memory of the kernel's process tree, whether the solutions ran, when, and the
source's sha256), replacing that chapter's earlier entry. Unlike the notebooks' metadata, the file
outlives the next build of another profile, so the landing page can show the time of every chapter
in every profile that has run here; a profile that never ran is "not measured".
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from fashion_lib import paths
from fashion_lib.atomic import write_text
from fashion_lib.errors import DataError

__all__ = ["NOT_MEASURED", "chapter_times", "record_time", "time_table", "times_path"]

NOT_MEASURED = "not measured"


def times_path(profile: str) -> Path:
    """The chapter times of `profile`: ``<runs_dir>/book-times/<profile>.json``."""
    return paths.runs_dir() / "book-times" / f"{profile}.json"


def chapter_times(profile: str) -> dict[str, dict]:
    """Chapter stem -> its latest entry under `profile` ({} when the profile never ran here).

    Raises:
        DataError: the file is not a JSON object of entries (the message names it).
    """
    path = times_path(profile)
    if not path.is_file():
        return {}
    try:
        times = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(path, f"not a readable chapter-times file ({exc})") from None
    if not isinstance(times, dict) or not all(
        isinstance(e, dict) and "seconds" in e for e in times.values()
    ):
        raise DataError(path, "want an object: chapter -> {seconds, ...}")
    return times


def record_time(profile: str, chapter: str, entry: dict) -> Path:
    """Set `chapter`'s entry (at least ``seconds``) under `profile`; return the file written."""
    times = chapter_times(profile)
    times[chapter] = dict(entry)
    path = times_path(profile)
    write_text(path, json.dumps(dict(sorted(times.items())), indent=1) + "\n")
    return path


def _minutes(seconds: float) -> str:
    """A reader's duration: '40 s' below two minutes, else whole minutes ('7 min')."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{math.ceil(seconds / 60)} min"


def time_table(chapters: Sequence[str], profiles: Sequence[str]) -> pd.DataFrame:
    """Chapters x profiles: each chapter's recorded wall time, or "not measured".

    A total row sums the measured chapters of a profile where every chapter was measured.
    """
    columns = {}
    for profile in profiles:
        times = chapter_times(profile)
        seconds = [times.get(c, {}).get("seconds") for c in chapters]
        cells = [NOT_MEASURED if s is None else _minutes(float(s)) for s in seconds]
        complete = all(s is not None for s in seconds)
        cells.append(_minutes(sum(map(float, seconds))) if complete else NOT_MEASURED)
        columns[profile] = cells
    return pd.DataFrame(columns, index=[*chapters, "whole book"])
