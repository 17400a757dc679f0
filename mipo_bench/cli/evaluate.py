"""The evaluation verbs: `eval` runs the suite's lm-eval tasks on a model; `tasks-path` and `model-path` print what
a plain `lm_eval` call needs (the task folder, a model spec's local directory)."""

from __future__ import annotations

from pathlib import Path

from ..core.models import DEFAULT_MODEL, locate_model
from .options import DATA_HELP, add_backend

# lm-eval's own model types, not the generation registry: `eval` hands the model to lm-eval's HFLM or VLLM, so the
# generation backends without an lm-eval counterpart (openai, ray) cannot serve it.
LM_EVAL_BACKENDS = ("hf", "vllm")


def cmd_tasks_path(args) -> None:
    from ..core.resources import tasks_dir

    print(tasks_dir())


def cmd_model_path(args) -> None:
    from ..core.models import resolve_model_path

    print(resolve_model_path(args.model))


def output_key(args) -> str:
    """What identifies an ``eval --output`` evaluation (the leaderboard's run id rests on it): the settings AND the
    model's weights, so a checkpoint retrained in place is a new run, not "already in"."""
    from ..core.models import model_fingerprint
    from ..core.runs import content_hash

    settings = {k: v for k, v in vars(args).items() if k not in ("func", "output")}
    return content_hash({**settings, "model_files": model_fingerprint(args.model)})


def cmd_eval(args) -> None:
    locate_model(args.model)  # a bad --model is one line here, before lm-eval is imported
    from ..core.console import console, show_table
    from ..evaluation.harness import check_tasks, results_table, run_eval

    limit = int(args.limit) if args.limit is not None and float(args.limit).is_integer() else args.limit
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    check_tasks(tasks)  # an unknown task is one line, before the model loads
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
    show_table(results_table(results, f"{args.model}  ({results['mipo_bench']['wall_seconds']} s)"))
    if args.output:  # an evaluation directory that `report` and `leaderboard` read like any stage's
        from ..workflows.pipeline import save_evaluation

        key = output_key(args)
        save_evaluation(Path(args.output), results, key, args.model, tasks, limit, args.label)
        console.print(f"results and per-sample logs written under {args.output}")


def register(subparsers) -> None:
    """Add ``tasks-path``, ``model-path`` and ``eval`` to ``mipo-bench``'s sub-commands."""
    p = subparsers.add_parser("tasks-path", help="print the folder to give `lm_eval --include_path`")
    p.set_defaults(func=cmd_tasks_path)

    p = subparsers.add_parser(
        "model-path", help="print the local HF directory of a model spec (GGUF specs are converted once)"
    )
    p.add_argument("model", nargs="?", default=DEFAULT_MODEL)
    p.set_defaults(func=cmd_model_path)

    p = subparsers.add_parser("eval", help="run mipo_* lm-eval tasks on a model")
    p.add_argument("--model", default=DEFAULT_MODEL, help="HF id, local dir, .gguf file or an embedded name")
    p.add_argument("--tasks", required=True, help="comma-separated task or group names, e.g. mipo_reasoning")
    p.add_argument("--limit", type=float, default=None, help="items per task (as lm-eval's --limit)")
    p.add_argument("--output", default=None, help="directory for lm-eval's results JSON and sample logs")
    p.add_argument("--label", default=None, help="the name this evaluation carries in reports and the leaderboard")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default=None, help="cpu / cuda (default: cuda if available)")
    add_backend(p, LM_EVAL_BACKENDS, "lm-eval backend", help="the lm-eval model type that runs the model")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--gen-kwargs", default=None, help="override generation settings, e.g. max_gen_toks=128")
    p.add_argument(
        "--no-chat-template",
        action="store_true",
        help="send the raw prompt instead of a chat turn (the default here applies the model's chat template; plain "
        "`lm_eval` applies it only with --apply_chat_template)",
    )
    p.add_argument("--data", default=None, help=DATA_HELP)
    p.set_defaults(func=cmd_eval)
