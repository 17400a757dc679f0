"""The paper-table verbs: `report` builds one of the paper's tables from finished run directories, `reproduce` runs
everything a table needs first."""

from __future__ import annotations

import json
from pathlib import Path

from ..core.models import DEFAULT_MODEL, locate_model
from .options import DATA_HELP


def table_formats() -> list[str]:
    """The registered output formats of a table (``analysis.tables.FORMATS``)."""
    from ..analysis.tables import FORMATS

    return sorted(FORMATS)


def cmd_report(args) -> None:
    from rich.text import Text

    from ..analysis.results import collect
    from ..analysis.tables import build_table, load_table, render
    from ..core.console import console, show_table

    if args.table is None:  # no table: the per-run comparison of every evaluation found
        raise ValueError("--table is required (1-6): which of the paper's tables to build from the run directories")
    spec = load_table(args.table)
    scale, tasks = run_scale(args.run_dirs, spec.name, args.scale)
    if scale:  # the rows and tasks the run directory was reproduced at (reproduce_summary.json), else --scale
        spec = spec.at_scale(scale)
    if tasks:
        spec.tasks = {t: spec.tasks[t] for t in tasks if t in spec.tasks}
    if not spec.table_kind.built_from_runs:
        raise ValueError("Table 6 is built by `mipo-bench critic-accuracy` (or `reproduce table6`), not from runs")
    entries, skipped = collect([Path(p) for p in args.run_dirs])
    for line in skipped:
        console.print(Text(f"skipped: {line}", style="yellow"))
    built = build_table(spec, entries)
    if not built.rows:
        raise ValueError(f"no evaluation under {', '.join(args.run_dirs)} is a row of table {spec.name}")
    if args.format == "rich":
        show_table(render(built, "rich"))
    else:
        text = render(built, args.format)
        if args.output:
            Path(args.output).write_text(text)
            console.print(Text(f"table written to {args.output}"))
        else:
            print(text, end="")
    for line in built.missing:
        console.print(Text(f"not a row: {line}", style="dim"))


def run_scale(run_dirs: list[str], table: str, scale: str | None) -> tuple[str | None, list[str] | None]:
    """The scale and tasks a table was reproduced at, from the run directory's resolved plan (``plan.json``, which
    ``reproduce`` ran; an older run's ``reproduce_summary.json`` otherwise), the first of that table among
    ``run_dirs``, so `report` builds the table `reproduce` printed; ``scale`` (``--scale``) wins."""
    for run_dir in run_dirs:
        for name in ("plan.json", "reproduce_summary.json"):
            try:
                ran = json.loads((Path(run_dir) / name).read_text())
            except (OSError, ValueError):
                continue
            if str(ran.get("table")) == str(table):
                return scale or ran.get("scale"), list(ran.get("tasks") or []) or None
    return scale, None


def cmd_reproduce(args) -> None:
    from ..workflows.plan import plan_table
    from ..workflows.reproduce import reproduce

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    table = args.table.removeprefix("table")
    if args.plan:  # resolve, check and cost only: the model need not be on this machine (its tokenizer falls back)
        plan = plan_table(
            table, args.model, args.scale, args.seeds, tasks, args.num_processes, args.judge, args.allow_truncation,
            args.set, args.gpu, args.accelerate_config, args.run_dir,
        )  # fmt: skip
        show_plan(plan, args.json)
        return
    locate_model(args.model)
    refuse_rows_that_do_not_fit(args, table, tasks)
    reproduce(
        args.table,
        args.model,
        args.seeds,
        tasks,
        args.scale,
        args.run_dir,
        args.judge,
        template=args.template,
        settings=args.set,
        num_processes=args.num_processes,
        accelerate_config=args.accelerate_config,
    )


def show_plan(plan: dict, as_json: bool) -> None:
    """A costed plan on stdout (rendered, or ``--json``); a plan with problems is then an error (nothing runs)."""
    from ..workflows.plan_render import render_plan

    print(json.dumps(plan, indent=1) if as_json else render_plan(plan), end="\n" if as_json else "")
    if plan["problems"]:
        raise ValueError(f"the plan has {len(plan['problems'])} problem(s) (listed above); nothing was run")


def refuse_rows_that_do_not_fit(args, table: str, tasks) -> None:
    """Before anything loads: on a GPU (``--gpu``, else the visible card), every trained row's training memory per
    process is checked against the card (:func:`mipo_bench.workflows.plan.plan_table`); a row that cannot fit is one
    error naming it and what to change. Nothing is checked on CPU without ``--gpu``."""
    from ..core.hardware import visible_gpu
    from ..workflows.plan import plan_table

    card = args.gpu or visible_gpu()
    if card is None:
        return
    plan = plan_table(
        table, args.model, args.scale, args.seeds, tasks, args.num_processes, args.judge, True, args.set, card,
        args.accelerate_config, args.run_dir,
    )  # fmt: skip
    if plan["memory_problems"]:
        raise ValueError("; ".join(plan["memory_problems"]) + " (nothing was run)")


def register(subparsers) -> None:
    """Add ``report`` and ``reproduce`` to ``mipo-bench``'s sub-commands."""
    p = subparsers.add_parser("report", help="build one of the paper's tables from run directories")
    p.add_argument("run_dirs", nargs="+", help="run directories (searched for evaluations)")
    p.add_argument("--table", default=None, help="1-6 (Table 4 = Table 3 per task) or a table spec YAML")
    p.add_argument("--format", default="rich", choices=table_formats())
    p.add_argument("--output", default=None, help="write the table here (markdown, csv, latex)")
    p.add_argument(
        "--scale", default=None, help="the rows and tasks of this scale (default: the run's reproduce_summary.json)"
    )
    p.set_defaults(func=cmd_report)

    p = subparsers.add_parser("reproduce", help="run everything one paper table needs and print it (resumable)")
    p.add_argument(
        "table", help="table1 ... table6 (table4: table3's runs, one self-BLEU column per task; recipes/reproduce/)"
    )
    p.add_argument("--model", default=DEFAULT_MODEL, help="HF id, local dir, .gguf file or an embedded name")
    p.add_argument("--seeds", type=int, default=1, help="training seeds per method (the paper: 3)")
    p.add_argument("--tasks", default=None, help="comma-separated subset of the table's tasks, e.g. arc_easy,mmlu")
    p.add_argument("--scale", default="demo", choices=["demo", "paper"], help="demo: 2 CPU cores; paper: GPUs")
    p.add_argument(
        "--judge",
        default=None,
        help="judge model spec for judged tables (default: the paper's judge of the model's family: Qwen -> "
        "Qwen/Qwen2.5-14B-Instruct, Llama -> meta-llama/Meta-Llama-3-8B-Instruct, any other model judges itself); "
        "Table 6: the critic (default: --model)",
    )
    p.add_argument(
        "--template",
        default=None,
        help="judge template for every task (default: each dataset's: prism paper, community_alignment paper_ca, "
        "multibench paper_mb); Table 6: the critic's (e.g. rlaif_reward, rlaif_critic)",
    )
    p.add_argument("--run-dir", default=None, help="default runs/reproduce/table<N>-<scale>")
    p.add_argument("--data", default=None, help=DATA_HELP)
    p.add_argument(
        "--plan", action="store_true", help="resolve and count the work (tokens, steps, judge calls, GPU hours) only"
    )
    p.add_argument(
        "--num-processes",
        type=int,
        default=1,
        help="training processes (GPUs): > 1 trains every row under one `accelerate launch` (CPU processes when no "
        "GPU is visible); the recipes' global batch stays theirs (the accumulation is divided)",
    )
    p.add_argument(
        "--accelerate-config", default=None, help="with --num-processes: ddp (default), zero2, zero3, fsdp2 or a path"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="data./pairs./train. keys: every trained row's recipe (e.g. pairs.max_new_tokens=64); eval.limit, "
        "eval.batch_size, eval.gen_kwargs; mi.n, mi.max_new_tokens, ...; judge.max_new_tokens, judge.batch_size "
        "(repeatable)",
    )
    p.add_argument("--allow-truncation", action="store_true", help="--plan: sequences over max_length are no error")
    p.add_argument("--json", action="store_true", help="--plan: print the whole plan (every row's card) as JSON")
    p.add_argument(
        "--gpu",
        default=None,
        choices=["h100", "h200", "a100"],
        help="the card the plan sizes memory and time for (default h200; a run checks the visible card)",
    )
    p.set_defaults(func=cmd_reproduce)
