"""The claims ledger: round trip, atomic writes, malformed files, and the scoreboard built from it."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from fashion_lib import atomic, claims, paths
from fashion_lib.errors import ConfigError, DataError
from fashion_lib.results import claim_table

CHAPTER = "04_m3net_results"  # a real chapter: publish_claims checks the source exists


@pytest.fixture(autouse=True)
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FASHION_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path / "runs"


def _judged() -> pd.DataFrame:
    """Three claims judged by `claim_table` on hand-made per-seed values."""
    per_seed = pd.DataFrame(
        {
            "model": ["M3-Net"] * 3 + ["MODC"] * 3 + ["ASEN"] * 3,
            "map_all": [30.0, 31.0, 32.0, 20.0, 21.0, 22.0, 31.5, 40.0, 41.0],
        }
    )
    table = claim_table(
        per_seed, [("M3-Net", "MODC"), ("MODC", "ASEN"), ("M3-Net", "ASEN")], "map_all"
    )
    return table.assign(
        paper="M3-Net",
        source="Table 2, DeepFashion",
        metric="MAP@all overall",
        paper_a=[35.0, 10.0, 35.0],
        paper_b=[20.0, float("nan"), 40.0],
        unused="extra columns are ignored",
    )


def test_round_trip_keeps_every_field() -> None:
    path = claims.publish_claims(CHAPTER, "smoke", _judged(), "m3net-claims")
    assert path == paths.runs_dir() / "claims" / "smoke" / f"{CHAPTER}.json"
    got = claims.load_claims("smoke")
    assert got["verdict"].tolist() == ["held", "not held", "inconclusive"]
    assert got[["a", "b"]].values.tolist() == [
        ["M3-Net", "MODC"],
        ["MODC", "ASEN"],
        ["M3-Net", "ASEN"],
    ]
    first = got.iloc[0]
    assert (first["mean_a"], first["mean_b"]) == (31.0, 21.0)
    assert tuple(first["spread_a"]) == (30.0, 32.0) and tuple(first["seeds"]) == (3, 3)
    assert (first["chapter"], first["anchor"], first["source"]) == (
        CHAPTER,
        "m3net-claims",
        "Table 2, DeepFashion",
    )
    # the paper's direction comes from its numbers; a missing number gives no direction
    directions = [d if isinstance(d, str) else None for d in got["paper_direction"]]
    assert directions == ["A > B", None, "A < B"]
    assert got.iloc[1]["paper_b"] is None or math.isnan(got.iloc[1]["paper_b"])


def test_sections_are_replaced_one_anchor_at_a_time() -> None:
    claims.publish_claims(CHAPTER, "smoke", _judged(), "m3net-claims")
    claims.publish_claims(CHAPTER, "smoke", _judged().head(1), "m3net-gamma")
    claims.publish_claims(CHAPTER, "smoke", _judged().tail(2), "m3net-claims")
    got = claims.load_claims("smoke")
    assert got.groupby("anchor").size().to_dict() == {"m3net-claims": 2, "m3net-gamma": 1}
    assert claims.load_claims("cpu").empty  # another profile has its own ledgers


def test_a_failed_write_keeps_the_old_ledger(monkeypatch: pytest.MonkeyPatch) -> None:
    path = claims.publish_claims(CHAPTER, "smoke", _judged(), "m3net-claims")
    before = path.read_bytes()

    def broken(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        claims.publish_claims(CHAPTER, "smoke", _judged().head(1), "m3net-claims")
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not a readable claims ledger"),
        ('{"chapter": "04_m3net_results", "profile": "smoke"}', "'sections' object"),
        ('{"chapter": "09_other", "profile": "smoke", "sections": {}}', "names chapter"),
        ('{"chapter": "04_m3net_results", "profile": "smoke", "sections": {"x": [{}]}}', "keys"),
    ],
)
def test_a_malformed_ledger_names_its_file(runs: Path, text: str, message: str) -> None:
    path = runs / "claims" / "smoke" / f"{CHAPTER}.json"
    path.parent.mkdir(parents=True)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=message) as caught:
        claims.load_claims("smoke")
    assert str(path) in str(caught.value)


def test_a_bad_verdict_in_a_ledger_names_the_file_and_claim(runs: Path) -> None:
    path = claims.publish_claims(CHAPTER, "smoke", _judged(), "m3net-claims")
    ledger = json.loads(path.read_text(encoding="utf-8"))
    ledger["sections"]["m3net-claims"][2]["verdict"] = "maybe"
    path.write_text(json.dumps(ledger), encoding="utf-8")
    with pytest.raises(DataError, match=r"claim 2: verdict 'maybe'") as caught:
        claims.load_claims("smoke")
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("chapter", "anchor", "table", "message"),
    [
        ("42_nowhere", "m3net-claims", _judged(), "no chapter notebooks/42_nowhere.py"),
        (CHAPTER, "Claims Here", _judged(), "lowercase"),
        (CHAPTER, "m3net-claims", _judged().drop(columns="source"), "source"),
        (CHAPTER, "m3net-claims", _judged().assign(verdict="maybe"), "not one of"),
        (CHAPTER, "m3net-claims", _judged().assign(claim="M3-Net wins"), "give columns a and b"),
    ],
)
def test_publish_rejects_bad_input(
    chapter: str, anchor: str, table: pd.DataFrame, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        claims.publish_claims(chapter, "smoke", table, anchor)


@pytest.fixture
def fake_book(tmp_path: Path) -> tuple[Path, Path]:
    """Notebook sources (two judge claims, one does not) and a table of contents."""
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    sources = {
        "01_data": "# # The data\nx = 1\n",
        CHAPTER: "# # M3-Net results\npublish_claims('04_m3net_results', ...)\n",
        "08_fashionsap_results": "# # FashionSAP results\npublish_claims('08', ...)\n",
    }
    for stem, text in sources.items():
        (notebooks / f"{stem}.py").write_text(text, encoding="utf-8")
    toc = tmp_path / "_toc.yml"
    toc.write_text(
        "format: jb-book\nroot: book/executed/99_scoreboard\nparts:\n"
        "  - caption: Getting started\n    chapters:\n      - file: book/executed/01_data\n"
        "  - caption: M3-Net\n    chapters:\n      - file: book/executed/04_m3net_results\n"
        "  - caption: FashionSAP\n    chapters:\n      - file: book/executed/08_fashionsap_results\n",
        encoding="utf-8",
    )
    return notebooks, toc


def test_scoreboard_counts_links_and_not_run_rows(fake_book: tuple[Path, Path]) -> None:
    notebooks, toc = fake_book
    table = _judged()
    table.loc[0, "claim"] = "M3-Net <beats> MODC & co"  # names given below; text must be escaped
    table = table.assign(a=["M3-Net", "MODC", "M3-Net"], b=["MODC", "ASEN", "ASEN"])
    claims.publish_claims(CHAPTER, "smoke", table, "m3net-claims")
    board = claims.scoreboard("smoke", notebooks_dir=notebooks, toc_path=toc)

    assert len(board) == 4
    missing = board[board["verdict"] == claims.NOT_RUN]
    assert missing[["paper", "chapter"]].values.tolist() == [
        ["FashionSAP", "08_fashionsap_results"]
    ]
    assert missing["command"].item() == "python -m fashion_lib book run --profile smoke --only 08"
    assert "FashionSAP results" in missing["claim"].item()

    counts = claims.verdict_counts(board)
    assert counts.loc["M3-Net"].to_dict() == {
        "held": 1,
        "not held": 1,
        "inconclusive": 1,
        "not run": 0,
        "total": 3,
    }
    assert counts.loc["FashionSAP", "not run"] == 1 and counts.loc["FashionSAP", "total"] == 1

    m3 = claims.scoreboard_html(board, "M3-Net")
    links = re.findall(r'<a href="([^"#]+)\.html#([^"]+)">', m3)
    assert links == [(CHAPTER, "m3net-claims")] * 3
    assert all((paths.NOTEBOOKS_DIR / f"{stem}.py").is_file() for stem, _ in links)
    assert "M3-Net &lt;beats&gt; MODC &amp; co (A: M3-Net, B: MODC)" in m3
    assert "31.00 (30.00..32.00)" in m3 and "<td>3, 3</td>" in m3
    assert m3.count("</tr>") == 4  # header and three claims

    sap = claims.scoreboard_html(board, "FashionSAP")
    assert "<a href" not in sap
    assert "<code>python -m fashion_lib book run --profile smoke --only 08</code>" in sap
    assert "not run" in sap
