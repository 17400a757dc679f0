"""A built paper table in each output format: one function per format, registered by name.

    print(render(table, "markdown"))      # or FORMATS.get("markdown")(table)

Deltas are highlighted at 3 points or more, as the paper's captions (blue: the improvement, red: the opposite; for
self-BLEU, where lower means more diverse, a drop is the improvement). A new format is one function and one
``@FORMATS.register`` line.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Callable

from ..core.registry import Registry

if TYPE_CHECKING:
    from .tables import BuiltTable, Cell

HIGHLIGHT = 3.0  # points, as the paper's captions

FORMATS: Registry[Callable] = Registry("table format")


def render(table: BuiltTable, fmt: str = "rich"):
    """``rich`` (a rich Table), ``markdown``, ``csv`` or ``latex`` (strings)."""
    return FORMATS.get(fmt)(table)


def _delta_text(cell: Cell, table: BuiltTable) -> str:
    if cell.delta is None:
        return ""
    return f" {cell.delta:+.{table.digits}f}" if abs(cell.delta * table.points) >= HIGHLIGHT - 1e-9 else ""


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


def _header(table: BuiltTable) -> list[str]:
    return ["model", *table.columns]


def _body(table: BuiltTable) -> list[tuple[str, list[Cell | None]]]:
    """(row label, the row's cell per column, None where missing) for each row."""
    return [(label, [cells.get(c) for c in table.columns]) for _, label, cells in table.rows]


@FORMATS.register("rich")
def rich_table(table: BuiltTable):
    """A rich Table for the console: highlighted deltas in bold blue / red."""
    from rich.table import Table

    out = Table(title=table.spec.title)
    for h in _header(table):
        out.add_column(h, justify="left" if h == "model" else "right")
    for label, cells in _body(table):
        out.add_row(label, *(_cell_markup(c, table, "[{style}]{delta}[/]") for c in cells))
    return out


@FORMATS.register("markdown")
def markdown_table(table: BuiltTable) -> str:
    """A Markdown table: highlighted deltas in bold (Markdown has no colour)."""
    header = _header(table)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, cells in _body(table):
        texts = [_cell_markup(c, table, " **{stripped}**") for c in cells]
        lines.append("| " + " | ".join([label, *texts]) + " |")
    return "\n".join(lines) + "\n"


@FORMATS.register("csv")
def csv_table(table: BuiltTable) -> str:
    """One line per cell with full precision (for further analysis), every delta, highlighted or not."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["model", "row", "column", "mean", "std", "seeds", "delta"])
    for model, label, cells in table.rows:
        for col in table.columns:
            c = cells.get(col)
            if c is not None:
                std = "" if c.std is None else c.std
                w.writerow([model, label, col, c.mean, std, c.seeds, "" if c.delta is None else c.delta])
    return buf.getvalue()


@FORMATS.register("latex")
def latex_table(table: BuiltTable) -> str:
    """A booktabs tabular for the paper: highlighted deltas in \\textcolor{blue} / {red}."""

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
        " & ".join(_tex_escape(h) for h in _header(table)) + " \\\\",
        "\\midrule",
    ]
    lines += [" & ".join([_tex_escape(label), *(tex(c) for c in cells)]) + " \\\\" for label, cells in _body(table)]
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def _tex_escape(text: str) -> str:
    for a, b in (("\\", "\\textbackslash{}"), ("&", "\\&"), ("%", "\\%"), ("_", "\\_"), ("#", "\\#")):
        text = text.replace(a, b)
    return text
