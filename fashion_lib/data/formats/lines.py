"""Text files of the real formats: strict decoding, CRLF tolerated, errors naming file and line.

Files are streamed line by line (DeepFashion's ``list_attr_img.txt`` is close to 1 GB), so a
decoding error names its exact line.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from fashion_lib import atomic
from fashion_lib.errors import DataError


def iter_lines(path: str | Path, encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, text without its line end) for each line of a text file.

    Line ends may be LF or CRLF (the public copies of the ASEN files use both). Trailing blank lines
    are dropped; blank lines inside the file are kept so that parsers can report them.

    Args:
        path: the file.
        encoding: its encoding; bytes that do not decode raise a `DataError` naming the line.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "missing file")
    blanks: list[tuple[int, str]] = []  # held back until a non-blank line follows
    with path.open("rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                text = raw.decode(encoding).removesuffix("\n").removesuffix("\r")
            except UnicodeDecodeError as err:
                message = f"not valid {encoding} text (byte {raw[err.start]:#04x})"
                raise DataError(path, message, number) from None
            if not text.strip():
                blanks.append((number, text))
                continue
            yield from blanks
            blanks.clear()
            yield number, text


def read_lines(path: str | Path, encoding: str = "utf-8") -> list[str]:
    """All lines of a text file (see `iter_lines`); element ``i`` is line ``i + 1``."""
    return [text for _, text in iter_lines(path, encoding)]


def parse_ints(path: Path, lineno: int, text: str) -> list[int]:
    """Whitespace-separated integers of one line; a `DataError` at `lineno` otherwise."""
    fields = text.split()
    if not fields:
        raise DataError(path, "empty line", lineno)
    try:
        return [int(f) for f in fields]
    except ValueError:
        raise DataError(path, f"expected integers, got {text.strip()[:60]!r}", lineno) from None


def write_lines(dest: str | Path, lines: Iterable[str]) -> None:
    """Atomically write `lines`, each ended by LF, as UTF-8, streaming them to disk."""
    with atomic.atomic_path(dest) as tmp, tmp.open("w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(f"{line}\n")
