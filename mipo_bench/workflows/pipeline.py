"""`mipo-bench pairs|train|run`: the stages of a recipe inside one run directory, each resumable.

<run_dir>/pairs/   generations.jsonl, pairs.jsonl, pairs.manifest.json       (offline methods)
<run_dir>/prompts/ prompts.jsonl, prompts.manifest.json                      (online methods)
<run_dir>/train/   model/, train_log.jsonl, train.manifest.json
<run_dir>/eval/    lm-eval results + samples, eval.manifest.json
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from .. import data
from ..core.console import console, progress_bar, show_table
from ..core.models import model_fingerprint
from ..core.resources import tasks_dir
from ..core.runs import absolute, content_hash, file_hash, write_json
from ..core.stage import Stage
from ..data.prompts import task_prompt
from ..generation import BACKEND_OPTIONS, get_backend
from ..pairs.build import build_pairs
from .recipe import Recipe


def training_items(recipe: Recipe) -> tuple[list[dict], dict]:
    """Pair-building items and a description of their source.

    General datasets: ``{id, dataset, prompt}``, the prompt rendered with the eval task's template of the item's own
    dataset. Personalization datasets: ``{id, dataset, query, context, eligible_contexts?}``, the raw query and the
    user's context (filled from ``data.contexts`` / ``$MIPO_BENCH_CONTEXTS_<DATASET>``); strategies render them with
    the paper's personalized / base prompt.
    """
    from ..pairs import get_strategy

    dataset, n = recipe.data.dataset, recipe.data.n_prompts
    needs_context = get_strategy(recipe.pairs.strategy).needs_context
    records = data.train_prompts(dataset, n, recipe.seed, contexts=recipe.data.contexts, needs_context=needs_context)
    personalized = data.dataset_spec(dataset).personalized
    if personalized:
        items = [
            {
                "id": r["id"],
                "dataset": r["dataset"],
                "query": r["prompt"],
                "context": r.get("context"),
                **({"eligible_contexts": r["eligible_contexts"]} if r.get("eligible_contexts") else {}),
            }
            for r in records
        ]
    else:
        items = [{"id": r["id"], "dataset": r["dataset"], "prompt": task_prompt(r)} for r in records]
    counts: dict[str, int] = {}
    for it in items:
        counts[it["dataset"]] = counts.get(it["dataset"], 0) + 1
    source = {"dataset": dataset, "split": "train", "n": len(items), "by_dataset": counts, "hash": content_hash(items)}
    if personalized:
        from ..data.contexts import contexts_path

        path = contexts_path(dataset, recipe.data.contexts)
        source["contexts"] = {"path": str(path) if path else None, "hash": file_hash(path) if path else None}
    return items, source


def run_pairs(recipe: Recipe, run_dir: Path, backend=None) -> dict:
    """Build the recipe's pairs. Sampling: the recipe's values, else the paper's for the dataset; generation stops at
    the eval task's stop strings (plus the recipe's). The manifest records the effective values and their origin."""
    items, source = training_items(recipe)
    engine = {k: getattr(recipe.pairs, k) for k in BACKEND_OPTIONS if getattr(recipe.pairs, k) is not None}
    built = backend is None
    backend = backend or get_backend(recipe.pairs.backend, recipe.model, batch_size=recipe.pairs.batch_size, **engine)
    try:
        with progress_bar() as progress:
            manifest = build_pairs(
                items,
                recipe.pairs.strategy,
                backend,
                recipe.sampling(),
                run_dir / "pairs",
                recipe.seed,
                recipe.pairs.batch_size,
                {**source, "sampling_origin": recipe.sampling_origin()},
                progress,
            )
    finally:
        if built:  # the engine (a vLLM one holds most of the card) goes before the next stage needs the memory
            backend.close()
    console.print(f"pairs: {manifest['counts']} -> {run_dir / 'pairs' / 'pairs.jsonl'}")
    return manifest


def run_train(
    recipe: Recipe, run_dir: Path, data_path: Path | None = None, out: Path | None = None, card: dict | None = None
) -> dict:
    """Train the recipe's method on ``data_path`` (default: the run's pairs); skipped when the method, the base
    model's weights, the seed, the settings and the data are unchanged. ``card``: the row's card in a table's plan
    (:mod:`.table_plan`), kept in the train manifest beside the data file and its hash."""

    from ..training import train
    from ..training.processes import is_main_process, wait_for_everyone

    data_path = data_path or run_dir / "pairs" / "pairs.jsonl"
    out = out or run_dir / "train"
    recipe = with_dataset_defaults(recipe)
    stage = train_stage(recipe, data_path, out)
    if stage.is_current():
        console.print(f"train: unchanged, reusing {out / 'model'}")
        manifest = json.loads((out / "train.manifest.json").read_text())
    else:
        stage.start()
        manifest = train(
            recipe.method, data_path, recipe.model, out, recipe.train, recipe.seed, recipe=recipe, run_dir=run_dir
        )
        if is_main_process():  # under `accelerate launch` every rank runs this; one writes
            stage.finish()
    if card is not None and manifest.get("card") != card and is_main_process():
        manifest = {**manifest, "card": card}
        write_json(out / "train.manifest.json", manifest)
    wait_for_everyone()
    return manifest


NOT_IN_TRAINING_KEY = ("save_steps", "save_total_limit")  # what is kept along the way, not what is trained


def train_stage(recipe: Recipe, data_path: Path, out: Path) -> Stage:
    """The training stage of ``recipe`` on ``data_path`` into ``out``: current when the method, the base model's
    weights, the seed, the settings (the dataset's defaults filled in) and the data are unchanged."""
    from dataclasses import asdict

    recipe = with_dataset_defaults(recipe)
    key = content_hash(
        {
            "method": recipe.method,
            "model": model_fingerprint(recipe.model),
            "seed": recipe.seed,
            "settings": {k: v for k, v in asdict(recipe.train).items() if k not in NOT_IN_TRAINING_KEY},
            "data": file_hash(data_path),
        }
    )
    return Stage(out, "train_inputs", key, outputs=("model/config.json", "train.manifest.json"))


def with_dataset_defaults(recipe: Recipe) -> Recipe:
    """The recipe with the training settings it leaves open filled from its dataset's spec: ``train.max_length``
    (the spec's ``train_max_length``) and ``train.num_train_epochs`` (its ``train_epochs``)."""
    spec, train = data.dataset_spec(recipe.data.dataset), recipe.train
    filled = {
        "max_length": spec.train_max_length if train.max_length is None else train.max_length,
        "num_train_epochs": spec.train_epochs if train.num_train_epochs is None else train.num_train_epochs,
    }
    return replace(recipe, train=replace(train, **filled))


def run_eval_stage(
    model_path: str,
    tasks: list[str],
    out: Path,
    limit=None,
    batch_size: int = 16,
    gen_kwargs: str | None = None,
    label: str | None = None,
) -> dict:
    """lm-eval (with the paper's re-ask pass) on ``model_path``; skipped when the model's weights, the tasks and
    the settings are unchanged. Writes lm-eval's files and ``eval_results.json``: the task reports and, per
    sample, the scores under the sample's own metric names (what :mod:`..analysis.report` compares). ``label`` names
    the evaluated row in the manifest (reports and the leaderboard show it; it is not part of the cache key)."""
    from ..evaluation.harness import results_table, run_eval

    key = content_hash(
        {
            "model": model_path,
            "model_files": _model_fingerprint(model_path),
            "task_files": _task_files_hash(),
            "tasks": tasks,
            "limit": limit,
            "gen_kwargs": gen_kwargs,
            "outputs": 2,  # eval_results.json with per-sample metric names and the paper filter
        }
    )
    stage = Stage(out, "eval", key, outputs=("eval_results.json",))
    if stage.is_current():
        console.print(f"eval: unchanged, reusing {out / 'eval_results.json'}")
        if label is not None and stage.manifest().get("label") != label:
            stage.update(label=label)
        return json.loads((out / "eval_results.json").read_text())
    stage.start()
    results = run_eval(model_path, tasks, limit=limit, output=out, batch_size=batch_size, gen_kwargs=gen_kwargs)
    slim = save_evaluation(out, results, key, model_path, tasks, limit, label)
    show_table(results_table(results, f"{model_path}"), console)  # a stage's table is progress: stderr
    return slim


def save_evaluation(out: Path, results: dict, key: str, model: str, tasks: list[str], limit, label=None) -> dict:
    """``eval_results.json`` (task reports + slim per-sample scores) and the eval manifest: what reports, the
    leaderboard and the stage cache read. Written by the eval stage and by `mipo-bench eval --output`."""
    slim = {
        "results": results["results"],
        "n-samples": results.get("n-samples", {}),
        "mipo_bench": results["mipo_bench"],
        "samples": {t: [_slim_sample(s) for s in ss] for t, ss in results.get("samples", {}).items()},
    }
    stage = Stage(out, "eval", key)
    stage.start()
    write_json(out / "eval_results.json", slim)
    stage.finish(
        model=absolute(model), tasks=tasks, limit=limit, label=label, task_settings=_task_settings(results, tasks)
    )
    return slim


def _task_settings(results: dict, tasks: list[str]) -> dict:
    """Per task, what its numbers depend on besides the model (the leaderboard's context line): shots, the output
    token budget, the chat template."""
    configs = results.get("configs") or {}
    chat = (results.get("mipo_bench") or {}).get("apply_chat_template")
    out = {}
    for task in tasks:
        config = configs.get(task) or {}
        budget = (config.get("generation_kwargs") or {}).get("max_gen_toks")
        out[task] = {"num_fewshot": config.get("num_fewshot"), "max_gen_toks": budget, "chat_template": chat}
    return out


def _slim_sample(sample: dict) -> dict:
    """What a report needs of one lm-eval sample: its scores under its own metric names (``exact_match``, ``acc``,
    ``bypass``, …), the answers, and the paper re-ask reply where there was one."""
    metrics = list(sample.get("metrics") or [])
    slim = {"doc_id": sample["doc_id"], "filter": sample["filter"], "metrics": metrics}
    slim.update({m: sample.get(m) for m in metrics})
    slim.update(filtered_resps=sample["filtered_resps"], resps=sample["resps"])
    if "reask_reply" in sample:
        slim["reask_reply"] = sample["reask_reply"]
    return slim


def _model_fingerprint(model_path: str) -> str:
    """The content of every weight file (all shards), a GGUF's hash, or a hub model's cached revision."""
    return model_fingerprint(model_path)


# The packages whose code renders the tasks' prompts, selects their items and scores the answers (the lm-eval
# integration and the data layer, as a whole): an edit anywhere in them reruns the eval.
EVAL_CODE = ("evaluation", "data")


def eval_code_files() -> list[Path]:
    """Every ``.py`` file of the :data:`EVAL_CODE` packages; a package that is not there is an error (a moved
    package must not silently stop invalidating the eval cache)."""
    package = Path(__file__).resolve().parent.parent
    missing = [name for name in EVAL_CODE if not (package / name / "__init__.py").is_file()]
    if missing:
        raise FileNotFoundError(f"eval cache key: no package {', '.join(missing)} under {package} (EVAL_CODE)")
    return sorted(p for name in EVAL_CODE for p in (package / name).rglob("*.py"))


def _task_files_hash() -> str:
    """The task YAMLs, the code behind them, and the data they read (the mirror's root, the contexts files named in
    the environment): any change reruns the eval stage."""
    import os

    root, package = tasks_dir(), Path(__file__).resolve().parent.parent
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name.endswith((".yaml", "_yaml", ".py")))
    contexts = {
        k: file_hash(v) for k, v in os.environ.items() if k.startswith("MIPO_BENCH_CONTEXTS_") and Path(v).is_file()
    }
    return content_hash(
        {
            "tasks": {str(p.relative_to(root)): file_hash(p) for p in files},
            "code": {str(p.relative_to(package)): file_hash(p) for p in eval_code_files()},
            "data_root": str(data.data_root() or "hub"),
            "contexts": contexts,
        }
    )


def prompt_rows(recipe: Recipe) -> tuple[list[dict], dict]:
    """The PROMPTS input of online methods for the recipe's data section (:func:`data.prompt_rows`)."""
    return data.prompt_rows(recipe.data.dataset, recipe.data.n_prompts, recipe.seed, recipe.data.contexts)


def run_prompts(recipe: Recipe, run_dir: Path) -> Path:
    """Write ``<run_dir>/prompts/prompts.jsonl`` for an online method; skipped when unchanged (no generation)."""
    from ..core.runs import write_jsonl

    rows, source = prompt_rows(recipe)
    out = run_dir / "prompts"
    stage = Stage(out, "prompts", source["hash"], outputs=("prompts.jsonl",))
    if not stage.is_current():
        stage.start()
        write_jsonl(out / "prompts.jsonl", rows)
        stage.finish(source=source, seed=recipe.seed)
    console.print(f"prompts: {len(rows)} -> {out / 'prompts.jsonl'}")
    return out / "prompts.jsonl"


def run_inputs(recipe: Recipe, run_dir: Path) -> Path:
    """The training input the recipe's method consumes: pairs (offline methods) or prompts (online ones)."""
    from ..training import METHODS, PROMPTS

    if METHODS.get(recipe.method).consumes == PROMPTS:
        return run_prompts(recipe, run_dir)
    run_pairs(recipe, run_dir)
    return run_dir / "pairs" / "pairs.jsonl"


def run_recipe(recipe: Recipe, run_dir: Path) -> dict:
    """input (pairs or prompts) -> train -> eval; each stage is skipped when its inputs are unchanged."""
    run_dir.mkdir(parents=True, exist_ok=True)
    run_train(recipe, run_dir, run_inputs(recipe, run_dir))
    tasks = list(recipe.eval.tasks or [])
    if not tasks:
        return {}
    return run_eval_stage(
        str(run_dir / "train" / "model"),
        tasks,
        run_dir / "eval",
        recipe.eval.limit,
        recipe.eval.batch_size,
        recipe.eval.gen_kwargs,
    )
