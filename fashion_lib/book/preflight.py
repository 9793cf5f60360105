"""Checks before any chapter runs: the real datasets of the paper profile, and a GPU where the
profile expects one. Each failure is one line (`ConfigError`) that says what to do.

- `needed_datasets(chapters)`: which datasets the chosen chapters read (`CHAPTER_DATASETS`; a
  chapter not listed needs all five).
- `require_real_data(profile, chapters)`: for a profile that reads real data (`Profile.proxy` is
  False), every needed dataset must be under the data root and pass `data check` (images are not
  opened). Nothing is written into the data root; DeepFashion and FashionAI downloaded without
  ASEN's files get their split files derived into the project's ``data/derived/``.
- `require_gpu(profile, allow_cpu)`: a profile that expects a GPU (`Profile.gpu`) on a machine
  without one stops, unless allowed (``--allow-cpu`` or ``FASHION_ALLOW_CPU=1``).
- `preflight(profile, chapters, allow_cpu)`: both, as `book run` and `book check` (the first step
  of `make book`, before the proxy world is generated) do.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from fashion_lib import paths
from fashion_lib.errors import ConfigError, FashionLibError
from fashion_lib.profiles import Profile

ALL = ("DeepFashion", "FashionAI", "DARN", "FashionGen", "FashionIQ")
M3NET = ("DeepFashion", "FashionAI", "DARN")
SAP = ("FashionGen", "FashionIQ")
#: Chapter number -> the datasets it reads.
CHAPTER_DATASETS: dict[str, tuple[str, ...]] = {
    "00": (),
    "01": ALL,
    "02": (),
    "03": M3NET,
    "04": M3NET,
    "05": M3NET,
    "06": ("FashionGen",),
    "07": SAP,
    "08": SAP,
    "09": SAP,
    "10": ALL,
    "99": (),
}
ALLOW_CPU_ENV = "FASHION_ALLOW_CPU"


def needed_datasets(chapters: Sequence[str]) -> tuple[str, ...]:
    """Datasets read by the chapters (stems such as ``03_m3net_training``), in `ALL`'s order."""
    wanted = {d for c in chapters for d in CHAPTER_DATASETS.get(c.split("_", 1)[0], ALL)}
    return tuple(d for d in ALL if d in wanted)


def require_real_data(profile: Profile, chapters: Sequence[str]) -> None:
    """Stop with one line unless every dataset the chapters need is a valid copy.

    Raises:
        ConfigError: naming the dataset, its path and the expected layout (or the first fault).
    """
    if profile.proxy:
        return
    from fashion_lib.data.formats.check import DATASET_FORMATS, LAYOUTS, check

    root = paths.data_root()
    for name in needed_datasets(chapters):
        fmt, folder = DATASET_FORMATS[name], root / name
        where = f"profile {profile.name}: dataset {name}"
        if not folder.is_dir():
            why = f"the data root {root} does not exist" if not root.is_dir() else "no such folder"
            raise ConfigError(
                f"{where} not found at {folder} ({why}; FASHION_DATA_ROOT sets the root); "
                f"expected {LAYOUTS[fmt]}"
            )
        try:
            check(fmt, folder, images=False)
        except FashionLibError as err:
            raise ConfigError(
                f"{where} at {folder} is invalid: {err} (expected {LAYOUTS[fmt]})"
            ) from None


def cpu_allowed(flag: bool = False) -> bool:
    """Whether running a GPU profile on the CPU was asked for (`flag` or FASHION_ALLOW_CPU=1)."""
    return flag or os.environ.get(ALLOW_CPU_ENV, "") not in ("", "0")


def require_gpu(profile: Profile, allow_cpu: bool = False) -> str | None:
    """Stop a GPU profile on a machine without a GPU unless the CPU is allowed.

    Returns:
        None when there is a GPU or the profile needs none; the one-line warning to show when the
        CPU was allowed.

    Raises:
        ConfigError: no GPU, not allowed.
    """
    if not profile.gpu:
        return None
    import torch

    if torch.cuda.is_available():
        return None
    line = (
        f"profile {profile.name} expects a GPU and none is visible (torch.cuda.is_available() is "
        "False); on the CPU its chapters take days"
    )
    if not cpu_allowed(allow_cpu):
        raise ConfigError(
            f"{line}: pass --allow-cpu or set {ALLOW_CPU_ENV}=1 to go on anyway, or use "
            "--profile cpu"
        )
    return f"warning: {line}; going on because the CPU was allowed"


def preflight(profile: Profile, chapters: Sequence[str], allow_cpu: bool = False) -> str | None:
    """`require_real_data`, then `require_gpu`; returns the CPU warning to show, if any."""
    require_real_data(profile, chapters)
    return require_gpu(profile, allow_cpu)
