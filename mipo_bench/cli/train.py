"""The recipe verbs: `pairs`, `train` and `run` take a recipe plus ``key=value`` overrides and run its stages in a
run directory; `demo` runs the small comparison on the embedded model. Their help lists what a recipe can name."""

from __future__ import annotations

import argparse
from pathlib import Path

from .options import DATA_HELP, registered_names


def cmd_pairs(args) -> None:
    from ..workflows.pipeline import run_pairs
    from ..workflows.recipe import load_recipe

    recipe = load_recipe(args.recipe, args.overrides)
    run_pairs(recipe, Path(args.run_dir or f"runs/{recipe.name}"))


def sweep_overrides(sweep: str | None) -> list[list[str]]:
    """``key=a,b`` -> ``[["key=a"], ["key=b"]]`` (one training run each); no sweep -> one run without extras."""
    if not sweep:
        return [[]]
    key, values = sweep.split("=", 1)
    return [[f"{key}={v}"] for v in values.split(",")]


def cmd_train(args) -> None:
    from ..training import METHODS, PROMPTS
    from ..workflows.pipeline import run_prompts, run_train
    from ..workflows.recipe import load_recipe

    for extra in sweep_overrides(args.sweep):
        recipe = load_recipe(args.recipe, args.overrides + extra)
        run_dir = Path(args.run_dir or f"runs/{recipe.name}")
        out = run_dir / ("train" if not extra else "train-" + extra[0].split("=", 1)[1])
        if any(o.startswith("method=") for o in args.overrides):  # keep the recipe's own checkpoint
            out = out.with_name(f"{out.name}-{recipe.method}")
        if args.pairs:
            data_path = Path(args.pairs)
        elif METHODS.get(recipe.method).consumes == PROMPTS:  # online methods: the prompt set, no generation
            data_path = run_prompts(recipe, run_dir)
        else:
            data_path = run_dir / "pairs" / "pairs.jsonl"
        if not data_path.exists():
            raise FileNotFoundError(
                f"no pairs at {data_path}: run `mipo-bench pairs {args.recipe}` first (or `mipo-bench run`), "
                "or pass --pairs"
            )
        run_train(recipe, run_dir, data_path, out=out)


def cmd_run(args) -> None:
    from ..workflows.pipeline import run_recipe
    from ..workflows.recipe import load_recipe

    recipe = load_recipe(args.recipe, args.overrides)
    run_dir = Path(args.run_dir or f"runs/{recipe.name}")
    results = run_recipe(recipe, run_dir)
    if results:  # the result, on stdout (the stages' own tables and logs went to stderr)
        from ..core.console import show_table
        from ..evaluation.harness import results_table

        show_table(results_table(results, str(run_dir / "train" / "model")))


def cmd_demo(args) -> None:
    from ..workflows.demo import run_demo

    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    run_demo(args.run_dir, args.overrides, methods=methods)


def add_recipe_verb(subparsers, name: str, summary: str, with_recipe: bool = True) -> argparse.ArgumentParser:
    """A verb taking a recipe and overrides; its epilog (what a recipe can name) is built only when help is shown."""
    p = subparsers.add_parser(
        name, help=summary, epilog_fn=registered_names, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    if with_recipe:
        p.add_argument("recipe", help="a shipped recipe name (listed below) or a YAML path")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.learning_rate=1e-6 data.n_prompts=64")
    p.add_argument("--run-dir", default=None, help="run directory (default runs/<recipe name>)")
    p.add_argument("--data", default=None, help=DATA_HELP)
    return p


def register(subparsers) -> None:
    """Add ``pairs``, ``train``, ``run`` and ``demo`` to ``mipo-bench``'s sub-commands."""
    p = add_recipe_verb(subparsers, "pairs", "build MIPO pairs from the model's own generations (resumable)")
    p.set_defaults(func=cmd_pairs)

    p = add_recipe_verb(subparsers, "train", "train a recipe's method on its pairs with TRL")
    p.add_argument("--pairs", default=None, help="a pairs.jsonl to train on (default: the run's pairs)")
    p.add_argument("--sweep", default=None, help="one run per value, e.g. train.learning_rate=1e-6,5e-7,1e-7")
    p.set_defaults(func=cmd_train)

    p = add_recipe_verb(subparsers, "run", "pairs -> train -> eval in one run directory, each stage resumable")
    p.set_defaults(func=cmd_run)

    p = add_recipe_verb(
        subparsers,
        "demo",
        "a small MIPO experiment on the embedded model (11-25 min on 2 CPU cores)",
        with_recipe=False,
    )
    p.add_argument(
        "--methods",
        default="mipo,sft",
        help="methods compared with the base model on the same prompts, pairs and items, e.g. "
        "mipo,sft,sft_revision,infonce,rlvr (stages already in the run directory are reused)",
    )
    p.set_defaults(func=cmd_demo, run_dir="runs/demo")
