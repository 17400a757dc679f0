"""What a training method is, the way TRL shapes its own: a settings dataclass (every field documented) and one
function that builds the trainer, plus what the method consumes.

    @register_method("mipo", consumes=PAIRS, settings=MipoSettings)
    def build_mipo_trainer(policy, tokenizer, rows, settings, ctx): ...  # returns a transformers/TRL Trainer

A method consumes one of three inputs, which the ``run`` pipeline builds from the recipe's ``data``/``pairs``
sections (each input stage cached and resumable):

``PAIRS``   preference pairs from the pairs stage: TRL's conversational explicit-prompt rows (``prompt``, ``chosen``,
            ``rejected`` message lists) plus provenance (``rejected_prompt``: the user text the rejected response was
            generated from, ``id``, ``strategy``).
``SFT``     supervised rows ``{"prompt": messages, "completion": messages}`` (by default the pairs' chosen sides; a
            method may build its own with ``prepare``, e.g. self-revisions).
``PROMPTS`` prompts for online training: ``{"prompt": messages, "id", "dataset", "answer", "query", "context",
            "base_prompt": messages}`` (``base_prompt``: the same query without the user's context, or another prompt
            x' on general tasks; what an MI reward compares against). TRL passes the extra columns to reward functions.

A method from outside the package registers the same way; ``mipo-bench train RECIPE method=NAME`` then finds it
once the module that registers it is imported (a recipe's ``plugins:`` list names such modules).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..core.registry import Registry

PAIRS, SFT, PROMPTS = "pairs", "sft", "prompts"
INPUTS = (PAIRS, SFT, PROMPTS)


@dataclass
class TrainContext:
    """What a trainer builder gets besides the policy, its tokenizer, the rows and the settings.

    Args:
        model_spec: the base model's spec (a builder that needs a frozen copy, a judge or a scorer loads it again).
        out_dir: the stage's directory; TRL's own files go under ``out_dir / "trainer"``.
        seed: the run's seed.
        device: ``cpu`` or ``cuda``; decides precision (``processes.training_precision``) and ``use_cpu``.
        callbacks: trainer callbacks to pass on (the JSONL training log).
        recipe: the whole recipe, for methods that read other sections (e.g. the eval task of a reward).
    """

    model_spec: str
    out_dir: Path
    seed: int
    device: str
    callbacks: list = field(default_factory=list)
    recipe: Any = None


@dataclass
class Method:
    """A registered training method.

    Args:
        name: the name recipes and the command line use (``method: mipo``, ``method=infonce``).
        consumes: ``pairs``, ``sft`` or ``prompts`` (see the module docstring).
        settings: the dataclass of the recipe's ``train:`` section for this method; its fields are the valid keys.
        build: ``build(policy, tokenizer, rows, settings, ctx) -> Trainer`` (nothing trained yet).
        prepare: optional ``prepare(recipe, run_dir, rows) -> rows``: turns the consumed input into the method's own
            training rows through cached stages (e.g. generate self-revisions of the chosen responses).
    """

    name: str
    consumes: str
    settings: type
    build: Callable
    prepare: Callable | None = None

    def __post_init__(self):
        if self.consumes not in INPUTS:
            raise ValueError(f"method {self.name!r}: consumes must be one of {INPUTS}, not {self.consumes!r}")


METHODS: Registry[Method] = Registry("training method")


def register_method(name: str, *, consumes: str, settings: type, prepare: Callable | None = None):
    """Decorator registering a trainer builder as method ``name``."""

    def wrap(build: Callable) -> Callable:
        METHODS.register(name)(Method(name, consumes, settings, build, prepare))
        return build

    return wrap
