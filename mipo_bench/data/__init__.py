"""Data layer: one module per dataset, each registering its :class:`~.spec.DatasetSpec` (the only place a dataset
is named), and the functions every other layer reads data through.

``load(name, split)`` reads ``$MIPO_BENCH_DATA`` (or ``data_dir``) when set - the layout of the original releases,
e.g. ``gsm8k/test.jsonl`` - and the hub dataset otherwise. ``eval_docs`` applies the paper's evaluation protocol
(fixed-seed samples) or the full one (the whole test split); ``train_prompts`` the paper's training selection.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from . import arc, community_alignment, gsm8k, mmlu, multibench, prefeval, prism, svamp  # noqa: F401 (registration)
from .records import DataFormatError, format_number
from .sampling import EVAL_SEED, LETTERS, paper_sample, sample, with_letters
from .spec import DATASETS, MATH, MULTIPLE_CHOICE, PERSONALIZATION, DatasetSpec, dataset_spec, register_dataset

__all__ = [
    "DATASETS",
    "DEFAULT_DATASET",
    "DatasetSpec",
    "DataFormatError",
    "EVAL_SEED",
    "LETTERS",
    "MATH",
    "MULTIPLE_CHOICE",
    "PERSONALIZATION",
    "data_root",
    "dataset_spec",
    "eval_docs",
    "eval_prompts",
    "format_number",
    "load",
    "paper_sample",
    "prompt_rows",
    "register_dataset",
    "sample",
    "train_prompts",
    "with_letters",
]

PROTOCOLS = ("paper", "full")
# a recipe without data.dataset: the demo's multiple-choice set (short prompts, fast on CPU)
DEFAULT_DATASET = "arc_easy"


def data_root(data_dir: str | Path | None = None) -> Path | None:
    """The local mirror: ``data_dir`` if given, else ``$MIPO_BENCH_DATA``, else None (use the hub)."""
    root = data_dir or os.environ.get("MIPO_BENCH_DATA")
    if not root:
        return None
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise DataFormatError(root, None, "data directory does not exist")
    return root


@functools.lru_cache(maxsize=64)
def _load_cached(name: str, split: str, root: Path | None) -> tuple[dict, ...]:
    return tuple(dataset_spec(name).load(split, root))


def load(name: str, split: str, data_dir: str | Path | None = None) -> list[dict]:
    """Normalized records of ``name``/``split`` (fresh dicts: callers may mutate them)."""
    return [dict(r) for r in _load_cached(name, split, data_root(data_dir))]


def eval_docs(name: str, protocol: str = "paper", data_dir: str | Path | None = None) -> list[dict]:
    """The evaluation items of a dataset: the paper's sample (PROTOCOL.md §1.1: the spec's ``eval_size``, drawn as
    its ``eval_sample`` says), or the whole test split. Multiple-choice items come lettered by position."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, not {protocol!r}")
    spec = dataset_spec(name)
    records = load(name, "test", data_dir)
    if protocol == "paper":
        if spec.eval_sample == "head":
            records = records[: spec.eval_size]
        else:
            records = paper_sample(records, spec.eval_size, EVAL_SEED)
    return [with_letters(r) for r in records]


def train_prompts(
    name: str,
    n: int | None = None,
    seed: int = EVAL_SEED,
    data_dir=None,
    contexts: str | Path | None = None,
    needs_context: bool = False,
) -> list[dict]:
    """Training prompts of ``name`` as the paper protocol selects them (PROTOCOL.md §1.2: the spec's
    ``train_records``, else the ``train`` split); ``n`` subsamples them with the suite's seeded draw (default: the
    spec's ``train_size``: all of them).

    Every record carries ``dataset``, the dataset whose template renders it (SVAMP's training set holds GSM8K rows).
    Personalization datasets have a single split: their training prompts are the items outside the paper-protocol eval
    sample; ``contexts`` (or ``$MIPO_BENCH_CONTEXTS_<NAME>``) fills their user contexts, and ``needs_context`` keeps
    only the items that have one (an error when none has).
    """
    spec = dataset_spec(name)
    if spec.personalized:
        records = personalization_train_records(name, data_dir, contexts, needs_context)
    elif spec.train_records is not None:
        records = spec.train_records(lambda dataset, split: load(dataset, split, data_dir))
    else:
        records = [{**r, "dataset": name} for r in load(name, "train", data_dir)]
    return [with_letters(r) for r in sample(records, n if n is not None else spec.train_size, seed)]


def eval_prompts(
    name: str, n: int | None = None, seed: int = EVAL_SEED, data_dir=None, contexts=None, needs_context: bool = False
) -> list[dict]:
    """``n`` of the paper-protocol evaluation items (the suite's seeded draw), shaped as :func:`train_prompts`
    shapes training prompts: what a measurement of a trained model reads, since it never trained on them."""
    from .contexts import apply_contexts, contexts_path

    records = [{**r, "dataset": name} for r in eval_docs(name, "paper", data_dir)]
    path = contexts_path(name, contexts) if dataset_spec(name).personalized else None
    if path:
        records = apply_contexts(records, path)
    if needs_context:
        records = [r for r in records if r.get("context")]
        if not records:
            raise ValueError(f"{name}: no evaluation item has a user context; run `mipo-bench contexts {name}`")
    return sample(records, n, seed)


def preferences_per_item(name: str) -> float:
    """The mean number of itemized preferences of ``name``'s evaluation items (a judge call each); 1 when the items'
    preferences cannot be read on this machine."""
    try:
        items = eval_prompts(name)
    except (DataFormatError, FileNotFoundError, ValueError, OSError):
        return 1.0
    counts = [len(r.get("preferences") or []) or 1 for r in items]
    return sum(counts) / len(counts) if counts else 1.0


def personalization_train_records(name: str, data_dir=None, contexts=None, needs_context: bool = False) -> list[dict]:
    """The items of ``name`` outside its paper-protocol eval sample (no eval item's id or prompt), with contexts
    applied (see :func:`train_prompts`).

    Contexts are applied to the whole set first, so prompt-dependent context groups (Multi-Bench's
    ``eligible_contexts``) are rewritten consistently.
    """
    from .contexts import apply_contexts, contexts_env_var, contexts_path

    records = load(name, "test", data_dir)
    path = contexts_path(name, contexts)
    if path:
        records = apply_contexts(records, path)
    # held out by id AND by prompt text: Community Alignment asks the same prompt of ~21 annotators, so holding out
    # ids alone would train on the eval prompts
    evaluated = eval_docs(name, "paper", data_dir)
    held_ids, held_prompts = {r["id"] for r in evaluated}, {r["prompt"] for r in evaluated}
    records = [{**r, "dataset": name} for r in records if r["id"] not in held_ids and r["prompt"] not in held_prompts]
    if needs_context:
        records = [r for r in records if r.get("context")]
        if not records:
            where = f"the contexts file {path}" if path else "no contexts file"
            raise ValueError(
                f"{name}: no training item has a user context ({where}); run `mipo-bench contexts {name}` and pass its "
                f"output as the recipe key data.contexts or ${contexts_env_var(name)}"
            )
    return records


from .prompt_rows import prompt_rows  # noqa: E402  (it reads train_prompts above)
