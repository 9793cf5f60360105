"""Errors that the command line reports as one line and a non-zero exit, without a traceback."""

from __future__ import annotations

from pathlib import Path


class FashionLibError(Exception):
    """Base class of the errors a user can fix (bad input, missing files, wrong parameters)."""


class ConfigError(FashionLibError):
    """A profile, a parameter or a command-line argument is invalid."""


class DataError(FashionLibError):
    """A dataset file is missing or malformed; names the file and, where known, the line.

    Args:
        path: the offending file or folder.
        message: what is wrong, in a few words.
        line: 1-based line number (or row index for array files), if the fault has one.
    """

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else f"{self.path}"
        super().__init__(f"{where}: {message}")
