"""The paper's tables as data: one YAML spec per table in ``recipes/reproduce/`` (rows, tasks, reference row, scales),
and the builder that turns run directories into that table.

    spec = load_table("2")
    table = build_table(spec, entries)        # entries: mipo_bench.analysis.results.collect(run_dirs)
    print(render(table, "markdown"))

A cell is one (model, row, task): the mean over seeds of the per-seed values, with the sample std (ddof=1, the paper's
form; PROTOCOL.md §8) when there is more than one seed. Deltas are against the table's reference row of the same
model and highlighted at 3 points or more, as the paper does (blue: up, red: down; for self-BLEU, where lower means
more diverse, the colours follow the paper's reading: a drop is the improvement). Values by table kind:

- ``accuracy`` (Table 2): the headline score of the task (the paper's extraction) ×100;
- ``win_rate`` (Tables 1, 5): the judge stage's win-rate, ties as wins (the paper's), ×100 — from
  ``<eval dir>/judge/judge_summary.json``;
- ``self_bleu`` (Tables 3-4): self-BLEU-4 of the evaluation responses (:func:`mipo_bench.analysis.metrics.self_bleu`).

A new table is one YAML file in ``recipes/reproduce/`` (``table: <name>``): :data:`TABLES` finds it by name.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..core.registry import Registry
from ..core.resources import recipes_dir

KINDS = ("accuracy", "win_rate", "self_bleu", "critic")
HIGHLIGHT = 3.0  # points, as the paper's captions


@dataclass
class Row:
    """One row of a table: ``method`` None = the untrained model; ``task_suffix`` picks a task variant (``_default``:
    the no-context prompt); ``overrides`` are recipe overrides for this row (Table 5's pair strategies)."""

    name: str
    label: str
    method: str | None = None
    task_suffix: str = ""
    overrides: list[str] = field(default_factory=list)


@dataclass
class TableSpec:
    """A paper table: what to run (rows × tasks, per scale) and how to read its cells."""

    name: str
    title: str
    kind: str
    rows: list[Row]
    tasks: dict[str, str]  # short name -> lm-eval task (or dataset, for the critic table)
    reference: str | None = None
    judge_template: str | None = None
    average: bool = False
    mi: bool = False
    figure: str | None = None
    scales: dict[str, dict] = field(default_factory=dict)
    path: str = ""

    def at_scale(self, scale: str) -> "TableSpec":
        """The spec restricted to a scale's rows and tasks (``demo`` runs a subset)."""
        if scale not in self.scales:
            raise ValueError(f"{self.path}: no scale {scale!r}; known: {', '.join(self.scales)}")
        s = self.scales[scale]
        names = dict(self.tasks, **s.get("task_names", {}))
        rows = [r for r in self.rows if r.name in s["rows"]] if s.get("rows") else self.rows
        tasks = {t: names[t] for t in s.get("tasks", self.tasks)}
        return TableSpec(**{**self.__dict__, "rows": rows, "tasks": tasks})

    def row(self, name: str) -> Row:
        return next(r for r in self.rows if r.name == name)


def _load_spec(path: Path) -> TableSpec:
    raw = yaml.safe_load(path.read_text()) or {}
    for key in ("table", "title", "kind", "tasks"):
        if key not in raw:
            raise ValueError(f"{path}: a table spec needs {key!r}")
    if raw["kind"] not in KINDS:
        raise ValueError(f"{path}: kind {raw['kind']!r} is not one of {KINDS}")
    rows = []
    for i, r in enumerate(raw.get("rows") or []):
        try:
            rows.append(Row(**r))
        except TypeError as e:
            raise ValueError(f"{path}: rows[{i}]: {e}") from None
    names = {r.name for r in rows}
    if raw.get("reference") and raw["reference"] not in names:
        raise ValueError(f"{path}: reference {raw['reference']!r} is not a row ({sorted(names)})")
    return TableSpec(
        name=str(raw["table"]),
        title=raw["title"],
        kind=raw["kind"],
        rows=rows,
        tasks=dict(raw["tasks"]),
        reference=raw.get("reference"),
        judge_template=raw.get("judge_template"),
        average=bool(raw.get("average", False)),
        mi=bool(raw.get("mi", False)),
        figure=raw.get("figure"),
        scales=raw.get("scales") or {},
        path=str(path),
    )


def _discover() -> Registry:
    tables: Registry = Registry("table")
    for path in sorted((recipes_dir() / "reproduce").glob("table*.yaml")):
        spec = _load_spec(path)
        tables.register(spec.name)(spec)
    return tables


TABLES = _discover()
TABLE_ALIASES = {"4": "3"}  # Table 4 is Table 3 per task: the same runs


def load_table(name: str) -> TableSpec:
    """A table by its number (``"2"``, ``"table2"``) or a spec YAML path."""
    if str(name).endswith((".yaml", ".yml")):
        return _load_spec(Path(name))
    key = str(name).removeprefix("table")
    return TABLES.get(TABLE_ALIASES.get(key, key))


# ----------------------------------------------------------------------------------------------------- building
@dataclass
class Cell:
    mean: float
    std: float | None  # None: a single run (the paper prints no ±)
    seeds: int
    delta: float | None = None  # against the reference row of the same model

    def text(self, digits: int) -> str:
        body = f"{self.mean:.{digits}f}"
        if self.std is not None:
            body += f" ± {self.std:.{digits}f}"
        return body


@dataclass
class BuiltTable:
    spec: TableSpec
    columns: list[str]  # task short names (+ "avg")
    rows: list[tuple[str, str, dict[str, Cell]]]  # (model, row label, column -> cell)
    digits: int
    lower_is_better: bool = False
    missing: list[str] = field(default_factory=list)  # entries that matched no row, one line each


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
    if spec.kind == "accuracy":
        scores = entry.scores.get(entry.headline) or {}
        return 100 * sum(scores.values()) / len(scores) if scores else None
    if spec.kind == "win_rate":
        path = Path(entry.eval_dir) / "judge" / "judge_summary.json"
        if not path.exists():
            return None
        rate = (json.loads(path.read_text()).get("win_rate") or {}).get("win_rate_ties_as_wins")
        return None if rate is None else 100 * rate
    if spec.kind == "self_bleu":
        from .metrics import self_bleu

        responses = entry_responses(entry)
        return self_bleu(responses).value if len(responses) >= 2 else None
    raise ValueError(f"{spec.path}: kind {spec.kind!r} is not built from evaluation entries")


def entry_responses(entry) -> list[str]:
    """The generated response of each item of an evaluation entry (one per doc id)."""
    data = json.loads((Path(entry.eval_dir) / "eval_results.json").read_text())
    out: dict[int, str] = {}
    for s in data["samples"].get(entry.task, []):
        text = s["resps"][0][0] if s.get("resps") else None
        if isinstance(text, str):
            out.setdefault(s["doc_id"], text)
    return [out[k] for k in sorted(out)]


def build_table(spec: TableSpec, entries) -> BuiltTable:
    """Cells from evaluation entries: per (model, row, task) the seeds' values → mean ± std; deltas vs reference."""
    from .metrics.stats import seed_mean_std

    values: dict[tuple[str, str, str], dict] = {}
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
    columns = list(spec.tasks)
    models = list(dict.fromkeys(m for m, _, _ in values))
    out_rows = []
    for model in models:
        cells_by_row: dict[str, dict[str, Cell]] = {}
        for row in spec.rows:
            cells = {}
            for key in columns:
                per_seed = values.get((model, row.name, key))
                if per_seed:
                    mean, std = seed_mean_std(list(per_seed.values()))
                    cells[key] = Cell(mean, std if len(per_seed) > 1 else None, len(per_seed))
            if spec.average and cells and len(cells) == len(columns):
                cells["avg"] = Cell(sum(c.mean for c in cells.values()) / len(cells), None, 0)
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
    lower = spec.kind == "self_bleu"
    return BuiltTable(spec, columns, out_rows, digits=3 if lower else 2, lower_is_better=lower, missing=missing)


# ---------------------------------------------------------------------------------------------------- rendering
def _delta_text(cell: Cell, table: BuiltTable) -> str:
    if cell.delta is None:
        return ""
    scale = 100 if table.lower_is_better else 1  # self-BLEU deltas are judged in points too (×100)
    return f" {cell.delta:+.{table.digits}f}" if abs(cell.delta * scale) >= HIGHLIGHT - 1e-9 else ""


def _direction(cell: Cell, table: BuiltTable) -> str | None:
    """Up or down ("up"/"down") for a highlighted delta (the paper's blue/red), None otherwise."""
    if not _delta_text(cell, table):
        return None
    better = cell.delta < 0 if table.lower_is_better else cell.delta > 0
    return "up" if better else "down"


def _cell_markup(cell: Cell | None, table: BuiltTable, delta_format: str) -> str:
    """A cell's value, with its highlighted delta written through ``delta_format`` (rich markup or Markdown)."""
    if cell is None:
        return "-"
    delta = _delta_text(cell, table)
    if not delta:
        return cell.text(table.digits)
    style = {"up": "bold blue", "down": "bold red"}[_direction(cell, table)]
    return cell.text(table.digits) + delta_format.format(style=style, delta=delta, stripped=delta.strip())


def render(table: BuiltTable, fmt: str = "rich"):
    """``rich`` (a rich Table), ``markdown``, ``csv`` or ``latex`` (strings)."""
    header = ["model", *table.columns]
    body = []
    for _, label, cells in table.rows:
        body.append((label, [cells.get(c) for c in table.columns]))
    if fmt == "rich":
        from rich.table import Table

        out = Table(title=table.spec.title)
        for h in header:
            out.add_column(h, justify="left" if h == "model" else "right")
        for label, cells in body:
            out.add_row(label, *(_cell_markup(c, table, "[{style}]{delta}[/]") for c in cells))
        return out
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for label, cells in body:
            texts = [_cell_markup(c, table, " **{stripped}**") for c in cells]
            lines.append("| " + " | ".join([label, *texts]) + " |")
        return "\n".join(lines) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["model", "row", "column", "mean", "std", "seeds", "delta"])
        for model, label, cells in table.rows:
            for col in table.columns:
                c = cells.get(col)
                if c is not None:
                    w.writerow(
                        [
                            model,
                            label,
                            col,
                            c.mean,
                            "" if c.std is None else c.std,
                            c.seeds,
                            "" if c.delta is None else c.delta,
                        ]
                    )
        return buf.getvalue()
    if fmt == "latex":

        def tex(c: Cell | None) -> str:
            if c is None:
                return "--"
            body = f"{c.mean:.{table.digits}f}" + ("" if c.std is None else f" $\\pm$ {c.std:.{table.digits}f}")
            direction = _direction(c, table)
            if direction:
                colour = "blue" if direction == "up" else "red"
                body += f" \\textcolor{{{colour}}}{{{c.delta:+.{table.digits}f}}}"
            return body

        lines = [
            "\\begin{tabular}{l" + "r" * len(table.columns) + "}",
            "\\toprule",
            " & ".join(_tex_escape(h) for h in header) + " \\\\",
            "\\midrule",
        ]
        lines += [" & ".join([_tex_escape(label), *(tex(c) for c in cells)]) + " \\\\" for label, cells in body]
        lines += ["\\bottomrule", "\\end{tabular}"]
        return "\n".join(lines) + "\n"
    raise ValueError(f"unknown table format {fmt!r}; known: rich, markdown, csv, latex")


def _tex_escape(text: str) -> str:
    for a, b in (("\\", "\\textbackslash{}"), ("&", "\\&"), ("%", "\\%"), ("_", "\\_"), ("#", "\\#")):
        text = text.replace(a, b)
    return text
