"""The paper protocol's generation settings read off the dataset specs (../shared/PROTOCOL.md §3), and the one
definition of the stop strings: the eval task's YAML.

Evaluation settings live in the task YAML (lm-eval reads them there); pair generation reads its stop strings from the
same YAML through :func:`stop_strings`, so the pairs stage stops exactly where the eval stops, and its sampling from
the dataset's spec (``DatasetSpec.pair_sampling``, the scripts' pair-generation settings), which a recipe may override.
"""

from __future__ import annotations

import functools

from .spec import Decoding, dataset_spec, task_dirs

__all__ = ["Decoding", "REASK_SAMPLING", "pair_sampling", "primary_metric", "stop_strings", "task_config"]

# The re-ask pass of the math scripts (PROTOCOL.md §4.1).
REASK_SAMPLING = Decoding(0.1, 0.9, 1024)


def task_config(task: str) -> dict:
    """A task YAML with its ``include:`` chain resolved, as lm-eval reads it (``!function`` tags left unresolved)."""
    from lm_eval.tasks._yaml_loader import load_yaml

    folders = task_dirs()
    path = next((d / f"{task}.yaml" for d in folders if (d / f"{task}.yaml").is_file()), None)
    if path is None:
        raise FileNotFoundError(f"no task file {task}.yaml in {', '.join(map(str, folders))}")
    return load_yaml(path, resolve_func=False)


def stop_strings(dataset: str) -> tuple[str, ...]:
    """The ``until`` list of the dataset's eval task: generation for pairs stops where the eval stops."""
    until = task_config(dataset_spec(dataset).eval_task).get("generation_kwargs", {}).get("until", [])
    return tuple([until] if isinstance(until, str) else until)


@functools.lru_cache(maxsize=None)
def primary_metric(task: str) -> tuple[str, ...]:
    """The task's headline score as its YAML declares it (``metadata.primary_metric``, OLMES' ``primary_metric``):
    lm-eval result keys ``metric,filter`` (``"exact_match,paper"``; ``"win,none"``, the judged win, for the
    personalization tasks), best first; the first one a run has is its headline. Empty for a task that declares none
    (a plugin's) or is not in the task folders: callers then take the first score of their display order. The one
    answer to "which number is this task's" (:func:`mipo_bench.evaluation.harness.headline_label` applies it)."""
    try:
        declared = (task_config(task).get("metadata") or {}).get("primary_metric") or []
    except FileNotFoundError:
        return ()
    return (declared,) if isinstance(declared, str) else tuple(declared)


def pair_sampling(dataset: str) -> Decoding:
    """The released scripts' pair-generation sampling of ``dataset`` (its spec's ``pair_sampling``)."""
    return dataset_spec(dataset).pair_sampling
