"""Imports flow one way: the command line imports the command groups and the library, never the
reverse, and each of the two command modules imports alone in a fresh interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "fashion_lib"
ENTRY_POINTS = ("fashion_lib/cli.py", "fashion_lib/__main__.py")


def imported(path: Path) -> set[str]:
    """Modules a file imports anywhere (top level or inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_only_the_entry_points_import_the_cli() -> None:
    offenders = [
        p.relative_to(ROOT).as_posix()
        for p in sorted(PACKAGE.rglob("*.py"))
        if p.relative_to(ROOT).as_posix() not in ENTRY_POINTS and "fashion_lib.cli" in imported(p)
    ]
    assert offenders == []


@pytest.mark.parametrize("module", ["fashion_lib.data.commands", "fashion_lib.cli"])
def test_module_imports_alone(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
