"""``mipo-bench leaderboard``: add run directories to the results store, then rank everything in it."""

from __future__ import annotations

from pathlib import Path

DEFAULT_DB = "runs/leaderboard.sqlite"
FORMATS = ("table", "markdown", "csv", "html")


def register(subparsers) -> None:
    """Add the ``leaderboard`` verb to ``mipo-bench``'s sub-commands."""
    p = subparsers.add_parser(
        "leaderboard",
        help="rank methods per task and across tasks (gain over the same base model, paired CIs, ties, costs)",
    )
    p.add_argument(
        "run_dirs",
        nargs="*",
        metavar="RUN_DIR",
        help="run or eval directories to add first (searched for eval.manifest.json; re-adding one changes nothing)",
    )
    p.add_argument("--db", default=DEFAULT_DB, help=f"the SQLite results store (default {DEFAULT_DB})")
    p.add_argument("--label", default=None, help="display name for the runs added now (default: their method)")
    p.add_argument("--base", default="base", help="label of the reference rows: the untrained base model's runs")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level of the tied groups")
    p.add_argument("--format", default="table", choices=FORMATS)
    p.add_argument(
        "--output", default=None, help="write there instead of the terminal (html: default leaderboard.html)"
    )
    p.add_argument("--title", default="mipo-bench leaderboard", help="title of the HTML page")
    p.add_argument(
        "--row",
        default=None,
        metavar="LABEL",
        help="after the board, one verdict per task against every other row: better, worse, or cannot tell at this "
        "size (with the seeds or items that would tell)",
    )
    p.set_defaults(func=cmd_leaderboard)


def cmd_leaderboard(args) -> None:
    from rich.console import Console

    from ..analysis.leaderboard.rank import leaderboard
    from ..analysis.leaderboard.render import markdown, rich_tables, to_csv
    from ..analysis.leaderboard.store import ResultsStore

    console = Console(stderr=args.format != "table" and args.output is None)
    with ResultsStore(args.db) as store:
        if args.run_dirs:
            added, skipped = store.add_paths([Path(p) for p in args.run_dirs], args.label)
            for line in skipped:
                console.print(f"skipped: {line}", markup=False)
            console.print(f"added {added} entr{'y' if added == 1 else 'ies'} to {args.db}", markup=False)
        board = leaderboard(store, base=args.base, alpha=args.alpha)
        items = None
        if args.format == "html":  # the page's item view reads each run's answers from its own files
            from ..analysis.leaderboard.items import item_view

            items = item_view(store.entries())
    if not board["tasks"]:
        raise ValueError(f"{args.db}: the store has no entries; give run directories to add")
    lines = []
    if args.row:
        from ..analysis.leaderboard.verdict import verdicts

        lines = verdicts(board, args.row)
    if args.format == "html":
        from ..analysis.leaderboard.page import write_page

        path = write_page(board, args.output or "leaderboard.html", args.title, items=items)
        console.print(f"leaderboard page written to {path}", markup=False)
        _print_verdicts(lines)
        return
    if args.format == "table":
        if args.output:
            with open(args.output, "w", encoding="utf-8") as f:
                _print_tables(Console(file=f, width=200), board, rich_tables, drawn=True)
            console.print(f"written to {args.output}", markup=False)
        else:
            _print_tables(console, board, rich_tables)
        _print_verdicts(lines)
        return
    text = markdown(board) if args.format == "markdown" else to_csv(board)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        console.print(f"written to {args.output}", markup=False)
    else:
        print(text, end="")
    _print_verdicts(lines)


def _print_verdicts(lines: list[str]) -> None:
    """The ``--row`` verdicts, one a line, on stdout (they are a result)."""
    for line in lines:
        print(f"verdict: {line}")


def _print_tables(console, board: dict, rich_tables, drawn: bool = False) -> None:
    """The tables: drawn (``--output`` file, 200 columns), else as :func:`show_table` shows them (in a terminal,
    drawn to its width; piped, plain Markdown with every cell in full)."""
    from ..core.console import show_table

    for table in rich_tables(board):
        if drawn:
            console.print(table)
        else:
            show_table(table, console)
    for note in board["notes"]:
        console.print(f"note: {note}", markup=False)
