"""Data layer: one loader per dataset, a local mirror first and the HF hub otherwise.

``load(name, split)`` reads ``$MIPO_BENCH_DATA`` (or ``data_dir``) when set - the layout of the
original releases, e.g. ``gsm8k/test.jsonl`` - and the hub dataset otherwise. ``eval_docs`` applies the
paper's evaluation protocol (fixed-seed samples) or the full one (the whole test split).
"""

from __future__ import annotations

import functools
import os
import random
from pathlib import Path
from typing import Callable

from ..core.registry import Registry
from . import arc, community_alignment, gsm8k, mmlu, multibench, prefeval, prism, svamp
from .records import DataFormatError, format_number

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

__all__ = [
    "DATASETS",
    "LOADERS",
    "DataFormatError",
    "load",
    "eval_docs",
    "train_prompts",
    "prompt_rows",
    "data_root",
    "format_number",
]

DATASETS = ("gsm8k", "svamp", "mmlu", "arc_easy", "arc_challenge")
PERSONALIZATION = ("prefeval", "prism", "community_alignment", "multibench")
_PERSONALIZATION_MODULES = {"prism": prism, "community_alignment": community_alignment, "multibench": multibench}
# The paper's evaluation sample sizes (appendix C.1), drawn with EVAL_SEED.
PAPER_EVAL_SIZE = {
    "gsm8k": 200,
    "svamp": 300,
    "mmlu": 200,
    "arc_easy": 500,
    "arc_challenge": 500,
    # not given by the paper: our default samples
    "prefeval": 100,
    "prism": 200,
    "community_alignment": 200,
    "multibench": 252,
}
# Default training-prompt counts; None = the released scripts' whole selection (PROTOCOL.md §1.2: GSM8K's filtered
# train split, SVAMP's 700 + 700 GSM8K rows, ARC's train split). MMLU's is not released: the paper's 5000, sampled.
PAPER_TRAIN_SIZE = {"gsm8k": None, "svamp": None, "mmlu": 5000, "arc_easy": None, "arc_challenge": None}
EVAL_SEED = 42
PROTOCOLS = ("paper", "full")


def data_root(data_dir: str | Path | None = None) -> Path | None:
    """The local mirror: ``data_dir`` if given, else ``$MIPO_BENCH_DATA``, else None (use the hub)."""
    root = data_dir or os.environ.get("MIPO_BENCH_DATA")
    if not root:
        return None
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise DataFormatError(root, None, "data directory does not exist")
    return root


LOADERS: Registry[Callable[[str, "Path | None"], list[dict]]] = Registry("dataset")
"""name -> ``loader(split, mirror_root_or_None)``: the mirror's release files when a root is given, else the hub."""


def _split_loader(name: str, module, subset: str | None = None):
    def load_split(split: str, root: Path | None) -> list[dict]:
        if split not in module.SPLITS:
            raise ValueError(f"{name} has splits {module.SPLITS}, not {split!r}")
        args = (split, subset) if subset else (split,)
        return module.from_mirror(root, *args) if root else module.from_hub(*args)

    return load_split


def _single_split_loader(name: str, module):
    def load_split(split: str, root: Path | None) -> list[dict]:
        if split != "test":
            raise ValueError(f"{name} is loaded as one split, 'test'")
        return module.from_mirror(root) if root else module.from_hub()

    return load_split


def _prefeval(split: str, root: Path | None) -> list[dict]:
    if split != "test":
        raise ValueError("prefeval has one split, 'test'")
    if root is None:
        raise DataFormatError("MIPO_BENCH_DATA", None, "PrefEval is read from a local mirror; set MIPO_BENCH_DATA")
    return prefeval.from_mirror(root)


for _name, _module in (("gsm8k", gsm8k), ("svamp", svamp), ("mmlu", mmlu)):
    LOADERS.register(_name)(_split_loader(_name, _module))
for _name in arc.SUBSETS:
    LOADERS.register(_name)(_split_loader(_name, arc, _name))
for _name, _module in _PERSONALIZATION_MODULES.items():
    LOADERS.register(_name)(_single_split_loader(_name, _module))
LOADERS.register("prefeval")(_prefeval)


@functools.lru_cache(maxsize=64)
def _load_cached(name: str, split: str, root: Path | None) -> tuple[dict, ...]:
    return tuple(LOADERS.get(name)(split, root))


def load(name: str, split: str, data_dir: str | Path | None = None) -> list[dict]:
    """Normalized records of ``name``/``split`` (fresh dicts: callers may mutate them)."""
    return [dict(r) for r in _load_cached(name, split, data_root(data_dir))]


def sample(records: list[dict], n: int | None, seed: int = EVAL_SEED) -> list[dict]:
    """``n`` records drawn without replacement with ``seed``, kept in their original order (the suite's own draw,
    used for training prompts and strata; evaluation items use :func:`paper_sample`)."""
    if n is None or n >= len(records):
        return list(records)
    keep = sorted(random.Random(seed).sample(range(len(records)), n))
    return [records[i] for i in keep]


def paper_sample(records: list[dict], n: int | None, seed: int = EVAL_SEED) -> list[dict]:
    """The released scripts' draw: ``DataFrame.sample(n, random_state=seed, replace=False)`` on the split in its
    file (hub) order, in the order pandas returns (PROTOCOL.md §1.1); the whole split when ``n`` is None or larger."""
    if n is None or n >= len(records):
        return list(records)
    import pandas as pd

    order = pd.DataFrame({"row": range(len(records))}).sample(n=n, random_state=seed, replace=False)["row"]
    return [records[i] for i in order.tolist()]


def with_letters(record: dict) -> dict:
    """A multiple-choice record as the paper's prompt shows it: options lettered A, B, C, … by position, the gold
    answer the letter at the position of the released key (kept as ``released_answer``; PROTOCOL.md §2.2)."""
    if not record.get("choices"):
        return record
    labels = [c["label"] for c in record["choices"]]
    letters = [LETTERS[i] for i in range(len(labels))]
    return {
        **record,
        "choices": [{"label": letter, "text": c["text"]} for letter, c in zip(letters, record["choices"])],
        "answer": letters[labels.index(record["answer"])],
        "released_answer": record["answer"],
    }


def eval_docs(name: str, protocol: str = "paper", data_dir: str | Path | None = None) -> list[dict]:
    """The evaluation items of a task: the paper's sample (PROTOCOL.md §1.1), or the whole test split.

    Multiple-choice items come lettered by position (:func:`with_letters`). MMLU's sampler is not released: the
    suite draws it as the other scripts do, on the test split in subject order. PRISM: the first 200 rows, as the
    script takes its reference rows.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, not {protocol!r}")
    records = load(name, "test", data_dir)
    if protocol == "paper":
        if name == "prism":  # the script judges the first 200 rows of its file (PROTOCOL.md §1.1)
            records = records[: PAPER_EVAL_SIZE[name]]
        else:
            records = paper_sample(records, PAPER_EVAL_SIZE[name], EVAL_SEED)
    return [with_letters(r) for r in records]


def train_prompts(
    name: str,
    n: int | None = None,
    seed: int = EVAL_SEED,
    data_dir=None,
    contexts: str | Path | None = None,
    needs_context: bool = False,
) -> list[dict]:
    """Training prompts of ``name`` as the paper protocol selects them (PROTOCOL.md §1.2); ``n`` subsamples them
    with the suite's seeded draw (default: :data:`PAPER_TRAIN_SIZE`, i.e. all of them except MMLU's 5000).

    Every record carries ``dataset``, the dataset whose template renders it (SVAMP's training set holds GSM8K rows).
    Personalization datasets have a single split: their training prompts are the items outside the paper-protocol eval
    sample; ``contexts`` (or ``$MIPO_BENCH_CONTEXTS_<NAME>``) fills their user contexts, and ``needs_context`` keeps
    only the items that have one (an error when none has).
    """
    if name in PERSONALIZATION:
        records = personalization_train_records(name, data_dir, contexts, needs_context)
    elif name == "gsm8k":
        records = gsm8k_train_records(data_dir)
    elif name == "svamp":
        records = svamp_train_records(data_dir)
    else:
        records = [{**r, "dataset": name} for r in load(name, "train", data_dir)]
    return [with_letters(r) for r in sample(records, n if n is not None else PAPER_TRAIN_SIZE.get(name), seed)]


def gsm8k_train_records(data_dir=None) -> list[dict]:
    """GSM8K's train split in order, without the rows the scripts skip: a question with no '.'-terminated sentence
    before its last one, ``len(question.split(".")[:-1]) < 1`` (gsm.py:142-150)."""
    rows = load("gsm8k", "train", data_dir)
    return [{**r, "dataset": "gsm8k"} for r in rows if len(r["question"].split(".")[:-1]) >= 1]


SVAMP_GSM8K_ROWS = 700


def svamp_train_records(data_dir=None) -> list[dict]:
    """The 700 SVAMP training rows in order, then the scripts' 700 GSM8K rows: ``sample(n=700, random_state=42)`` of
    the GSM8K training rows (svamp.py:150-157) - 1400 in all."""
    svamp_rows = [{**r, "dataset": "svamp"} for r in load("svamp", "train", data_dir)]
    return svamp_rows + paper_sample(gsm8k_train_records(data_dir), SVAMP_GSM8K_ROWS, EVAL_SEED)


def personalization_train_records(name: str, data_dir=None, contexts=None, needs_context: bool = False) -> list[dict]:
    """The items of ``name`` outside its paper-protocol eval sample, with contexts applied (see :func:`train_prompts`).

    Contexts are applied to the whole set first, so prompt-dependent context groups (Multi-Bench's
    ``eligible_contexts``) are rewritten consistently.
    """
    from .contexts import apply_contexts, contexts_env_var, contexts_path

    records = load(name, "test", data_dir)
    path = contexts_path(name, contexts)
    if path:
        records = apply_contexts(records, path)
    held_out = {r["id"] for r in eval_docs(name, "paper", data_dir)}
    records = [{**r, "dataset": name} for r in records if r["id"] not in held_out]
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
