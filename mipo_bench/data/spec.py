"""A dataset is one module that registers one :class:`DatasetSpec`: everything the suite knows about it, in one place.

    # data/gsm8k.py
    SPEC = register_dataset(DatasetSpec(name="gsm8k", kind=MATH, eval_task="mipo_gsm8k", ...))

Every other layer asks the spec (``DATASETS.get(name)``) instead of naming the dataset: the loaders read its
``from_mirror`` / ``from_hub``, the eval items its ``eval_size``, the pairs stage its ``pair_sampling`` and its eval
task's stop strings, rewards and revisions its ``answer_kind``, the re-ask pass its ``reask_prompt``. A dataset from
outside the package registers the same way (a recipe's ``plugins:`` imports its module).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..core.registry import Registry
from .sampling import LETTERS

MATH, MULTIPLE_CHOICE, PERSONALIZATION = "math", "multiple_choice", "personalization"
KINDS = (MATH, MULTIPLE_CHOICE, PERSONALIZATION)
EVAL_SAMPLES = ("pandas", "head")


@dataclass(frozen=True)
class Decoding:
    """Sampling of one stage: ``temperature``, ``top_p`` and the new-token budget ``max_new_tokens``."""

    temperature: float
    top_p: float
    max_new_tokens: int


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset as the paper protocol (../shared/PROTOCOL.md) uses it.

    Args:
        name: the name recipes, the command line and the tasks' ``dataset_kwargs`` use.
        kind: ``math`` (a number after ``####``), ``multiple_choice`` (a letter) or ``personalization`` (judged).
        eval_task: the lm-eval task whose prompt format and stop strings the dataset's training prompts use.
        pair_sampling: the released scripts' pair-generation sampling (PROTOCOL.md §3), which a recipe may override.
        from_mirror: ``(root, split) -> records`` from the release files under a local mirror (``$MIPO_BENCH_DATA``).
        from_hub: ``(split) -> records`` from the HF hub at ``hub_revision``; None = mirror only.
        hub_id: the hub dataset the loader reads (documentation and manifests).
        hub_revision: the hub commit the loader pins (every dataset whose commit could be looked up); None = the
            hub's current main, which ``reproduce --plan`` names as unpinned.
        splits: the splits ``load`` accepts.
        eval_size: the paper's evaluation sample (appendix C.1; None = the whole test split).
        eval_sample: ``pandas``: the scripts' ``DataFrame.sample(n, random_state=42)``; ``head``: the first rows.
        train_size: default number of training prompts (None = the paper protocol's whole selection).
        train_records: ``(root_or_None) -> records``: the released scripts' training selection when it is not simply
            the ``train`` split (GSM8K's filtered split, SVAMP + GSM8K); personalization sets use the items outside
            the eval sample.
        reask_prompt: the math scripts' second pass when ``####`` has no number (PROTOCOL.md §4.1); None = no re-ask.
        reference_solution: ``(row) -> text``: the correct response the judged-RLVR rubric shows for a math row
            (None = the row's ``solution``, else ``#### <answer>``).
        has_reference: personalization: the dataset has a reference response to judge against (PrefEval has none).
        judge_template: personalization: the judge messages its items are scored with (judges/<name>.yaml): the
            released script of that dataset (PRISM's ``paper``, CA's ``paper_ca``, Multi-Bench's ``paper_mb``).
        reference: personalization: what the judged win-rate compares with (shown beside the table): the dataset's
            human-chosen response, or what stands in for the paper's reference where the suite cannot have it.
        train_epochs: passes over the training data when the recipe leaves ``train.num_train_epochs`` open (the
            paper: 1; "2-3" on Multi-Bench for some models, appendix D).
        contexts_template: personalization: the `mipo-bench contexts` template that writes its user contexts
            (judges/<name>.yaml); None = the dataset states its contexts itself.
        train_max_length: prompt + response tokens a training sequence keeps when the recipe does not say
            (``train.max_length``): the released runs' ``--max_len 15360``, so an 8-shot math prompt (~900 tokens)
            keeps its whole response.
        tasks_path: a folder of lm-eval task YAMLs that defines ``eval_task`` (a plugin's own tasks); None = the
            suite's ``tasks/``. Every registered folder is on the eval's include path.
    """

    name: str
    kind: str
    eval_task: str
    pair_sampling: Decoding
    from_mirror: Callable[[Path, str], list[dict]]
    from_hub: Callable[[str], list[dict]] | None = None
    hub_id: str | None = None
    hub_revision: str | None = None
    splits: tuple[str, ...] = ("train", "test")
    eval_size: int | None = None
    eval_sample: str = "pandas"
    train_size: int | None = None
    train_records: Callable[[Path | None], list[dict]] | None = None
    reask_prompt: str | None = None
    reference_solution: Callable[[dict], str] | None = None
    has_reference: bool = True
    judge_template: str = "paper"
    reference: str = ""
    train_epochs: float = 1.0
    contexts_template: str | None = None
    train_max_length: int = 15360
    tasks_path: Path | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"dataset {self.name!r}: kind {self.kind!r} is not one of {KINDS}")
        if self.eval_sample not in EVAL_SAMPLES:
            raise ValueError(f"dataset {self.name!r}: eval_sample {self.eval_sample!r} is not one of {EVAL_SAMPLES}")

    @property
    def personalized(self) -> bool:
        return self.kind == PERSONALIZATION

    @property
    def answer_kind(self) -> str | None:
        """What a verifiable reward and a revision compare: ``number``, ``choice``, or None (judged datasets)."""
        return {MATH: "number", MULTIPLE_CHOICE: "choice"}.get(self.kind)

    def load(self, split: str, root: Path | None) -> list[dict]:
        """Normalized records of ``split`` from the mirror under ``root``, or from the hub when ``root`` is None."""
        from .records import DataFormatError

        if split not in self.splits:
            raise ValueError(f"{self.name} has splits {self.splits}, not {split!r}")
        if root is not None:
            return self.from_mirror(root, split)
        if self.from_hub is None:
            raise DataFormatError(
                "MIPO_BENCH_DATA", None, f"{self.name} is read from a local mirror; set MIPO_BENCH_DATA"
            )
        return self.from_hub(split)


DATASETS: Registry[DatasetSpec] = Registry("dataset")
"""name -> :class:`DatasetSpec`; filled by the dataset modules (and plugins) through :func:`register_dataset`."""


def register_dataset(spec: DatasetSpec, *, replace: bool = False) -> DatasetSpec:
    """Register ``spec`` under its name (a taken name is an error unless ``replace``); returns it."""
    return DATASETS.register(spec.name, replace=replace)(spec)


def dataset_spec(name: str) -> DatasetSpec:
    """The registered spec of ``name``, or an error listing the known datasets (with a did-you-mean)."""
    return DATASETS.get(name)


def answer_kind(dataset: str | None, *, choices=None, answer=None) -> str:
    """``choice`` or ``number`` for a row: from its options, else its dataset's spec, else the form of its gold
    answer (a single capital letter is a choice). What rewards and revisions compare."""
    if isinstance(choices, (list, tuple)) and choices:
        return "choice"
    spec = DATASETS.get(dataset, None) if isinstance(dataset, str) else None
    if spec is not None and spec.answer_kind is not None:
        return spec.answer_kind
    text = str(answer).strip() if answer is not None else ""
    return "choice" if len(text) == 1 and text in LETTERS else "number"


def task_dirs() -> list[Path]:
    """Where the eval tasks of the registered datasets live: the suite's ``tasks/`` first, then plugins' folders."""
    from ..core.resources import tasks_dir

    extra = [Path(s.tasks_path) for s in DATASETS.values() if s.tasks_path is not None]
    return list(dict.fromkeys([tasks_dir(), *extra]))


def names(kind: str | None = None) -> list[str]:
    """Registered dataset names (of one ``kind``), in registration order."""
    return [name for name, spec in DATASETS.items() if kind is None or spec.kind == kind]
