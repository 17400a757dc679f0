"""Recipe YAML -> a validated Recipe, with ``key.sub=value`` overrides from the command line.

Every section is a dataclass (:class:`DataSettings`, :class:`PairSettings`, :class:`TrainSettings`,
:class:`EvalSettings`): an unknown key is an error that lists the valid ones (with a did-you-mean), and every value is
converted to its field's type (YAML reads ``1e3`` as a string; a float field gets 1000.0) or rejected with an error
naming the key, the value and the type.
"""

from __future__ import annotations

import copy
import importlib
import re
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from ..core.registry import did_you_mean
from ..core.resources import recipes_dir
from ..data import DEFAULT_DATASET
from ..generation import BACKENDS, SamplingParams
from ..training import METHODS, TrainSettings

SAFE_NAME = re.compile(r"(?!\.\.?$)[A-Za-z0-9._-]+")


class RecipeError(ValueError):
    """A recipe key or value that cannot be used; the message names the file and the key."""


@dataclass
class DataSettings:
    """Which prompts the pairs are built from.

    Args:
        dataset: a registered dataset (``mipo_bench.data.DATASETS``; a plugin may add one).
        n_prompts: subsample this many training prompts (the suite's seeded draw); None = the paper protocol's
            selection (PROTOCOL.md §1.2: all of them).
        contexts: a `mipo-bench contexts` output that fills the user contexts of a personalization dataset (default:
            ``$MIPO_BENCH_CONTEXTS_<DATASET>``); needed by PRISM / Community Alignment, optional for Multi-Bench
            (rewritten user statements).
    """

    dataset: str = DEFAULT_DATASET
    n_prompts: int | None = None
    contexts: str | None = None


@dataclass
class PairSettings:
    """How the pairs are generated. Sampling fields left None take the paper's pair-generation settings for the
    dataset (``protocol.pair_sampling``); the stop strings are always the eval task's, plus ``stop``.

    Args:
        strategy: how the rejected side is drawn (random_prompt | random_prompt_shuffle | missing | random | prompt).
        backend: hf (CPU default) | vllm (GPU) | openai (a served endpoint) | ray (hf / vllm workers on a Ray
            cluster; docs/scaling.md).
        batch_size: prompts per generation batch (does not change the samples).
        n: samples per side and item; item i yields n pairs (sample k of chosen with sample k of rejected).
        temperature: sampling temperature; None = the paper's for this dataset.
        top_p: nucleus mass; None = the paper's for this dataset.
        max_new_tokens: generation budget; None = the paper's for this dataset.
        stop: extra stop strings, added to the eval task's (which cannot be dropped).
        tensor_parallel_size: vLLM: shard a big model over GPUs.
        data_parallel_size: vLLM: one replica per GPU; ray: the number of workers.
        gpu_memory_utilization: vLLM: share of GPU memory to use.
        dtype: model dtype for the backend (e.g. bfloat16); None = the backend's default.
        device: hf: device to generate on; None = cuda if present, else cpu.
    """

    strategy: str = "random_prompt"
    backend: str = "hf"
    batch_size: int = 16
    n: int = 1
    temperature: float | None = None
    top_p: float | None = None
    max_new_tokens: int | None = None
    stop: tuple[str, ...] = ()
    tensor_parallel_size: int | None = None
    data_parallel_size: int | None = None
    gpu_memory_utilization: float | None = None
    dtype: str | None = None
    device: str | None = None


@dataclass
class EvalSettings:
    """How the trained model is evaluated (lm-eval).

    Args:
        tasks: lm-eval task names (tasks/), e.g. [mipo_arc_easy].
        limit: evaluate only the first N items of each task; None = all.
        batch_size: lm-eval batch size.
        gen_kwargs: lm-eval generation overrides, e.g. "max_gen_toks=128".
    """

    tasks: list[str] = field(default_factory=list)
    limit: int | None = None
    batch_size: int = 16
    gen_kwargs: str | None = None


SECTIONS = {"data": DataSettings, "pairs": PairSettings, "train": TrainSettings, "eval": EvalSettings}
TOP_LEVEL = {"name": str, "method": str, "model": str, "seed": int, "plugins": list[str]}


@dataclass
class Recipe:
    """One experiment: which prompts, how pairs are built, how the model is trained and evaluated."""

    name: str
    method: str
    model: str
    seed: int
    data: DataSettings
    pairs: PairSettings
    train: TrainSettings
    eval: EvalSettings
    source: str = ""
    plugins: list[str] = field(default_factory=list)

    def sampling(self) -> SamplingParams:
        """The effective pair-generation sampling: recipe values, else the paper's for the dataset; the eval task's
        stop strings plus the recipe's."""
        from ..data import protocol

        paper = protocol.pair_sampling(self.data.dataset)
        stop = tuple(dict.fromkeys(protocol.stop_strings(self.data.dataset) + tuple(self.pairs.stop)))
        return SamplingParams(
            n=self.pairs.n,
            temperature=paper.temperature if self.pairs.temperature is None else self.pairs.temperature,
            top_p=paper.top_p if self.pairs.top_p is None else self.pairs.top_p,
            max_new_tokens=paper.max_new_tokens if self.pairs.max_new_tokens is None else self.pairs.max_new_tokens,
            stop=stop,
            seed=self.seed,
        )

    def sampling_origin(self) -> dict:
        """Where each sampling value came from: "recipe", or "paper" (``protocol.pair_sampling``); stop strings:
        the eval task's and the recipe's."""
        from ..data import protocol

        origin = {k: "paper" if getattr(self.pairs, k) is None else "recipe" for k in protocol.Decoding.__annotations__}
        return {
            **origin,
            "stop_task": list(protocol.stop_strings(self.data.dataset)),
            "stop_recipe": list(self.pairs.stop),
        }


def find_recipe(spec: str) -> Path:
    path = Path(spec)
    if path.is_file():
        return path
    shipped = recipes_dir() / (spec if spec.endswith(".yaml") else f"{spec}.yaml")
    if shipped.is_file():
        return shipped
    known = sorted(p.stem for p in recipes_dir().glob("*.yaml"))
    raise FileNotFoundError(f"no recipe {spec!r} (a path, or one of: {', '.join(known)})")


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    raw = copy.deepcopy(raw)
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not key=value (e.g. train.learning_rate=1e-6)")
        key, value = item.split("=", 1)
        node = raw
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise RecipeError(f"override {item!r}: {part!r} is not a section")
        node[leaf] = yaml.safe_load(value)
    return raw


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def coerce(value, tp, where: str):
    """``value`` as type ``tp`` (a dataclass field type), or a :class:`RecipeError` naming ``where``.

    Why by hand: about 70 lines over ``typing`` that cover every field type the settings use (bool, int, float, str,
    Optional, lists, tuples, dicts) with the one-line error each recipe mistake gets (tests/test_recipe.py); OmegaConf's
    structured configs would do the same merge as a new dependency whose errors would still need rewording."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)

    def bad(why: str = ""):
        return RecipeError(f"{where}={value!r}: expected {_type_name(tp)}{why}")

    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return coerce(value, inner[0], where)
        raise bad()
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise bad()
    if tp is int:
        if isinstance(value, bool):
            raise bad()
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise bad()
    if tp is float:
        if isinstance(value, bool):
            raise bad()
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e3 and 5e-7 without a dot as strings
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise bad()
    if tp is str:
        if isinstance(value, str):
            return value
        raise bad()
    if origin in (tuple, list):
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise bad()
        element = args[0] if args else str
        converted = [coerce(v, element, f"{where}[{i}]") for i, v in enumerate(items)]
        return tuple(converted) if origin is tuple else converted
    if tp is dict or origin is dict:
        if isinstance(value, dict):
            return dict(value)
        raise bad()
    raise bad(f" (unsupported field type {tp})")


def build_section(cls, raw, path, name: str):
    """An instance of the section dataclass ``cls`` from the mapping ``raw``, every key checked and typed."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: section {name!r} must be a mapping of settings, got {raw!r}")
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in fields(cls)]
    unknown = [str(key) for key in raw if key not in valid]
    if unknown:
        hint = "".join(did_you_mean(key, valid) for key in unknown[:1])
        raise RecipeError(f"{path}: unknown {name} settings {unknown}{hint}; valid: {', '.join(valid)}")
    values = {key: coerce(value, hints[key], f"{path}: {name}.{key}") for key, value in raw.items()}
    try:
        return cls(**values)
    except ValueError as e:  # a section's own check (e.g. train.extra naming a setting the suite sets)
        raise RecipeError(f"{path}: {e}") from None


def _check_choices(value: str, choices, where: str) -> None:
    if value not in choices:
        raise RecipeError(f"{where}={value!r}: choose one of {', '.join(choices)}{did_you_mean(value, choices)}")


def _train_for_switched_method(
    file_raw: dict, raw: dict, method, overrides: list[str], path, quiet: bool = False
) -> dict:
    """``method=NAME`` on the command line: of the recipe file's train keys only the shared optimizer and schedule
    (:class:`TrainSettings`) carry over; the file method's own keys are dropped (said on stderr), even when the new
    method has a field of the same name (DPO's ``beta`` is not GRPO's KL weight, InfoNCE's ``temperature`` is not a
    rollout temperature). Keys given on the command line are kept, and stay errors when the method does not know them.
    """
    import sys

    shared = {f.name for f in fields(TrainSettings)}
    given = {item.split("=", 1)[0].removeprefix("train.") for item in overrides if item.startswith("train.")}
    train = dict(raw.get("train") or {})
    dropped = [k for k in train if k not in shared and k not in given]
    if dropped and not quiet:
        print(
            f"{path}: method {method.name!r}: train.{', train.'.join(dropped)} of the recipe's own method not used",
            file=sys.stderr,
        )
    return {k: v for k, v in train.items() if k not in dropped}


def load_recipe(spec: str, overrides: list[str] | None = None, quiet: bool = False) -> Recipe:
    """The recipe ``spec`` (a shipped name or a YAML path) with ``key=value`` overrides, checked. ``quiet``: do not say
    which of the file's train keys a ``method=`` override drops (a table or the demo switching methods itself, where
    the user has nothing to act on)."""
    from ..data import DATASETS
    from ..pairs import STRATEGIES

    path = find_recipe(spec)
    try:
        file_raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:  # one line naming the file and the place, not the parser's traceback
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise RecipeError(f"{where}: not valid YAML ({getattr(e, 'problem', None) or e})") from None
    raw = apply_overrides(file_raw, overrides or [])
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: a recipe is a mapping of name/method/model/seed and sections {sorted(SECTIONS)}")
    valid = [*TOP_LEVEL, *SECTIONS]
    for key in raw:
        if key not in valid:
            raise RecipeError(f"{path}: unknown recipe key {key!r}{did_you_mean(str(key), valid)}; valid: {valid}")
    top = {key: coerce(raw[key], tp, f"{path}: {key}") for key, tp in TOP_LEVEL.items() if raw.get(key) is not None}
    for module in top.get("plugins", []):  # modules that register methods, strategies, rewards from outside
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise RecipeError(f"{path}: plugins: cannot import {module!r} ({e})") from None
    try:  # the train section's keys are the chosen method's settings
        method = METHODS.get(top.get("method", "mipo"))
    except ValueError as e:
        raise RecipeError(f"{path}: method: {e}") from None
    classes = {**SECTIONS, "train": method.settings}
    if isinstance(file_raw, dict) and raw.get("method") != file_raw.get("method"):
        raw["train"] = _train_for_switched_method(file_raw, raw, method, overrides or [], path, quiet)
    sections = {name: build_section(cls, raw.get(name), path, name) for name, cls in classes.items()}
    _check_choices(sections["data"].dataset, sorted(DATASETS), f"{path}: data.dataset")
    _check_choices(sections["pairs"].strategy, sorted(STRATEGIES), f"{path}: pairs.strategy")
    _check_choices(sections["pairs"].backend, sorted(BACKENDS), f"{path}: pairs.backend")
    if sections["pairs"].n < 1:
        raise RecipeError(f"{path}: pairs.n={sections['pairs'].n}: need at least one sample per side")
    if sections["data"].n_prompts is not None and sections["data"].n_prompts < 1:
        raise RecipeError(f"{path}: data.n_prompts={sections['data'].n_prompts}: need at least one prompt (or null)")
    name = top.get("name", path.stem)
    if not SAFE_NAME.fullmatch(name):  # the run directory is runs/<name>: nothing may point outside it
        raise RecipeError(f"{path}: name={name!r}: use letters, digits, '.', '_' and '-' (it names runs/<name>)")
    return Recipe(
        name=name,
        method=top.get("method", "mipo"),
        model=top.get("model", "smollm2-135m-instruct"),
        seed=top.get("seed", 42),
        **sections,
        source=str(path),
        plugins=top.get("plugins", []),
    )
