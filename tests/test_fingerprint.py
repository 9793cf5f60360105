"""Code fingerprints: edited generator or training code never reuses a stale world or run."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from fashion_lib.data.atelier import make
from fashion_lib.fingerprint import PACKAGE, RUN_CODE, WORLD_CODE, code_fingerprint
from fashion_lib.profiles import get_profile


def test_fingerprint_follows_the_bytes_of_the_listed_code(tmp_path: Path) -> None:
    copy = tmp_path / "fashion_lib"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = {parts: code_fingerprint(parts, copy) for parts in (WORLD_CODE, RUN_CODE)}
    assert before == {parts: code_fingerprint(parts) for parts in (WORLD_CODE, RUN_CODE)}
    code_fingerprint.cache_clear()
    draw = copy / "data" / "atelier" / "draw.py"
    draw.write_text(draw.read_text() + "\n# edited\n")
    assert code_fingerprint(WORLD_CODE, copy) != before[WORLD_CODE]
    assert code_fingerprint(RUN_CODE, copy) != before[RUN_CODE]  # data/ is run code too
    code_fingerprint.cache_clear()
    viz = copy / "viz.py"
    viz.write_text(viz.read_text() + "\n# a figure tweak\n")
    draw.write_text(draw.read_text().removesuffix("\n# edited\n"))
    assert code_fingerprint(WORLD_CODE, copy) == before[WORLD_CODE]
    assert code_fingerprint(RUN_CODE, copy) == before[RUN_CODE]  # figures do not train


def test_a_world_of_other_generator_code_or_data_scale_is_regenerated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FASHION_DATA_ROOT", str(tmp_path))
    smoke = get_profile("smoke")
    root = make.ensure_world(smoke, workers=1)
    manifest = root / make.MANIFEST
    assert json.loads(manifest.read_text())["generator"] == code_fingerprint(WORLD_CODE)
    first = manifest.stat().st_mtime_ns
    assert make.ensure_world(smoke, workers=1) == root
    assert manifest.stat().st_mtime_ns == first  # same code: reused
    stale = json.loads(manifest.read_text()) | {"generator": "0" * 16}
    manifest.write_text(json.dumps(stale))
    make.ensure_world(smoke, workers=1)
    assert json.loads(manifest.read_text())["generator"] == code_fingerprint(WORLD_CODE)
    # a profile that asks for another count of any dataset (here FashionIQ's) regenerates it
    built: list[int] = []
    monkeypatch.setattr(
        make,
        "make_world",
        lambda profile, workers: (
            built.append(profile.data.fashioniq_images) or make.WorldSummary(root, {}, 0.0)
        ),
    )
    larger = dataclasses.replace(smoke.data, fashioniq_images=smoke.data.fashioniq_images + 30)
    make.ensure_world(dataclasses.replace(smoke, data=larger), workers=1)
    assert built == [larger.fashioniq_images]
    make.ensure_world(smoke, workers=1)
    assert built == [larger.fashioniq_images], "the recorded scale is reused"
