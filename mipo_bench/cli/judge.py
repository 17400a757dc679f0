"""The judge verbs: `judge` scores lm-eval samples (and win-rates against a reference), `contexts` has a model write
the personalization datasets' user contexts, `critic-accuracy` checks a critic against human labels (Table 6)."""

from __future__ import annotations

from pathlib import Path

from ..core.models import DEFAULT_MODEL, locate_model
from ..data import DATASETS
from .options import DATA_HELP, add_backend


def cmd_judge(args) -> None:
    from ..analysis.judge_summary import judge_tables
    from ..core.console import console
    from ..judging.samples import judge_samples

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
        scoring=args.scoring,
    )
    for shown in judge_tables(report, args.judge, report["template"]):
        console.print(shown)
    console.print(f"judgments and summary in {out}")


def contexts_datasets() -> dict[str, str]:
    """dataset -> the template that writes its user contexts: the registered datasets that need written contexts."""
    return {name: spec.contexts_template for name, spec in sorted(DATASETS.items()) if spec.contexts_template}


def cmd_contexts(args) -> None:
    from .. import data
    from ..core.console import console
    from ..generation import get_backend
    from ..judging.contexts import run_contexts

    records = data.load(args.dataset, "test")
    if args.limit:
        records = records[: args.limit]
    template = args.template or contexts_datasets()[args.dataset]
    backend = get_backend(args.backend, args.model, batch_size=args.batch_size)
    out = Path(args.output or f"runs/contexts/{args.dataset}_{template}.jsonl")
    rows = run_contexts(records, template, backend, out, args.retries, args.batch_size)
    failed = sum(r["failed"] for r in rows)
    console.print(f"{len(rows)} records, {failed} failed after {args.retries} retries -> {out}")
    console.print(f"use it with: export MIPO_BENCH_CONTEXTS_{args.dataset.upper()}={out.resolve()}")


def cmd_critic_accuracy(args) -> None:
    from ..analysis.tables import load_table
    from ..measuring.critic_accuracy import critic_table

    if args.backend != "openai":
        locate_model(args.judge)
    spec = load_table("6")
    if args.dataset:
        spec.tasks = {d: d for d in args.dataset.split(",")}
    spec.judge_template = args.template  # None: each dataset's own judge template
    scale = {"limit": args.limit, "batch_size": args.batch_size}
    critic_table(spec, scale, args.judge, Path(args.output), args.backend)


def register(subparsers) -> None:
    """Add ``judge``, ``contexts`` and ``critic-accuracy`` to ``mipo-bench``'s sub-commands."""
    p = subparsers.add_parser("judge", help="judge lm-eval personalization samples (1-5 per preference, win-rates)")
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
        help="the samples' dataset: its judge template is the default --template (prism: paper, "
        "community_alignment: paper_ca, multibench: paper_mb); with --reference dataset, references missing from "
        "the samples' docs are looked up in it by id",
    )
    p.add_argument(
        "--template",
        default=None,
        help="a template name in judges/ or a path: personalization_score (guarded; the default without --dataset), "
        "paper / paper_ca / paper_mb (the PRISM / CA / Multi-Bench scripts' judge messages and decoding verbatim; "
        "the default of --dataset prism / community_alignment / multibench), rlaif_critic, rubric_grade",
    )
    add_backend(p, help="openai: any OpenAI-compatible endpoint at $MIPO_BENCH_API_BASE; ray: shard over a Ray cluster")
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
        "--scoring",
        choices=["text", "logprob"],
        default="text",
        help="text (the paper's): parse the judge's reply; logprob (G-Eval): the expected rating under the judge's "
        "next-token distribution over 1-5, a score for every call (hf, vllm, and servers returning top_logprobs)",
    )
    p.add_argument("--constrained", dest="scoring", action="store_const", const="logprob", help="= --scoring logprob")
    p.set_defaults(func=cmd_judge)

    p = subparsers.add_parser("contexts", help="LLM-written user contexts / user statements / rubrics (appendix C.2)")
    p.add_argument("dataset", choices=list(contexts_datasets()))
    p.add_argument("--model", default=DEFAULT_MODEL, help="the model that writes them (the paper used GPT-4o)")
    p.add_argument(
        "--template",
        default=None,
        help="extract_preferences | rewrite_system_message | generate_rubric (default: the dataset's: "
        + ", ".join(f"{name} {template}" for name, template in contexts_datasets().items())
        + ")",
    )
    add_backend(p)
    p.add_argument("--retries", type=int, default=2, help="re-asks for invalid JSON before recording a failure")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--output", default=None)
    p.add_argument("--data", default=None, help=DATA_HELP)
    p.set_defaults(func=cmd_contexts)

    p = subparsers.add_parser(
        "critic-accuracy", help="Table 6: a critic's strict / tie-tolerant accuracy on human labels"
    )
    p.add_argument("--judge", default=DEFAULT_MODEL, help="the critic's model spec")
    p.add_argument("--dataset", default=None, help="comma-separated labelled sets (default: community_alignment,prism)")
    p.add_argument("--limit", type=int, default=200, help="pairs per dataset (the paper: 200)")
    p.add_argument(
        "--template",
        default=None,
        help="the critic's messages: default each dataset's judge template (prism: paper, community_alignment: "
        "paper_ca; the paper's Table 6 judge), rlaif_reward (the critic RLAIF trains with: its reward's own "
        "message), rlaif_critic (its guarded judges/ variant), or any judges/ template name or path",
    )
    add_backend(p)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--output", default="runs/critic")
    p.add_argument("--data", default=None, help=DATA_HELP)
    p.set_defaults(func=cmd_critic_accuracy)

    p = subparsers.add_parser(
        "judge-audit",
        help="audit a judgment: parse failures, length bias, length-controlled win-rate, self-judging, human labels",
    )
    p.add_argument("path", help="an evaluation directory (its judge/ folder is found) or a judge output folder")
    p.add_argument("--task", default=None, help="the judged task, when the directory holds several")
    p.add_argument("--agreement", default=None, help="a `mipo-bench critic-accuracy` summary JSON (human labels)")
    p.add_argument(
        "--compare",
        action="store_true",
        help="ask the judge again: the other scoring (text parsed vs logprob) on the same responses, and pairwise "
        "with both orders (position flips); writes judge_compare.json",
    )
    add_backend(p)
    p.add_argument("--batch-size", type=int, default=8, help="with --compare: the judge's batch")
    p.add_argument(
        "--max-new-tokens",
        type=int,
        default=None,
        help="with --compare: the text scoring's reply budget (the template's)",
    )
    p.set_defaults(func=cmd_judge_audit)


def cmd_judge_audit(args) -> None:
    from rich.table import Table
    from rich.text import Text

    from ..analysis.judge_audit import audit, audit_lines
    from ..core.console import console, show_table

    lines = []
    if args.compare:  # first: the audit's position-bias line reads what the comparison wrote
        from ..measuring.judge_compare import compare_lines, compare_scorings

        lines = compare_lines(
            compare_scorings(args.path, args.task, args.backend, args.batch_size, max_new_tokens=args.max_new_tokens)
        )
    report = audit(args.path, args.task, args.agreement)
    table = Table(title=Text(f"judge audit: {report['judge']} (template {report['template']})"))
    table.add_column("check")
    table.add_column("finding")
    for check, finding in audit_lines(report) + lines:
        table.add_row(Text(check), Text(finding))
    show_table(table)
    written = "judge_audit.json" + (" and judge_compare.json" if args.compare else "")
    console.print(Text(f"written: {written} beside judge_summary.json"))
