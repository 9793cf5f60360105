"""The reproducibility report's numbers: claims, verdicts and compute, read from what was recorded.

- `current_records(profile)`: every finished run record under the runs folder that the current
  code would reuse for `profile` (same library version and code fingerprint), one row each: name,
  kind (the name's first word: ``m3row``, ``sap``, ``backbone``, ...), seed, wall time.
- `compute_by_kind(records)`: runs and training wall time per kind, with a total.
- `claim_scope(board)`: judged claims per paper and source (the papers' tables and figures).
- `results_by_paper(board)`: verdicts per paper, as shares of its judged claims.
- `headline(board)`: the numbers the report's summary states.

`board` is `fashion_lib.claims.scoreboard(profile)`: the ledger's claims re-judged per paper.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

import fashion_lib
from fashion_lib import paths, stats
from fashion_lib.claims import NOT_RUN
from fashion_lib.engine.records import RECORD_FILE
from fashion_lib.fingerprint import RUN_CODE, code_fingerprint

__all__ = [
    "Headline",
    "claim_scope",
    "compute_by_kind",
    "current_records",
    "headline",
    "results_by_paper",
]


def current_records(profile: str) -> pd.DataFrame:
    """Finished run records of `profile` that the current library and code would reuse."""
    code, rows = code_fingerprint(RUN_CODE), []
    for path in sorted(paths.runs_dir().glob(f"*/{RECORD_FILE}")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue  # a damaged record is not a finished run (as `find_finished_run` says)
        if (
            record.get("profile") == profile
            and record.get("library_version") == fashion_lib.__version__
            and record.get("code") == code
        ):
            name = str(record["name"])
            rows.append(
                {
                    "name": name,
                    "kind": name.split("-", 1)[0],
                    "seed": record["seed"],
                    "wall_time_s": float(record["wall_time_s"]),
                }
            )
    return pd.DataFrame(rows, columns=["name", "kind", "seed", "wall_time_s"])


def compute_by_kind(records: pd.DataFrame) -> pd.DataFrame:
    """Runs and their summed wall time (minutes) per kind of run, largest first, with a total."""
    table = records.groupby("kind").agg(runs=("name", "size"), minutes=("wall_time_s", "sum"))
    table["minutes"] = table["minutes"] / 60
    table = table.sort_values("minutes", ascending=False)
    table.loc["all"] = [int(table["runs"].sum()), table["minutes"].sum()]
    return table.astype({"runs": int}).round({"minutes": 1})


def claim_scope(board: pd.DataFrame) -> pd.DataFrame:
    """Judged claims per paper and source, in reading order."""
    judged = board[board["verdict"] != NOT_RUN]
    return judged.groupby(["paper", "source"], sort=False).size().rename("claims").reset_index()


def results_by_paper(board: pd.DataFrame) -> pd.DataFrame:
    """Per paper: judged claims and the share (%) of each verdict among them."""
    judged = board[board["verdict"] != NOT_RUN]
    counts = pd.crosstab(judged["paper"], judged["verdict"]).reindex(judged["paper"].unique())
    counts = counts.reindex(columns=list(stats.VERDICTS), fill_value=0)
    shares = 100 * counts.div(counts.sum(axis=1), axis=0)
    shares.insert(0, "judged claims", counts.sum(axis=1))
    shares.columns.name = None
    return shares.round(1)


@dataclass(frozen=True)
class Headline:
    """The summary's numbers.

    Attributes:
        judged: claims judged; held: the data support the claim; against: the data contradict it
            (reversed, or not comparable); undecided: no difference > δ or inconclusive.
        not_run: chapters with claims that did not run; papers: the papers, in reading order.
    """

    judged: int
    held: int
    against: int
    undecided: int
    not_run: int
    papers: tuple[str, ...]


def headline(board: pd.DataFrame) -> Headline:
    """Count the verdicts of `board` for the report's summary."""
    judged = board[board["verdict"] != NOT_RUN]
    verdicts = judged["verdict"]
    held = int((verdicts == stats.HELD).sum())
    against = int(verdicts.isin([stats.REVERSED, stats.NOT_HELD]).sum())
    return Headline(
        judged=len(judged),
        held=held,
        against=against,
        undecided=len(judged) - held - against,
        not_run=int((board["verdict"] == NOT_RUN).sum()),
        papers=tuple(board["paper"].unique()),
    )
