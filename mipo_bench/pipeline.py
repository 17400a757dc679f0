"""`mipo-bench pairs|train|run`: the stages of a recipe inside one run directory, each resumable.

<run_dir>/pairs/   generations.jsonl, pairs.jsonl, pairs.manifest.json
<run_dir>/train/   model/, train_log.jsonl, train.manifest.json
<run_dir>/eval/    lm-eval results + samples, eval.manifest.json
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from . import data
from .generation import get_backend
from .pairs.build import build_pairs
from .prompts import task_prompt
from .recipe import Recipe
from .runs import content_hash, file_hash, stage_is_current, write_manifest

console = Console(stderr=True)
BACKEND_OPTIONS = ("tensor_parallel_size", "data_parallel_size", "gpu_memory_utilization", "dtype", "device")


def progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def training_items(recipe: Recipe) -> tuple[list[dict], dict]:
    """Prompts for pair building, in the eval task's prompt format, and a description of their source."""
    dataset, n = recipe.data["dataset"], recipe.data.get("n_prompts")
    records = data.train_prompts(dataset, n, recipe.seed)
    if dataset in data.PERSONALIZATION:  # the query plus the user's context, as the personalization tasks ask
        keep = ("id", "prompt", "context", "eligible_contexts")  # eligible: prompt-dependent contexts (Multi-Bench)
        items = [{k: r[k] for k in keep if r.get(k) is not None} for r in records]
    else:
        items = [{"id": r["id"], "prompt": task_prompt(r)} for r in records]
    return items, {"dataset": dataset, "split": "train", "n": len(items), "hash": content_hash(items)}


def run_pairs(recipe: Recipe, run_dir: Path, backend=None) -> dict:
    items, source = training_items(recipe)
    engine = {k: recipe.pairs[k] for k in BACKEND_OPTIONS if k in recipe.pairs}  # e.g. vLLM parallelism
    backend = backend or get_backend(
        recipe.pairs.get("backend", "hf"), recipe.model, batch_size=recipe.pairs.get("batch_size", 16), **engine
    )
    with progress_bar() as progress:
        manifest = build_pairs(
            items,
            recipe.pairs.get("strategy", "random_prompt"),
            backend,
            recipe.sampling(),
            run_dir / "pairs",
            recipe.seed,
            recipe.pairs.get("batch_size", 16),
            source,
            progress,
        )
    console.print(f"pairs: {manifest['counts']} -> {run_dir / 'pairs' / 'pairs.jsonl'}")
    return manifest


def run_train(recipe: Recipe, run_dir: Path, pairs_path: Path | None = None, out: Path | None = None) -> dict:
    from dataclasses import asdict

    from .training import train

    pairs_path = pairs_path or run_dir / "pairs" / "pairs.jsonl"
    out = out or run_dir / "train"
    key = content_hash(
        {
            "method": recipe.method,
            "model": recipe.model,
            "seed": recipe.seed,
            "settings": asdict(recipe.train),
            "pairs": file_hash(pairs_path),
        }
    )
    if stage_is_current(out, "train_inputs", key) and (out / "model" / "config.json").exists():
        console.print(f"train: unchanged, reusing {out / 'model'}")
        return json.loads((out / "train.manifest.json").read_text())
    manifest = train(recipe.method, pairs_path, recipe.model, out, recipe.train, recipe.seed, recipe=recipe.source)
    write_manifest(out, "train_inputs", key)
    return manifest


def run_eval_stage(
    model_path: str, tasks: list[str], out: Path, limit=None, batch_size: int = 16, gen_kwargs: str | None = None
) -> dict:
    from .evaluate import results_table, run_eval

    key = content_hash(
        {
            "model": model_path,
            "model_files": _model_fingerprint(model_path),
            "tasks": tasks,
            "limit": limit,
            "gen_kwargs": gen_kwargs,
        }
    )
    if stage_is_current(out, "eval", key):
        console.print(f"eval: unchanged, reusing {out / 'eval_results.json'}")
        return json.loads((out / "eval_results.json").read_text())
    results = run_eval(model_path, tasks, limit=limit, output=out, batch_size=batch_size, gen_kwargs=gen_kwargs)
    slim = {
        "results": results["results"],
        "n-samples": results.get("n-samples", {}),
        "mipo_bench": results["mipo_bench"],
        "samples": {
            t: [
                {
                    "doc_id": s["doc_id"],
                    "filter": s["filter"],
                    "exact_match": s["exact_match"],
                    "filtered_resps": s["filtered_resps"],
                    "resps": s["resps"],
                }
                for s in ss
            ]
            for t, ss in results.get("samples", {}).items()
        },
    }
    (out / "eval_results.json").write_text(json.dumps(slim, default=str))
    write_manifest(out, "eval", key, model=model_path, tasks=tasks, limit=limit)
    console.print(results_table(results, f"{model_path}"))
    return slim


def _model_fingerprint(model_path: str) -> str:
    weights = Path(model_path) / "model.safetensors"
    return file_hash(weights) if weights.exists() else model_path


def run_recipe(recipe: Recipe, run_dir: Path) -> dict:
    """pairs -> train -> eval; each stage is skipped when its inputs are unchanged."""
    run_dir.mkdir(parents=True, exist_ok=True)
    run_pairs(recipe, run_dir)
    run_train(recipe, run_dir)
    tasks = list(recipe.eval.get("tasks") or [])
    if not tasks:
        return {}
    return run_eval_stage(
        str(run_dir / "train" / "model"),
        tasks,
        run_dir / "eval",
        recipe.eval.get("limit"),
        recipe.eval.get("batch_size", 16),
        recipe.eval.get("gen_kwargs"),
    )
