"""Per-query evidence: round trip, atomic writes, malformed files, hits from ranks, alignment."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from fashion_lib import atomic, evidence
from fashion_lib.errors import ConfigError, DataError
from fashion_lib.evidence import PerQuery


def _groups() -> dict[str, PerQuery]:
    return {
        "single/ap_all": PerQuery(
            np.array(["collar|0", "collar|1", "sleeve|0"]), [55.0, np.nan, 7.5]
        ),
        "full/i2t_rank": PerQuery(np.array(["p1|0", "p2|0"]), [1.0, 12.0]),
    }


def test_round_trip_keeps_keys_values_and_nan(tmp_path: Path) -> None:
    path = evidence.write_evidence(tmp_path, _groups())
    assert path == tmp_path / evidence.EVIDENCE_FILE
    got = evidence.read_evidence(tmp_path)
    assert sorted(got) == ["full/i2t_rank", "single/ap_all"]
    ap = got["single/ap_all"]
    assert ap.keys.tolist() == ["collar|0", "collar|1", "sleeve|0"]
    assert ap.values.dtype == np.float64 and np.isnan(ap.values[1]) and ap.values[2] == 7.5


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = evidence.write_evidence(tmp_path, _groups())
    before = path.read_bytes()

    def broken(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        evidence.write_evidence(tmp_path, {})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def _write_arrays(folder: Path, **arrays: np.ndarray) -> Path:
    path = folder / evidence.EVIDENCE_FILE
    with path.open("wb") as out:
        np.savez(out, **arrays)
    return path


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"g/keys": np.array(["a", "b"])}, "group 'g' lacks values"),
        (
            {"g/keys": np.array(["a", "a"]), "g/values": np.zeros(2)},
            "group 'g': repeated query keys",
        ),
        ({"g/keys": np.array(["a"]), "g/values": np.zeros(2)}, "equally long"),
        ({"g/keys": np.array(["a"]), "g/values": np.array([np.inf])}, "infinite"),
        ({"g/keys": np.array(["a"]), "g/values": np.zeros(1), "loose": np.zeros(1)}, "lacks"),
        ({"g/keys": np.array([{"a": 1}], dtype=object), "g/values": np.zeros(1)}, "not a readable"),
    ],
)
def test_a_malformed_file_names_itself(tmp_path: Path, arrays: dict, message: str) -> None:
    path = _write_arrays(tmp_path, **arrays)
    with pytest.raises(DataError, match=message) as caught:
        evidence.read_evidence(tmp_path)
    assert str(path) in str(caught.value)


def test_a_missing_or_corrupt_file_names_itself(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no per-query evidence") as caught:
        evidence.read_evidence(tmp_path)
    assert str(tmp_path / evidence.EVIDENCE_FILE) in str(caught.value)
    path = evidence.write_evidence(tmp_path, _groups())
    path.write_bytes(path.read_bytes()[:40])  # truncated
    with pytest.raises(DataError, match="not a readable evidence file"):
        evidence.read_evidence(tmp_path)
    with zipfile.ZipFile(path, "w") as broken:  # a zip whose member is not an array
        broken.writestr("g/keys.npy", b"not an array")
    with pytest.raises(DataError, match=r"not a readable evidence file \(g/keys is not an"):
        evidence.read_evidence(tmp_path)


def test_read_group_collects_one_group_per_run(tmp_path: Path) -> None:
    for seed in (0, 1):
        evidence.write_evidence(tmp_path / f"run{seed}", _groups())
    runs = [tmp_path / "run1", tmp_path / "run0"]
    got = evidence.read_group(runs, "full/i2t_rank")
    assert [g.values.tolist() for g in got] == [[1.0, 12.0], [1.0, 12.0]]
    with pytest.raises(DataError, match="no group 'cr/correct'; it has") as caught:
        evidence.read_group(runs, "cr/correct")
    assert str(tmp_path / "run1" / evidence.EVIDENCE_FILE) in str(caught.value)


def test_hits_at_turns_ranks_into_recall_hits() -> None:
    ranks = PerQuery(np.array(["a", "b", "c", "d"]), [1.0, 10.0, 11.0, np.nan])
    hits = evidence.hits_at(ranks, 10)
    assert hits.keys.tolist() == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(hits.values, [100.0, 100.0, 0.0, np.nan])


def test_align_orders_by_key_and_pairs_seeds_by_position() -> None:
    a = [PerQuery(np.array(["b", "a"]), [2.0, 1.0]), PerQuery(np.array(["a", "b"]), [3.0, 4.0])]
    b = [PerQuery(np.array(["a", "b"]), [5.0, 6.0]), PerQuery(np.array(["b", "a"]), [8.0, 7.0])]
    keys, va, vb = evidence.align(a, b)
    assert keys.tolist() == ["a", "b"]
    np.testing.assert_array_equal(va, [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(vb, [[5.0, 6.0], [7.0, 8.0]])
    with pytest.raises(ConfigError, match=r"A, seed 1: .*1 extra: c"):
        evidence.align([a[0], PerQuery(np.array(["a", "b", "c"]), [1.0, 2.0, 3.0])], b)
    with pytest.raises(ConfigError, match="same number of seeds"):
        evidence.align([], [])


def test_has_groups_decides_whether_a_run_is_reused(tmp_path: Path) -> None:
    assert not evidence.has_groups(tmp_path)  # no evidence file at all
    evidence.write_evidence(tmp_path, _groups())
    assert evidence.has_groups(tmp_path) and evidence.has_groups(tmp_path, ["full/i2t_rank"])
    assert not evidence.has_groups(tmp_path, ["full/i2t_rank", "cr/correct"])
    (tmp_path / evidence.EVIDENCE_FILE).write_bytes(b"damaged")
    assert not evidence.has_groups(tmp_path, ["full/i2t_rank"])
