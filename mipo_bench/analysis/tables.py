"""The paper's tables as data: one YAML spec per table in ``recipes/reproduce/`` (rows, tasks, reference row, scales),
and the builder that turns run directories into that table.

    spec = load_table("2")
    table = build_table(spec, entries)        # entries: mipo_bench.analysis.results.collect(run_dirs)
    print(render(table, "markdown"))

A cell is one (model, row, task): the mean over seeds of the per-seed values, with the sample std (ddof=1, the paper's
form; PROTOCOL.md §8) when there is more than one seed. A trained cell with fewer seeds than the table's others says so
(a mark and a note), and a judged cell names its unjudged items (counted as losses). Deltas are against the table's
reference row of the same model. How a cell's value is read (accuracy, win-rate, self-BLEU) and which way is better
is the spec's kind (:mod:`mipo_bench.analysis.table_kinds`); the output formats are
:mod:`mipo_bench.analysis.table_render`.

A new table is one YAML file in ``recipes/reproduce/`` (``table: <name>``): :func:`table_specs` finds it by name, on
first use (importing this module reads no YAML). A spec's ``aliases`` name other tables that are the same runs and
cells under another title (Table 4 is Table 3 per task).
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from ..core.registry import Registry
from ..core.resources import recipes_dir
from .table_kinds import KINDS, TableKind
from .table_render import FORMATS, HIGHLIGHT, SHORT_MARK, UNJUDGED_MARK, render

__all__ = [
    "FORMATS",
    "HIGHLIGHT",
    "KINDS",
    "BuiltTable",
    "Cell",
    "Row",
    "TableKind",
    "TableSpec",
    "build_table",
    "cell_value",
    "entry_row",
    "load_table",
    "render",
    "table_specs",
]

ALIAS_KEYS = ("title",)  # what an alias may change: its runs and cells are the table's own


@dataclass
class Row:
    """One row of a table: ``method`` None = the untrained model; ``recipe`` the recipe family the row trains from
    (default: the method's name; a scale's ``recipe: "{method}_personalized"`` fills it in, e.g. ``sft_revision`` for
    the ``sft_revision_examples`` method); ``task_suffix`` picks a task variant (``_default``: the no-context prompt);
    ``overrides`` are recipe overrides for this row (Table 5's pair strategies)."""

    name: str
    label: str
    method: str | None = None
    recipe: str | None = None
    task_suffix: str = ""
    overrides: list[str] = field(default_factory=list)
    paper: dict = field(default_factory=dict)  # setting -> [value, source]: the paper's row, checked against the plan


@dataclass
class TableSpec:
    """A paper table: what to run (rows × tasks, per scale) and how to read its cells (``kind``, a registered
    :class:`~mipo_bench.analysis.table_kinds.TableKind` name; the kind itself is :attr:`table_kind`)."""

    name: str
    title: str
    kind: str
    rows: list[Row]
    tasks: dict[str, str]  # short name -> lm-eval task (or dataset, for the critic table)
    reference: str | None = None
    judge_template: str | None = None
    average: bool = False
    mi: list[str] = field(default_factory=list)  # trained rows whose MI is read against the reference row's
    figure: str | None = None
    figure_rows: list[str] = field(default_factory=list)  # the trained rows the figure sets against the reference
    scales: dict[str, dict] = field(default_factory=dict)
    paper: dict = field(default_factory=dict)  # table-level paper settings: tasks' items and prompts, the judge
    differences: list[dict] = field(default_factory=list)  # deliberate departures from the paper, each with why
    path: str = ""
    aliases: dict[str, dict] = field(default_factory=dict)  # other table names: the same runs, e.g. another title
    scale: str | None = None  # set by at_scale: the scale whose rows and tasks these are

    @property
    def table_kind(self) -> TableKind:
        return KINDS.get(self.kind)

    def at_scale(self, scale: str) -> "TableSpec":
        """The spec restricted to a scale's rows and tasks (``demo`` runs a subset)."""
        if scale not in self.scales:
            raise ValueError(f"{self.path}: no scale {scale!r}; known: {', '.join(self.scales)}")
        s = self.scales[scale]
        names = dict(self.tasks, **s.get("task_names", {}))
        rows = [r for r in self.rows if r.name in s["rows"]] if s.get("rows") else self.rows
        tasks = {t: names[t] for t in s.get("tasks", self.tasks)}
        return TableSpec(**{**self.__dict__, "rows": rows, "tasks": tasks, "scale": scale})

    def row(self, name: str) -> Row:
        return next(r for r in self.rows if r.name == name)


def _load_spec(path: Path) -> TableSpec:
    raw = yaml.safe_load(path.read_text()) or {}
    for key in ("table", "title", "kind", "tasks"):
        if key not in raw:
            raise ValueError(f"{path}: a table spec needs {key!r}")
    try:
        KINDS.get(raw["kind"])
    except ValueError as e:
        raise ValueError(f"{path}: kind: {e}") from None
    rows = []
    for i, r in enumerate(raw.get("rows") or []):
        try:
            rows.append(Row(**r))
        except TypeError as e:
            raise ValueError(f"{path}: rows[{i}]: {e}") from None
    names = {r.name for r in rows}
    if raw.get("reference") and raw["reference"] not in names:
        raise ValueError(f"{path}: reference {raw['reference']!r} is not a row ({sorted(names)})")
    figure = raw.get("figure") or {}
    figure = {"kind": figure} if isinstance(figure, str) else dict(figure)
    for key, listed in (("mi", raw.get("mi") or []), ("figure rows", figure.get("rows") or [])):
        unknown = [r for r in listed if r not in names]
        if unknown:
            raise ValueError(f"{path}: {key}: {unknown} are not rows ({sorted(names)})")
    aliases = {str(k): dict(v or {}) for k, v in (raw.get("aliases") or {}).items()}
    for alias, changes in aliases.items():
        unknown = sorted(set(changes) - set(ALIAS_KEYS))
        if unknown:
            raise ValueError(f"{path}: aliases[{alias!r}]: an alias may only set {ALIAS_KEYS}, not {unknown}")
    return TableSpec(
        name=str(raw["table"]),
        title=raw["title"],
        kind=raw["kind"],
        rows=rows,
        tasks=dict(raw["tasks"]),
        reference=raw.get("reference"),
        judge_template=raw.get("judge_template"),
        average=bool(raw.get("average", False)),
        mi=list(raw.get("mi") or []),
        figure=figure.get("kind"),
        figure_rows=list(figure.get("rows") or []),
        scales=raw.get("scales") or {},
        paper=dict(raw.get("paper") or {}),
        differences=list(raw.get("differences") or []),
        path=str(path),
        aliases=aliases,
    )


@functools.cache
def table_specs() -> Registry[TableSpec]:
    """Every shipped table by name, its aliases included (an alias keeps the table's name: the same runs and run
    directory). Read on first use and kept; :func:`load_table` hands out copies, so callers may change theirs."""
    tables: Registry[TableSpec] = Registry("table")
    for path in sorted((recipes_dir() / "reproduce").glob("table*.yaml")):
        spec = _load_spec(path)
        tables.register(spec.name)(spec)
        for alias, changes in spec.aliases.items():
            tables.register(alias)(replace(spec, **changes, aliases={}))
    return tables


def load_table(name: str) -> TableSpec:
    """A table by its number (``"2"``, ``"table2"``; ``"4"`` is Table 3 under Table 4's title) or a spec YAML path.
    Each call returns a fresh copy."""
    if str(name).endswith((".yaml", ".yml")):
        return _load_spec(Path(name))
    return copy.deepcopy(table_specs().get(str(name).removeprefix("table")))


# ----------------------------------------------------------------------------------------------------- building
@dataclass
class Cell:
    """One (model, row, task) of a table: the mean over seeds, their std, and the delta to the reference row.

    ``unjudged`` / ``items``: of the cell's items (summed over its seeds), those counted as losses because the judge
    failed on them (0 / 0 for kinds that are not judged). ``of_seeds``: the table's seed count when this trained cell
    has fewer (a seed is missing), else None."""

    mean: float
    std: float | None  # None: a single run (the paper prints no ±)
    seeds: int
    delta: float | None = None  # against the reference row of the same model
    unjudged: int = 0
    items: int = 0
    of_seeds: int | None = None

    def text(self, digits: int) -> str:
        body = f"{self.mean:.{digits}f}"
        if self.std is not None:
            body += f" ± {self.std:.{digits}f}"
        return body


@dataclass
class BuiltTable:
    """A table ready to render: its columns, rows of cells, and how its kind prints and highlights them."""

    spec: TableSpec
    columns: list[str]  # task short names (+ "avg")
    rows: list[tuple[str, str, dict[str, Cell]]]  # (model, row label, column -> cell)
    digits: int
    lower_is_better: bool = False
    missing: list[str] = field(default_factory=list)  # entries that matched no row, one line each
    points: float = 1.0  # a delta × points is compared with the 3-point highlight (self-BLEU is on 0-1: ×100)
    caption: list[str] = field(default_factory=list)  # lines under the title: the judge, template and reference
    notes: list[str] = field(default_factory=list)  # lines under the table: each marked cell, why it is marked
    counts_items: bool = False  # the kind counts unjudged items (the CSV gets their columns)
    n_items: dict[str, int] = field(default_factory=dict)  # task -> items its cells were scored on


def entry_row(spec: TableSpec, entry) -> tuple[Row, str] | None:
    """The spec's row and task key an evaluation entry belongs to, or None. Rows that share a method (Table 5's pair
    strategies) are told apart by the entry's label, which ``reproduce`` sets to the row's name."""
    method = None if entry.method in (None, "base") else entry.method
    for key, task in spec.tasks.items():
        rows = [r for r in spec.rows if r.method == method and entry.task == task + r.task_suffix]
        if len(rows) > 1:
            rows = [r for r in rows if r.name == entry.label]
        if len(rows) == 1:
            return rows[0], key
    return None


def cell_value(spec: TableSpec, entry) -> float | None:
    """The entry's value in the spec's table, read the spec's kind's way (None: it has none yet)."""
    kind = spec.table_kind
    if not kind.built_from_runs:
        raise ValueError(f"{spec.path}: kind {spec.kind!r} is not built from evaluation entries")
    return kind.value(entry)


def build_table(spec: TableSpec, entries) -> BuiltTable:
    """Cells from evaluation entries: per (model, row, task) the seeds' values → mean ± std; deltas vs reference."""
    from ..stats.paired import seed_mean_std

    kind = spec.table_kind
    values: dict[tuple[str, str, str], dict] = {}
    infos: dict[tuple[str, str, str], dict] = {}
    items: dict[str, int] = {}  # task -> the most items a cell of it was scored on
    missing = []
    for e in entries:
        match = entry_row(spec, e)
        if match is None:
            missing.append(f"{e.eval_dir}: task {e.task}, method {e.method} is not a row of table {spec.name}")
            continue
        row, key = match
        v = cell_value(spec, e)
        if v is not None:
            values.setdefault((e.model, row.name, key), {})[e.seed] = v
            items[key] = max(items.get(key, 0), len(e.scores.get(e.headline, {})))
            if kind.info is not None:
                infos.setdefault((e.model, row.name, key), {})[e.seed] = kind.info(e)
    columns = list(spec.tasks)
    models = list(dict.fromkeys(m for m, _, _ in values))
    trained = {r.name for r in spec.rows if r.method is not None}
    # the table's seed count: the most any trained cell has; a cell with fewer is marked, never shown as a full one
    expected = max((len(v) for (_, r, _), v in values.items() if r in trained), default=0)
    out_rows = []
    for model in models:
        cells_by_row: dict[str, dict[str, Cell]] = {}
        for row in spec.rows:
            cells = {}
            for key in columns:
                per_seed = values.get((model, row.name, key))
                if per_seed:
                    mean, std = seed_mean_std(list(per_seed.values()))
                    cell = Cell(mean, std if len(per_seed) > 1 else None, len(per_seed))
                    seed_infos = infos.get((model, row.name, key), {}).values()
                    cell.unjudged = sum(i.get("unjudged", 0) for i in seed_infos)
                    cell.items = sum(i.get("items", 0) for i in seed_infos)
                    if row.name in trained and len(per_seed) < expected:
                        cell.of_seeds = expected
                    cells[key] = cell
            if spec.average and cells and len(cells) == len(columns):
                parts = list(cells.values())
                cells["avg"] = Cell(sum(c.mean for c in parts) / len(parts), None, 0)
                cells["avg"].unjudged, cells["avg"].items = sum(c.unjudged for c in parts), sum(c.items for c in parts)
                cells["avg"].of_seeds = expected if any(c.of_seeds for c in parts) else None
            if cells:
                cells_by_row[row.name] = cells
        ref = cells_by_row.get(spec.reference or "")
        for row in spec.rows:
            cells = cells_by_row.get(row.name)
            if cells is None:
                continue
            if ref is not None and row.name != spec.reference:
                for key, cell in cells.items():
                    if key in ref:
                        cell.delta = cell.mean - ref[key].mean
            out_rows.append((model, row.label.format(model=model), cells))
    if spec.average:
        columns.append("avg")
    return BuiltTable(
        spec,
        columns,
        out_rows,
        kind.digits,
        kind.lower_is_better,
        missing=missing,
        points=kind.points,
        caption=judge_caption(columns, infos),
        notes=cell_notes(out_rows, columns, len(models) > 1),
        counts_items=kind.info is not None,
        n_items=items,
    )


def judge_caption(columns: list[str], infos: dict[tuple[str, str, str], dict]) -> list[str]:
    """The lines that name a judged table's judge and template (self-judging: the judge is the policy itself) and,
    per task, what the win-rate compares with (the dataset's ``reference``); none for a table that is not judged."""
    judges: dict[tuple, list[str]] = {}
    for key in columns:
        seen = {
            (i.get("judge"), i.get("template"), bool(i.get("self_judging")))
            for (_, _, k), by_seed in infos.items()
            if k == key
            for i in by_seed.values()
            if i.get("judge")
        }
        for judged in sorted(seen, key=str):
            judges.setdefault(judged, []).append(key)
    lines = []
    for (judge, template, self_judging), keys in judges.items():
        where = "" if len(judges) == 1 else f"{', '.join(keys)}: "
        lines.append(f"{where}judged by {judge} (template {template})" + ("; self-judging" if self_judging else ""))
    if lines:
        from ..data import DATASETS

        for key in columns:
            spec = DATASETS.get(key, None)
            if spec is not None and spec.reference:
                lines.append(f"reference ({key}): {spec.reference}")
    return lines


def cell_notes(rows: list[tuple[str, str, dict[str, Cell]]], columns: list[str], many_models: bool) -> list[str]:
    """One line per marked cell: unjudged items counted as losses, and trained cells with fewer seeds than the
    table's others."""
    unjudged, short = [], []
    for model, label, cells in rows:
        who = f"{model}: {label}" if many_models else label
        for key in columns:
            cell = cells.get(key)
            if cell is None:
                continue
            if cell.unjudged:
                unjudged.append(
                    f"{UNJUDGED_MARK} {who} / {key}: {cell.unjudged} of {cell.items} items unjudged (a failed judge "
                    "call or no counterpart), counted as losses as in the scripts"
                )
            if cell.of_seeds is not None:
                what = f"n={cell.seeds} of {cell.of_seeds} seeds"
                if key == "avg":
                    what = "averages a cell with fewer seeds"
                short.append(f"{SHORT_MARK} {who} / {key}: {what}")
    return unjudged + short
