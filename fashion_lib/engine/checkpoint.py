"""Checkpoints that survive kills: atomic folders with a digest, newest N kept, bad ones skipped.

A checkpoint is a folder `step-00001234/` holding `state.pt` (torch.save of plain dicts, tensors and
numbers, loadable with `weights_only=True`) and `state.pt.sha256`. Both appear together (the
folder is built under a temporary name and renamed), and the digest catches files damaged after
writing (truncated copies, bit rot), which torch's zip reader does not always notice. Loading
walks from the newest checkpoint to older ones and warns about every unreadable one it skips. At
least two checkpoints are always kept, so that a damaged newest one has a predecessor to fall back
to (a `keep` of 1 is raised to 2).
"""

from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fashion_lib.atomic import atomic_dir
from fashion_lib.fingerprint import file_digest

STATE_FILE = "state.pt"
DIGEST_FILE = "state.pt.sha256"
_NAME = re.compile(r"^step-(\d{8,})$")
MIN_KEEP = 2


class CheckpointStore:
    """The checkpoints of one run, in `folder`.

    Args:
        folder: where the `step-XXXXXXXX/` folders live (created on the first save).
        keep: how many of the newest checkpoints to keep (at least `MIN_KEEP`); older ones are
            deleted after each save.
    """

    def __init__(self, folder: str | Path, keep: int = MIN_KEEP) -> None:
        self.folder = Path(folder)
        self.keep = max(keep, MIN_KEEP)

    def paths(self) -> list[Path]:
        """Checkpoint folders, oldest first (by step)."""
        if not self.folder.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.folder.iterdir() if (m := _NAME.match(p.name))]
        return [path for _, path in sorted(found)]

    def save(self, state: dict[str, Any], step: int) -> Path:
        """Write `state` as the checkpoint of `step` atomically, then prune old checkpoints.

        Returns:
            The checkpoint folder.
        """
        for leftover in self.folder.glob(".step-*"):  # temporary folders of a killed writer
            shutil.rmtree(leftover, ignore_errors=True)
        dest = self.folder / f"step-{step:08d}"
        with atomic_dir(dest) as tmp:
            torch.save(state, tmp / STATE_FILE)
            (tmp / DIGEST_FILE).write_text(file_digest(tmp / STATE_FILE) + "\n", encoding="utf-8")
        for old in self.paths()[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        return dest

    @staticmethod
    def read(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
        """Load one checkpoint folder after checking its digest.

        Raises:
            ValueError: the digest file is missing or does not match the state file.
            OSError, RuntimeError, pickle.UnpicklingError: torch could not read the state file.
        """
        path = Path(path)
        state_file, digest_file = path / STATE_FILE, path / DIGEST_FILE
        if not digest_file.is_file():
            raise ValueError(f"{digest_file} is missing")
        expected = digest_file.read_text(encoding="utf-8").strip()
        actual = file_digest(state_file)
        if actual != expected:
            raise ValueError(
                f"sha256 of {state_file} is {actual[:12]}..., expected {expected[:12]}..."
            )
        return torch.load(state_file, map_location=map_location, weights_only=True)

    def load_latest(
        self, map_location: str | torch.device = "cpu"
    ) -> tuple[dict[str, Any], Path] | None:
        """The newest readable checkpoint and its folder, or None if there is none.

        Every checkpoint skipped because it is truncated or corrupted is named in a warning.
        """
        for path in reversed(self.paths()):
            try:
                return self.read(path, map_location), path
            except Exception as error:  # any failure to read means "skip this one"
                warnings.warn(
                    f"checkpoint {path / STATE_FILE} is unreadable ({type(error).__name__}: "
                    f"{error}); falling back to the previous checkpoint",
                    stacklevel=2,
                )
        return None


def load_weights(model: nn.Module, run_dir: str | Path) -> int:
    """Load the model weights of the newest readable checkpoint of `run_dir` into `model`.

    This is how a notebook reuses a finished run (see `records.find_finished_run`).

    Returns:
        The step of the checkpoint.

    Raises:
        FileNotFoundError: `run_dir/checkpoints/` holds no readable checkpoint.
    """
    loaded = CheckpointStore(Path(run_dir) / "checkpoints").load_latest()
    if loaded is None:
        raise FileNotFoundError(f"no readable checkpoint in {Path(run_dir) / 'checkpoints'}")
    state, _ = loaded
    model.load_state_dict(state["model"])
    return int(state["step"])
