"""Run records: what a finished run was, so that a notebook reuses it instead of training again.

A run lives in `runs/<name>-<key12>/` (key: hash of the full experiment config and of the code
fingerprint, `fashion_lib.fingerprint`) and is finished when `record.json` exists there: config,
hash, seed, profile, git commit, library version, code fingerprint, wall time, machine, metrics and
the per-step loss history, written atomically. `find_finished_run` returns a record only if its
config is *equal* to the one asked for (not just a matching hash prefix) and it was produced by the
same library version and code; anything else trains afresh.

Every record this process writes or reuses is also noted in a process-wide registry,
`touched_records()`, which a chapter's provenance block lists at its end.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

import fashion_lib
from fashion_lib import atomic, paths
from fashion_lib.engine.config import canonical_json, config_hash, to_plain
from fashion_lib.engine.distributed import barrier, is_main
from fashion_lib.errors import DataError
from fashion_lib.fingerprint import RUN_CODE, code_fingerprint

RECORD_FILE = "record.json"
HASH_CHARS = 12


@dataclass(frozen=True)
class RunRecord:
    """One finished run.

    Attributes:
        name: the experiment's name (e.g. "m3net-deepfashion-seed0").
        config: the full experiment config as plain JSON data.
        config_hash: sha256 of its canonical JSON.
        seed: the run's seed.
        profile: the profile it ran under (smoke/cpu/gpu/paper).
        library_version: `fashion_lib.__version__` at training time.
        git_commit: commit of the checkout ("+dirty" if it had changes), or None outside git.
        wall_time_s: training time, summed over resumes.
        machine: platform, python, torch, CPU count, GPU name.
        metrics: evaluation results (name -> number).
        history: per-step loss terms as logged by `fit`.
        code: `fingerprint.code_fingerprint(RUN_CODE)` of the code that trained it ("" in
            records older than the field, which therefore never match).
    """

    name: str
    config: dict[str, Any]
    config_hash: str
    seed: int
    profile: str
    library_version: str
    git_commit: str | None
    wall_time_s: float
    machine: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    code: str = ""


@dataclass(frozen=True)
class TouchedRun:
    """A run record this process wrote (trained) or found (reused), in first-touch order."""

    record: RunRecord
    reused: bool


# Run folder name (`<name>-<hash12>`) -> the first touch of that run in this process.
_TOUCHED: dict[str, TouchedRun] = {}


def _touch(record: RunRecord, *, reused: bool) -> None:
    key = f"{record.name}-{record.config_hash[:HASH_CHARS]}"
    _TOUCHED.setdefault(key, TouchedRun(record=record, reused=reused))


def touch_record(record: RunRecord, *, reused: bool) -> None:
    """Note a record written or read by another process (e.g. a worker) as touched here."""
    _touch(record, reused=reused)


def touched_records() -> list[TouchedRun]:
    """The runs written or reused by this process so far, first touch first."""
    return list(_TOUCHED.values())


def run_key(config: Any) -> str:
    """The run folder's key: 12 hex of sha256(config hash, code fingerprint).

    The code is part of the key so that a run of edited code never resumes from (or is mistaken
    for) the checkpoints and record of the old code.
    """
    text = f"{config_hash(config)}:{code_fingerprint(RUN_CODE)}"
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_CHARS]


def run_dir_for(name: str, config: Any, root: str | Path | None = None) -> Path:
    """`<root>/<name>-<run_key(config)>` (root defaults to `paths.runs_dir()`)."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"run name {name!r} must be a non-empty folder name")
    return Path(root or paths.runs_dir()) / f"{name}-{run_key(config)}"


def _git(repo: Path, *args: str) -> str:
    """Output of one git command in `repo`, stripped; raises on failure."""
    done = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True, timeout=10
    )
    return done.stdout.strip()


def git_commit(repo: Path = paths.PROJECT_ROOT) -> str | None:
    """HEAD of the checkout, with "+dirty" if tracked files changed; None without git or commits."""
    try:
        head = _git(repo, "rev-parse", "HEAD")
        status = _git(repo, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if status else "")


def machine_info() -> dict[str, Any]:
    """Platform, python and torch versions, CPU count and the GPU's name (no host names)."""
    cuda = torch.cuda.is_available()
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpus": os.cpu_count(),
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
    }


def write_record(
    run_dir: str | Path,
    *,
    name: str,
    config: Any,
    seed: int,
    profile: str,
    wall_time_s: float,
    metrics: Mapping[str, float],
    history: Sequence[Mapping[str, float]] = (),
) -> RunRecord:
    """Write `run_dir/record.json` atomically, marking the run as finished.

    Args:
        run_dir: the run's folder (usually `run_dir_for(name, config)`).
        name: the experiment's name.
        config: the full experiment config (dataclass or JSON-like mapping).
        seed: the run's seed.
        profile: the profile name.
        wall_time_s: training time (`FitResult.wall_time_s`).
        metrics: evaluation results.
        history: per-step loss history (`FitResult.history`).

    Returns:
        The record written.
    """
    record = RunRecord(
        name=name,
        config=to_plain(config),
        config_hash=config_hash(config),
        seed=seed,
        profile=profile,
        library_version=fashion_lib.__version__,
        git_commit=git_commit(),
        wall_time_s=float(wall_time_s),
        machine=machine_info(),
        metrics={k: float(v) for k, v in metrics.items()},
        history=[dict(h) for h in history],
        code=code_fingerprint(RUN_CODE),
    )
    atomic.write_text(Path(run_dir) / RECORD_FILE, json.dumps(asdict(record), indent=1) + "\n")
    _touch(record, reused=False)
    return record


def finish_run(run_dir: str | Path, **fields: Any) -> RunRecord | None:
    """`write_record(run_dir, **fields)` on rank 0 only, then wait until every rank gets here.

    Under torchrun the other ranks read a finished run's checkpoint and record next, so none may
    run ahead of rank 0's write. Returns the record on rank 0 and None on the other ranks.
    """
    record = write_record(run_dir, **fields) if is_main() else None
    barrier()
    return record


def load_record(path: str | Path) -> RunRecord:
    """Read a `record.json`.

    Raises:
        DataError: the file is not valid JSON or lacks fields of a RunRecord.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return RunRecord(**data)
    except json.JSONDecodeError as error:
        raise DataError(path, f"invalid JSON: {error.msg}", error.lineno) from None
    except TypeError as error:
        raise DataError(path, f"not a run record: {error}") from None


def find_finished_run(
    config: Any, name: str | None = None, root: str | Path | None = None
) -> RunRecord | None:
    """A finished run of exactly this config, library version and code fingerprint, or None.

    Args:
        config: the full experiment config (dataclass or JSON-like mapping).
        name: restrict the search to runs of this name (default: any name).
        root: the runs folder (default: `paths.runs_dir()`).

    Returns:
        The matching record with the most recent folder modification time, or None.
    """
    wanted_hash, wanted_json = config_hash(config), canonical_json(config)
    folder = Path(root or paths.runs_dir())
    pattern = f"{name or '*'}-{run_key(config)}/{RECORD_FILE}"
    matches = []
    for path in folder.glob(pattern):
        try:
            record = load_record(path)
        except DataError:
            continue  # a damaged record is not a finished run
        if (
            record.config_hash == wanted_hash
            and canonical_json(record.config) == wanted_json
            and record.library_version == fashion_lib.__version__
            and record.code == code_fingerprint(RUN_CODE)
        ):
            matches.append((path.stat().st_mtime, record))
    if not matches:
        return None
    found = max(matches, key=lambda pair: pair[0])[1]
    _touch(found, reused=True)
    return found
