"""The claims ledger: every chapter that judges a paper's claim records its verdicts here.

A chapter judges its claims with `fashion_lib.stats` (`compare` per claim, then `judge` across
them), adds who and what each claim is about, and hands the table to `publish_claims`, which
checks every row and writes ``<runs_dir>/claims/<profile>/<chapter>.json`` atomically. The book's
scoreboard page (``notebooks/99_scoreboard.py``) reads every ledger of its profile back with
`load_claims` and turns them into the scoreboard with `scoreboard`, `verdict_counts` and
`scoreboard_html`; no number on it is typed by hand.

A ledger holds one section per anchor (the MyST target ``(anchor)=`` heading the chapter's verdict
section), so a chapter may publish several sections; publishing a section replaces it and keeps the
others. The table given to `publish_claims` has `stats.judge`'s columns (kind, mean_a, mean_b,
diff, se, df, lo, hi, level, delta, p, verdict, seeds, queries, dropped, note) plus ``paper``
("M3-Net" or "FashionSAP"), ``source`` (the paper's table or figure), ``metric``, ``a`` and ``b``
(the two sides' names; or a ``claim`` "A > B" / "A ~ B" they are parsed from) and optionally
``claim`` (the claim in words, "A > B" by default), ``paper_a`` and ``paper_b`` (the paper's own
numbers, NaN where it prints none). Extra columns are ignored.

No verdict is taken on trust: every row, when published and when read back, must reproduce its
interval from (diff, se, df, level), its p from (kind, diff, se, df, delta) and its verdict from
(kind, lo, hi, delta) by `fashion_lib.stats`' rule; a row that does not is refused, naming the
file. What the chapter pages show: intervals and verdicts with Holm across the claims of one
published section. What the scoreboard shows: the same claims re-judged with Holm across all
claims of their paper (`stats.apply_holm`), so a verdict there can be more cautious.
"""

from __future__ import annotations

import html
import json
import math
import re
import textwrap
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import pandas as pd
import yaml

from fashion_lib import paths, stats
from fashion_lib.atomic import write_text
from fashion_lib.book.chapters import chapter_title
from fashion_lib.errors import ConfigError, DataError

__all__ = [
    "NOT_RUN",
    "Claim",
    "claims_dir",
    "family_sizes",
    "load_claims",
    "publish_claims",
    "scoreboard",
    "scoreboard_html",
    "verdict_counts",
]

NOT_RUN = "not run"
_ANCHOR = re.compile(r"^[a-z][a-z0-9-]*$")  # already in the form Sphinx gives an HTML id
_SIDES = re.compile(r"(.+?) ([>~]) (.+)")  # "A > B" (ordering) or "A ~ B" (comparable)
_REQUIRED = ("paper", "source", "metric", "kind", "mean_a", "mean_b", "diff", "se", "df", "lo")
_REQUIRED += ("hi", "level", "delta", "p", "verdict", "seeds", "queries")
_TOLERANCE = 1e-9  # relative: JSON keeps floats exactly, so only arithmetic rounding is allowed
LEDGER_VERSION = 2  # 2: verdicts from per-query evidence (`stats`); 1 (no version): seed ranges
CLAIM_WIDTH = 28  # characters per line of the claim column: the table fits an 80-column page
VERDICT_WIDTH = 12  # "no difference > δ" wraps onto two lines


@dataclass(frozen=True)
class Claim:
    """One judged claim, as a ledger stores it.

    Attributes:
        paper: "M3-Net" or "FashionSAP".
        source: the paper's table or figure, e.g. "Table 2, DeepFashion".
        claim: the claim in words, e.g. "M3-Net > MODC".
        metric: the metric both sides are compared on.
        kind: ">" (A better than B) or "~" (A comparable to B).
        a, b: the names of the two sides.
        mean_a, mean_b: our means over seeds and queries; diff = mean_a - mean_b.
        se, df: the standard error of diff and its degrees of freedom (`stats.compare`).
        lo, hi, level: the interval of diff at the claim's own confidence level (after Holm).
        delta: the margin δ of "no difference" (`stats.DELTAS`).
        p: the raw p-value of a decisive verdict (`stats.decisive_p`).
        verdict: one of `stats.KINDS[kind]`.
        seeds: seeds of each side (paired); queries: queries compared; dropped: queries dropped.
        paper_a, paper_b: the paper's numbers for the two sides, None where it prints none.
        paper_diff: paper_a - paper_b, None where either is missing.
        note: what the interval does not cover ("" if nothing to say).
    """

    paper: str
    source: str
    claim: str
    metric: str
    kind: str
    a: str
    b: str
    mean_a: float
    mean_b: float
    diff: float
    se: float
    df: float
    lo: float
    hi: float
    level: float
    delta: float
    p: float
    verdict: str
    seeds: tuple[int, int]
    queries: int
    dropped: int
    paper_a: float | None
    paper_b: float | None
    paper_diff: float | None
    note: str


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


def _finite(row: dict, key: str) -> float:
    number = _number(row[key])
    if number is None:
        raise ConfigError(f"{key} must be a finite number, not {row[key]!r}")
    return number


def _close(x: float, y: float) -> bool:
    return math.isclose(x, y, rel_tol=_TOLERANCE, abs_tol=_TOLERANCE)


def _checked_numbers(row: dict, kind: str) -> dict[str, float]:
    """The row's numbers, after checking that they reproduce its interval, p and verdict."""
    names = ("mean_a", "mean_b", "diff", "se", "df", "lo", "hi", "level", "delta", "p")
    x = {name: _finite(row, name) for name in names}
    if x["se"] < 0 or x["df"] <= 0 or x["delta"] <= 0 or not 0 < x["level"] < 1:
        raise ConfigError("se >= 0, df > 0, delta > 0 and 0 < level < 1 are required")
    if not _close(x["diff"], x["mean_a"] - x["mean_b"]):
        raise ConfigError(f"diff {x['diff']} is not mean_a - mean_b")
    lo, hi = stats.interval(x["diff"], x["se"], x["df"], x["level"])
    if not (_close(x["lo"], lo) and _close(x["hi"], hi)):
        raise ConfigError(
            f"interval [{x['lo']:.4g}, {x['hi']:.4g}] is not diff +/- t * se at level "
            f"{x['level']:.4g} ([{lo:.4g}, {hi:.4g}])"
        )
    p = stats.decisive_p(kind, x["diff"], x["se"], x["df"], x["delta"])
    if not _close(x["p"], p):
        raise ConfigError(f"p {x['p']:.4g} is not the p of its numbers ({p:.4g})")
    rule = stats.verdict(kind, x["lo"], x["hi"], x["delta"])
    if row["verdict"] != rule:
        raise ConfigError(
            f"verdict {row['verdict']!r} disagrees with its interval, δ and kind "
            f"(the rule gives {rule!r})"
        )
    return x


def _counts(row: dict) -> tuple[tuple[int, int], int, int]:
    seeds = tuple(int(n) for n in row["seeds"])
    queries, dropped = (
        int(row["queries"]),
        int(0 if _missing(row.get("dropped")) else row["dropped"]),
    )
    if len(seeds) != 2 or min(seeds) < 1 or queries < 1 or dropped < 0:
        raise ConfigError("seeds must be a pair of positive counts, queries positive")
    return seeds, queries, dropped


def _claim_from_row(row: dict) -> Claim:
    """Build and check one Claim from a table row (extra keys are ignored)."""
    missing = [key for key in _REQUIRED if key not in row]
    if missing:
        raise ConfigError(f"a claim row lacks the column(s) {', '.join(missing)}")
    kind = row["kind"]
    if kind not in stats.KINDS:
        raise ConfigError(f"kind {kind!r} is not one of {', '.join(stats.KINDS)}")
    if row["verdict"] not in stats.KINDS[kind]:
        raise ConfigError(
            f"verdict {row['verdict']!r} is not one of {', '.join(stats.KINDS[kind])}"
        )
    a, b, text = row.get("a"), row.get("b"), row.get("claim")
    if _missing(a) or _missing(b):
        sides = None if _missing(text) else _SIDES.fullmatch(str(text))
        if sides is None:
            raise ConfigError(f"claim {text!r} is not 'A > B' or 'A ~ B'; give columns a and b")
        a, _, b = sides.groups()
    numbers = _checked_numbers(row, kind)
    seeds, queries, dropped = _counts(row)
    paper_a, paper_b = _number(row.get("paper_a")), _number(row.get("paper_b"))
    return Claim(
        paper=str(row["paper"]),
        source=str(row["source"]),
        claim=f"{a} {kind} {b}" if _missing(text) else str(text),
        metric=str(row["metric"]),
        kind=kind,
        a=str(a),
        b=str(b),
        **numbers,
        verdict=row["verdict"],
        seeds=seeds,
        queries=queries,
        dropped=dropped,
        paper_a=paper_a,
        paper_b=paper_b,
        paper_diff=None if paper_a is None or paper_b is None else paper_a - paper_b,
        note="" if _missing(row.get("note")) else str(row["note"]),
    )


def publish_claims(chapter: str, profile: str, table: pd.DataFrame, anchor: str) -> Path:
    """Record a chapter's verdicts for the scoreboard (replacing the anchor's earlier section).

    An anchor names one place in the book: a section under the same anchor in another chapter's
    ledger (left there when the section moved to this chapter) is removed.

    Args:
        chapter: the chapter's stem, e.g. ``"04_m3net_results"`` (``notebooks/<chapter>.py``).
        profile: the profile the verdicts were computed in.
        table: one row per claim, columns as in the module docstring.
        anchor: the MyST target heading the verdict section, e.g. ``"m3net-claims"``.

    Returns:
        The ledger file written.

    Raises:
        ConfigError: unknown chapter, malformed anchor, missing column, or a row whose interval,
            p or verdict its own numbers do not reproduce (module docstring).
    """
    if not (paths.NOTEBOOKS_DIR / f"{chapter}.py").is_file():
        raise ConfigError(f"no chapter notebooks/{chapter}.py to link the claims to")
    if not _ANCHOR.match(anchor):
        raise ConfigError(f"anchor {anchor!r} must be lowercase letters, digits and hyphens")
    claims = [asdict(_claim_from_row(row)) for row in table.to_dict("records")]
    path = claims_dir(profile) / f"{chapter}.json"
    sections = _read_ledger(path)["sections"] if _current(path) else {}  # older: start afresh
    sections[anchor] = claims
    ledger = {"version": LEDGER_VERSION, "chapter": chapter, "profile": profile}
    ledger["sections"] = sections
    write_text(path, json.dumps(ledger, indent=1, allow_nan=False) + "\n")
    for other in sorted(claims_dir(profile).glob("*.json")):  # a section moved between chapters
        if other != path and _current(other):
            old = _read_ledger(other)
            if old["sections"].pop(anchor, None) is not None:
                write_text(other, json.dumps(old, indent=1, allow_nan=False) + "\n")
    return path


def _current(path: Path) -> bool:
    """True when `path` holds a ledger of `LEDGER_VERSION`; False when absent or older.

    A ledger of an older version was written by older code with another verdict rule: it is
    not read (its chapter shows as not run) and is replaced when the chapter publishes again.
    Anything else that is not a readable ledger counts as current and fails in `_read_ledger`.
    """
    if not path.is_file():
        return False
    try:
        version = json.loads(path.read_text(encoding="utf-8")).get("version", 1)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return True
    return not (isinstance(version, int) and version < LEDGER_VERSION)


def _read_ledger(path: Path) -> dict:
    """Parse and check one ledger file; every error names the file."""
    try:
        ledger = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(path, f"not a readable claims ledger ({exc})") from None
    if not isinstance(ledger, dict) or not isinstance(ledger.get("sections"), dict):
        raise DataError(path, "a claims ledger needs an object with a 'sections' object")
    checks = [("version", LEDGER_VERSION), ("chapter", path.stem), ("profile", path.parent.name)]
    for key, expected in checks:
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

    Ledgers of an older version are skipped (their chapters show as not run on the scoreboard).

    Raises:
        DataError: a ledger is malformed (the message names the file).
    """
    rows = []
    for path in sorted(claims_dir(profile).glob("*.json")):
        if not _current(path):
            continue
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


def scoreboard(
    profile: str,
    notebooks_dir: Path = paths.NOTEBOOKS_DIR,
    toc_path: Path = paths.PROJECT_ROOT / "_toc.yml",
    level: float = 0.95,
) -> pd.DataFrame:
    """The published claims of `profile`, re-judged with Holm per paper, plus "not run" rows.

    Each paper's claims, from all its chapters, form one family: `stats.apply_holm` recomputes
    lo, hi, level and verdict of each claim at the family `level` (the chapter's own verdict is
    kept as ``chapter_verdict``). The chapters are those of the table of contents; one counts as
    judging claims when its source ``<notebooks_dir>/<stem>.py`` calls ``publish_claims(``, and
    its paper is the caption of its part; one without a ledger gives a "not run" row.

    Returns:
        `load_claims`'s columns plus ``chapter_verdict``, ``p_holm`` and ``command`` (the
        command that runs a missing chapter, empty for published claims).
    """
    claims = load_claims(profile)
    families = [
        stats.apply_holm(group.assign(chapter_verdict=group["verdict"]), level)
        for _, group in claims.groupby("paper", sort=False)
    ]
    columns = [*claims.columns, "chapter_verdict", "p_holm", "command"]
    board = pd.concat(families, ignore_index=True) if families else pd.DataFrame(columns=columns)
    board = board.assign(command="").reindex(columns=columns)
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
                    "claim": f"the claims of {chapter_title(source)}",
                    "verdict": NOT_RUN,
                    "chapter": stem,
                    "command": f"python -m fashion_lib book run --profile {profile} "
                    f"--only {stem.split('_', 1)[0]}",
                }
            )
    return pd.concat([board, pd.DataFrame(missing, columns=columns)], ignore_index=True)


def verdict_counts(board: pd.DataFrame) -> pd.DataFrame:
    """Claims per paper and verdict (`stats.VERDICTS` and "not run"), with a total."""
    counts = pd.crosstab(board["paper"], board["verdict"])
    counts = counts.reindex(board["paper"].unique())  # papers in reading order
    counts = counts.reindex(columns=[*stats.VERDICTS, NOT_RUN], fill_value=0)
    counts["total"] = counts.sum(axis=1)
    counts.columns.name = None
    return counts


def family_sizes(judged: pd.DataFrame) -> str:
    """ "M3-Net: 40, FashionSAP: 21": the judged claims per paper, in reading order."""
    sizes = judged.groupby("paper", sort=False).size()
    return ", ".join(f"{paper}: {n}" for paper, n in sizes.items()) or "none"


def _lines(text: str, width: int) -> str:
    """`text` HTML-escaped and wrapped at `width` characters with <br>."""
    return "<br>".join(html.escape(line) for line in textwrap.wrap(text, width)) or ""


def _signed(value: object) -> str:
    return "" if _missing(value) else f"{value:+.2f}"


def scoreboard_html(board: pd.DataFrame, paper: str) -> str:
    """One paper's rows of the scoreboard as a narrow HTML table, linking each claim's evidence.

    Columns: the claim (wrapped, with metric, source and any note), the paper's difference A - B, ours
    with its interval (at the claim's Holm level), δ, the verdict, seeds per side, and a link to
    ``<chapter>.html#<anchor>`` beside the scoreboard's own page. Every text is HTML-escaped; a
    "not run" row shows the command that runs its chapter instead of numbers.
    """
    rows = []
    for r in board[board["paper"] == paper].itertuples(index=False):
        if r.verdict == NOT_RUN:
            command = html.escape(r.command).replace(" --profile", "</code><br><code>--profile")
            claim, link = f"{_lines(r.claim, CLAIM_WIDTH)}<br><code>{command}</code>", ""
            ours = seeds = delta = ""
        else:
            about = "; ".join(filter(None, (r.metric, r.source, r.note)))
            claim = f"{_lines(r.claim, CLAIM_WIDTH)}<br><small>{_lines(about, CLAIM_WIDTH)}</small>"
            ours = f"{r.diff:+.2f}<br>[{r.lo:+.2f}, {r.hi:+.2f}]"
            n_a, n_b = r.seeds
            seeds, delta = (f"{n_a}" if n_a == n_b else f"{n_a}/{n_b}"), f"{r.delta:g}"
            link = f'<a href="{r.chapter}.html#{r.anchor}">{html.escape(r.chapter[:2])}</a>'
        rows.append(
            {
                "claim": claim,
                "paper A-B": _signed(r.paper_diff),
                "ours A-B": ours,
                "δ": delta,
                "verdict": _lines(r.verdict, VERDICT_WIDTH),
                "seeds": seeds,
                "see": link,
            }
        )
    return pd.DataFrame(rows).to_html(index=False, escape=False, border=0, classes="scoreboard")
