"""The `mipo-bench` command line: thin verbs that parse arguments and call one stage each."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..core.models import DEFAULT_MODEL, ModelSpecError, locate_model


def _set_data(args) -> None:
    if getattr(args, "data", None):
        os.environ["MIPO_BENCH_DATA"] = str(Path(args.data).expanduser().resolve())


def cmd_tasks_path(args) -> None:
    from ..core.resources import tasks_dir

    print(tasks_dir())


def cmd_model_path(args) -> None:
    from ..core.models import resolve_model_path

    print(resolve_model_path(args.model))


def cmd_eval(args) -> None:
    locate_model(args.model)  # a bad --model is one line here, before lm-eval is imported
    from ..evaluation.harness import console, results_table, run_eval

    limit = int(args.limit) if args.limit is not None and float(args.limit).is_integer() else args.limit
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    results = run_eval(
        args.model,
        tasks,
        limit=limit,
        output=args.output,
        batch_size=args.batch_size,
        device=args.device,
        apply_chat_template=not args.no_chat_template,
        backend=args.backend,
        seed=args.seed,
        gen_kwargs=args.gen_kwargs,
    )
    console.print(results_table(results, f"{args.model}  ({results['mipo_bench']['wall_seconds']} s)"))
    if args.output:  # an evaluation directory that `report` and `leaderboard` read like any stage's
        from ..core.runs import content_hash
        from ..workflows.pipeline import save_evaluation

        settings = {k: v for k, v in vars(args).items() if k not in ("func", "output")}
        save_evaluation(Path(args.output), results, content_hash(settings), args.model, tasks, limit, args.label)
        console.print(f"results and per-sample logs written under {args.output}")


def cmd_pairs(args) -> None:
    from ..workflows.pipeline import run_pairs
    from ..workflows.recipe import load_recipe

    recipe = load_recipe(args.recipe, args.overrides)
    run_pairs(recipe, Path(args.run_dir or f"runs/{recipe.name}"))


def _sweep_values(sweep: str | None) -> list[list[str]]:
    if not sweep:
        return [[]]
    key, values = sweep.split("=", 1)
    return [[f"{key}={v}"] for v in values.split(",")]


def cmd_train(args) -> None:
    from ..training import METHODS, PROMPTS
    from ..workflows.pipeline import run_prompts, run_train
    from ..workflows.recipe import load_recipe

    for extra in _sweep_values(args.sweep):
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
    run_recipe(recipe, Path(args.run_dir or f"runs/{recipe.name}"))


def cmd_demo(args) -> None:
    from ..workflows.demo import run_demo

    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    run_demo(args.run_dir, args.overrides, methods=methods)


def cmd_judge(args) -> None:
    from rich.table import Table

    from ..evaluation.harness import console
    from ..judging.run import judge_samples

    if args.backend != "openai":  # an OpenAI-compatible endpoint names its own models
        locate_model(args.judge)  # a bad --judge is one line here, before the samples are read
    out = Path(args.output)
    report = judge_samples(
        args.samples,
        args.judge,
        out,
        template=args.template,
        backend=args.backend,
        reference=args.reference,
        dataset=args.dataset,
        retries=args.retries,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
        batch_size=args.batch_size,
        constrained=args.constrained,
    )
    table = Table(title=f"judged by {args.judge} (template {args.template})")
    for col in ("", "items", "mean score", "failed items", "failed judgments"):
        table.add_column(col)

    def add_row(name: str, s: dict) -> None:
        mean = "n/a" if s["mean_score"] is None else f"{s['mean_score']:.2f}"
        table.add_row(name, str(s["items"]), mean, str(s["failed_items"]), str(s["failed"]))

    add_row("samples", report)
    if "reference" in report:
        add_row("reference", report["reference"])
    console.print(table)
    if "win_rate" in report:
        w = report["win_rate"]
        wt = Table(title="win-rate vs reference (a win: score >= the reference's)")
        wt.add_column("")
        wt.add_column("value", justify="right")

        def rate(name):
            if w[name] is None:
                return "n/a (nothing judged)"
            lo, hi = w[f"{name}_ci"]
            return f"{100 * w[name]:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"

        all_n = w["win_rate_ties_as_wins_all_n"]
        for name, value in (
            ("items (n)", w["n"]),
            ("wins / ties / losses", f"{w['wins']} / {w['ties']} / {w['losses']}"),
            ("unjudged (a side failed)", w["failed"]),
            ("unmatched: samples only", w["unmatched_samples"]),
            ("unmatched: reference only", w["unmatched_reference"]),
            ("win-rate, ties as wins (paper) [95% CI]", rate("win_rate_ties_as_wins")),
            ("win-rate, ties as 1/2 [95% CI]", rate("win_rate_ties_half")),
            ("ties as wins, of all n (unjudged/unmatched lose)", "n/a" if all_n is None else f"{100 * all_n:.1f}"),
        ):
            wt.add_row(name, str(value))
        console.print(wt)
        if w["unmatched"]:
            console.print(
                f"unmatched ids, samples only: {w['unmatched_samples_ids'][:5]}, "
                f"reference only: {w['unmatched_reference_ids'][:5]} (all in judge_summary.json)"
            )
    console.print(f"judgments and summary in {out}")


def cmd_contexts(args) -> None:
    from .. import data
    from ..evaluation.harness import console
    from ..generation import get_backend
    from ..judging.contexts import run_contexts

    records = data.load(args.dataset, "test")
    if args.limit:
        records = records[: args.limit]
    template = args.template or ("rewrite_system_message" if args.dataset == "multibench" else "extract_preferences")
    backend = get_backend(args.backend, args.model, batch_size=args.batch_size)
    out = Path(args.output or f"runs/contexts/{args.dataset}_{template}.jsonl")
    rows = run_contexts(records, template, backend, out, args.retries, args.batch_size)
    failed = sum(r["failed"] for r in rows)
    console.print(f"{len(rows)} records, {failed} failed after {args.retries} retries -> {out}")
    console.print(f"use it with: export MIPO_BENCH_CONTEXTS_{args.dataset.upper()}={out.resolve()}")


def cmd_report(args) -> None:
    from ..analysis.results import collect
    from ..analysis.tables import build_table, load_table, render
    from ..evaluation.harness import console

    if args.table is None:  # no table: the per-run comparison of every evaluation found
        raise ValueError("--table is required (1-6): which of the paper's tables to build from the run directories")
    spec = load_table(args.table)
    if spec.kind == "critic":
        raise ValueError("Table 6 is built by `mipo-bench critic-accuracy` (or `reproduce table6`), not from runs")
    entries, skipped = collect([Path(p) for p in args.run_dirs])
    for line in skipped:
        console.print(f"[yellow]skipped: {line}")
    built = build_table(spec, entries)
    if args.table == "4" or args.table == "table4":
        built.spec.title = "Table 4: self-BLEU-4 per task (lower = more diverse)"
    if not built.rows:
        raise ValueError(f"no evaluation under {', '.join(args.run_dirs)} is a row of table {spec.name}")
    if args.format == "rich":
        console.print(render(built, "rich"))
    else:
        text = render(built, args.format)
        if args.output:
            Path(args.output).write_text(text)
            console.print(f"table written to {args.output}")
        else:
            print(text, end="")
    for line in built.missing:
        console.print(f"[dim]not a row: {line}")


def cmd_critic_accuracy(args) -> None:
    from ..analysis.critic_accuracy import critic_table
    from ..analysis.tables import load_table

    if args.backend != "openai":
        locate_model(args.judge)
    spec = load_table("6")
    if args.dataset:
        spec.tasks = {d: d for d in args.dataset.split(",")}
    scale = {"limit": args.limit, "batch_size": args.batch_size}
    critic_table(spec, scale, args.judge, Path(args.output), args.backend)


def cmd_reproduce(args) -> None:
    from ..workflows.reproduce import reproduce

    locate_model(args.model)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    reproduce(args.table, args.model, args.seeds, tasks, args.scale, args.run_dir, args.judge)


def _recipe_args(p, with_recipe: bool = True) -> None:
    if with_recipe:
        p.add_argument("recipe", help="a recipe name from recipes/ (mipo, sft, demo) or a YAML path")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.learning_rate=1e-6 data.n_prompts=64")
    p.add_argument("--run-dir", default=None, help="run directory (default runs/<recipe name>)")
    p.add_argument("--data", default=None, help="local data mirror (default: $MIPO_BENCH_DATA, else the HF hub)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mipo-bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("tasks-path", help="print the folder to give `lm_eval --include_path`")
    p.set_defaults(func=cmd_tasks_path)

    p = sub.add_parser(
        "model-path", help="print the local HF directory of a model spec (GGUF specs are converted once)"
    )
    p.add_argument("model", nargs="?", default=DEFAULT_MODEL)
    p.set_defaults(func=cmd_model_path)

    p = sub.add_parser("eval", help="run mipo_* lm-eval tasks on a model")
    p.add_argument("--model", default=DEFAULT_MODEL, help="HF id, local dir, .gguf file or an embedded name")
    p.add_argument("--tasks", required=True, help="comma-separated task or group names, e.g. mipo_reasoning")
    p.add_argument("--limit", type=float, default=None, help="items per task (as lm-eval's --limit)")
    p.add_argument("--output", default=None, help="directory for lm-eval's results JSON and sample logs")
    p.add_argument("--label", default=None, help="the name this evaluation carries in reports and the leaderboard")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default=None, help="cpu / cuda (default: cuda if available)")
    p.add_argument("--backend", default="hf", choices=["hf", "vllm"])
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--gen-kwargs", default=None, help="override generation settings, e.g. max_gen_toks=128")
    p.add_argument("--no-chat-template", action="store_true", help="send the raw prompt instead of a chat turn")
    p.add_argument("--data", default=None, help="local data mirror (default: $MIPO_BENCH_DATA, else the HF hub)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("judge", help="judge lm-eval personalization samples (1-5 per preference, win-rates)")
    p.add_argument("samples", help="an lm-eval samples_<task>_*.jsonl (e.g. from mipo_prefeval)")
    p.add_argument("--judge", default=DEFAULT_MODEL, help="judge model spec")
    p.add_argument(
        "--reference",
        default=None,
        help="what to compare against: another samples file (e.g. from mipo_prefeval_default), or 'dataset': each "
        "item's reference response (doc.reference; PRISM / Community Alignment: the human-chosen one), judged the "
        "same way; a win is a score >= the reference's",
    )
    p.add_argument(
        "--dataset",
        default=None,
        help="with --reference dataset: look up references missing from the samples' docs in this dataset by id",
    )
    p.add_argument(
        "--template",
        default="personalization_score",
        help="a template name in judges/ or a path: personalization_score (guarded, the default), paper (the "
        "paper's judge messages and decoding verbatim), rlaif_critic, rubric_grade",
    )
    p.add_argument(
        "--backend",
        default="hf",
        choices=["hf", "vllm", "openai", "ray"],
        help="openai: any OpenAI-compatible endpoint at $MIPO_BENCH_API_BASE; ray: shard over a Ray cluster",
    )
    p.add_argument(
        "--retries",
        type=int,
        default=None,
        help="re-asks for an unparseable reply before it counts as failed (default: the template's, else 2)",
    )
    p.add_argument(
        "--max-new-tokens",
        type=int,
        default=None,
        help="the judge's reply budget (default: the template's max_new_tokens, e.g. 8 for a bare score, 512 for "
        "rubric_grade's feedback, 1024 for paper)",
    )
    p.add_argument("--seed", type=int, default=0, help="seeds every judge call (and the bootstrap CIs)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--output", default="runs/judge")
    p.add_argument(
        "--constrained",
        action="store_true",
        help="hf only: take the most likely of the tokens 1-5 instead of parsing a generated reply "
        "(for small judges that do not write a parseable score)",
    )
    p.set_defaults(func=cmd_judge)

    p = sub.add_parser("contexts", help="LLM-written user contexts / user statements / rubrics (appendix C.2)")
    p.add_argument("dataset", choices=["prism", "community_alignment", "multibench"])
    p.add_argument("--model", default=DEFAULT_MODEL, help="the model that writes them (the paper used GPT-4o)")
    p.add_argument("--template", default=None, help="extract_preferences | rewrite_system_message | generate_rubric")
    p.add_argument("--backend", default="hf", choices=["hf", "vllm", "openai"])
    p.add_argument("--retries", type=int, default=2, help="re-asks for invalid JSON before recording a failure")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--output", default=None)
    p.add_argument("--data", default=None, help="local mirror (default: $MIPO_BENCH_DATA, else the HF hub)")
    p.set_defaults(func=cmd_contexts)

    p = sub.add_parser("pairs", help="build MIPO pairs from the model's own generations (resumable)")
    _recipe_args(p)
    p.set_defaults(func=cmd_pairs)

    p = sub.add_parser("train", help="train a recipe's method on its pairs with TRL")
    _recipe_args(p)
    p.add_argument("--pairs", default=None, help="a pairs.jsonl to train on (default: the run's pairs)")
    p.add_argument("--sweep", default=None, help="one run per value, e.g. train.learning_rate=1e-6,5e-7,1e-7")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("run", help="pairs -> train -> eval in one run directory, each stage resumable")
    _recipe_args(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="a small MIPO experiment on the embedded model (~11 min on 2 CPU cores)")
    _recipe_args(p, with_recipe=False)
    p.add_argument(
        "--methods",
        default="mipo,sft",
        help="methods compared with the base model on the same prompts, pairs and items, e.g. "
        "mipo,sft,sft_revision,infonce,rlvr (stages already in the run directory are reused)",
    )
    p.set_defaults(func=cmd_demo, run_dir="runs/demo")

    p = sub.add_parser("report", help="build one of the paper's tables from run directories")
    p.add_argument("run_dirs", nargs="+", help="run directories (searched for evaluations)")
    p.add_argument("--table", default=None, help="1-6 (Table 4 = Table 3 per task) or a table spec YAML")
    p.add_argument("--format", default="rich", choices=["rich", "markdown", "csv", "latex"])
    p.add_argument("--output", default=None, help="write the table here (markdown, csv, latex)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("critic-accuracy", help="Table 6: a critic's strict / tie-tolerant accuracy on human labels")
    p.add_argument("--judge", default=DEFAULT_MODEL, help="the critic's model spec")
    p.add_argument("--dataset", default=None, help="comma-separated labelled sets (default: community_alignment,prism)")
    p.add_argument("--limit", type=int, default=200, help="pairs per dataset (the paper: 200)")
    p.add_argument("--backend", default="hf", choices=["hf", "vllm", "openai"])
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--output", default="runs/critic")
    p.add_argument("--data", default=None, help="local data mirror (default: $MIPO_BENCH_DATA, else the HF hub)")
    p.set_defaults(func=cmd_critic_accuracy)

    p = sub.add_parser("reproduce", help="run everything one paper table needs and print it (resumable)")
    p.add_argument("table", help="table1, table2, table3, table5 or table6 (specs in recipes/reproduce/)")
    p.add_argument("--model", default=DEFAULT_MODEL, help="HF id, local dir, .gguf file or an embedded name")
    p.add_argument("--seeds", type=int, default=1, help="training seeds per method (the paper: 3)")
    p.add_argument("--tasks", default=None, help="comma-separated subset of the table's tasks, e.g. arc_easy,mmlu")
    p.add_argument("--scale", default="demo", choices=["demo", "paper"], help="demo: 2 CPU cores; paper: GPUs")
    p.add_argument("--judge", default=None, help="judge model spec for judged tables (default: --model)")
    p.add_argument("--run-dir", default=None, help="default runs/reproduce/table<N>-<scale>")
    p.add_argument("--data", default=None, help="local data mirror (default: $MIPO_BENCH_DATA, else the HF hub)")
    p.set_defaults(func=cmd_reproduce)
    from ..analysis.mi_meter import register as register_mi
    from .leaderboard import register as register_leaderboard

    register_mi(sub)
    register_leaderboard(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _set_data(args)
    try:
        args.func(args)
    except (ModelSpecError, FileNotFoundError, ValueError) as e:
        print(f"mipo-bench: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
