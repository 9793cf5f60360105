"""The provenance block: the run registry fills on write and reuse, and the block shows it."""

from __future__ import annotations

from pathlib import Path

import pytest

from fashion_lib.book import provenance
from fashion_lib.engine import records
from fashion_lib.engine.config import config_hash


@pytest.fixture
def empty_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees only the runs it touches itself."""
    monkeypatch.setattr(records, "_TOUCHED", {})


def _write(root: Path, name: str, config: dict, seed: int) -> records.RunRecord:
    return records.write_record(
        records.run_dir_for(name, config, root),
        name=name,
        config=config,
        seed=seed,
        profile="smoke",
        wall_time_s=1.5,
        metrics={"map": 0.5},
    )


def test_registry_records_writes_then_reuses_once_each(tmp_path: Path, empty_registry) -> None:
    first = {"lr": 0.1, "seed": 7}
    second = {"lr": 0.2, "seed": 3}
    assert records.touched_records() == []
    _write(tmp_path, "alpha", first, seed=7)
    _write(tmp_path, "beta", second, seed=3)
    # Reusing "beta" later does not duplicate it nor turn it into "reused".
    assert records.find_finished_run(second, name="beta", root=tmp_path) is not None
    touched = records.touched_records()
    assert [(t.record.name, t.reused) for t in touched] == [("alpha", False), ("beta", False)]
    assert touched[0].record.config_hash == config_hash(first)


def test_registry_records_a_run_found_on_disk(tmp_path: Path, empty_registry) -> None:
    config = {"epochs": 2}
    _write(tmp_path, "gamma", config, seed=11)
    records._TOUCHED.clear()  # as a fresh kernel that finds the run a previous one wrote
    assert records.find_finished_run({"epochs": 3}, root=tmp_path) is None
    assert records.touched_records() == []
    found = records.find_finished_run(config, root=tmp_path)
    assert found is not None
    assert [(t.record.name, t.reused) for t in records.touched_records()] == [("gamma", True)]


def test_block_shows_profile_hash_seed_commit_and_machine(
    tmp_path: Path, empty_registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(provenance, "git_commit", lambda: "0123abcd+dirty")
    config = {"lr": 0.5}
    record = _write(tmp_path, "m3net-<probe>", config, seed=42)
    prov = provenance.collect("smoke")
    html = provenance.render_html(prov)
    assert prov.seeds == [42]
    assert prov.wall_time_s > 0
    assert prov.peak_memory_mib > 1
    assert "<b>Profile:</b> smoke" in html
    assert "0123abcd+dirty" in html
    assert f"<code>{record.config_hash[:12]}</code>" in html
    assert record.config_hash[:13] not in html
    assert "<td>42</td>" in html and "<td>trained</td>" in html
    assert "1 run record: 1 trained, 0 reused" in html
    assert "m3net-&lt;probe&gt;" in html  # names are escaped
    assert f"torch {prov.machine['torch']} with {prov.machine['torch_threads']} threads" in html


def test_block_without_runs_says_so(empty_registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provenance, "git_commit", lambda: None)
    html = provenance.render_html(provenance.collect("cpu"))
    assert "wrote and reused no run record" in html
    assert "not a git checkout" in html
    assert "<table>" not in html


def test_provenance_block_displays_html(empty_registry, monkeypatch: pytest.MonkeyPatch) -> None:
    shown = []
    monkeypatch.setattr(provenance, "display", shown.append)
    provenance.provenance_block("smoke")
    assert len(shown) == 1
    assert 'class="provenance"' in shown[0].data
