"""Argument types and environment checks shared by the command groups (`cli`, `data.commands`).

Each rejects bad input before anything is written: argparse turns an ArgumentTypeError into the
CLI's one `error:` line, and `check_environment` raises a ConfigError.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from fashion_lib.errors import ConfigError


def positive_int(text: str) -> int:
    """argparse type: an integer > 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
    return value


def writable_folder(text: str) -> Path:
    """argparse type: a folder that exists or can be created (every existing parent is a folder)."""
    path = Path(text)
    problem = folder_problem(path)
    if problem:
        raise argparse.ArgumentTypeError(f"{text!r} {problem}")
    return path


def folder_problem(path: Path) -> str | None:
    """Why `path` cannot be used as an output folder, or None if it exists or can be created."""
    existing = next(p for p in (path.absolute(), *path.absolute().parents) if p.exists())
    if not existing.is_dir():
        return (
            "is not a folder" if existing == path.absolute() else f"is inside a file ({existing})"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"is not writable ({existing})"
    return None


def check_environment(names: Sequence[str], must_exist: Sequence[str] = ()) -> None:
    """Check folder environment variables (FASHION_DATA_ROOT, FASHION_RUNS_DIR) before any write.

    Args:
        names: variables that, when set, must name a usable folder (existing or creatable).
        must_exist: those of `names` whose folder must already exist (data to read).

    Raises:
        ConfigError: naming the variable, its value and what is wrong.
    """
    for name in names:
        value = os.environ.get(name)
        if value is None:
            continue
        problem = "is empty" if not value.strip() else folder_problem(Path(value))
        if problem is None and name in must_exist and not Path(value).is_dir():
            problem = "does not exist"
        if problem:
            raise ConfigError(f"environment variable {name}={value!r} {problem}")


def unit_interval(text: str) -> float:
    """argparse type: a number in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} must lie in [0, 1]")
    return value
