"""The ``data`` command group: ``data check --format NAME PATH`` and ``data make --profile P``.

Imports flow one way: `fashion_lib.cli` imports this module, which imports only the library
(argument types from `fashion_lib.arguments`), never the CLI.

`register(groups)` adds the group to the CLI's top-level subparsers; each subcommand is added by
its own ``_add_<name>`` function, so another (``data make``) is one more function and one call.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fashion_lib.arguments import check_environment, positive_int, unit_interval, writable_folder


def _run_check(args: argparse.Namespace) -> int:
    from fashion_lib.data.formats.check import check

    print(check(args.format, args.path, images=not args.no_images))
    return 0


def _add_check(commands: argparse._SubParsersAction) -> None:
    from fashion_lib.data.formats.check import FORMATS

    parser = commands.add_parser("check", help="validate a real or generated dataset copy")
    parser.add_argument("--format", required=True, choices=FORMATS, help="dataset format")
    parser.add_argument("path", type=Path, help="dataset folder (FashionGen: folder or .h5 file)")
    parser.add_argument(
        "--no-images",
        action="store_true",
        help="skip opening every image (faster on a full real copy)",
    )
    parser.set_defaults(func=_run_check)


def _run_make(args: argparse.Namespace) -> int:
    from fashion_lib.data.atelier.make import ensure_world, make_world
    from fashion_lib.errors import ConfigError
    from fashion_lib.profiles import get_profile

    profile = get_profile(args.profile)
    if not profile.proxy:
        raise ConfigError(f"profile {profile.name!r} reads real datasets; nothing to generate")
    if args.out is None:
        check_environment(("FASHION_DATA_ROOT",))
    overrides = {
        k: v
        for k, v in (("strength", args.strength), ("label_noise", args.label_noise))
        if v is not None
    }
    if args.if_missing:
        if overrides or args.out is not None:
            raise ConfigError("--if-missing builds the profile's default world; drop the knobs")
        print(
            f"atelier world of profile {profile.name} ready at {ensure_world(profile, args.workers)}"
        )
        return 0
    try:
        summary = make_world(profile, out=args.out, workers=args.workers, **overrides)
    except OSError as err:  # e.g. under /proc, where access() told root it could write
        where = args.out if args.out is not None else "the data root"
        raise ConfigError(
            f"--out {where}: cannot write there ({err.strerror}: {err.filename})"
        ) from None
    counts = ", ".join(f"{k} {v}" for k, v in summary.images.items())
    print(
        f"atelier world of profile {profile.name} at {summary.root}: {counts} images in "
        f"{summary.seconds:.1f} s ({summary.images_per_second:.0f} images/s)"
    )
    return 0


def _add_make(commands: argparse._SubParsersAction) -> None:
    from fashion_lib.profiles import PROFILES

    parser = commands.add_parser("make", help="generate a profile's proxy world (atelier)")
    parser.add_argument("--profile", default="cpu", choices=sorted(PROFILES))
    parser.add_argument(
        "--out",
        type=writable_folder,
        default=None,
        help="destination folder (default: data/atelier-<profile>)",
    )
    parser.add_argument("--workers", type=positive_int, default=2, help="rendering processes")
    parser.add_argument(
        "--if-missing", action="store_true", help="keep an existing world with the same settings"
    )
    parser.add_argument(
        "--strength", type=unit_interval, default=None, help="nuisance strength knob, in [0, 1]"
    )
    parser.add_argument(
        "--label-noise",
        type=unit_interval,
        default=None,
        help="probability that a training label is replaced",
    )
    parser.set_defaults(func=_run_make)


def register(groups: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """Add the ``data`` group to the top-level subparsers; returns its own subparsers."""
    data = groups.add_parser("data", help="proxy world and dataset formats: make, check")
    commands = data.add_subparsers(dest="command", required=True)
    _add_check(commands)
    _add_make(commands)
    return commands
