"""Write files and folders so that a reader never sees half of them.

Every writer in the library goes through these helpers: content is written next to its destination
under a temporary name and renamed into place only when complete (rename is atomic on POSIX within a
file system). An exception or a kill leaves the destination as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _umask_mode(full: int) -> int:
    """`full` (0o666 for files, 0o777 for folders) masked by the process umask, as open() does."""
    mask = os.umask(0)
    os.umask(mask)
    return full & ~mask


@contextlib.contextmanager
def atomic_path(dest: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary file path beside `dest`; rename it onto `dest` if the block succeeds."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=suffix + ".tmp", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp made it 0600; give it the mode a plain open() would
            os.chmod(tmp_path, _umask_mode(0o666))
        os.replace(tmp_path, dest)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_text(dest: str | Path, text: str, encoding: str = "utf-8") -> None:
    """Atomically write `text` to `dest`."""
    with atomic_path(dest) as tmp:
        tmp.write_text(text, encoding=encoding)


def write_bytes(dest: str | Path, data: bytes) -> None:
    """Atomically write `data` to `dest`."""
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)


@contextlib.contextmanager
def atomic_dir(dest: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside `dest`; it replaces `dest` if the block succeeds.

    An existing `dest` is removed only after the new content is complete, so an interrupted build
    leaves either the old folder or no folder, never a partial one under the final name.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        yield tmp
        os.chmod(tmp, _umask_mode(0o777))  # mkdtemp made it 0700
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(dest, old)
            os.replace(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
