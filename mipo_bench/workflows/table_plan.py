"""The resolved plan of a paper table: what every row of every task and seed trains on, built once, read by
``reproduce`` (which runs it and writes it to ``<run dir>/plan.json``), ``reproduce --plan`` (which prints it and
what it costs) and ``report`` (which builds the table the run printed).

    plan = resolve_table("2", "Qwen/Qwen2.5-1.5B-Instruct", scale="paper", seeds=3)
    plan.rows[0].card()   # {"task": "gsm8k", "row": "sft", "input": {"strategy": ..., "dir": ...}, "training": ...}

A trained row's :class:`RowCard` holds its fully resolved recipe and says where each setting came from (the recipe
file, the table's scale overrides, a row's, ``--set``, the dataset's spec). Its input directory is keyed by the
content of what produces the input (kind, dataset, prompt count, contexts, pair strategy, sampling, model, seed), so
two rows that differ in any of them never share a file, and rows that agree share one (SFT reads MIPO's pairs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..analysis.tables import Row, TableSpec, load_table
from ..core.runs import absolute, content_hash, file_hash
from ..training import METHODS, PROMPTS
from .pipeline import with_dataset_defaults
from .recipe import Recipe, find_recipe, load_recipe
from .run_settings import for_method, split_settings

PAPER_SAMPLING = "the dataset's pair-generation settings (PROTOCOL.md §3: its spec's pair_sampling)"


@dataclass
class RowCard:
    """One trained row of one task and seed, resolved: its recipe, input, training and evaluation, and the source of
    each setting. :meth:`card` is what ``plan.json``, ``--plan`` and the row's train manifest show."""

    task: str
    row: str
    label: str
    seed: int
    recipe_name: str
    overrides: list[str]
    recipe: Recipe
    input_key: str
    input_dir: Path
    trained_dir: Path
    eval_dir: Path
    eval_task: str
    sources: dict[str, str] = field(default_factory=dict)
    cost: dict = field(default_factory=dict)  # filled by the plan's costing (workflows/plan.py)

    @property
    def method(self) -> str:
        return self.recipe.method

    @property
    def online(self) -> bool:
        return METHODS.get(self.method).consumes == PROMPTS

    def setting(self, name: str):
        """A setting as the paper states it (the table YAML's ``paper:`` keys), read off the resolved recipe."""
        train, online = self.recipe.train, self.online
        per_prompt = getattr(train, "num_generations", 1) if online else 1
        values = {
            "strategy": None if online else self.recipe.pairs.strategy,
            "epochs": train.num_train_epochs,
            "update_passes": getattr(train, "num_iterations", 1),
            "learning_rate": train.learning_rate,
            "beta": getattr(train, "beta", None),
            "global_batch": train.global_batch_size // per_prompt,  # prompts per optimizer step
            "rollout_batch": getattr(train, "generation_batch_size", 0) // per_prompt if online else None,
            "samples_per_prompt": per_prompt if online else self.recipe.pairs.n,
            "max_length": None if online else train.max_length,
            "train_prompts": "all" if self.recipe.data.n_prompts is None else self.recipe.data.n_prompts,
            "sampling": self.sampling_values(),
            "temperature": getattr(train, "temperature", None),
        }
        if name not in values:
            raise KeyError(f"unknown paper setting {name!r}; known: {', '.join(values)}")
        return values[name]

    def sampling_values(self) -> list:
        """(temperature, top_p, new tokens): the pairs' sampling, or an online row's rollout sampling."""
        if self.online:
            t = self.recipe.train
            return [t.temperature, t.top_p, t.max_completion_length]
        s = self.recipe.sampling()
        return [s.temperature, s.top_p, s.max_new_tokens]

    def card(self) -> dict:
        r, train = self.recipe, self.recipe.train
        kind = "prompts" if self.online else "pairs"
        sampling = dict(zip(("temperature", "top_p", "max_new_tokens"), self.sampling_values()))
        return {
            "task": self.task,
            "row": self.row,
            "label": self.label,
            "seed": self.seed,
            "method": self.method,
            "recipe": {"name": self.recipe_name, "path": absolute(r.source), "overrides": self.overrides},
            "input": {
                "kind": kind,
                "dir": absolute(self.input_dir),
                "key": self.input_key,
                "dataset": r.data.dataset,
                "prompts": "all" if r.data.n_prompts is None else r.data.n_prompts,
                "contexts": r.data.contexts,
                "strategy": None if self.online else r.pairs.strategy,
                "samples_per_prompt": self.setting("samples_per_prompt"),
                "sampling": {k: {"value": v, "source": self.sources.get(k, "")} for k, v in sampling.items()},
            },
            "training": {
                "epochs": train.num_train_epochs,
                "update_passes": self.setting("update_passes"),
                "learning_rate": train.learning_rate,
                "beta": getattr(train, "beta", None),
                "global_batch_prompts": self.setting("global_batch"),
                "global_batch_sequences": train.global_batch_size,
                "max_length": None if self.online else train.max_length,
                "sources": {k: v for k, v in self.sources.items() if k not in sampling},
            },
            "checkpoint": absolute(self.trained_dir / "model"),
            "eval": {"task": self.eval_task, "dir": absolute(self.eval_dir)},
            **({"cost": self.cost} if self.cost else {}),
        }


@dataclass
class TablePlan:
    """Everything a table runs at one scale: untrained evaluations, trained rows, judging, MI readings and figures."""

    spec: TableSpec
    full: TableSpec
    scale: str
    scale_settings: dict
    model: str
    seeds: int
    run_dir: Path
    eval_settings: dict
    untrained: list[dict] = field(default_factory=list)  # {task, row, eval_task, dir}
    rows: list[RowCard] = field(default_factory=list)
    mi: list[dict] = field(default_factory=list)  # {task, row, seed}: readings the table takes
    differences: list[dict] = field(default_factory=list)  # the table's declared departures from the paper
    settings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    totals: dict = field(default_factory=dict)

    def inputs(self) -> dict[str, RowCard]:
        """One row per distinct input (rows that read the same pairs share it): what the input stage builds."""
        return {card.input_key: card for card in reversed(self.rows)}

    def as_dict(self) -> dict:
        return {
            "table": self.spec.name,
            "title": self.spec.title,
            "scale": self.scale,
            "model": self.model,
            "seeds": self.seeds,
            "tasks": dict(self.spec.tasks),
            "rows": [r.name for r in self.spec.rows],
            "run_dir": absolute(self.run_dir),
            "settings": self.settings,
            "eval": self.eval_settings,
            "untrained": [{**u, "dir": absolute(u["dir"])} for u in self.untrained],
            "trained": [card.card() for card in self.rows],
            "inputs": len(self.inputs()),
            "mi": self.mi,
            "figure": {"kind": self.spec.figure, "rows": self.spec.figure_rows} if self.spec.figure else None,
            "differences": self.differences,
            "problems": self.problems,
            "totals": self.totals,
        }


def row_recipe_name(scale: dict, row: Row) -> str:
    """The recipe a trained row starts from at a scale: the scale's ``recipe`` (``{method}`` = the row's recipe
    family, its method's name unless the row names one), or its ``recipe_fallback`` where that recipe does not exist."""
    family = row.recipe or row.method
    name = scale.get("recipe", "{method}").format(method=family)
    try:
        find_recipe(name)
    except (FileNotFoundError, ValueError):
        if not scale.get("recipe_fallback"):
            raise
        name = scale["recipe_fallback"].format(method=family)
    return name


def override_layers(scale: dict, row: Row, model: str, task_key: str, seed: int, extra=()) -> list[tuple[str, list]]:
    """The overrides that turn a row's recipe into what it trains, by where they come from, lowest priority first:
    what the table assigns (method, model, seed, dataset), the scale's, the scale's for the method, the row's, and the
    user's ``--set`` values for the method."""
    return [
        ("the table", [f"method={row.method}", f"model={model}", f"seed={seed}", f"data.dataset={task_key}"]),
        ("the table's scale overrides", list(scale.get("overrides", []))),
        ("the table's overrides for the method", list(scale.get("method_overrides", {}).get(row.method, []))),
        ("the row's overrides", list(row.overrides)),
        ("--set", for_method(row.method, list(extra))),
    ]


def row_recipe(scale: dict, row: Row, model: str, task_key: str, seed_offset: int, extra=()):
    """``(name, overrides, recipe, sources)`` of ``row`` on ``task_key``: the resolved recipe (the dataset's
    training defaults filled in) and, per setting, where its value came from."""
    name = row_recipe_name(scale, row)
    base = load_recipe(name, quiet=True)
    layers = override_layers(scale, row, model, task_key, base.seed + seed_offset, extra)
    overrides = [item for _, items in layers for item in items]
    recipe = with_dataset_defaults(load_recipe(name, overrides, quiet=True))  # the table switches methods itself
    return name, overrides, recipe, setting_sources(recipe, name, layers)


SOURCED = {  # setting -> recipe keys that set it
    "temperature": ("pairs.temperature", "train.temperature"),
    "top_p": ("pairs.top_p", "train.top_p"),
    "max_new_tokens": ("pairs.max_new_tokens", "train.max_completion_length"),
    "epochs": ("train.num_train_epochs",),
    "learning_rate": ("train.learning_rate",),
    "beta": ("train.beta",),
    "global_batch": ("train.global_batch_size",),
    "max_length": ("train.max_length",),
    "strategy": ("pairs.strategy",),
    "prompts": ("data.n_prompts",),
    "update_passes": ("train.num_iterations",),
}


def setting_sources(recipe: Recipe, name: str, layers: list[tuple[str, list]]) -> dict[str, str]:
    """Where each :data:`SOURCED` setting of the resolved ``recipe`` came from: the last override layer that sets it,
    else the recipe file (when it gives a value), else the dataset's spec (sampling, epochs, max length) or the
    settings' default."""
    raw = yaml.safe_load(Path(recipe.source).read_text()) or {}
    online = METHODS.get(recipe.method).consumes == PROMPTS
    out = {}
    for setting, keys in SOURCED.items():
        key = keys[1] if len(keys) > 1 and online else keys[0]  # an online row's sampling is its rollouts'
        where = next((label for label, items in reversed(layers) if any(i.startswith(key + "=") for i in items)), None)
        section, _, leaf = key.partition(".")
        if where is None and (raw.get(section) or {}).get(leaf) is not None:
            where = f"recipe {name} ({key})"
        if where is None:
            dataset = recipe.data.dataset
            where = {
                "temperature": PAPER_SAMPLING,
                "top_p": PAPER_SAMPLING,
                "max_new_tokens": PAPER_SAMPLING,
                "epochs": f"dataset {dataset}'s train_epochs",
                "max_length": f"dataset {dataset}'s train_max_length (the released --max_len)",
            }.get(setting, "the method's settings default")
        out[setting] = where
    return out


def input_key(recipe: Recipe) -> tuple[str, str]:
    """``(key, folder name)`` of a row's training input: a hash of everything that produces it. Pairs: the dataset,
    the prompt count, the contexts (file content), the strategy, the sampling, the samples per prompt, the model, the
    seed. Prompts (online rows): the dataset, count, contexts and seed."""
    contexts = recipe.data.contexts
    what = {
        "dataset": recipe.data.dataset,
        "n_prompts": recipe.data.n_prompts,
        "contexts": {"path": contexts, "hash": file_hash(contexts)} if contexts and Path(contexts).is_file() else None,
        "seed": recipe.seed,
    }
    if METHODS.get(recipe.method).consumes == PROMPTS:
        return content_hash({"kind": "prompts", **what}), f"prompts-{content_hash(what)[:10]}"
    what.update(kind="pairs", strategy=recipe.pairs.strategy, sampling=recipe.sampling().to_dict(), model=recipe.model)
    key = content_hash(what)
    return key, f"pairs-{recipe.pairs.strategy}-{key[:10]}"


def resolve_table(
    table: str,
    model: str,
    scale: str = "demo",
    seeds: int = 1,
    tasks: list[str] | None = None,
    run_dir: str | Path | None = None,
    settings: list[str] | None = None,
    add_rows: list[Row] | None = None,
) -> TablePlan:
    """The plan of ``table`` at ``scale`` for ``model`` and ``seeds`` seeds: every row resolved, nothing run.
    ``add_rows``: rows beside the table's own (`mipo-bench compare`), planned, trained and evaluated as they are."""
    recipe_settings, run_settings = split_settings(settings)
    full = load_table(table)
    spec = full.at_scale(scale)
    for row in add_rows or []:
        if row.name in {r.name for r in full.rows}:
            raise ValueError(f"{full.path}: the table already has a row {row.name!r}; give the new recipe another name")
        spec.rows = [*spec.rows, row]
    if tasks:
        unknown = [t for t in tasks if t not in full.tasks and t not in spec.tasks]
        if unknown:
            raise ValueError(f"{full.path}: unknown task(s) {unknown}; the table has {list(full.tasks)}")
        names = dict(full.tasks, **full.scales[scale].get("task_names", {}))
        spec.tasks = {t: names[t] for t in tasks}
    s = dict(full.scales[scale])
    s["mi"] = {**s.get("mi", {}), **run_settings["mi"]}
    s["judge"] = {**s.get("judge", {}), **run_settings["judge"]}
    out = Path(run_dir or f"runs/reproduce/table{spec.name}-{scale}")
    ev = {**s.get("eval", {}), **run_settings["eval"]}
    plan = TablePlan(spec, full, scale, s, model, seeds, out, ev, settings=list(settings or []))
    if not spec.table_kind.built_from_runs:
        return plan
    for key, task in spec.tasks.items():
        for row in spec.rows:
            if row.method is None:  # the untrained model: one run (the paper prints no ± for it)
                where = out / key / "eval" / row.name
                plan.untrained.append({"task": key, "row": row.name, "eval_task": task + row.task_suffix, "dir": where})
                continue
            for k in range(seeds):
                name, overrides, recipe, sources = row_recipe(s, row, model, key, k, recipe_settings)
                seed_dir = out / key / f"seed{recipe.seed}"
                ikey, folder = input_key(recipe)
                card = RowCard(
                    key, row.name, row.label, recipe.seed, name, overrides, recipe, ikey, seed_dir / "inputs" / folder,
                    seed_dir / row.name, seed_dir / "eval" / row.name, task, sources,
                )  # fmt: skip
                plan.rows.append(card)
    mi_tasks = s.get("mi", {}).get("tasks") or list(spec.tasks)
    has_reference = any(r.name == spec.reference for r in spec.rows)
    for key in spec.tasks:
        if key not in mi_tasks or not spec.mi:
            continue
        if has_reference:
            plan.mi.append({"task": key, "row": spec.reference, "seed": None})
        measured = [c for c in plan.rows if c.task == key and c.row in spec.mi]
        plan.mi += [{"task": c.task, "row": c.row, "seed": c.seed} for c in measured]
    plan.differences = [d for d in full.differences if _applies(d, spec)]
    return plan


def _applies(difference: dict, spec: TableSpec) -> bool:
    """A declared difference concerns this plan when the row and the task it names (if any) are in it."""
    row, task = difference.get("row"), difference.get("task")
    return (row is None or row in {r.name for r in spec.rows}) and (task is None or task in spec.tasks)


def paper_value(value, card: RowCard | None, task: str):
    """A ``paper:`` value as the plan states it: ``paper`` sampling is the dataset's pair-generation settings,
    ``dataset`` epochs the dataset's own; anything else is itself."""
    from .. import data

    if value == "paper":
        s = data.dataset_spec(task).pair_sampling
        return [s.temperature, s.top_p, s.max_new_tokens]
    if value == "dataset":
        return data.dataset_spec(task).train_epochs
    return value


def _same(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(float(a) - float(b)) <= 1e-12 * max(1.0, abs(float(a)))
    return a == b


def compare_with_paper(plan: TablePlan) -> list[dict]:
    """Every ``paper:`` setting of the table's rows and tasks against what the plan resolves, one entry each:
    ``{task, row, setting, paper, source, plan, same, declared}``; ``declared`` is the difference the table declares
    for it (None: none). A setting that differs and is not declared is a problem of the plan."""
    from .. import data

    declared = {(d.get("row"), d.get("task"), d["setting"]): d for d in plan.differences}

    def find(row, task, setting):
        for key in ((row, task, setting), (row, None, setting), (None, task, setting), (None, None, setting)):
            if key in declared:
                return declared[key]
        return None

    out = []
    for card in plan.rows:
        for setting, (value, source) in plan.spec.row(card.row).paper.items():
            expected, actual = paper_value(value, card, card.task), card.setting(setting)
            same = _same(expected, actual)
            out.append(
                {"task": card.task, "row": card.row, "seed": card.seed, "setting": setting, "paper": expected}
                | {
                    "source": source,
                    "plan": actual,
                    "same": same,
                    "declared": None if same else find(card.row, card.task, setting),
                }
            )
    for task, (value, source) in (plan.full.paper.get("train_prompts") or {}).items():
        card = next((c for c in plan.rows if c.task == task), None)
        if card is None:
            continue
        try:
            actual = len(
                data.train_prompts(task, card.recipe.data.n_prompts, card.seed, contexts=card.recipe.data.contexts)
            )
        except (data.DataFormatError, FileNotFoundError, ValueError, OSError):
            continue  # not readable here: the plan says so on its own
        same = _same(value, actual)
        out.append(
            {"task": task, "row": None, "seed": None, "setting": "train_prompts", "paper": value, "source": source}
            | {"plan": actual, "same": same, "declared": None if same else find(None, task, "train_prompts")}
        )
    limit = plan.eval_settings.get("limit")
    for task, (value, source) in (plan.full.paper.get("eval_items") or {}).items():
        if task not in plan.spec.tasks:
            continue
        size = data.dataset_spec(task).eval_size
        actual = size if limit is None or size is None else min(size, limit)
        same = _same(value, actual)
        out.append(
            {"task": task, "row": None, "seed": None, "setting": "eval_items", "paper": value, "source": source}
            | {"plan": actual, "same": same, "declared": None if same else find(None, task, "eval_items")}
        )
    return out
