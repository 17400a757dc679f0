"""A built paper table in each output format: one function per format, registered by name.

    print(render(table, "markdown"))      # or FORMATS.get("markdown")(table)

Every delta to the reference row is printed after the value, as in the paper's tables (a delta that rounds to zero
is not); deltas of MORE than 3 points are highlighted, as the paper's captions say ("changes larger than 3 points"):
blue the improvement, red the opposite (for self-BLEU, where lower means more diverse, a drop is the improvement).
A cell with unjudged items (counted as losses) carries ``†``, a trained cell with fewer seeds than the table's others
``‡``; the table's notes say which and how many. A judged table's caption (lines under the title) names its judge,
template and reference. A new format is one function and one ``@FORMATS.register`` line.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Callable

from ..core.registry import Registry

if TYPE_CHECKING:
    from .tables import BuiltTable, Cell

HIGHLIGHT = 3.0  # points: a delta larger than this is highlighted, as the paper's captions
UNJUDGED_MARK = "\u2020"  # †: some of the cell's items were not judged (counted as losses)
SHORT_MARK = "\u2021"  # ‡: the cell has fewer seeds than the table's others

FORMATS: Registry[Callable] = Registry("table format")


def render(table: BuiltTable, fmt: str = "rich"):
    """``rich`` (a rich Table), ``markdown``, ``csv`` or ``latex`` (strings)."""
    return FORMATS.get(fmt)(table)


def _delta_text(cell: Cell, table: BuiltTable) -> str:
    """The delta as printed (" +2.50"), or "" when there is none or it rounds to zero."""
    if cell.delta is None:
        return ""
    text = f"{cell.delta:+.{table.digits}f}"
    return "" if float(text) == 0 else f" {text}"


def _direction(cell: Cell, table: BuiltTable) -> str | None:
    """Up or down ("up"/"down") for a highlighted delta (> 3 points: the paper's blue/red), None otherwise."""
    if cell.delta is None or abs(cell.delta * table.points) <= HIGHLIGHT + 1e-9:
        return None
    better = cell.delta < 0 if table.lower_is_better else cell.delta > 0
    return "up" if better else "down"


def _marks(cell: Cell) -> str:
    return (UNJUDGED_MARK if cell.unjudged else "") + (SHORT_MARK if cell.of_seeds is not None else "")


def _cell_markdown(cell: Cell | None, table: BuiltTable) -> str:
    """A cell's value and marks, then its delta (bold when highlighted: Markdown has no colour)."""
    if cell is None:
        return "-"
    delta = _delta_text(cell, table)
    if delta and _direction(cell, table):
        delta = f" **{delta.strip()}**"
    return cell.text(table.digits) + _marks(cell) + delta


def _header(table: BuiltTable) -> list[str]:
    return ["model", *table.columns]


def _body(table: BuiltTable) -> list[tuple[str, list[Cell | None]]]:
    """(row label, the row's cell per column, None where missing) for each row."""
    return [(label, [cells.get(c) for c in table.columns]) for _, label, cells in table.rows]


@FORMATS.register("rich")
def rich_table(table: BuiltTable):
    """A rich Table for the console: highlighted deltas in bold blue / red; labels are plain text, never markup."""
    from rich.table import Table
    from rich.text import Text

    title = Text(table.spec.title)
    for line in table.caption:
        title.append("\n" + line, style="dim")
    out = Table(title=title, caption=Text("\n".join(table.notes)) if table.notes else None)
    for h in _header(table):
        out.add_column(Text(h), justify="left" if h == "model" else "right")

    def cell_text(c: Cell | None) -> Text:
        if c is None:
            return Text("-")
        text = Text(c.text(table.digits) + _marks(c))
        direction = _direction(c, table)
        text.append(_delta_text(c, table), style={"up": "bold blue", "down": "bold red"}.get(direction or "", ""))
        return text

    for label, cells in _body(table):
        out.add_row(Text(label), *(cell_text(c) for c in cells))
    return out


@FORMATS.register("markdown")
def markdown_table(table: BuiltTable) -> str:
    """A Markdown table: highlighted deltas in bold (Markdown has no colour); the caption before it, notes after."""
    header = _header(table)
    lines = [f"**{table.spec.title}**" + (f" (scale {table.spec.scale})" if table.spec.scale else "") + "\n"]
    if table.n_items:
        lines.append("n = " + ", ".join(f"{task} {n}" for task, n in table.n_items.items()) + " items\n")
    lines += [line + "\n" for line in table.caption]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, cells in _body(table):
        lines.append("| " + " | ".join([label, *(_cell_markdown(c, table) for c in cells)]) + " |")
    lines += ["\n" + line for line in table.notes]
    lines.append("\n" + legend(table))
    return "\n".join(lines) + "\n"


def legend(table: BuiltTable) -> str:
    """What the marks mean: the deltas, the bold, ± over seeds."""
    reference = next((r.label for r in table.spec.rows if r.name == table.spec.reference), table.spec.reference)
    better = "a drop" if table.lower_is_better else "a rise"
    marks = [
        f"{mark} {meaning}"
        for mark, meaning in ((SHORT_MARK, "fewer seeds than the table's others"), (UNJUDGED_MARK, "unjudged items"))
        if any(note.startswith(mark) for note in table.notes)
    ]
    return (
        f"Deltas against {reference}; **bold**: a change of more than {HIGHLIGHT:g} points (the paper's captions; "
        f"{better} is the improvement); ± = sample std over seeds" + "".join(f"; {m}" for m in marks) + "."
    )


@FORMATS.register("csv")
def csv_table(table: BuiltTable) -> str:
    """One line per cell with full precision (for further analysis), every delta, highlighted or not; a judged table
    adds each cell's unjudged items and all its items (summed over seeds)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    extra = ["unjudged", "items"] if table.counts_items else []
    w.writerow(["model", "row", "column", "mean", "std", "seeds", "delta", *extra])
    for model, label, cells in table.rows:
        for col in table.columns:
            c = cells.get(col)
            if c is not None:
                std = "" if c.std is None else c.std
                counts = [c.unjudged, c.items] if table.counts_items else []
                w.writerow([model, label, col, c.mean, std, c.seeds, "" if c.delta is None else c.delta, *counts])
    return buf.getvalue()


@FORMATS.register("latex")
def latex_table(table: BuiltTable) -> str:
    """A booktabs tabular for the paper: highlighted deltas in \\textcolor{blue} / {red}, the others plain; the caption
    as comments above it, the notes as rows under it."""

    def tex(c: Cell | None) -> str:
        if c is None:
            return "--"
        body = f"{c.mean:.{table.digits}f}" + ("" if c.std is None else f" $\\pm$ {c.std:.{table.digits}f}")
        body += _tex_escape(_marks(c))
        delta = _delta_text(c, table)
        direction = _direction(c, table)
        if direction:
            colour = "blue" if direction == "up" else "red"
            body += f" \\textcolor{{{colour}}}{{{delta.strip()}}}"
        else:
            body += delta
        return body

    width = len(table.columns) + 1
    lines = ["% " + line.replace("\n", " ") for line in table.caption]
    lines += [
        "\\begin{tabular}{l" + "r" * len(table.columns) + "}",
        "\\toprule",
        " & ".join(_tex_escape(h) for h in _header(table)) + " \\\\",
        "\\midrule",
    ]
    lines += [" & ".join([_tex_escape(label), *(tex(c) for c in cells)]) + " \\\\" for label, cells in _body(table)]
    lines += ["\\bottomrule"]
    lines += [f"\\multicolumn{{{width}}}{{l}}{{\\footnotesize {_tex_escape(n)}}} \\\\" for n in table.notes]
    lines += ["\\end{tabular}"]
    return "\n".join(lines) + "\n"


_TEX = {
    "\\": "\\textbackslash{}",
    "&": "\\&",
    "%": "\\%",
    "_": "\\_",
    "#": "\\#",
    "$": "\\$",
    "{": "\\{",
    "}": "\\}",
    "~": "\\textasciitilde{}",
    "^": "\\textasciicircum{}",
    UNJUDGED_MARK: "$^{\\dagger}$",
    SHORT_MARK: "$^{\\ddagger}$",
}


def _tex_escape(text: str) -> str:
    """``text`` as LaTeX prints it literally (one character at a time, so no replacement is escaped again)."""
    return "".join(_TEX.get(ch, ch) for ch in text)
