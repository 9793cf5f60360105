"""Imports flow one way: no module of fashion_lib imports, directly or through others, itself.

A cycle (losses <-> models, cli <-> data commands) makes the import order matter and hides what
depends on what. Models never import losses (the losses read the models' named outputs); only the
entry points import the command line, and each command module imports alone in a fresh process.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from fashion_lib import paths

ROOT = paths.PROJECT_ROOT
PACKAGE = ROOT / "fashion_lib"
ENTRY_POINTS = ("fashion_lib/cli.py", "fashion_lib/__main__.py")


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """fashion_lib module -> the fashion_lib modules it imports (at any depth of its code)."""
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt]
            if nxt not in state and (found := visit(nxt, [*path, nxt])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def _package_parents(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph without edges into a package's own __init__ from its submodules' parents.

    ``import fashion_lib.models.x`` runs ``fashion_lib/models/__init__`` first; that implicit edge
    is Python's, not a dependency the code chose, so only explicit imports count.
    """
    return {k: {m for m in v if not k.startswith(m + ".")} for k, v in graph.items()}


def test_no_import_cycles() -> None:
    cycle = _cycle(_package_parents(import_graph()))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_models_never_import_losses() -> None:
    graph = import_graph()
    wrong = sorted(
        f"{m} imports {d}"
        for m, deps in graph.items()
        if m.startswith("fashion_lib.models")
        for d in deps
        if d.startswith("fashion_lib.losses")
    )
    assert not wrong, wrong


def test_the_checker_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycle(graph) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


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
