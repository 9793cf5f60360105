"""Atomic writers leave files and folders with the mode a plain open()/mkdir() would give."""

from __future__ import annotations

import os
from pathlib import Path

from fashion_lib import atomic


def test_written_file_and_folder_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic.write_text(tmp_path / "a.txt", "x")
        with atomic.atomic_dir(tmp_path / "world") as tmp:
            (tmp / "f").write_text("y")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "world").stat().st_mode & 0o777 == 0o755
