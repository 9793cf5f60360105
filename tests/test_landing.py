"""The book's own pages: chapter times per profile, the landing page's parts, the report's numbers."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest

import fashion_lib
from fashion_lib import paths, stats
from fashion_lib.book import landing, report
from fashion_lib.book.chapters import chapter_title, discover, is_chapter
from fashion_lib.book.runner import run_notebook
from fashion_lib.book.timings import NOT_MEASURED, chapter_times, record_time, time_table
from fashion_lib.claims import NOT_RUN
from fashion_lib.errors import DataError
from fashion_lib.fingerprint import RUN_CODE, code_fingerprint


@pytest.fixture(autouse=True)
def runs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "runs"
    monkeypatch.setenv("FASHION_RUNS_DIR", str(folder))
    return folder


def test_time_table_reads_recorded_times_and_says_not_measured() -> None:
    record_time("smoke", "00_a", {"seconds": 40.2})
    record_time("smoke", "01_b", {"seconds": 130.0})
    record_time("smoke", "00_a", {"seconds": 41.0})  # a later run replaces the entry
    record_time("cpu", "00_a", {"seconds": 600.0})
    assert chapter_times("smoke") == {"00_a": {"seconds": 41.0}, "01_b": {"seconds": 130.0}}
    table = time_table(["00_a", "01_b"], ["smoke", "cpu", "gpu"])
    assert table["smoke"].tolist() == ["41 s", "3 min", "3 min"]  # 171 s rounds up
    assert table["cpu"].tolist() == ["10 min", NOT_MEASURED, NOT_MEASURED]  # no total if partial
    assert set(table["gpu"]) == {NOT_MEASURED}


def test_a_malformed_times_file_names_itself(runs_dir: Path) -> None:
    path = runs_dir / "book-times" / "smoke.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"00_a": 3}', encoding="utf-8")
    with pytest.raises(DataError, match=r"smoke\.json"):
        chapter_times("smoke")


def test_the_runner_records_each_chapter_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the book's own chapters are recorded: here a folder standing in for notebooks/."""
    monkeypatch.setattr(paths, "NOTEBOOKS_DIR", tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    other = elsewhere / "01_other.py"
    other.write_text('# %% tags=["parameters"]\nprofile = "cpu"\n', "utf-8")
    run_notebook(other, "smoke", out_dir=tmp_path / "out", failed_dir=tmp_path / "bad")
    assert chapter_times("smoke") == {}
    source = tmp_path / "00_tiny.py"
    source.write_text('# %% tags=["parameters"]\nprofile = "cpu"\n\n# %%\nx = 1\n', "utf-8")
    run = run_notebook(source, "smoke", out_dir=tmp_path / "out", failed_dir=tmp_path / "bad")
    entry = chapter_times("smoke")["00_tiny"]
    meta = nbformat.read(run.output, as_version=4).metadata["fashion_book"]
    assert entry["seconds"] == meta["seconds"] > 0 and entry["solutions"] is True


def test_pages_are_not_chapters_and_titles_come_from_sources() -> None:
    sources = discover()
    pages = [s.stem for s in sources if not is_chapter(s)]
    assert pages == ["97_landing", "98_report", "99_scoreboard"]
    assert chapter_title(sources[0]).startswith("Overview")
    table = landing.chapter_table(("smoke", "gpu"))
    assert table.index[-1] == "all" and len(table) == sum(map(is_chapter, sources)) + 1
    assert set(table["gpu"]) == {NOT_MEASURED}
    assert table.index.is_unique and {"04a", "04b"} <= set(table.index)  # chapter 04's two files


def test_reading_paths_name_existing_chapters_in_order() -> None:
    numbers = {s.stem[:2] for s in discover()}
    for path in landing.READING_PATHS:
        assert set(path.chapters) <= numbers and len(set(path.chapters)) == len(path.chapters)
    assert list(landing.reading_paths().index) == ["student", "instructor", "engineer"]


def _record(folder: Path, name: str, profile: str, code: str, seconds: float) -> None:
    run = folder / f"{name}-abc"
    run.mkdir(parents=True)
    body = {"name": name, "profile": profile, "seed": 0, "wall_time_s": seconds, "code": code}
    body["library_version"] = fashion_lib.__version__
    (run / "record.json").write_text(json.dumps(body), encoding="utf-8")


def test_report_counts_current_records_only(runs_dir: Path) -> None:
    code = code_fingerprint(RUN_CODE)
    _record(runs_dir, "m3row-asen-darn-seed0", "smoke", code, 60.0)
    _record(runs_dir, "m3row-asen-darn-seed1", "smoke", code, 120.0)
    _record(runs_dir, "sap-full-seed0", "smoke", code, 30.0)
    _record(runs_dir, "sap-full-seed1", "smoke", "older code", 30.0)
    _record(runs_dir, "sap-full-seed2", "cpu", code, 30.0)
    records = report.current_records("smoke")
    assert sorted(records["name"]) == [f"m3row-asen-darn-seed{i}" for i in (0, 1)] + [
        "sap-full-seed0"
    ]
    table = report.compute_by_kind(records)
    assert table.loc["m3row"].tolist() == [2, 3.0] and table.loc["all"].tolist() == [3, 3.5]


def test_report_headline_counts_each_verdict_once() -> None:
    verdicts = [stats.HELD, stats.HELD, stats.REVERSED, stats.NOT_HELD, stats.INCONCLUSIVE]
    board = pd.DataFrame(
        {
            "paper": ["M3-Net"] * 3 + ["FashionSAP"] * 3,
            "source": ["Table 2"] * 6,
            "claim": list("abcdef"),
            "verdict": [*verdicts, NOT_RUN],
        }
    )
    head = report.headline(board)
    assert (head.judged, head.held, head.against, head.undecided) == (5, 2, 2, 1)
    assert head.not_run == 1 and head.papers == ("M3-Net", "FashionSAP")
    shares = report.results_by_paper(board)
    assert list(shares.index) == ["M3-Net", "FashionSAP"]
    assert shares.loc["M3-Net", stats.HELD] == pytest.approx(200 / 3, abs=0.1)
    assert report.claim_scope(board)["claims"].tolist() == [3, 2]


def test_profile_table_counts_each_dataset_s_images() -> None:
    from fashion_lib.profiles import PROFILES

    table = landing.profile_table(PROFILES.values())
    assert list(table.index) == list(PROFILES)
    smoke = PROFILES["smoke"].data
    assert table.loc["smoke", "deepfashion"] == smoke.deepfashion.total
    assert table.loc["cpu", "deepfashion"] > table.loc["smoke", "deepfashion"]
