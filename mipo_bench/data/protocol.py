"""The paper protocol's generation settings per dataset (../shared/PROTOCOL.md §3), and the one definition of the
stop strings: the eval task's YAML.

Evaluation settings live in the task YAML (lm-eval reads them there); pair generation reads its stop strings from the
same YAML through :func:`stop_strings`, so the pairs stage stops exactly where the eval stops, and its sampling from
:data:`PAIR_SAMPLING` (the scripts' pair-generation settings), which a recipe may override.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.resources import tasks_dir


@dataclass(frozen=True)
class Decoding:
    """Sampling of one stage: ``temperature``, ``top_p`` and the new-token budget ``max_new_tokens``."""

    temperature: float
    top_p: float
    max_new_tokens: int


# PROTOCOL.md §3, "pair generation" rows. MMLU's scripts are not released: ARC's (same template) is used. Community
# Alignment's pair generation is not released: PRISM's. PrefEval is not in the paper: PRISM's.
PAIR_SAMPLING = {
    "gsm8k": Decoding(0.1, 0.9, 1024),
    "svamp": Decoding(0.1, 0.9, 1024),
    "arc_easy": Decoding(1.0, 0.9, 1024),
    "arc_challenge": Decoding(1.0, 0.9, 1024),
    "mmlu": Decoding(1.0, 0.9, 1024),
    "prism": Decoding(0.1, 0.9, 512),
    "community_alignment": Decoding(0.1, 0.9, 512),
    "multibench": Decoding(0.1, 0.9, 1024),
    "prefeval": Decoding(0.1, 0.9, 512),
}
# The re-ask pass of the math scripts (PROTOCOL.md §4.1).
REASK_SAMPLING = Decoding(0.1, 0.9, 1024)

# The eval task whose prompt format (and stop strings) a dataset's training prompts use.
EVAL_TASK = {
    "gsm8k": "mipo_gsm8k",
    "svamp": "mipo_svamp",
    "arc_easy": "mipo_arc_easy",
    "arc_challenge": "mipo_arc_challenge",
    "mmlu": "mipo_mmlu",
    "prism": "mipo_prism",
    "community_alignment": "mipo_community_alignment",
    "multibench": "mipo_multibench",
    "prefeval": "mipo_prefeval",
}


def task_config(task: str) -> dict:
    """A task YAML with its ``include:`` chain resolved, as lm-eval reads it (``!function`` tags left unresolved)."""
    from lm_eval.tasks._yaml_loader import load_yaml

    path = tasks_dir() / f"{task}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no task file {path}")
    return load_yaml(path, resolve_func=False)


def stop_strings(dataset: str) -> tuple[str, ...]:
    """The ``until`` list of the dataset's eval task: generation for pairs stops where the eval stops."""
    if dataset not in EVAL_TASK:
        raise ValueError(f"no eval task known for dataset {dataset!r}; known: {', '.join(sorted(EVAL_TASK))}")
    until = task_config(EVAL_TASK[dataset]).get("generation_kwargs", {}).get("until", [])
    return tuple([until] if isinstance(until, str) else until)


def pair_sampling(dataset: str) -> Decoding:
    if dataset not in PAIR_SAMPLING:
        raise ValueError(
            f"no paper pair-generation settings for {dataset!r}; known: {', '.join(sorted(PAIR_SAMPLING))}"
        )
    return PAIR_SAMPLING[dataset]
