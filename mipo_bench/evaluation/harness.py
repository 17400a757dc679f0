"""`mipo-bench eval`: lm-eval's ``simple_evaluate`` over our tasks, the paper's re-ask pass, lm-eval's output files,
a rich table.

The results JSON and the per-sample JSONL are written by lm-eval's own EvaluationTracker exactly as lm-eval's CLI
writes them (``lm_eval --output_path … --log_samples``: the samples popped from the results before saving), so
lm-eval's tools read ours. The only additions: the ``mipo_bench`` key (model spec, wall time, re-asked items) and
filter ``paper`` of the math tasks (see :mod:`mipo_bench.evaluation.reask`).
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import tempfile
import time
from pathlib import Path

from rich.table import Table

from ..core.console import console
from ..core.models import default_device, resolve_model_path
from ..data import extract
from ..data.protocol import REASK_SAMPLING, Decoding
from ..data.spec import task_dirs
from . import judged_metric, reask

# headline first: the paper's extraction, then the suite's strict and flexible, then the rest
FILTER_ORDER = ("paper", "strict", "flexible", "paper_noreask", "none")


def task_manager(metadata: dict | None = None):
    """lm-eval's TaskManager over the suite's task folders; ``metadata`` reaches every task's ``load_docs`` (as
    ``lm_eval --metadata`` does), e.g. ``{"judge": SPEC}`` for the judged tasks."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=[str(d) for d in task_dirs()], include_defaults=False, metadata=metadata)


def check_tasks(tasks: list[str]) -> None:
    """Every name is a task (or group) of the suite's task folders; else one line with a did-you-mean, before any
    model is loaded."""
    from ..core.registry import did_you_mean

    known = task_manager().all_tasks
    for task in tasks:
        if task not in known:
            mipo = sorted(t for t in known if t.startswith("mipo_"))
            raise ValueError(f"unknown task {task!r}{did_you_mean(task, known)}; the suite's tasks: {', '.join(mipo)}")


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
    reask_pass: bool = True,
    judge: str = "none",
) -> dict:
    """Evaluate ``model`` (any spec :func:`resolve_model_path` accepts) on mipo tasks; returns lm-eval's results
    with its ``samples`` (per task, the ``paper`` rows of the re-ask pass included). ``judge``: the judge of the
    personalization tasks inside lm-eval (:mod:`.judged_metric`); ``none`` (the default) only generates, and
    `mipo-bench judge` / ``reproduce`` judge the samples afterwards with the table's judge."""
    import lm_eval
    from lm_eval.loggers import EvaluationTracker

    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    _quiet_git_hash()
    path = resolve_model_path(model)
    device = device or default_device()
    dtype = "float32" if device == "cpu" else "bfloat16"
    if backend == "hf":
        model_args = {"pretrained": path, "dtype": dtype, "device": device}
    elif backend == "vllm":
        model_args = {"pretrained": path, "dtype": "bfloat16"}
    else:
        raise ValueError(f"backend must be 'hf' or 'vllm', not {backend!r}")
    tracker = EvaluationTracker(output_path=str(output)) if output else None
    started = time.time()
    status = console.status(f"[bold]evaluating {', '.join(tasks)} on {model} ({backend}, {device})")
    with status, judged_metric.judge_in_harness(judge):
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
    # the chat template is ON here (the paper's prompts are chat turns) and OFF by default in `lm_eval` (pass
    # --apply_chat_template there for the same numbers): recorded with the results
    results["mipo_bench"] = {"model_spec": model, "apply_chat_template": apply_chat_template}
    results.setdefault("config", {})["model_name"] = model  # the spec the user typed, not a cache path
    if reask_pass and reask.math_tasks(results):
        sampling = reask_sampling(gen_kwargs)
        results["mipo_bench"]["reask_sampling"] = dataclasses.asdict(sampling)
        results["mipo_bench"]["reasked"] = _reask(results, path, device, dtype, batch_size, seed, output, sampling)
    results["mipo_bench"]["wall_seconds"] = round(time.time() - started, 1)
    if tracker is not None:
        save_outputs(tracker, results)
    return results


def _quiet_git_hash() -> None:
    """lm-eval records ``git describe`` of the working directory, and outside a repository git prints "fatal: not a
    git repository" on the terminal: the same lookup with git's stderr silenced (None outside a repository)."""
    import subprocess

    import lm_eval.evaluator

    def git_hash():
        try:
            done = subprocess.run(["git", "describe", "--always"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() or None

    lm_eval.evaluator.get_git_commit_hash = git_hash


def reask_sampling(gen_kwargs: str | None) -> Decoding:
    """The scripts' re-ask settings (T=0.1, top_p=0.9, 1024 new tokens); a ``max_gen_toks`` in ``gen_kwargs``, the
    cap a user puts on the whole evaluation's generation (e.g. a smoke run), caps the re-ask's budget too."""
    from lm_eval.utils import simple_parse_args_string

    cap = simple_parse_args_string(gen_kwargs or "").get("max_gen_toks")
    if cap is None:
        return REASK_SAMPLING
    return dataclasses.replace(REASK_SAMPLING, max_new_tokens=min(int(cap), REASK_SAMPLING.max_new_tokens))


def _reask(
    results: dict, path: str, device: str, dtype: str, batch_size: int, seed: int, output, sampling: Decoding
) -> dict[str, int]:
    """The scripts' second pass on the math tasks, through the generation layer (cache beside the outputs)."""
    from ..generation import get_backend

    gc.collect()  # lm-eval's copy of the model is no longer referenced: free it before loading ours
    _empty_cuda_cache()
    generator = get_backend("hf", path, device=device, dtype=dtype, batch_size=batch_size)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(output) if output else Path(scratch)
        cache = (folder.parent if folder.suffix == ".json" else folder) / "reask_generations.jsonl"
        todo = len(reask.reask_requests(results))
        with console.status(f"[bold]re-asking {todo} math answers without a number after ####"):
            counts = reask.add_paper_filter(results, generator, cache, seed, batch_size, sampling)
    console.print(
        "paper re-ask pass: "
        + ", ".join(f"{task} {n}/{results['n-samples'][task]['effective']} re-asked" for task, n in counts.items())
    )
    return counts


def _empty_cuda_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def save_outputs(tracker, results: dict) -> None:
    """Write the results JSON and the per-task samples JSONL the way lm-eval's CLI does (lm_eval/_cli/run.py):
    pop the samples, save the aggregate with them (for the task hashes), then one samples file per task in
    ``configs``. The samples are put back into ``results`` afterwards, for the caller."""
    from lm_eval.utils import sanitize_model_name

    samples = results.pop("samples", {})
    name = results.get("config", {}).get("model_name")
    if name:  # output folders named after the spec the user typed, not the resolved cache path
        tracker.general_config_tracker.model_name = name
        tracker.general_config_tracker.model_name_sanitized = sanitize_model_name(name)
    tracker.save_results_aggregated(results=results, samples=samples)
    for task_name in results["configs"]:
        tracker.save_results_samples(task_name=task_name, samples=samples[task_name])
    results["samples"] = samples


def sample_metrics(sample: dict) -> list[str]:
    """The metric names lm-eval scored this sample with (``metrics``; every metric is also a key of the sample)."""
    return list(sample.get("metrics") or [])


def score_label(metric: str, filt: str) -> str:
    """Column name of one score: the filter for exact_match ("paper"), the metric for unfiltered scores ("acc")."""
    if metric == "exact_match":
        return filt
    return metric if filt == "none" else f"{metric} {filt}"


def headline_label(task: str, labels) -> str | None:
    """The score label that is ``task``'s headline among ``labels`` (:func:`score_label` names): the first key its
    YAML declares (:func:`mipo_bench.data.protocol.primary_metric`) that is there, else the first label (display
    order: :func:`order_scores`); None when there is none. Every caller that asks "which number is this task's" (the
    results, the reports, the leaderboard) asks this."""
    from ..data.protocol import primary_metric

    labels = list(labels)
    for key in primary_metric(task.split("@")[0]):
        metric, _, filt = key.partition(",")
        label = score_label(metric, filt or "none")
        if label in labels:
            return label
    return labels[0] if labels else None


def order_scores(pairs) -> list[tuple[str, str]]:
    """(metric, filter) pairs, headline first (:data:`FILTER_ORDER`), otherwise in the order first seen."""
    unique = list(dict.fromkeys(pairs))
    rank = {f: i for i, f in enumerate(FILTER_ORDER)}
    return sorted(unique, key=lambda p: (rank.get(p[1], len(rank)), unique.index(p)))


def score_columns(results: dict) -> list[tuple[str, str]]:
    """Every numeric (metric, filter) the task reports hold; generation-only ``bypass`` placeholders left out."""
    pairs = []
    for metrics in results["results"].values():
        for key, value in metrics.items():
            metric, _, filt = key.partition(",")
            if filt and not metric.endswith("_stderr") and metric != "bypass" and isinstance(value, (int, float)):
                pairs.append((metric, filt))
    return order_scores(pairs)


def format_failures(samples: list[dict]) -> dict:
    """Per filter: responses with no extractable answer, and how many copied the prompt's placeholder."""
    out: dict[str, int] = {}
    for s in samples:
        key = f"{s.get('filter', '')}"
        out[key] = out.get(key, 0) + int(s.get("filtered_resps") in (extract.INVALID, [extract.INVALID]))
        if s.get("filter") == "strict":
            resp = s["resps"][0][0] if s.get("resps") else ""
            copied = isinstance(resp, str) and extract.copies_placeholder(resp)
            out["placeholder"] = out.get("placeholder", 0) + int(copied)
    return out


def results_table(results: dict, title: str = "mipo-bench results") -> Table:
    """One row per task or group, one column per metric/filter its report holds (paper first), then the counts of
    items the re-ask pass asked again, of answers no extraction found, and of placeholder copies."""
    table = Table(title=title)
    columns = score_columns(results)
    counts = ("re-asked", "no answer (paper)", "no answer (strict)", "placeholder 'X'")
    for col in ("task", "n", *(score_label(m, f) for m, f in columns), *counts):
        table.add_column(col, justify="left" if col == "task" else "right")
    samples = results.get("samples", {})
    generation_only = []
    for name, metrics in results["results"].items():
        if not any(  # a judged task run with no judge (or an old bypass one) reports no score
            "," in k and not k.startswith(("bypass", "alias")) and isinstance(v, (int, float))
            for k, v in metrics.items()
        ):
            generation_only.append(name)
        n = results.get("n-samples", {}).get(name, {}).get("effective", "")
        if not n and samples.get(name):  # a judged task run without a judge scores nothing: count its responses
            n = len({s.get("doc_id") for s in samples[name]})

        def cell(metric, filt, metrics=metrics):
            value = metrics.get(f"{metric},{filt}")
            if not isinstance(value, (int, float)) or value != value:  # absent, or NaN (no item judged)
                return "-"
            err = metrics.get(f"{metric}_stderr,{filt}")
            return f"{100 * value:.1f}" + (f" ± {100 * err:.1f}" if isinstance(err, (int, float)) else "")

        rows = samples.get(name, [])
        fails = format_failures(rows)
        filters = {s.get("filter") for s in rows}

        def count(value, applies):
            return str(value) if applies else ""

        table.add_row(
            name,
            str(n),
            *(cell(m, f) for m, f in columns),
            count(sum(reask.needs_reask(s) for s in rows), reask.FIRST_PASS in filters),
            count(fails.get("paper", 0), "paper" in filters),
            count(fails.get("strict", 0), "strict" in filters),
            count(fails.get("placeholder", 0), "strict" in filters),
        )
    if generation_only:
        scored_later = "generation only (no judge asked for: score the samples with `mipo-bench judge`)"
        table.caption = f"{scored_later}: {', '.join(generation_only)}"
    return table
