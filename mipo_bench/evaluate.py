"""`mipo-bench eval`: lm-eval's ``simple_evaluate`` over our tasks, lm-eval's output files, a rich table.

The results JSON and the per-sample JSONL are written by lm-eval's own EvaluationTracker, so they
are byte-compatible with ``lm_eval --output_path … --log_samples``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from . import extract
from .models import default_device, resolve_model_path
from .resources import tasks_dir

console = Console(stderr=True)


def task_manager():
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(tasks_dir()), include_defaults=False)


def run_eval(
    model: str,
    tasks: list[str],
    limit: int | float | None = None,
    output: str | Path | None = None,
    batch_size: int = 8,
    device: str | None = None,
    apply_chat_template: bool = True,
    backend: str = "hf",
    seed: int = 1234,
    gen_kwargs: str | None = None,
) -> dict:
    """Evaluate ``model`` (any spec :func:`resolve_model_path` accepts) on mipo tasks; returns lm-eval's results."""
    import lm_eval
    from lm_eval.loggers import EvaluationTracker

    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    path = resolve_model_path(model)
    device = device or default_device()
    if backend == "hf":
        model_args = {"pretrained": path, "dtype": "float32" if device == "cpu" else "bfloat16", "device": device}
    elif backend == "vllm":
        model_args = {"pretrained": path, "dtype": "bfloat16"}
    else:
        raise ValueError(f"backend must be 'hf' or 'vllm', not {backend!r}")
    tracker = EvaluationTracker(output_path=str(output)) if output else None
    started = time.time()
    with console.status(f"[bold]evaluating {', '.join(tasks)} on {model} ({backend}, {device})"):
        results = lm_eval.simple_evaluate(
            model=backend,
            model_args=model_args,
            tasks=tasks,
            task_manager=task_manager(),
            limit=limit,
            batch_size=batch_size,
            log_samples=True,
            apply_chat_template=apply_chat_template,
            random_seed=seed,
            numpy_random_seed=seed,
            torch_random_seed=seed,
            fewshot_random_seed=seed,
            gen_kwargs=gen_kwargs,
            evaluation_tracker=tracker,
        )
    results["mipo_bench"] = {"model_spec": model, "wall_seconds": round(time.time() - started, 1)}
    if tracker is not None:
        samples = results.get("samples", {})
        tracker.save_results_aggregated(results=results, samples=samples)
        for task_name in results.get("configs", {}):
            if task_name in samples:
                tracker.save_results_samples(task_name=task_name, samples=samples[task_name])
    return results


def format_failures(samples: list[dict]) -> dict:
    """Per filter: responses with no extractable answer, and how many copied the prompt's placeholder."""
    out: dict[str, int] = {}
    for s in samples:
        key = f"{s.get('filter', '')}"
        out[key] = out.get(key, 0) + int(s.get("filtered_resps") in (extract.INVALID, [extract.INVALID]))
        if s.get("filter") == "strict":
            resp = s["resps"][0][0] if s.get("resps") else ""
            out["placeholder"] = out.get("placeholder", 0) + int(extract.copies_placeholder(resp))
    return out


def results_table(results: dict, title: str = "mipo-bench results") -> Table:
    table = Table(title=title)
    for col in ("task", "n", "strict", "flexible", "no answer (strict)", "placeholder 'X'"):
        table.add_column(col, justify="left" if col == "task" else "right")
    samples = results.get("samples", {})
    for name, metrics in results["results"].items():
        fails = format_failures(samples.get(name, []))
        n = results.get("n-samples", {}).get(name, {}).get("effective", "")

        def cell(filt, metrics=metrics):
            value = metrics.get(f"exact_match,{filt}")
            if not isinstance(value, (int, float)):
                return "-"
            err = metrics.get(f"exact_match_stderr,{filt}")
            return f"{100 * value:.1f}" + (f" ± {100 * err:.1f}" if isinstance(err, (int, float)) else "")

        table.add_row(
            name,
            str(n),
            cell("strict"),
            cell("flexible"),
            str(fails.get("strict", "")) if name in samples else "",
            str(fails.get("placeholder", "")) if name in samples else "",
        )
    return table
