"""`mipo-bench reproduce tableN`: everything a paper table needs — pairs or prompts, each method's training per seed,
evaluation, judging — in one run directory, every stage cached and resumable, then the table.

Layout of ``runs/reproduce/table<N>-<scale>/``::

    plan.json                             the resolved plan that ran (workflows/table_plan.py): every row's card
    <task>/eval/<row>/                    untrained rows (base model; "Default" / personalized prompting)
    <task>/seed<s>/inputs/<kind>-…-<key>/ a training input (pairs/ or prompts/), keyed by what produces it: the rows
                                          that read the same input share it, rows that differ never do
    <task>/seed<s>/<row>/model            a trained row (train.manifest.json: its card, the data file and hash)
    <task>/seed<s>/eval/<row>/            its evaluation
    <eval dir>/judge/                     judged tables: judgments and judge_summary.json (win-rate)
    table.{md,csv,tex}, mi/, figures/, leaderboard.sqlite, leaderboard.html, reproduce_summary.json

Judged tables are judged by the paper's judge of the model's family unless ``--judge`` names one (Qwen →
Qwen2.5-14B-Instruct, Llama → Llama-3-8B-Instruct; any other model judges itself, marked self-judging:
:func:`..judging.paper_judge.paper_judge`), each task with its dataset's judge template unless ``--template`` names
one; the summary and the written table name both.

A crash anywhere loses at most the batch in flight: a rerun skips every stage whose manifest matches its inputs.
What each table runs is its YAML spec in ``recipes/reproduce/`` (:mod:`mipo_bench.analysis.tables`), resolved once
(:mod:`.table_plan`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.text import Text

from ..analysis.leaderboard.context import table_lines
from ..analysis.tables import TableSpec, build_table, render
from ..core.console import StageProgress, show_table
from ..core.models import resolve_model_path
from ..core.runs import write_json
from ..core.stage import ACTIVITY, computed_since
from ..judging.paper_judge import JudgeChoice, choose_judge
from .launch import train_jobs
from .pipeline import console, run_eval_stage, run_inputs, run_train, train_stage
from .table_plan import RowCard, TablePlan, resolve_table

PLAN_FILE = "plan.json"


def reproduce(
    table: str,
    model: str,
    seeds: int = 1,
    tasks: list[str] | None = None,
    scale: str = "demo",
    run_dir: str | Path | None = None,
    judge: str | None = None,
    extras: bool = True,
    template: str | None = None,
    settings: list[str] | None = None,
    num_processes: int = 1,
    accelerate_config: str | None = None,
    add_rows: list | None = None,
) -> dict:
    """Run every stage of ``table`` at ``scale`` for ``model`` and ``seeds`` seeds; returns the summary it writes.

    What runs is the table's resolved plan (:func:`.table_plan.resolve_table`), written first to
    ``<run dir>/plan.json``: every trained row's recipe, input directory, training and evaluation.
    ``judge`` / ``template``: the judged tables' judge (default: the paper's for the model's family) and judge
    template (default: each task's dataset's); for Table 6, the critic (default: the model) and its template.
    ``settings``: ``--set`` values (:func:`.run_settings.split_settings`). ``num_processes`` > 1: every training runs
    under one ``accelerate launch`` with that many processes (:mod:`.launch`; ``accelerate_config``: a shipped config
    name or a path, default ddp); the recipes' global batch stays theirs (the accumulation is divided). ``add_rows``:
    rows trained and evaluated beside the table's own, on its plan (`mipo-bench compare`)."""
    started = time.time()
    plan = resolve_table(table, model, scale, seeds, tasks, run_dir, settings, add_rows)
    spec, s, out = plan.spec, plan.scale_settings, plan.run_dir
    out.mkdir(parents=True, exist_ok=True)
    kind = spec.table_kind
    if not kind.built_from_runs:  # Table 6: the kind's own runner (the critic is the judge, else the model)
        if template:
            spec.judge_template = template
        return kind.runner(spec, s, judge or model, out)
    write_json(out / PLAN_FILE, plan.as_dict())
    timings: dict[str, float] = {}
    choice = templates = None
    if kind.judged:
        choice = choose_judge(model, judge)
        templates = {key: task_template(spec, key, template) for key in spec.tasks}
        console.print(Text(f"judge: {choice.judge} ({choice.reason}); templates: {templates}"))
        if choice.self_judging:
            console.print(Text("the judge is the policy itself (self-judging): the table says so", style="yellow"))

    progress = StageProgress()
    earlier = _earlier_timings(out)
    reused: list[str] = []

    def timed(name, fn, *args, **kwargs):
        t, before = time.time(), dict(ACTIVITY)
        console.rule(Text(progress.start(name), style="bold"))
        result = fn(*args, **kwargs)
        if computed_since(before) or name not in earlier:
            timings[name] = round(time.time() - t, 1)
        else:  # reused: the seconds it took when it was computed stay the stage's time
            timings[name] = earlier[name]
            reused.append(name)
        return result

    ev = plan.eval_settings
    base_path = str(resolve_model_path(model))
    evals: dict[tuple[str, str, int | None], Path] = {}  # (task, row, seed) -> eval dir
    models: dict[tuple[str, str, int | None], str] = {}
    progress.total = stage_count(plan, num_processes, extras)
    for u in plan.untrained:
        timed(f"{u['task']}: eval {u['row']}", _eval, base_path, u["eval_task"], u["dir"], ev, u["row"])
        evals[(u["task"], u["row"], None)], models[(u["task"], u["row"], None)] = u["dir"], base_path
    data_paths = {}  # every training input first: a data problem shows before any training starts
    for key, card in plan.inputs().items():
        data_paths[key] = timed(_input_name(plan, card), run_inputs, card.recipe, card.input_dir)
    if num_processes > 1 and plan.rows:
        name = f"train: {len(plan.rows)} runs, {num_processes} processes"
        timed(name, _launch_training, plan.rows, data_paths, out, num_processes, accelerate_config)
    for card in plan.rows:
        if num_processes <= 1:
            name = f"{card.task}: train {card.row} seed {card.seed}"
            data = data_paths[card.input_key]
            timed(name, run_train, card.recipe, card.input_dir, data, card.trained_dir, card.card())
        name = f"{card.task}: eval {card.row} seed {card.seed}"
        timed(name, _eval, card.trained_dir / "model", card.eval_task, card.eval_dir, ev, card.row)
        evals[(card.task, card.row, card.seed)] = card.eval_dir
        models[(card.task, card.row, card.seed)] = str(card.trained_dir / "model")
    if kind.judged:
        for key in spec.tasks:
            timed(f"{key}: judge", _judge_task, spec, s, key, evals, choice, templates[key])

    from ..analysis.results import collect

    entries, skipped = collect([out])
    for line in skipped:
        console.print(Text(f"not in the table: {line}", style="yellow"))
    built = build_table(spec, entries)
    show_table(render(built, "rich"))
    for fmt, ext in (("markdown", "md"), ("csv", "csv"), ("latex", "tex")):
        (out / f"table.{ext}").write_text(render(built, fmt))
    summary = {"table": spec.name, "scale": scale, "model": model, "seeds": seeds, "tasks": list(spec.tasks)}
    summary.update(num_processes=num_processes, settings=list(settings or []), stages_planned=progress.total)
    summary["plan"] = str(out / PLAN_FILE)
    if choice is not None:
        summary["judge"] = {**choice.as_dict(), "templates": templates, "references": _references(spec)}
    if extras:
        lines = table_lines(plan.full, spec, seeds, ev)
        summary.update(_extras(plan, out, models, evals, base_path, timed, lines))
    wall = round(time.time() - started, 1)
    summary.update(stage_seconds=timings, reused_stages=reused, wall_seconds=wall)
    summary["runs"] = _earlier_runs(out) + [{"finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "wall_seconds": wall}]
    write_json(out / "reproduce_summary.json", summary)
    console.print(Text(f"table, figures and leaderboard in {out}; stage times (s): {json.dumps(timings)}"))
    return summary


def _input_name(plan: TablePlan, card: RowCard) -> str:
    """A stage heading for one training input: its task, kind, the rows that read it and the seed."""
    readers = [c.row for c in plan.rows if c.input_key == card.input_key]
    kind = "prompts" if card.online else f"{card.recipe.pairs.strategy} pairs"
    return f"{card.task}: input {kind} for {', '.join(dict.fromkeys(readers))} seed {card.seed}"


def _launch_training(rows: list[RowCard], data_paths: dict, out: Path, processes: int, config: str | None) -> None:
    """One ``accelerate launch`` for the rows whose training is not current (none: no launch, no start-up paid)."""
    pending = [c for c in rows if not train_stage(c.recipe, data_paths[c.input_key], c.trained_dir).is_current()]
    if not pending:
        return
    ACTIVITY["started"] += len(pending)  # the launched processes start these stages
    jobs = [
        {"recipe": c.recipe_name, "overrides": c.overrides, "input_dir": c.input_dir}
        | {"data_path": data_paths[c.input_key], "out": c.trained_dir, "card": c.card()}
        for c in pending
    ]
    train_jobs(jobs, out, processes, config)


def _earlier_summary(out: Path) -> dict:
    try:
        return json.loads((out / "reproduce_summary.json").read_text())
    except (OSError, ValueError):
        return {}


def _earlier_timings(out: Path) -> dict[str, float]:
    """The stage times of the run directory's earlier summary: what each stage took when it was computed."""
    return dict(_earlier_summary(out).get("stage_seconds") or {})


def _earlier_runs(out: Path) -> list[dict]:
    return list(_earlier_summary(out).get("runs") or [])


def stage_count(plan: TablePlan, processes: int, extras: bool) -> int:
    """The stages a reproduce run will time (for "stage k of n"): evaluations, inputs, trainings, judging, the MI
    meter's readings and the figures."""
    spec, rows = plan.spec, plan.rows
    trainings = (1 if rows else 0) if processes > 1 else len(rows)
    n = len(plan.untrained) + len(plan.inputs()) + len(rows) + trainings
    n += len(spec.tasks) if spec.table_kind.judged else 0
    if extras:
        n += len(plan.mi) + (1 if spec.figure == "entropy" else 0)
    return n


def _eval(model_path, task: str, where: Path, ev: dict, label: str) -> dict:
    return run_eval_stage(
        str(model_path), [task], where, ev.get("limit"), ev.get("batch_size", 16), ev.get("gen_kwargs"), label=label
    )


def _samples_file(eval_dir: Path, task: str) -> Path:
    files = sorted(eval_dir.rglob(f"samples_{task}_*.jsonl"))
    if not files:
        raise FileNotFoundError(f"{eval_dir}: no lm-eval samples file for {task}")
    return files[-1]


def task_template(spec: TableSpec, key: str, template: str | None = None) -> str:
    """The judge template of a table's task: the user's, else the spec's ``judge_template``, else the dataset's own
    (PRISM ``paper``, CA ``paper_ca``, Multi-Bench ``paper_mb``: each script's messages, PROTOCOL.md §5.1)."""
    from ..data import dataset_spec

    return template or spec.judge_template or dataset_spec(key).judge_template


def _references(spec: TableSpec) -> dict[str, str]:
    """What each task's win-rate compares with (the dataset spec's ``reference``), for the summary."""
    from ..data import dataset_spec

    return {key: dataset_spec(key).reference for key in spec.tasks}


def _judge_task(spec: TableSpec, scale: dict, key: str, evals: dict, choice: JudgeChoice, template: str) -> None:
    """Judge every evaluation of one task with ``choice``'s judge and ``template``. The reference side is the dataset's
    reference response (PRISM / CA's human-chosen one; Multi-Bench's reference_answer, where the paper had GPT-4o's);
    a dataset without one (PrefEval, the demo's) is compared with the table's reference row instead (personalized
    prompting), which the summary names."""
    from ..data import dataset_spec
    from ..judging.samples import judge_samples

    task = spec.tasks[key]
    ref_dir = evals.get((key, spec.reference, None))
    use_dataset = dataset_spec(key).has_reference  # the table's task keys are dataset names
    for (k, row_name, _seed), eval_dir in evals.items():
        if k != key:
            continue
        row = spec.row(row_name)
        samples = _samples_file(eval_dir, task + row.task_suffix)
        if use_dataset:
            reference = "dataset"
        elif ref_dir is not None and row_name != spec.reference:
            reference = _samples_file(ref_dir, task)
        else:
            continue  # the reference row against itself: nothing to judge
        judge_samples(
            samples,
            choice.judge,
            eval_dir / "judge",
            template=template,
            reference=reference,
            dataset=key if use_dataset else None,
            batch_size=scale.get("judge", {}).get("batch_size", 8),
            max_new_tokens=scale.get("judge", {}).get("max_new_tokens"),
            scoring=scale.get("judge", {}).get("scoring", "text"),  # the paper's parsed reply unless the scale says
            judge_choice=choice.as_dict(),
        )


def _extras(plan: TablePlan, out: Path, models: dict, evals: dict, base_path: str, timed, lines) -> dict:
    """The MI meter's readings (the rows the table's ``mi:`` names and its reference row, on the tasks its scale
    says), the entropy figure and the leaderboard (store + page, ``lines`` on top) for the table's runs."""
    spec, scale = plan.spec, plan.scale_settings
    extras: dict = {}
    if plan.mi:
        from ..measuring.mi_meter import measure_mi

        mi_cfg = {k: v for k, v in scale.get("mi", {}).items() if k != "tasks"}
        readings = {}
        for reading in plan.mi:
            key, row_name, seed = reading["task"], reading["row"], reading["seed"]
            model_path = models[(key, row_name, seed)]
            name = f"{key}/{row_name}" + ("" if seed is None else f"/seed{seed}")
            readings[name] = timed(
                f"mi {name}",
                measure_mi,
                model_path,
                base_path,
                key,
                out / "mi" / name.replace("/", "-"),
                **mi_cfg,
            )
        from ..measuring.mi_meter import item_scores
        from ..stats.paired import paired_bootstrap

        extras["mi"] = {}
        for name, r in readings.items():
            reading = {"mean": r["mean"], "low": r["ci_low"], "high": r["ci_high"], "n": r["n"]}
            reading["model_fingerprint"] = r.get("model_fingerprint")  # a reading is a function of these weights
            base = readings.get(f"{name.split('/')[0]}/{spec.reference}")
            if base is not None and base is not r:  # the same prompts, the same reference: a paired difference
                d = paired_bootstrap(item_scores(base), item_scores(r))
                reading["delta_vs_base"] = {"mean": d.mean, "low": d.low, "high": d.high, "n": d.n}
            extras["mi"][name] = reading
            ci = "" if reading["low"] is None else f" [{reading['low']:+.3f}, {reading['high']:+.3f}]"
            delta = reading.get("delta_vs_base")
            vs = "" if not delta else f"; vs base {delta['mean']:+.3f} [{delta['low']:+.3f}, {delta['high']:+.3f}]"
            weights = str(reading["model_fingerprint"] or "?")[-12:]
            console.print(
                Text(f"MI meter {name}: {reading['mean']:+.3f} nats{ci} (n={reading['n']}){vs}; weights …{weights}")
            )
    if spec.figure == "entropy":
        from ..analysis.entropy_figure import entropy_figures

        extras["figures"] = timed("figures", entropy_figures, spec, out, models, evals, scale.get("figure_tasks"))
    from ..analysis.leaderboard.items import item_view
    from ..analysis.leaderboard.page import write_page
    from ..analysis.leaderboard.rank import leaderboard
    from ..analysis.leaderboard.store import ResultsStore

    store = ResultsStore(out / "leaderboard.sqlite")
    added, skipped = store.add_paths([out])
    board = leaderboard(store, base=spec.reference or "base")
    figures = [f["path"] for f in (extras.get("figures") or {}).values() if isinstance(f, dict) and "path" in f]
    about = {"lines": lines, "mi": extras.get("mi"), "figures": figures}
    items = item_view(store.entries())
    write_page(board, out / "leaderboard.html", f"mipo-bench leaderboard — {spec.title}", about, items)
    extras["leaderboard"] = {"db": str(out / "leaderboard.sqlite"), "page": str(out / "leaderboard.html")}
    return extras
