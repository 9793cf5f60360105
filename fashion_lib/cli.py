"""`python -m fashion_lib`: the book's command line.

    python -m fashion_lib book run --profile smoke [--only 00 01]
    python -m fashion_lib book check --profile paper
    python -m fashion_lib setup wordnet
    python -m fashion_lib data make --profile cpu
    python -m fashion_lib data check --format fashionai PATH
    python -m fashion_lib runs pack --profile cpu --out cpu-runs.tar.gz
    python -m fashion_lib runs unpack cpu-runs.tar.gz

A user error (bad argument, missing or malformed file, bad FASHION_DATA_ROOT / FASHION_RUNS_DIR,
a paper-profile dataset missing, a GPU profile without a GPU, failing notebook) prints one line
starting with `error:` and exits 2; arguments and environment are checked before anything is
written, and nothing half-written is left behind. `book run --allow-cpu` (or FASHION_ALLOW_CPU=1)
runs the gpu and paper profiles on a machine without a GPU.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from fashion_lib import paths
from fashion_lib.arguments import check_environment, positive_int, writable_folder
from fashion_lib.data.commands import register as register_data_commands
from fashion_lib.errors import ConfigError, FashionLibError
from fashion_lib.profiles import PROFILES


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one `error:` line naming the command (exit 2)."""

    def error(self, message: str) -> NoReturn:
        """Print `error: <prog>: <message>` and exit 2 (argparse prints usage plus a line)."""
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


def _book_run(args: argparse.Namespace) -> int:
    if PROFILES[args.profile].proxy:
        check_environment(
            ("FASHION_DATA_ROOT", "FASHION_RUNS_DIR"), must_exist=("FASHION_DATA_ROOT",)
        )
    else:  # real data is only read; `run_book` checks every dataset the chapters need
        check_environment(("FASHION_RUNS_DIR",))
    if not args.notebooks.is_dir():
        raise ConfigError(f"--notebooks {args.notebooks}: no such folder")
    from fashion_lib.book.runner import run_book  # papermill and jupytext: slow to import

    runs = run_book(
        args.profile,
        only=args.only,
        notebooks_dir=args.notebooks,
        out_dir=args.out,
        cell_timeout=args.cell_timeout,
        allow_cpu=args.allow_cpu,
        solutions=not args.no_solutions,
    )
    total = sum(r.seconds for r in runs)
    print(f"executed {len(runs)} notebook(s) in {total:.1f} s")
    return 0


def _book_check(args: argparse.Namespace) -> int:
    if PROFILES[args.profile].proxy:
        check_environment(("FASHION_DATA_ROOT",))
    from fashion_lib.book.preflight import preflight  # imports no kernel machinery

    chapters = sorted(p.stem for p in args.notebooks.glob("[0-9][0-9]_*.py"))
    warning = preflight(PROFILES[args.profile], chapters, args.allow_cpu)
    print(warning or f"profile {args.profile}: ready")
    return 0


def _setup_wordnet(args: argparse.Namespace) -> int:
    from fashion_lib.data.wordnet import setup_wordnet

    print(f"WordNet corpus ready at {setup_wordnet()}")
    return 0


def _runs_pack(args: argparse.Namespace) -> int:
    from fashion_lib.runs_archive import pack_runs

    check_environment(("FASHION_RUNS_DIR",), must_exist=("FASHION_RUNS_DIR",))
    done = pack_runs(args.profile, args.out)
    print(f"packed {done.runs} {done.profile} runs ({done.files} files) into {done.archive}")
    return 0


def _runs_unpack(args: argparse.Namespace) -> int:
    from fashion_lib.runs_archive import unpack_runs

    check_environment(("FASHION_RUNS_DIR",))
    done = unpack_runs(args.archive, profile=args.profile)
    print(
        f"unpacked {done.runs} {done.profile} runs from {done.archive} ({done.files} files "
        f"checked; {done.skipped} already present); make book PROFILE={done.profile} reuses them"
    )
    return 0


def _add_allow_cpu(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-cpu",
        action="store_true",
        help="run the gpu or paper profile without a GPU (also FASHION_ALLOW_CPU=1)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = OneLineParser(prog="python -m fashion_lib", description=__doc__.split("\n")[0])
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)

    book = groups.add_parser("book", help="execute the book's notebooks").add_subparsers(
        dest="command", required=True
    )
    run = book.add_parser("run", help="execute notebooks with papermill into book/executed/")
    run.add_argument("--profile", default="cpu", choices=sorted(PROFILES))
    run.add_argument(
        "--only", nargs="*", default=[], metavar="NN", help="chapters by number or stem"
    )
    run.add_argument("--notebooks", type=Path, default=paths.NOTEBOOKS_DIR, help="chapter sources")
    run.add_argument(
        "--out", type=writable_folder, default=paths.EXECUTED_DIR, help="where to publish"
    )
    run.add_argument(
        "--cell-timeout", type=positive_int, default=None, help="seconds per cell (default: none)"
    )
    run.add_argument(
        "--no-solutions",
        action="store_true",
        help="leave out the exercises' solutions (the instructors' book, make book SOLUTIONS=0)",
    )
    _add_allow_cpu(run)
    run.set_defaults(func=_book_run)
    check = book.add_parser(
        "check", help="the profile's datasets (paper) and GPU, before any chapter runs"
    )
    check.add_argument("--profile", default="cpu", choices=sorted(PROFILES))
    check.add_argument("--notebooks", type=Path, default=paths.NOTEBOOKS_DIR, help="chapters")
    _add_allow_cpu(check)
    check.set_defaults(func=_book_check)

    setup = groups.add_parser("setup", help="one-time set-up steps").add_subparsers(
        dest="command", required=True
    )
    wordnet = setup.add_parser("wordnet", help="build the NLTK WordNet corpus from Debian's files")
    wordnet.set_defaults(func=_setup_wordnet)

    runs = groups.add_parser("runs", help="share a profile's finished runs").add_subparsers(
        dest="command", required=True
    )
    pack = runs.add_parser("pack", help="pack a profile's finished runs into one .tar.gz")
    pack.add_argument("--profile", default="cpu", choices=sorted(PROFILES))
    pack.add_argument("--out", type=Path, required=True, help="the archive to write (.tar.gz)")
    pack.set_defaults(func=_runs_pack)
    unpack = runs.add_parser("unpack", help="check an archive of runs and unpack it into runs/")
    unpack.add_argument("archive", type=Path, help="an archive written by `runs pack`")
    unpack.add_argument("--profile", choices=sorted(PROFILES), help="refuse another profile")
    unpack.set_defaults(func=_runs_unpack)

    register_data_commands(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except FashionLibError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
