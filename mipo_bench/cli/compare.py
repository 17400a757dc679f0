"""`mipo-bench compare RECIPE --table tableN`: a new method beside a paper table's rows, on the table's own plan — the
same pairs (reused where the recipe consumes the same ones: the input directory is keyed by what produces it), seeds,
data order, evaluation items and judge — so every comparison is paired at seed and item level. It trains and
evaluates only what is new, adds it to the table's store, prints the table with the new row, then one verdict per
task and baseline (better / worse / cannot tell at this size). `--plan` resolves and costs it only."""

from __future__ import annotations

from pathlib import Path

from ..core.models import DEFAULT_MODEL, locate_model
from .options import DATA_HELP
from .report import show_plan


def compare_row(recipe_spec: str):
    """The table row of a user's recipe: named and labelled by the recipe's name; the table's own recipe for the
    recipe's method at the table's scale (so its data, pairs and sampling are the table rows'), with the recipe's
    ``train:`` settings that differ from its method's shipped recipe (all of them when the method ships none)."""
    import yaml

    from ..analysis.tables import Row
    from ..workflows.recipe import find_recipe, load_recipe

    recipe = load_recipe(recipe_spec, quiet=True)
    own = (yaml.safe_load(Path(recipe.source).read_text()) or {}).get("train") or {}
    try:
        shipped = (yaml.safe_load(Path(find_recipe(recipe.method)).read_text()) or {}).get("train") or {}
    except (FileNotFoundError, ValueError):
        shipped = {}
    overrides = [
        f"train.{key}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}"
        for key, value in own.items()
        if key not in shipped or shipped[key] != value
    ]
    return Row(name=recipe.name, label=recipe.name, method=recipe.method, overrides=overrides)


def cmd_compare(args) -> None:
    from rich.text import Text

    from ..analysis.leaderboard.rank import leaderboard
    from ..analysis.leaderboard.store import ResultsStore
    from ..analysis.leaderboard.verdict import verdicts
    from ..core.console import console
    from ..workflows.plan import plan_table
    from ..workflows.reproduce import reproduce
    from ..workflows.table_plan import resolve_table

    row = compare_row(args.recipe)
    changed = ", ".join(row.overrides) or "nothing changed"
    console.print(Text(f"{row.name}: the table's recipe for {row.method}, with {changed}"))
    table = args.table.removeprefix("table")
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    if args.plan:
        plan = plan_table(
            table, args.model, args.scale, args.seeds, tasks, judge=args.judge, settings=args.set,
            run_dir=args.run_dir, add_rows=[row],
        )  # fmt: skip
        show_plan(plan, args.json)
        return
    locate_model(args.model)
    summary = reproduce(
        args.table, args.model, args.seeds, tasks, args.scale, args.run_dir, args.judge, settings=args.set,
        add_rows=[row],
    )  # fmt: skip
    plan = resolve_table(table, args.model, args.scale, args.seeds, tasks, args.run_dir, args.set, [row])
    with ResultsStore(plan.run_dir / "leaderboard.sqlite") as store:
        board = leaderboard(store, base=plan.spec.reference or "base")
    lines = verdicts(board, row.name)
    print("\n".join(lines))
    return summary


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "compare",
        help="train and evaluate a recipe beside a paper table's rows on the table's own pairs, seeds and items, "
        "then one verdict per baseline",
    )
    p.add_argument("recipe", help="a recipe name (recipes/) or a path; its name names the new row")
    p.add_argument("--table", required=True, help="table1 ... table5 (recipes/reproduce/)")
    p.add_argument("--model", default=DEFAULT_MODEL, help="HF id, local dir, .gguf file or an embedded name")
    p.add_argument("--seeds", type=int, default=1, help="training seeds (the table's: the same seeds as its rows)")
    p.add_argument("--tasks", default=None, help="comma-separated subset of the table's tasks, e.g. arc_easy")
    p.add_argument("--scale", default="demo", help="demo (2 CPU cores) or paper (GPUs): a scale of the table's YAML")
    p.add_argument("--judge", default=None, help="judged tables: the judge (default: the table's, as reproduce)")
    p.add_argument(
        "--run-dir", default=None, help="the table's run directory, reused (default runs/reproduce/table<N>-<scale>)"
    )
    p.add_argument("--data", default=None, help=DATA_HELP)
    p.add_argument("--plan", action="store_true", help="resolve and cost the table with the new row only")
    p.add_argument("--json", action="store_true", help="--plan: the whole plan as JSON")
    p.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="as reproduce's --set (repeatable)"
    )
    p.set_defaults(func=cmd_compare)
