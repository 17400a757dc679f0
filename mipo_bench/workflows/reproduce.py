"""`mipo-bench reproduce tableN`: everything a paper table needs — pairs or prompts, each method's training per seed,
evaluation, judging — in one run directory, every stage cached and resumable, then the table.

Layout of ``runs/reproduce/table<N>-<scale>/``::

    <task>/eval/<row>/                 untrained rows (base model; "Default" / personalized prompting)
    <task>/seed<s>/pairs|prompts/      the training input of seed s (shared by the rows that use it)
    <task>/seed<s>/<row>/model         a trained row          <task>/seed<s>/eval/<row>/   its evaluation
    <eval dir>/judge/                  judged tables: judgments and judge_summary.json (win-rate)
    table.{md,csv,tex}, mi/, figures/, leaderboard.sqlite, leaderboard.html, reproduce_summary.json

Judged tables are judged by the paper's judge of the model's family unless ``--judge`` names one (Qwen →
Qwen2.5-14B-Instruct, Llama → Llama-3-8B-Instruct; any other model judges itself, marked self-judging:
:func:`mipo_bench.judging.judges.paper_judge`), each task with its dataset's judge template unless ``--template`` names
one; the summary and the written table name both.

A crash anywhere loses at most the batch in flight: a rerun skips every stage whose manifest matches its inputs.
What each table runs is its YAML spec in ``recipes/reproduce/`` (:mod:`mipo_bench.analysis.tables`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text

from ..analysis.leaderboard.context import table_lines
from ..analysis.tables import Row, TableSpec, build_table, load_table, render
from ..core.console import StageProgress, show_table
from ..core.models import resolve_model_path
from ..core.runs import write_json
from ..core.stage import ACTIVITY, computed_since
from ..judging.judges import JudgeChoice, choose_judge
from .launch import train_jobs
from .pipeline import console, run_eval_stage, run_inputs, run_train, train_stage
from .recipe import find_recipe, load_recipe
from .run_settings import for_method, split_settings


def row_recipe_name(scale: dict, row: Row) -> str:
    """The recipe a trained row starts from at a scale: the scale's ``recipe`` (``{method}`` = the row's recipe family,
    its method's name unless the row names one), or its ``recipe_fallback`` where that recipe does not exist (a method
    without a personalized recipe)."""
    family = row.recipe or row.method
    name = scale.get("recipe", "{method}").format(method=family)
    try:
        find_recipe(name)
    except (FileNotFoundError, ValueError):
        if not scale.get("recipe_fallback"):
            raise
        name = scale["recipe_fallback"].format(method=family)
    return name


def row_recipe_args(
    spec: TableSpec, scale: dict, row: Row, model: str, task_key: str, seed_offset: int, extra: list[str] = ()
) -> tuple[str, list[str]]:
    """The recipe (name) and overrides that train ``row`` on ``task_key``: the scale's recipe
    (:func:`row_recipe_name`), the model, seed, dataset, then the scale's, method's and row's overrides and the
    user's ``extra`` ones (``reproduce --set``), in that order."""
    name = row_recipe_name(scale, row)
    base = load_recipe(name)
    overrides = [
        f"method={row.method}",
        f"model={model}",
        f"seed={base.seed + seed_offset}",
        f"data.dataset={task_key}",
        *scale.get("overrides", []),
        *scale.get("method_overrides", {}).get(row.method, []),
        *row.overrides,
        *for_method(row.method, extra),
    ]
    return name, overrides


def row_recipe(spec: TableSpec, scale: dict, row: Row, model: str, task_key: str, seed_offset: int, extra=()):
    """The recipe that trains ``row`` on ``task_key`` (:func:`row_recipe_args`)."""
    return load_recipe(*row_recipe_args(spec, scale, row, model, task_key, seed_offset, list(extra)), quiet=True)


@dataclass
class TrainedRow:
    """One trained row of one task and seed: its recipe, where its input, checkpoint and evaluation go."""

    key: str
    row: Row
    recipe_name: str
    overrides: list[str]
    recipe: object
    input_dir: Path
    trained: Path
    where: Path
    data_path: Path | None = None


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
) -> dict:
    """Run every stage of ``table`` at ``scale`` for ``model`` and ``seeds`` seeds; returns the summary it writes.

    ``judge`` / ``template``: the judged tables' judge (default: the paper's for the model's family) and judge
    template (default: each task's dataset's); for Table 6, the critic (default: the model) and its template.
    ``settings``: ``--set`` values (:func:`split_settings`). ``num_processes`` > 1: every training runs under one
    ``accelerate launch`` with that many processes (:mod:`.launch`; ``accelerate_config``: a shipped config name or
    a path, default ddp); the recipes' global batch stays theirs (the accumulation is divided)."""
    started = time.time()
    recipe_settings, run_settings = split_settings(settings)
    full = load_table(table)
    spec = full.at_scale(scale)
    if tasks:
        unknown = [t for t in tasks if t not in full.tasks and t not in spec.tasks]
        if unknown:
            raise ValueError(f"{full.path}: unknown task(s) {unknown}; the table has {list(full.tasks)}")
        names = dict(full.tasks, **full.scales[scale].get("task_names", {}))
        spec.tasks = {t: names[t] for t in tasks}
    s = dict(full.scales[scale])
    s["mi"] = {**s.get("mi", {}), **run_settings["mi"]}
    s["judge"] = {**s.get("judge", {}), **run_settings["judge"]}
    out = Path(run_dir or f"runs/reproduce/table{spec.name}-{scale}")
    out.mkdir(parents=True, exist_ok=True)
    kind = spec.table_kind
    if not kind.built_from_runs:  # Table 6: the kind's own runner (the critic is the judge, else the model)
        if template:
            spec.judge_template = template
        return kind.runner(spec, s, judge or model, out)
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

    ev = {**s.get("eval", {}), **run_settings["eval"]}
    base_path = str(resolve_model_path(model))
    evals: dict[tuple[str, str, int | None], Path] = {}  # (task, row, seed) -> eval dir
    models: dict[tuple[str, str, int | None], str] = {}
    trained_rows: list[TrainedRow] = []
    untrained: list[tuple[str, str, Row]] = []
    for key, task in spec.tasks.items():
        for row in spec.rows:
            if row.method is None:  # the untrained model: one run (the paper prints no ± for it)
                untrained.append((key, task, row))
                continue
            for k in range(seeds):
                name, overrides = row_recipe_args(spec, s, row, model, key, k, recipe_settings)
                recipe = load_recipe(name, overrides, quiet=True)  # the table switches methods, not the user
                seed_dir = out / key / f"seed{recipe.seed}"
                input_dir = seed_dir / row.name if row.overrides else seed_dir  # own pairs when the row changes them
                trained = seed_dir / row.name
                where = seed_dir / "eval" / row.name
                trained_rows.append(TrainedRow(key, row, name, overrides, recipe, input_dir, trained, where))
    progress.total = stage_count(spec, s, len(untrained), trained_rows, num_processes, extras)
    for key, task, row in untrained:
        where = out / key / "eval" / row.name
        timed(f"{key}: eval {row.name}", _eval, base_path, task + row.task_suffix, where, ev, row.name)
        evals[(key, row.name, None)], models[(key, row.name, None)] = where, base_path
    for t in trained_rows:  # every training input first: a data problem shows before any training starts
        t.data_path = timed(f"{t.key}: input {t.row.name} seed {t.recipe.seed}", run_inputs, t.recipe, t.input_dir)
    if num_processes > 1 and trained_rows:
        name = f"train: {len(trained_rows)} runs, {num_processes} processes"
        timed(name, _launch_training, trained_rows, out, num_processes, accelerate_config)
    for t in trained_rows:
        if num_processes <= 1:
            name = f"{t.key}: train {t.row.name} seed {t.recipe.seed}"
            timed(name, run_train, t.recipe, t.input_dir, t.data_path, t.trained)
        name = f"{t.key}: eval {t.row.name} seed {t.recipe.seed}"
        timed(name, _eval, t.trained / "model", spec.tasks[t.key], t.where, ev, t.row.name)
        evals[(t.key, t.row.name, t.recipe.seed)] = t.where
        models[(t.key, t.row.name, t.recipe.seed)] = str(t.trained / "model")
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
    if choice is not None:
        summary["judge"] = {**choice.as_dict(), "templates": templates, "references": _references(spec)}
    if extras:
        lines = table_lines(full, spec, seeds, ev)
        summary.update(_extras(spec, s, out, models, evals, base_path, timed, lines))
    wall = round(time.time() - started, 1)
    summary.update(stage_seconds=timings, reused_stages=reused, wall_seconds=wall)
    summary["runs"] = _earlier_runs(out) + [{"finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "wall_seconds": wall}]
    write_json(out / "reproduce_summary.json", summary)
    console.print(Text(f"table, figures and leaderboard in {out}; stage times (s): {json.dumps(timings)}"))
    return summary


def _launch_training(rows: list[TrainedRow], out: Path, processes: int, config: str | None) -> None:
    """One ``accelerate launch`` for the rows whose training is not current (none: no launch, no start-up paid)."""
    pending = [t for t in rows if not train_stage(t.recipe, t.data_path, t.trained).is_current()]
    if not pending:
        return
    ACTIVITY["started"] += len(pending)  # the launched processes start these stages
    jobs = [
        {"recipe": t.recipe_name, "overrides": t.overrides, "input_dir": t.input_dir, "data_path": t.data_path}
        | {"out": t.trained}
        for t in pending
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


def stage_count(spec: TableSpec, scale: dict, untrained: int, trained_rows: list, processes: int, extras: bool) -> int:
    """The stages a reproduce run will time (for "stage k of n"): evaluations, inputs, trainings, judging, the MI
    meter's readings and the figures."""
    trainings = (1 if trained_rows else 0) if processes > 1 else len(trained_rows)
    n = untrained + 2 * len(trained_rows) + trainings + (len(spec.tasks) if spec.table_kind.judged else 0)
    if extras and spec.mi:
        mi_tasks = scale.get("mi", {}).get("tasks") or list(spec.tasks)
        n += sum(t.row.name == "mipo" and t.key in mi_tasks for t in trained_rows)
        n += sum(key in mi_tasks for key in spec.tasks if any(r.name == spec.reference for r in spec.rows))
    return n + (1 if extras and spec.figure == "entropy" else 0)


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
    from ..judging.run import judge_samples

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
            judge_choice=choice.as_dict(),
        )


def _extras(spec: TableSpec, scale: dict, out: Path, models: dict, evals: dict, base_path: str, timed, lines) -> dict:
    """The MI meter's readings, the entropy figure and the leaderboard (store + page, ``lines`` on top) for the
    table's runs."""
    extras: dict = {}
    if spec.mi:
        from ..analysis.mi_meter import measure_mi

        mi_cfg = dict(scale.get("mi", {}))
        mi_tasks = mi_cfg.pop("tasks", None)  # a scale may read the meter on some tasks only (the demo: one)
        readings = {}
        for (key, row_name, seed), model_path in models.items():
            if row_name not in ("mipo", spec.reference) or (mi_tasks and key not in mi_tasks):
                continue
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
        from ..analysis.metrics.stats import paired_bootstrap
        from ..analysis.mi_meter import item_scores

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
    from ..analysis.leaderboard.page import write_page
    from ..analysis.leaderboard.rank import leaderboard
    from ..analysis.leaderboard.store import ResultsStore

    store = ResultsStore(out / "leaderboard.sqlite")
    added, skipped = store.add_paths([out])
    board = leaderboard(store, base=spec.reference or "base")
    figures = [f["path"] for f in (extras.get("figures") or {}).values() if isinstance(f, dict) and "path" in f]
    about = {"lines": lines, "mi": extras.get("mi"), "figures": figures}
    write_page(board, out / "leaderboard.html", f"mipo-bench leaderboard — {spec.title}", about)
    extras["leaderboard"] = {"db": str(out / "leaderboard.sqlite"), "page": str(out / "leaderboard.html")}
    return extras
