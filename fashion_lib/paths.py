"""Where the book keeps its inputs and outputs, relative to the project root.

Everything can be moved with environment variables, so that a reader with real datasets or a shared
scratch disk does not have to edit code: FASHION_DATA_ROOT, FASHION_RUNS_DIR, FASHION_DERIVED_DIR,
NLTK_DATA.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
EXECUTED_DIR = PROJECT_ROOT / "book" / "executed"
FAILED_DIR = PROJECT_ROOT / "build" / "failed-notebooks"
PAPER_TABLES_DIR = PROJECT_ROOT / "fashion_lib" / "paper_tables"


def data_root() -> Path:
    """Folder holding one sub-folder per dataset (proxy or real); `FASHION_DATA_ROOT` overrides it."""
    return Path(os.environ.get("FASHION_DATA_ROOT", PROJECT_ROOT / "data"))


def runs_dir() -> Path:
    """Folder of run records and checkpoints; `FASHION_RUNS_DIR` overrides it."""
    return Path(os.environ.get("FASHION_RUNS_DIR", PROJECT_ROOT / "runs"))


def derived_dir() -> Path:
    """Folder of split files derived from raw dataset releases (`formats.derived`): the project's
    own ``data/derived/`` (`FASHION_DERIVED_DIR` overrides it), whatever FASHION_DATA_ROOT says,
    so that a reader's copy of the datasets is only ever read."""
    return Path(os.environ.get("FASHION_DERIVED_DIR", PROJECT_ROOT / "data" / "derived"))


def nltk_data_dir() -> Path:
    """Folder of the project's NLTK corpora (WordNet); `NLTK_DATA` overrides it."""
    first = os.environ.get("NLTK_DATA", "").split(os.pathsep)[0]
    return Path(first) if first else PROJECT_ROOT / ".data" / "nltk_data"


def dataset_root(profile_name: str, proxy: bool) -> Path:
    """Folder with the five dataset sub-folders for a profile.

    Proxy profiles keep their generated world in `<data_root>/atelier-<profile>/`; the paper profile
    reads real copies laid out directly under `<data_root>/` (DeepFashion/, FashionAI/, DARN/,
    FashionGen/, FashionIQ/ and ASEN's shared meta.json).
    """
    return data_root() / f"atelier-{profile_name}" if proxy else data_root()
