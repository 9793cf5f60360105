"""The claims ledger: every chapter that judges a paper's claim records its verdicts here.

A chapter computes its verdicts with `fashion_lib.results` (`claim_table` or `verdict`) and hands
the table to `publish_claims`, which writes ``<runs_dir>/claims/<profile>/<chapter>.json``
atomically. The book's landing page (``notebooks/99_scoreboard.py``) reads every ledger of its
profile back with `load_claims` and turns them into the scoreboard with `scoreboard`,
`verdict_counts` and `scoreboard_html`; no number on it is typed by hand.

A ledger holds one section per anchor (the MyST target ``(anchor)=`` heading the chapter's verdict
section), so a chapter may publish several sections; publishing a section replaces it and keeps the
others. The table given to `publish_claims` has `claim_table`'s columns (claim, verdict, mean_a,
mean_b, spread_a, spread_b, seeds) plus ``paper`` ("M3-Net" or "FashionSAP"), ``source`` (the
paper's table or figure) and ``metric``; optional columns: ``a`` and ``b`` (the two sides' names,
parsed from a claim "A > B" or "A ~ B"), ``paper_a`` and ``paper_b`` (the paper's own numbers, NaN
where it prints none) and ``paper_direction`` (derived from the paper's numbers when absent).
"""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import pandas as pd
import yaml

from fashion_lib import paths
from fashion_lib.atomic import write_text
from fashion_lib.errors import ConfigError, DataError
from fashion_lib.results import HELD, INCONCLUSIVE, NOT_HELD

__all__ = [
    "NOT_RUN",
    "VERDICTS",
    "Claim",
    "claims_dir",
    "load_claims",
    "publish_claims",
    "scoreboard",
    "scoreboard_html",
    "verdict_counts",
]

NOT_RUN = "not run"
VERDICTS = (HELD, NOT_HELD, INCONCLUSIVE)
_ANCHOR = re.compile(r"^[a-z][a-z0-9-]*$")  # already in the form Sphinx gives an HTML id
_SIDES = re.compile(r"(.+?) [>~] (.+)")  # "A > B" (ordering) or "A ~ B" (comparable)
_REQUIRED = ("paper", "source", "claim", "metric", "verdict", "mean_a", "mean_b")
_REQUIRED += ("spread_a", "spread_b", "seeds")


@dataclass(frozen=True)
class Claim:
    """One judged claim, as a ledger stores it.

    Attributes:
        paper: "M3-Net" or "FashionSAP".
        source: the paper's table or figure, e.g. "Table 2, DeepFashion".
        claim: the claim in words, e.g. "M3-Net > MODC".
        metric: the metric both sides are compared on.
        verdict: held, not held or inconclusive (`fashion_lib.results.verdict`).
        a, b: the names of the two sides.
        mean_a, mean_b: our means over seeds.
        spread_a, spread_b: our (min, max) over seeds.
        seeds: number of seeds (or values) of each side.
        paper_a, paper_b: the paper's numbers for the two sides, None where it prints none.
        paper_direction: the paper's own direction ("A > B", "A < B", "A = B"), None if unknown.
    """

    paper: str
    source: str
    claim: str
    metric: str
    verdict: str
    a: str
    b: str
    mean_a: float
    mean_b: float
    spread_a: tuple[float, float]
    spread_b: tuple[float, float]
    seeds: tuple[int, int]
    paper_a: float | None
    paper_b: float | None
    paper_direction: str | None


def claims_dir(profile: str) -> Path:
    """Folder of a profile's ledgers: ``<runs_dir>/claims/<profile>``."""
    return paths.runs_dir() / "claims" / profile


def _missing(value: object) -> bool:
    """True for None and NaN (how pandas and JSON spell an absent value)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _number(value: object) -> float | None:
    """A finite float, or None for a missing number (NaN, None)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _direction(paper_a: float | None, paper_b: float | None) -> str | None:
    if paper_a is None or paper_b is None:
        return None
    return "A > B" if paper_a > paper_b else "A < B" if paper_a < paper_b else "A = B"


def _claim_from_row(row: dict) -> Claim:
    """Build and check one Claim from a table row (extra keys are ignored)."""
    missing = [key for key in _REQUIRED if key not in row]
    if missing:
        raise ConfigError(f"a claim row lacks the column(s) {', '.join(missing)}")
    if row["verdict"] not in VERDICTS:
        raise ConfigError(f"verdict {row['verdict']!r} is not one of {', '.join(VERDICTS)}")
    a, b = row.get("a"), row.get("b")
    if _missing(a) or _missing(b):
        sides = _SIDES.fullmatch(str(row["claim"]))
        if sides is None:
            raise ConfigError(f"claim {row['claim']!r} is not 'A > B'; give columns a and b")
        a, b = sides.groups()
    paper_a, paper_b = _number(row.get("paper_a")), _number(row.get("paper_b"))
    direction = row.get("paper_direction")
    if _missing(direction):
        direction = _direction(paper_a, paper_b)
    spread_a, spread_b = (tuple(float(v) for v in row[k]) for k in ("spread_a", "spread_b"))
    if len(spread_a) != 2 or len(spread_b) != 2 or len(tuple(row["seeds"])) != 2:
        raise ConfigError(f"claim {row['claim']!r}: spreads and seeds must be pairs")
    return Claim(
        paper=str(row["paper"]),
        source=str(row["source"]),
        claim=str(row["claim"]),
        metric=str(row["metric"]),
        verdict=str(row["verdict"]),
        a=str(a),
        b=str(b),
        mean_a=float(row["mean_a"]),
        mean_b=float(row["mean_b"]),
        spread_a=spread_a,
        spread_b=spread_b,
        seeds=tuple(int(n) for n in row["seeds"]),
        paper_a=paper_a,
        paper_b=paper_b,
        paper_direction=direction,
    )


def publish_claims(chapter: str, profile: str, table: pd.DataFrame, anchor: str) -> Path:
    """Record a chapter's verdicts for the scoreboard (replacing the anchor's earlier section).

    Args:
        chapter: the chapter's stem, e.g. ``"04_m3net_results"`` (``notebooks/<chapter>.py``).
        profile: the profile the verdicts were computed in.
        table: one row per claim, columns as in the module docstring.
        anchor: the MyST target heading the verdict section, e.g. ``"m3net-claims"``.

    Returns:
        The ledger file written.

    Raises:
        ConfigError: unknown chapter, malformed anchor, missing column or unknown verdict.
    """
    if not (paths.NOTEBOOKS_DIR / f"{chapter}.py").is_file():
        raise ConfigError(f"no chapter notebooks/{chapter}.py to link the claims to")
    if not _ANCHOR.match(anchor):
        raise ConfigError(f"anchor {anchor!r} must be lowercase letters, digits and hyphens")
    claims = [asdict(_claim_from_row(row)) for row in table.to_dict("records")]
    path = claims_dir(profile) / f"{chapter}.json"
    sections = _read_ledger(path)["sections"] if path.is_file() else {}
    sections[anchor] = claims
    ledger = {"chapter": chapter, "profile": profile, "sections": sections}
    write_text(path, json.dumps(ledger, indent=1, allow_nan=False) + "\n")
    return path


def _read_ledger(path: Path) -> dict:
    """Parse and check one ledger file; every error names the file."""
    try:
        ledger = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(path, f"not a readable claims ledger ({exc})") from None
    if not isinstance(ledger, dict) or not isinstance(ledger.get("sections"), dict):
        raise DataError(path, "a claims ledger needs an object with a 'sections' object")
    for key, expected in (("chapter", path.stem), ("profile", path.parent.name)):
        if ledger.get(key) != expected:
            raise DataError(path, f"ledger names {key} {ledger.get(key)!r}, not {expected!r}")
    for anchor, entries in ledger["sections"].items():
        if not isinstance(entries, list):
            raise DataError(path, f"section {anchor!r} is not a list of claims")
        for i, entry in enumerate(entries):
            names = {f.name for f in fields(Claim)}
            if not isinstance(entry, dict) or set(entry) != names:
                raise DataError(
                    path, f"section {anchor!r}, claim {i}: keys must be {sorted(names)}"
                )
            try:
                _claim_from_row(entry)
            except (ConfigError, TypeError, ValueError) as exc:
                raise DataError(path, f"section {anchor!r}, claim {i}: {exc}") from None
    return ledger


def load_claims(profile: str) -> pd.DataFrame:
    """Every claim published under `profile`, one row each, with its chapter and anchor.

    Raises:
        DataError: a ledger is malformed (the message names the file).
    """
    rows = []
    for path in sorted(claims_dir(profile).glob("*.json")):
        for anchor, entries in _read_ledger(path)["sections"].items():
            rows += [{**entry, "chapter": path.stem, "anchor": anchor} for entry in entries]
    columns = [f.name for f in fields(Claim)] + ["chapter", "anchor"]
    return pd.DataFrame(rows, columns=columns)


def _chapter_parts(toc_path: Path) -> dict[str, str]:
    """Chapter stem -> caption of its part in the table of contents (the paper, for claims)."""
    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))
    return {
        Path(chapter["file"]).name: part.get("caption", "")
        for part in toc.get("parts", [])
        for chapter in part.get("chapters", [])
    }


def _title(source: Path) -> str:
    """The first markdown heading of a jupytext chapter."""
    for line in source.read_text(encoding="utf-8").splitlines():
        if line.startswith("# # "):
            return line[4:].strip()
    return source.stem


def scoreboard(
    profile: str,
    notebooks_dir: Path = paths.NOTEBOOKS_DIR,
    toc_path: Path = paths.PROJECT_ROOT / "_toc.yml",
) -> pd.DataFrame:
    """The published claims of `profile`, plus one "not run" row per chapter without a ledger.

    The chapters are those of the table of contents; one counts as judging claims when its source
    ``<notebooks_dir>/<stem>.py`` calls ``publish_claims(``, and its paper is the caption of its part.

    Returns:
        `load_claims`'s columns plus ``command`` (the command that runs a missing chapter, empty
        for published claims).
    """
    board = load_claims(profile).assign(command="")
    published = set(board["chapter"])
    missing = []
    for stem, paper in _chapter_parts(toc_path).items():
        source = notebooks_dir / f"{stem}.py"
        if stem in published or not source.is_file():
            continue
        if "publish_claims(" in source.read_text(encoding="utf-8"):
            missing.append(
                {
                    "paper": paper,
                    "source": "",
                    "claim": f"the claims of {_title(source)}",
                    "verdict": NOT_RUN,
                    "chapter": stem,
                    "command": f"python -m fashion_lib book run --profile {profile} "
                    f"--only {stem.split('_', 1)[0]}",
                }
            )
    return pd.concat([board, pd.DataFrame(missing, columns=board.columns)], ignore_index=True)


def verdict_counts(board: pd.DataFrame) -> pd.DataFrame:
    """Claims per paper and verdict (held, not held, inconclusive, not run), with a total."""
    counts = pd.crosstab(board["paper"], board["verdict"])
    counts = counts.reindex(board["paper"].unique())  # papers in reading order
    counts = counts.reindex(columns=[*VERDICTS, NOT_RUN], fill_value=0)
    counts["total"] = counts.sum(axis=1)
    counts.columns.name = None
    return counts


def _text(value: object) -> str:
    """HTML-escaped text of a cell, empty for a missing value."""
    return "" if _missing(value) else html.escape(str(value))


def _ours(mean: float, spread: tuple[float, float]) -> str:
    return "" if _missing(mean) else f"{mean:.2f} ({spread[0]:.2f}..{spread[1]:.2f})"


def scoreboard_html(board: pd.DataFrame, paper: str) -> str:
    """One paper's rows of the scoreboard as an HTML table, with a link to each claim's evidence.

    Every cell is HTML-escaped except the links, which point at ``<chapter>.html#<anchor>`` beside
    the scoreboard's own page; a "not run" row shows the command that runs its chapter instead.
    """
    rows = []
    for r in board[board["paper"] == paper].itertuples(index=False):
        done = r.verdict != NOT_RUN
        sides = _SIDES.fullmatch(r.claim)
        named = not done or (sides is not None and sides.groups() == (r.a, r.b))
        rows.append(
            {
                "source": _text(r.source),
                "claim": _text(r.claim if named else f"{r.claim} (A: {r.a}, B: {r.b})"),
                "metric": _text(r.metric),
                "verdict": _text(r.verdict),
                "ours: A mean (min..max)": _ours(r.mean_a, r.spread_a),
                "ours: B mean (min..max)": _ours(r.mean_b, r.spread_b),
                "seeds (A, B)": f"{r.seeds[0]}, {r.seeds[1]}" if done else "",
                "paper: A": "" if _missing(r.paper_a) else f"{r.paper_a:g}",
                "paper: B": "" if _missing(r.paper_b) else f"{r.paper_b:g}",
                "paper's direction": _text(r.paper_direction),
                "evidence": f'<a href="{r.chapter}.html#{r.anchor}">{_text(r.chapter)}</a>'
                if done
                else f"<code>{_text(r.command)}</code>",
            }
        )
    return pd.DataFrame(rows).to_html(index=False, escape=False, border=0, classes="scoreboard")
