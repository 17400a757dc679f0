"""The `mipo-bench` command line. Each verb group is one module with ``register(subparsers)`` (TRL's script style),
so this one only assembles them and turns the errors a user can fix (a bad model spec, a missing file, a bad value)
into one line and exit status 2 instead of a traceback."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..core.models import ModelSpecError
from ..workflows.launch import LaunchError
from . import compare, evaluate, judge, leaderboard, mi, report, train
from .options import CliParser

VERB_GROUPS = (evaluate, judge, train, report, compare, mi, leaderboard)
DESCRIPTION = "The MIPO benchmark suite: each verb runs one stage (`mipo-bench VERB --help` for its options)."


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("mipo-bench")
    except PackageNotFoundError:  # a source tree on the path, not installed
        return "unknown (not installed)"


def build_parser() -> CliParser:
    parser = CliParser(prog="mipo-bench", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"mipo-bench {version()}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for group in VERB_GROUPS:
        group.register(subparsers)
    return parser


def use_data_mirror(args) -> None:
    """``--data DIR``: the verb and everything it calls read datasets from that local mirror."""
    if getattr(args, "data", None):
        os.environ["MIPO_BENCH_DATA"] = str(Path(args.data).expanduser().resolve())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    use_data_mirror(args)
    try:
        args.func(args)
    except (ModelSpecError, FileNotFoundError, ValueError, LaunchError, ConnectionError) as e:
        print(f"mipo-bench: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # what finished is on disk (every stage resumes); no traceback for a Ctrl-C
        print(f"mipo-bench: interrupted; rerun `mipo-bench {args.command} ...` to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
