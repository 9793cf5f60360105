"""Resuming an interrupted `run_book`: its progress file and the leading notebooks to skip.

`<out>/.book-run-<profile>.json` holds the plan (the chosen notebooks in order with their sources'
sha256) and the digest of every copy published so far. A new run of the same profile and plan
skips the leading notebooks whose source and published copy are unchanged and starts at the first
unfinished one; a completed run deletes the file, so the next run executes everything again (run
records keep that cheap).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fashion_lib import atomic
from fashion_lib.fingerprint import file_digest

__all__ = ["BookProgress", "progress_path"]


def progress_path(out_dir: Path, profile: str) -> Path:
    """The progress file of an unfinished `run_book` of `profile` into `out_dir`."""
    return out_dir / f".book-run-{profile}.json"


def _read_finished(path: Path, plan: Mapping[str, str]) -> dict[str, Any]:
    """The `finished` map of the progress file if it has the same plan (names, in order), else {}."""
    if not path.is_file():
        return {}
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        if [step["name"] for step in saved["plan"]] != list(plan):
            return {}
        return dict(saved["finished"])
    except (ValueError, KeyError, TypeError) as error:
        # stacklevel: this helper, `resume`, `run_book`, then run_book's caller
        warnings.warn(f"ignoring the unreadable progress file {path} ({error})", stacklevel=4)
        return {}


def _unchanged(entry: Mapping[str, Any] | None, source_sha: str, published: Path) -> bool:
    """Whether a notebook finished earlier with this source and its published copy is intact."""
    return (
        entry is not None
        and entry.get("source_sha256") == source_sha
        and published.is_file()
        and entry.get("published_sha256") == file_digest(published)
    )


class BookProgress:
    """The progress of one `run_book` of `profile` into `out_dir`, kept in its progress file.

    Args:
        out_dir: the publish folder; the file lives there, beside the published copies.
        profile: the profile the notebooks run under.
        plan: the chosen notebooks' names, in run order, with their sources' sha256.
    """

    def __init__(self, out_dir: Path, profile: str, plan: Mapping[str, str]) -> None:
        self.out_dir, self.profile, self.plan = out_dir, profile, dict(plan)
        self.path = progress_path(out_dir, profile)
        # this run's: the skipped prefix, then each notebook it executes
        self.finished: dict[str, Any] = {}

    def resume(self) -> list[str]:
        """The leading notebooks an interrupted run of the same plan finished, unchanged since.

        Reads the progress file (a missing one, or one of another plan, means nothing finished;
        an unreadable one warns) and keeps the longest prefix of the plan whose sources and
        published copies are unchanged: once one notebook runs, every later one runs too. The
        returned names count as finished by this run.
        """
        earlier = _read_finished(self.path, self.plan)
        for name, source_sha in self.plan.items():
            if not _unchanged(earlier.get(name), source_sha, self.out_dir / f"{name}.ipynb"):
                break
            self.finished[name] = earlier[name]
        return list(self.finished)

    def record(self, name: str, published: Path) -> None:
        """Count notebook `name`, just published at `published`, as finished; rewrite the file."""
        self.finished[name] = {
            "source_sha256": self.plan[name],
            "published_sha256": file_digest(published),
        }
        steps = [{"name": n, "source_sha256": digest} for n, digest in self.plan.items()]
        body = {"profile": self.profile, "plan": steps, "finished": dict(self.finished)}
        atomic.write_text(self.path, json.dumps(body, indent=1) + "\n")

    def complete(self) -> None:
        """Delete the progress file: the whole plan ran, the next run starts afresh."""
        self.path.unlink(missing_ok=True)
