"""The claims ledger: round trip, checked verdicts, atomic writes, malformed files, the scoreboard."""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fashion_lib import atomic, claims, paths, stats
from fashion_lib.errors import ConfigError, DataError

CHAPTER = "04_m3net_results"  # a real chapter: publish_claims checks the source exists


@pytest.fixture(autouse=True)
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FASHION_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path / "runs"


def _judged() -> pd.DataFrame:
    """Three claims judged by `stats.judge` on simulated per-query evidence (3 seeds, 400 queries)."""
    rng = np.random.default_rng(11)
    base = rng.normal(40.0, 20.0, 400)

    def model(shift: float) -> np.ndarray:
        return base + shift + rng.normal(0.0, 0.2, (3, 1)) + rng.normal(0.0, 3.0, (3, 400))

    m3net, modc, asen = model(10.0), model(0.0), model(3.0)
    comparisons = [
        stats.compare_values(x, y) for x, y in ((m3net, modc), (modc, asen), (m3net, asen))
    ]
    table = stats.judge(comparisons, [">", ">", "~"], [1.0, 1.0, 1.0])
    return table.assign(
        paper="M3-Net",
        source="Table 2, DeepFashion",
        metric="MAP@all overall",
        a=["M3-Net", "MODC", "M3-Net"],
        b=["MODC", "ASEN", "ASEN"],
        paper_a=[35.0, 10.0, 35.0],
        paper_b=[20.0, float("nan"), 40.0],
        unused="extra columns are ignored",
    )


def test_round_trip_keeps_every_field() -> None:
    path = claims.publish_claims(CHAPTER, "smoke", _judged(), "m3net-claims")
    assert path == paths.runs_dir() / "claims" / "smoke" / f"{CHAPTER}.json"
    got = claims.load_claims("smoke")
    assert got["verdict"].tolist() == [stats.HELD, stats.REVERSED, stats.NOT_HELD]
    assert got["claim"].tolist() == ["M3-Net > MODC", "MODC > ASEN", "M3-Net ~ ASEN"]
    first, judged = got.iloc[0], _judged().iloc[0]
    for key in ("mean_a", "mean_b", "diff", "se", "df", "lo", "hi", "level", "delta", "p"):
        assert first[key] == judged[key], key  # JSON keeps floats exactly
    assert tuple(first["seeds"]) == (3, 3) and (first["queries"], first["dropped"]) == (400, 0)
    assert (first["chapter"], first["anchor"], first["source"]) == (
        CHAPTER,
        "m3net-claims",
        "Table 2, DeepFashion",
    )
    # the paper's difference comes from its numbers; a missing number gives none
    diffs = [None if d is None or math.isnan(d) else d for d in got["paper_diff"]]
    assert diffs == [15.0, None, -5.0]


def test_sections_are_replaced_one_anchor_at_a_time() -> None:
    claims.publish_claims(CHAPTER, "smoke", _judged(), "m3net-claims")
    claims.publish_claims(CHAPTER, "smoke", _judged().head(1), "m3net-gamma")
    claims.publish_claims(CHAPTER, "smoke", _judged().tail(2), "m3net-claims")
    got = claims.load_claims("smoke")
    assert got.groupby("anchor").size().to_dict() == {"m3net-claims": 2, "m3net-gamma": 1}
    assert claims.load_claims("cpu").empty  # another profile has its own ledgers


def test_a_section_moved_to_another_chapter_leaves_the_old_ledger() -> None:
    claims.publish_claims(CHAPTER, "smoke", _judged(), "m3net-claims")
    claims.publish_claims(CHAPTER, "smoke", _judged().iloc[:1], "m3net-gamma")
    claims.publish_claims("04_m3net_results_analyses", "smoke", _judged(), "m3net-gamma")
    got = claims.load_claims("smoke")
    assert set(got.loc[got["anchor"] == "m3net-gamma", "chapter"]) == {"04_m3net_results_analyses"}
    assert len(got[got["anchor"] == "m3net-claims"]) == 3  # the other section stays


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
        ("[1, 2]", "'sections' object"),
        ('{"version": 2, "chapter": "04_m3net_results", "profile": "smoke"}', "'sections' object"),
        ('{"version": 2, "chapter": "09_other", "profile": "smoke", "sections": {}}', "chapter"),
        ('{"version": 3, "chapter": "04_m3net_results", "profile": "smoke", "sections": {}}', "3"),
        (
            '{"version": 2, "chapter": "04_m3net_results", "profile": "smoke", '
            '"sections": {"x": [{}]}}',
            "keys",
        ),
    ],
)
def test_a_malformed_ledger_names_its_file(runs: Path, text: str, message: str) -> None:
    path = runs / "claims" / "smoke" / f"{CHAPTER}.json"
    path.parent.mkdir(parents=True)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=message) as caught:
        claims.load_claims("smoke")
    assert str(path) in str(caught.value)


def test_an_older_ledger_is_skipped_and_replaced(runs: Path, fake_book: tuple[Path, Path]) -> None:
    path = runs / "claims" / "smoke" / f"{CHAPTER}.json"
    path.parent.mkdir(parents=True)
    old = {"chapter": CHAPTER, "profile": "smoke", "sections": {"old": [{"verdict": "held"}]}}
    path.write_text(json.dumps(old), encoding="utf-8")  # version 1: seed-range verdicts
    assert claims.load_claims("smoke").empty
    notebooks, toc = fake_book
    board = claims.scoreboard("smoke", notebooks_dir=notebooks, toc_path=toc)
    assert board.loc[board["paper"] == "M3-Net", "verdict"].tolist() == [claims.NOT_RUN]
    claims.publish_claims(CHAPTER, "smoke", _judged(), "m3net-claims")
    assert set(claims.load_claims("smoke")["anchor"]) == {"m3net-claims"}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("verdict", "maybe", r"claim 1: verdict 'maybe' is not one of"),
        ("verdict", stats.HELD, r"claim 1: verdict 'held' disagrees with its interval"),
        ("lo", 0.5, r"claim 1: interval \[0.5, .* is not diff \+/- t \* se"),
        ("p", 0.5, r"claim 1: p 0.5 is not the p of its numbers"),
        ("diff", 1.0, r"claim 1: diff 1.0 is not mean_a - mean_b"),
        ("kind", "<", r"claim 1: kind '<' is not one of"),
    ],
)
def test_a_tampered_ledger_row_names_the_file_and_claim(
    field: str, value: object, message: str
) -> None:
    path = claims.publish_claims(CHAPTER, "smoke", _judged(), "m3net-claims")
    ledger = json.loads(path.read_text(encoding="utf-8"))
    ledger["sections"]["m3net-claims"][1][field] = value
    path.write_text(json.dumps(ledger), encoding="utf-8")
    with pytest.raises(DataError, match=message) as caught:
        claims.load_claims("smoke")
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("chapter", "anchor", "table", "message"),
    [
        ("42_nowhere", "m3net-claims", _judged(), "no chapter notebooks/42_nowhere.py"),
        (CHAPTER, "Claims Here", _judged(), "lowercase"),
        (CHAPTER, "m3net-claims", _judged().drop(columns="source"), "source"),
        (CHAPTER, "m3net-claims", _judged().assign(verdict=stats.HELD), "disagrees"),
        (CHAPTER, "m3net-claims", _judged().assign(hi=99.0), "is not diff"),
        (CHAPTER, "m3net-claims", _judged().drop(columns=["a", "b"]), "give columns a and b"),
    ],
)
def test_publish_rejects_bad_input(
    chapter: str, anchor: str, table: pd.DataFrame, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        claims.publish_claims(chapter, "smoke", table, anchor)


def test_sides_can_come_from_the_claim_text() -> None:
    table = _judged().drop(columns=["a", "b"]).assign(claim=["X > Y", "Y > Z", "X ~ Z"])
    claims.publish_claims(CHAPTER, "smoke", table, "m3net-claims")
    assert claims.load_claims("smoke")[["a", "b"]].values.tolist() == [
        ["X", "Y"],
        ["Y", "Z"],
        ["X", "Z"],
    ]


def _borderline(name: str) -> pd.DataFrame:
    """One claim "A > B" whose raw p is about 0.03: held alone, not after Holm across two."""
    row = pd.DataFrame([{"kind": ">", "diff": 0.65, "se": 0.3, "df": 1000.0, "delta": 1.0}])
    row["p"] = stats.decisive_p(">", 0.65, 0.3, 1000.0, 1.0)
    return stats.apply_holm(row).assign(
        mean_a=30.65,
        mean_b=30.0,
        seeds=[(5, 5)],
        queries=4000,
        paper="M3-Net",
        source="Table 3, FashionAI",
        metric="MAP@all overall",
        a=name,
        b="ASEN",
        paper_a=np.nan,
        paper_b=np.nan,
    )


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


def test_scoreboard_applies_holm_across_a_papers_claims(fake_book: tuple[Path, Path]) -> None:
    notebooks, toc = fake_book
    claims.publish_claims(CHAPTER, "smoke", _borderline("M3-Net"), "m3net-claims")
    claims.publish_claims(CHAPTER, "smoke", _borderline("ASEN++"), "m3net-gamma")
    board = claims.scoreboard("smoke", notebooks_dir=notebooks, toc_path=toc)
    m3 = board[board["paper"] == "M3-Net"]
    assert m3["chapter_verdict"].tolist() == [stats.HELD, stats.HELD]  # each section alone
    assert m3["verdict"].tolist() == [stats.INCONCLUSIVE, stats.INCONCLUSIVE]  # Holm across two
    assert m3["level"].tolist() == [0.975, 0.975] and (m3["p_holm"] > 0.05).all()


def test_scoreboard_counts_links_and_not_run_rows(fake_book: tuple[Path, Path]) -> None:
    notebooks, toc = fake_book
    table = _judged()
    table.loc[0, "claim"] = "M3-Net <beats> MODC & co, by a margin wider than one line holds"
    table.loc[2, "note"] = stats.ONE_SEED  # shown under the claim
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
        stats.HELD: 1,
        stats.REVERSED: 1,
        stats.NO_DIFFERENCE: 0,
        stats.NOT_HELD: 1,
        stats.INCONCLUSIVE: 0,
        claims.NOT_RUN: 0,
        "total": 3,
    }
    assert counts.loc["FashionSAP", "not run"] == 1 and counts.loc["FashionSAP", "total"] == 1

    m3 = claims.scoreboard_html(board, "M3-Net")
    links = re.findall(r'<a href="([^"#]+)\.html#([^"]+)">04</a>', m3)
    assert links == [(CHAPTER, "m3net-claims")] * 3
    assert all((paths.NOTEBOOKS_DIR / f"{stem}.py").is_file() for stem, _ in links)
    assert "M3-Net &lt;beats&gt; MODC &amp; co," in m3 and "<beats>" not in m3
    first = board.iloc[0]
    assert f"{first['diff']:+.2f}<br>[{first['lo']:+.2f}, {first['hi']:+.2f}]" in m3
    assert "<td>+15.00</td>" in m3 and "<td>5</td>" not in m3 and "<td>3</td>" in m3
    assert m3.count("</tr>") == 4  # header and three claims
    # narrow enough for an 80-column page: every line of the claim column is wrapped
    cells = re.findall(r"<tr>\s*<td>(.*?)</td>", m3, flags=re.S)
    lines = [html.unescape(re.sub(r"<[^>]+>", "", x)) for c in cells for x in c.split("<br>")]
    assert len(lines) > 6 and max(map(len, lines)) <= claims.CLAIM_WIDTH
    assert "one seed: the interval covers query" in " ".join(lines)

    sap = claims.scoreboard_html(board, "FashionSAP")
    assert "<a href" not in sap and claims.NOT_RUN in sap
    assert "<code>python -m fashion_lib book run</code><br><code>--profile smoke --only 08" in sap
