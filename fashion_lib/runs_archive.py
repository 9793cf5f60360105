"""Runs a class can share: one archive of a finished profile's run records, checked on unpacking.

An instructor who has built the cpu book packs its runs once (`pack`); each student unpacks the
archive into their own runs folder (`unpack`) and `make book` then reuses every run instead of
training it, so the book builds in minutes. A run is reused only when its config, the library
version and the fingerprint of the code that computes numbers are equal to the reader's
(`engine.records.find_finished_run`), so an archive made by other code would silently retrain
everything: `unpack` refuses it with one line instead.

The archive is a gzip'd tar holding ``manifest.json`` first, then the run folders (record, evidence,
checkpoints), the claims ledgers and the chapter times (`book.timings`) of the profile, under their
paths relative to the runs folder.
The manifest names the profile, library version, the code fingerprints of the runs and of the world
generator, and the sha256 of every file; unpacking checks them all, refuses links, absolute paths
and ``..``, and moves a run folder into place only when all of its files check out. Feature caches
are left out: they are recomputed from the data in seconds.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import fashion_lib
from fashion_lib import atomic, paths
from fashion_lib.engine.records import RECORD_FILE, load_record
from fashion_lib.errors import ConfigError, DataError
from fashion_lib.fingerprint import RUN_CODE, WORLD_CODE, code_fingerprint, file_digest
from fashion_lib.profiles import get_profile

__all__ = ["MANIFEST", "ArchiveSummary", "pack_runs", "unpack_runs"]

MANIFEST = "manifest.json"
FORMAT = 1
CLAIMS = "claims"
TIMES = "book-times"  # `book.timings`: the chapter times the landing page shows


@dataclass(frozen=True)
class ArchiveSummary:
    """What a pack or unpack did: the archive, the profile, run folders and files moved."""

    archive: Path
    profile: str
    runs: int
    files: int
    skipped: int = 0


def _expected_identity(profile: str) -> dict[str, str]:
    return {
        "profile": profile,
        "library_version": fashion_lib.__version__,
        "run_code": code_fingerprint(RUN_CODE),
        "world_code": code_fingerprint(WORLD_CODE),
    }


def _finished_runs(root: Path, profile: str) -> list[Path]:
    """Run folders under `root` finished under `profile` by the current code."""
    code = code_fingerprint(RUN_CODE)
    runs = []
    for record_path in sorted(root.glob(f"*/{RECORD_FILE}")):
        try:
            record = load_record(record_path)
        except DataError:
            continue  # a damaged record is not a finished run
        if record.profile == profile and record.code == code:
            runs.append(record_path.parent)
    return runs


def pack_runs(profile: str, out: Path, root: Path | None = None) -> ArchiveSummary:
    """Pack the profile's finished runs and claims ledgers into `out` (a .tar.gz), atomically.

    Raises:
        ConfigError: unknown profile, or no finished run of the profile by the current code.
    """
    name = get_profile(profile).name
    root = Path(root or paths.runs_dir())
    runs = _finished_runs(root, name)
    if not runs:
        raise ConfigError(
            f"no finished {name} runs of the current code under {root}; "
            f"build them first: make book PROFILE={name}"
        )
    files = [f for run in runs for f in sorted(run.rglob("*")) if f.is_file()]
    files += sorted(p for p in (root / CLAIMS / name).glob("*") if p.is_file())
    times = root / TIMES / f"{name}.json"
    files += [times] if times.is_file() else []
    manifest = {
        "format": FORMAT,
        **_expected_identity(name),
        "runs": [run.name for run in runs],
        "files": {f.relative_to(root).as_posix(): file_digest(f) for f in files},
    }
    with atomic.atomic_path(out, suffix=".tar.gz") as tmp, tarfile.open(tmp, "w:gz") as tar:
        data = json.dumps(manifest, indent=1).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))
        for f in files:
            tar.add(f, arcname=f.relative_to(root).as_posix(), recursive=False)
    return ArchiveSummary(Path(out), name, len(runs), len(files))


def _read_manifest(archive: Path, tar: tarfile.TarFile) -> dict:
    first = tar.next()
    if first is None or first.name != MANIFEST or not first.isfile():
        raise DataError(archive, f"not a runs archive: its first member is not {MANIFEST}")
    handle = tar.extractfile(first)
    try:
        manifest = json.loads(handle.read().decode("utf-8")) if handle else None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(archive, f"{MANIFEST} is not valid JSON ({exc})") from None
    keys = ("format", "profile", "library_version", "run_code", "world_code", "runs", "files")
    if not isinstance(manifest, dict) or any(k not in manifest for k in keys):
        raise DataError(archive, f"{MANIFEST} lacks one of {', '.join(keys)}")
    if manifest["format"] != FORMAT:
        raise DataError(archive, f"archive format {manifest['format']!r}, expected {FORMAT}")
    return manifest


def _check_identity(archive: Path, manifest: dict, profile: str | None) -> str:
    name = manifest["profile"]
    if profile is not None and get_profile(profile).name != name:
        raise ConfigError(f"{archive} holds {name} runs, not {profile}")
    expected = _expected_identity(name)
    for key, what in (
        ("library_version", "library version"),
        ("run_code", "training and evaluation code"),
        ("world_code", "proxy world generator"),
    ):
        if manifest[key] != expected[key]:
            raise ConfigError(
                f"{archive} was made by another {what} ({manifest[key]} here is "
                f"{expected[key]}): its runs would never be reused; pack it again from this commit"
            )
    return name


def _member_path(archive: Path, member: tarfile.TarInfo, files: dict[str, str]) -> PurePosixPath:
    path = PurePosixPath(member.name)
    if not member.isfile() or path.is_absolute() or ".." in path.parts:
        raise DataError(archive, f"refusing member {member.name!r}: not a plain relative file")
    if member.name not in files:
        raise DataError(archive, f"member {member.name!r} is not listed in {MANIFEST}")
    return path


def _merge_times(packed: Path, local: Path) -> None:
    """Add the archive's chapter times for chapters that have none here (local times win)."""
    if not packed.is_file():
        return
    try:
        times = json.loads(packed.read_text(encoding="utf-8"))
        mine = json.loads(local.read_text(encoding="utf-8")) if local.is_file() else {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(local, f"not a readable chapter-times file ({exc})") from None
    merged = dict(sorted({**times, **mine}.items()))
    atomic.write_text(local, json.dumps(merged, indent=1) + "\n")


def unpack_runs(
    archive: Path, root: Path | None = None, profile: str | None = None
) -> ArchiveSummary:
    """Unpack a `pack_runs` archive into the runs folder after checking it whole.

    Every member is extracted into a temporary folder beside the runs folder and checked against the
    manifest's sha256 before any run folder is moved into place. A run folder that already exists
    with a finished record is kept as it is (counted as skipped).

    Raises:
        DataError: unreadable archive, a member that is not a plain relative file, a file missing
            from it or differing from its checksum.
        ConfigError: made by other code, another library version or another profile.
    """
    archive, root = Path(archive), Path(root or paths.runs_dir())
    if not archive.is_file():
        raise DataError(archive, "no such archive")
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=root))
    try:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                manifest = _read_manifest(archive, tar)
                name = _check_identity(archive, manifest, profile)
                files = manifest["files"]
                for member in tar:
                    if member.name == MANIFEST:
                        continue
                    path = _member_path(archive, member, files)
                    dest = staging.joinpath(*path.parts)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with tar.extractfile(member) as src, open(dest, "wb") as out:
                        shutil.copyfileobj(src, out)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DataError(archive, f"not a readable runs archive ({exc})") from None
        for rel, digest in files.items():
            extracted = staging / rel
            if not extracted.is_file():
                raise DataError(archive, f"{rel} is listed in {MANIFEST} but missing")
            if file_digest(extracted) != digest:
                raise DataError(archive, f"{rel} does not match its sha256 in {MANIFEST}")
        moved = skipped = 0
        for run in manifest["runs"]:
            if (root / run / RECORD_FILE).is_file():
                skipped += 1
                continue
            shutil.rmtree(root / run, ignore_errors=True)  # an unfinished run: replaced whole
            os.replace(staging / run, root / run)
            moved += 1
        claims = staging / CLAIMS / name
        if claims.is_dir():
            for ledger in sorted(claims.iterdir()):
                atomic.write_bytes(root / CLAIMS / name / ledger.name, ledger.read_bytes())
        _merge_times(staging / TIMES / f"{name}.json", root / TIMES / f"{name}.json")
        return ArchiveSummary(archive, name, moved, len(files), skipped)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
