"""Render a leaderboard (:func:`.rank.leaderboard`) as rich tables, Markdown or CSV; the cell
formatting is shared with the HTML page (:mod:`.page`). Scores and gains are shown in points
(× 100) on tasks whose scores lie in [0, 1].
"""

from __future__ import annotations

import csv
import io
import math

from rich.table import Table
from rich.text import Text

from .context import context_lines, grid
from .rank import COST_DEFINITIONS, COST_KEYS

TASK_COLUMNS = (
    "rank",
    "model",
    "method",
    "seeds",
    "n",
    "score [95% CI]",
    "gain [95% CI]",
    "test",
    "p (Holm)",
    "eval tokens",
    "train wall s",
    "train CPU s",
    "train gen. tokens",
    "judge calls",
    "hardware",
)
OVERALL_COLUMNS = (
    "rank",
    "model",
    "method",
    "tasks",
    "mean gain [95% CI]",
    "better / worse",
    "eval tokens",
    "train wall s",
    "train CPU s",
    "train gen. tokens",
    "judge calls",
    "hardware",
)


def _num(value, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def _rank(row: dict) -> str:
    if row.get("rank") is None:
        return "-"
    return f"{row['rank']}{' (tied)' if row['tied'] else ''}"


def task_cells(row: dict, percent: bool, base: str) -> list[str]:
    """The display strings of one task row, in :data:`TASK_COLUMNS` order (scores in points when ``percent``)."""
    k = 100 if percent else 1
    score = f"{k * row['mean']:.1f}" + (f" ± {k * row['std']:.1f}" if len(row["seeds"]) > 1 else "")
    if row.get("score_low") is not None:  # the score's own CI (seeds and items, or items for one run)
        score += f" [{k * row['score_low']:.1f}, {k * row['score_high']:.1f}]"
    if row.get("ties_half") is not None:  # a judged task: the ties-as-half rate beside the paper's win-rate
        score += f" (ties ½: {k * row['ties_half']:.1f})"
    n = str(row["n_items"])
    if row.get("judge_failed") is not None:  # failed judge calls count as losses; say how many
        n += f" ({_num(row['judge_failed'], 0 if float(row['judge_failed']).is_integer() else 1)} failed)"
    if row["label"] == base:
        gain = "reference"
    elif row["gain"] is None:
        gain = "no base"
    else:
        gain = f"{k * row['gain']:+.1f} [{k * row['low']:+.1f}, {k * row['high']:+.1f}]"
        if row.get("below_detectable"):
            gain += f" ({BELOW})"
    p = "-" if row["p_holm"] is None else f"{row['p_holm']:.3g}"
    trained = [s for s in row["seeds"] if s is not None]  # how many seeds, then which (an untrained run has none)
    seeds = f"{len(trained)}: {','.join(map(str, trained))}" if trained else "-"
    return [
        _rank(row),
        row["model"],
        row["label"],
        seeds,
        n,
        score,
        gain,
        row.get("test") or "-",
        p,
        _num(row["generated_tokens"]),
        _num(row["train_seconds"], 1),
        _num(row["train_cpu_seconds"], 1),
        _num(row["train_generated_tokens"]),
        _num(row["judge_calls"]),
        "; ".join(row["hardware"]),
    ]


BELOW = "below what this table can detect"


def detectable_line(task_board: dict) -> str | None:
    """What a column can detect, in one line (its minimum detectable effects), or None without seeded rows."""
    d = task_board.get("design")
    if not d:
        return None
    k = 100 if task_board["percent"] else 1
    unit = " points" if task_board["percent"] else ""
    return (
        f"this column ({d['seeds']} seeds, {d['items']} items) detects with 80% power at alpha 0.05 a gain of "
        f"{k * d['vs_base']:.1f}{unit} over the base model and a difference of {k * d['vs_method']:.1f}{unit} between "
        f"two methods (from its measured seed spread and run noise); smaller gains are marked '{BELOW}'"
    )


def overall_cells(row: dict, percent: bool) -> list[str]:
    k = 100 if percent else 1
    return [
        _rank(row),
        row["model"],
        row["label"],
        str(row["tasks"]),
        f"{k * row['mean_gain']:+.2f}"
        + ("" if row.get("low") is None else f" [{k * row['low']:+.2f}, {k * row['high']:+.2f}]"),
        f"{row['better']} / {row['worse']}",
        _num(row["generated_tokens"]),
        _num(row["train_seconds"], 1),
        _num(row["train_cpu_seconds"], 1),
        _num(row["train_generated_tokens"]),
        _num(row["judge_calls"]),
        "; ".join(row["hardware"]),
    ]


AUDIT_COLUMNS = ("method", "seed", "parse failures", "length bias", "length-controlled win-rate", "self-judging")


def audit_rows(task_board: dict) -> tuple[list[list[str]], list[str]]:
    """The judge audit of a judged task's runs: one row per run (:data:`AUDIT_COLUMNS`), and the lines that hold for
    the whole column (position bias, human-label agreement)."""
    from ..judge_audit import audit_lines

    rows, shared = [], []
    for row in task_board["rows"]:
        for seed, audit in row.get("audits") or []:
            if "error" in audit:
                rows.append([row["label"], str(seed or "-"), f"audit failed: {audit['error']}", "", "", ""])
                continue
            found = dict(audit_lines(audit))
            rows.append(
                [row["label"], "-" if seed is None else str(seed)]
                + [found[k] for k in ("parse failures", "length bias", "length-controlled win-rate", "self-judging")]
            )
            shared = [f"{k}: {found[k]}" for k in ("position bias", "human-label agreement")]
    return rows, shared


def overall_percent(board: dict) -> bool:
    return all(t["percent"] for t in board["tasks"].values())


def _sections(board: dict):
    """(title, columns, rows of cells) for every task and the overall table."""
    for task, tb in board["tasks"].items():
        title = f"{task}: {tb['headline']}{' (points)' if tb['percent'] else ''}, gain over the same base model"
        yield title, TASK_COLUMNS, [task_cells(r, tb["percent"], board["base"]) for r in tb["rows"]]
    percent = overall_percent(board)
    yield (
        "all tasks: mean gain over the tasks each method has",
        OVERALL_COLUMNS,
        [overall_cells(r, percent) for r in board["overall"]],
    )


def rich_tables(board: dict) -> list[Table]:
    tables = []
    lines = [detectable_line(tb) for tb in board["tasks"].values()] + [None]
    for (title, columns, rows), detectable in zip(_sections(board), lines):
        table = Table(title=Text(title), caption=Text(detectable) if detectable else None)  # data, never markup
        for col in columns:
            table.add_column(col, justify="left" if col in ("model", "method", "hardware") else "right")
        for cells in rows:
            table.add_row(*(Text(c) for c in cells))
        tables.append(table)
    return tables


def markdown(board: dict) -> str:
    def cell(text: str) -> str:  # one line, its pipes escaped: a label cannot split or widen the row
        return " ".join(text.split()).replace("|", "\\|")

    columns, rows = grid(board)
    parts = ["### scores: model × task (mean ± std over seeds) and the average", ""]
    parts += ["| " + " | ".join(cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    parts += ["| " + " | ".join(cell(c) for c in cells) + " |" for cells in rows]
    parts += ["", *[f"- {cell(line)}" for line in context_lines(board)], ""]
    lines = [detectable_line(tb) for tb in board["tasks"].values()] + [None]
    for (title, columns, rows), detectable in zip(_sections(board), lines):
        parts += [f"### {' '.join(title.split())}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        parts += ["| " + " | ".join(cell(c) for c in cells) + " |" for cells in rows]
        parts += ["", f"- {cell(detectable)}", ""] if detectable else [""]
    for task, tb in board["tasks"].items():
        audits, shared = audit_rows(tb)
        if audits:
            parts += [f"#### judge audit: {' '.join(task.split())}", "", "| " + " | ".join(AUDIT_COLUMNS) + " |"]
            parts.append("|" + "---|" * len(AUDIT_COLUMNS))
            parts += ["| " + " | ".join(cell(c) for c in cells) + " |" for cells in audits]
            parts += ["", *[f"- {cell(line)}" for line in shared], ""]
    parts += [f"- {name}: {text}" for name, text in COST_DEFINITIONS.items()] + [""]
    parts += [f"- {' '.join(note.split())}" for note in board["notes"]]
    return "\n".join(parts).rstrip() + "\n"


CSV_COLUMNS = (
    "scope",
    "model",
    "label",
    "method",
    "rank",
    "tied",
    "seeds",
    "n_items",
    "mean",
    "std",
    "gain",
    "low",
    "high",
    "ci_over",
    "detectable",
    "below_detectable",
    "score_low",
    "score_high",
    "judge_failed",
    "ties_half",
    "test",
    "p",
    "p_holm",
    "tasks",
    "better",
    "worse",
    *COST_KEYS,
    "hardware",
)


def to_csv(board: dict) -> str:
    """One row per task row (scope = the task) and per overall row (scope ``overall``, gain = the mean gain);
    raw numbers, not points."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for task, tb in board["tasks"].items():
        for row in tb["rows"]:
            writer.writerow(
                {
                    **row,
                    "scope": task,
                    "seeds": " ".join("-" if s is None else str(s) for s in row["seeds"]),
                    "hardware": "; ".join(row["hardware"]),
                }
            )
    for row in board["overall"]:
        writer.writerow({**row, "scope": "overall", "gain": row["mean_gain"], "hardware": "; ".join(row["hardware"])})
    return out.getvalue()


def settings_lines(tb: dict, against: str = "mipo") -> list[str]:
    """Per trained row of a task, its training settings that differ from the ``against`` row's (the table's MIPO
    row: what a new method changes), e.g. ``ipo: loss_type ['ipo'] (mipo: ['sigmoid'])``; nothing without that row."""
    reference = next((r for r in tb["rows"] if r["label"] == against and r.get("settings")), None)
    if reference is None:
        return []
    lines = []
    for row in tb["rows"]:
        if row is reference or not row.get("settings"):
            continue
        mine, theirs = row["settings"], reference["settings"]
        differ = [k for k in sorted(set(mine) | set(theirs)) if mine.get(k, "—") != theirs.get(k, "—")]
        if differ:
            shown = "; ".join(f"{k} {mine.get(k, '—')!r} ({against}: {theirs.get(k, '—')!r})" for k in differ)
            lines.append(f"{row['label']} ({row['method']}): {shown}")
    return lines
