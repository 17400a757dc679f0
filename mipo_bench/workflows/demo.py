"""`mipo-bench demo`: pairs -> DPO (MIPO) and SFT -> evaluate base, SFT, MIPO -> a comparison table whose headline
is the paper's extraction (filter ``paper``), beside the suite's strict and flexible.

``--methods`` adds any registered method to the same comparison, on the same prompts, pairs, seed and eval items
(e.g. ``--methods mipo,sft,sft_revision,infonce,rlvr``); stages already computed in the run directory are reused.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..analysis.report import comparison_table, training_summary
from ..core.console import show_table
from ..core.models import resolve_model_path
from ..core.runs import write_json
from .pipeline import console, run_eval_stage, run_inputs, run_train
from .recipe import load_recipe

# Demo-scale budgets for methods whose paper settings generate far more than the demo's 128 tokens.
DEMO_BUDGETS = {
    "rlvr": ["train.max_completion_length=128"],
    "rlvr_judged": ["train.max_completion_length=128"],
    "sft_revision": ["train.revision_max_new_tokens=128"],
    "sft_revision_examples": ["train.revision_max_new_tokens=128"],
}


def run_demo(
    run_dir: str | Path = "runs/demo",
    overrides: list[str] | None = None,
    recipe_name: str = "demo",
    methods: tuple[str, ...] = ("mipo", "sft"),
) -> dict:
    started = time.time()
    run_dir = Path(run_dir)
    overrides = list(overrides or [])
    recipe = load_recipe(recipe_name, overrides)
    timings = {}

    def timed(name, fn, *args, **kwargs):
        t = time.time()
        console.rule(f"[bold]{name}")
        out = fn(*args, **kwargs)
        timings[name] = round(time.time() - t, 1)
        return out

    models = {"base": resolve_model_path(recipe.model)}
    for name in methods:  # the same data, seed and eval items; each method with its own settings class
        method_recipe = load_recipe(
            recipe_name, overrides + [f"method={name}"] + DEMO_BUDGETS.get(name, []), quiet=True
        )
        data_path = timed(f"input {name}", run_inputs, method_recipe, run_dir)
        timed(f"train {name}", run_train, method_recipe, run_dir, data_path, out=run_dir / name)
        models[name] = str(run_dir / name / "model")
    task, limit = recipe.eval.tasks[0], recipe.eval.limit
    results = {
        name: timed(
            f"eval {name}",
            run_eval_stage,
            path,
            [task],
            run_dir / "eval" / name,
            limit,
            recipe.eval.batch_size,
            recipe.eval.gen_kwargs,
        )
        for name, path in models.items()
    }
    title = f"{task}: base vs {' vs '.join(m.upper() if m == 'mipo' else m for m in methods)} ({recipe.model})"
    table, rows = comparison_table(results, task, "base", title)
    headline = next(iter(rows[0]["scores"]), None)  # the paper's extraction where the task has it
    dpo = training_summary(run_dir / "mipo" / "train_log.jsonl") if "mipo" in methods else {}
    wall = round(time.time() - started, 1)
    summary = {
        "task": task,
        "headline": headline,
        "rows": rows,
        "dpo_training": dpo,
        "stage_seconds": timings,
        "wall_seconds": wall,
    }
    write_json(run_dir / "demo_summary.json", summary)
    show_table(table)
    if headline:
        scores = ", ".join(f"{r['model']} {100 * r['scores'][headline]:.1f}" for r in rows)
        console.print(f"{task} ({headline} extraction): {scores}")
    if dpo:
        console.print(
            f"DPO reward accuracy {dpo['reward_acc_first']:.2f} -> {dpo['reward_acc_last']:.2f}, "
            f"margin {dpo['margin_first']:+.3f} -> {dpo['margin_last']:+.3f} over {dpo['steps']} steps"
        )
    console.print(f"stage times (s): {json.dumps(timings)}; total {wall} s. Run directory: {run_dir}")
    return summary
