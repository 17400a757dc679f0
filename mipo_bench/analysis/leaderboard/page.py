"""The leaderboard as one static HTML file a researcher can publish: inline CSS and JavaScript (no CDN, no server,
no network), the gain figures embedded as base64 PNG, one table per task and one across tasks, every column
sortable by clicking its header (numbers sort as numbers), statistical ties marked, costs shown.
"""

from __future__ import annotations

import base64
import html
import math
import tempfile
import time
from pathlib import Path

from .context import context_lines, grid
from .item_page import SCRIPT as ITEM_SCRIPT
from .item_page import STYLE as ITEM_STYLE
from .item_page import item_sections
from .rank import COST_DEFINITIONS
from .render import (
    AUDIT_COLUMNS,
    OVERALL_COLUMNS,
    TASK_COLUMNS,
    audit_rows,
    detectable_line,
    overall_cells,
    overall_percent,
    settings_lines,
    task_cells,
)

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1200px;
       padding: 0 1rem; color: #1d2330; background: #fff; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.2rem; margin-top: 2.2rem; border-bottom: 1px solid #d8dde6; padding-bottom: .3rem; }
p.meta, p.note { color: #5a6372; font-size: .9rem; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e3e7ee; }
table { border-collapse: collapse; width: 100%; font-size: .88rem; margin-top: .6rem; }
div.scroll { overflow-x: auto; }
th, td { padding: .35rem .55rem; border-bottom: 1px solid #e3e7ee; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.text, th.text { text-align: left; white-space: nowrap; }
td.label { white-space: normal; overflow-wrap: break-word; min-width: 6rem; max-width: 20rem; }
th { white-space: nowrap; }
th { background: #f3f5f9; cursor: pointer; user-select: none; position: sticky; top: 0; }
th:hover { background: #e6eaf2; }
th[aria-sort="ascending"]::after { content: " \\25B2"; font-size: .7em; }
th[aria-sort="descending"]::after { content: " \\25BC"; font-size: .7em; }
tr.base td { background: #fafbfd; color: #5a6372; }
tr:hover td { background: #f0f4ff; }
span.tied { display: inline-block; margin-left: .3rem; padding: 0 .35rem; border-radius: .6rem; font-size: .72rem;
            background: #fff2cc; color: #7a5b00; border: 1px solid #f0d98c; }
ul.notes { color: #5a6372; font-size: .85rem; }
"""

# Sorts a table's body by the clicked column: numbers by value (cells with no number last), text alphabetically,
# equal keys in the page's original order; a second click on the same header reverses the order.
SCRIPT = """
document.querySelectorAll("table.board").forEach(function (table) {
  Array.prototype.forEach.call(table.tBodies[0].rows, function (row, index) { row.dataset.index = index; });
  table.querySelectorAll("th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("th").forEach(function (other) { other.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var numeric = th.classList.contains("num");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      function key(row) {
        var cell = row.cells[column];
        var raw = cell.getAttribute("data-sort");
        if (raw === null) { raw = cell.textContent; }
        if (!numeric) { return raw.toLowerCase(); }
        var value = parseFloat(raw);
        return isNaN(value) ? null : value;
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === y) { return a.dataset.index - b.dataset.index; }
        if (x === null) { return 1; }
        if (y === null) { return -1; }
        return (x < y ? -1 : 1) * (ascending ? 1 : -1);
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""

# columns whose cells sort as numbers, and the row field each sorts by
TASK_SORT = {
    "rank": "rank",
    "n": "n_items",
    "score [95% CI]": "mean",
    "gain [95% CI]": "gain",
    "p (Holm)": "p_holm",
    "eval tokens": "generated_tokens",
    "train wall s": "train_seconds",
    "train CPU s": "train_cpu_seconds",
    "train gen. tokens": "train_generated_tokens",
    "judge calls": "judge_calls",
}
OVERALL_SORT = {
    "rank": "rank",
    "tasks": "tasks",
    "mean gain [95% CI]": "mean_gain",
    "better / worse": "better",
    "eval tokens": "generated_tokens",
    "train wall s": "train_seconds",
    "train CPU s": "train_cpu_seconds",
    "train gen. tokens": "train_generated_tokens",
    "judge calls": "judge_calls",
}


def write_page(
    board: dict,
    path: str | Path,
    title: str = "mipo-bench leaderboard",
    about: dict | None = None,
    items: list[dict] | None = None,
) -> Path:
    """Write the board (from :func:`.rank.leaderboard`) as one self-contained HTML file. ``about`` (from
    ``reproduce``) adds what the page shows of its table (``lines``), the MI meter's readings (``mi``: name ->
    reading) and figures (``figures``: PNG paths), embedded; ``items`` (:func:`.items.item_view`) the item view."""
    about = about or {}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{STYLE}{ITEM_STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="meta">Score = the headline score\'s mean ± std over seeds, with its 95% CI. Gain = a '
        f"method's headline score minus the same base model's ({esc(board['base'])}) on the same items, with a 95% "
        "CI. Where a side has two or more seeds, CIs and p-values come from a seed-level t test on the seed means "
        "(the training spread counts; calibrated at 3 seeds); where both are single runs, from the item-level "
        "paired test, conditional on those checkpoints (the test column says which); so do the ranking's pairwise "
        "tests. Under each task, what its design can detect (80% power); a gain below it is marked. "
        "p-values Holm-corrected per task. A judged task ranks by the paper's win-rate against the reference "
        "(ties as wins, failed judge calls as losses; their count beside n), the ties-as-half rate beside it; "
        "each judge and template is its own column. "
        f"Methods not significantly different (α = {board['alpha']}) from their group's best share a rank "
        "(marked <em>tied</em>). Click a column header to sort. Generated "
        f"{esc(time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()))}.</p>",
    ]
    parts += [f'<p class="meta">{esc(line)}</p>' for line in about.get("lines") or []]
    percent = overall_percent(board)
    columns, cells = grid(board)
    parts.append("<h2>Scores: model × task</h2>")
    parts.append(
        '<p class="note">Each row\'s headline score per task (mean ± std over seeds; points where scores lie in '
        "[0, 1]) and its average over the tasks it has. The context of each column:</p>"
    )
    parts.append('<ul class="notes">' + "".join(f"<li>{esc(line)}</li>" for line in context_lines(board)) + "</ul>")
    parts.append(_table(tuple(columns), {}, [({}, row, row[1] == board["base"]) for row in cells]))
    parts += [
        f"<h2>All tasks ({len(board['tasks'])})</h2>",
        '<p class="note">Mean gain over the tasks a method was evaluated on, every task weighing the same, with a '
        "95% CI (the tasks' comparisons averaged, Satterthwaite's degrees of freedom); better / worse: tasks with a "
        "significant gain / loss; ties from the same tests between methods, every task weighing the same; training "
        "time counted once per training run.</p>",
    ]
    overall = _bar_rows(board["overall"], board["base"], gain="mean_gain")
    parts += _img(
        _figure(overall, percent, "all tasks: mean gain", "mean gain over the tasks, same base model"),
        "mean gains over the tasks",
    )
    parts.append(
        _table(OVERALL_COLUMNS, OVERALL_SORT, [(r, overall_cells(r, percent), False) for r in board["overall"]])
    )
    for task, tb in board["tasks"].items():
        unit = " (points)" if tb["percent"] else ""
        parts.append(f"<h2>{esc(task)}: {esc(tb['headline'])}{unit}</h2>")
        figure = _figure(
            _bar_rows(tb["rows"], board["base"]),
            tb["percent"],
            f"{task}: {tb['headline']}",
            "gain over the same base model, 95% CI",
        )
        parts += _img(figure, f"{task}: gains over the base model")
        rows = [(r, task_cells(r, tb["percent"], board["base"]), r["label"] == board["base"]) for r in tb["rows"]]
        parts.append(_table(TASK_COLUMNS, TASK_SORT, rows))
        if detectable_line(tb):
            parts.append(f'<p class="note">{esc(detectable_line(tb))}</p>')
        differ = settings_lines(tb)
        if differ:  # what each row changes against the MIPO row's training
            parts.append('<p class="note">Training settings that differ from the mipo row:</p><ul class="notes">')
            parts += [f"<li>{esc(line)}</li>" for line in differ] + ["</ul>"]
        audits, shared = audit_rows(tb)
        if audits:  # can this column's judge be trusted? its own evidence, beside its numbers
            parts.append(f"<h3>Judge audit: {esc(task)}</h3>")
            parts.append(_table(AUDIT_COLUMNS, {}, [({}, cells, False) for cells in audits]))
            parts.append('<ul class="notes">' + "".join(f"<li>{esc(line)}</li>" for line in shared) + "</ul>")
    parts += item_sections(items or [])
    parts.append("<h2>Cost columns</h2>")
    parts.append('<ul class="notes">' + "".join(f"<li>{esc(k)}: {esc(v)}</li>" for k, v in COST_DEFINITIONS.items()))
    parts.append("</ul>")
    parts += _extras(about)
    if board["notes"]:
        parts.append('<h2>Notes</h2><ul class="notes">')
        parts += [f"<li>{esc(note)}</li>" for note in board["notes"]]
        parts.append("</ul>")
    parts.append(f"<script>{SCRIPT}{ITEM_SCRIPT if items else ''}</script></body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def _table(columns: tuple[str, ...], sort_fields: dict, rows: list[tuple[dict, list[str], bool]]) -> str:
    esc = html.escape
    head = "".join(
        f'<th class="{"num" if col in sort_fields else "text"}" scope="col"{_tip(col)}>{esc(col)}</th>'
        for col in columns
    )
    body = []
    for row, cells, is_base in rows:
        tds = []
        for col, text in zip(columns, cells):
            if col not in sort_fields:
                css = "text label" if col == "method" else "text"
                tds.append(f'<td class="{css}">{esc(text)}</td>')
                continue
            value = row.get(sort_fields[col])
            if col == "rank" and row.get("tied"):
                text_html = f'{esc(str(row["rank"]))}<span class="tied" title="not significantly different">tied</span>'
            else:
                text_html = esc(text)
            tds.append(f'<td class="num" data-sort="{_sort_value(value)}">{text_html}</td>')
        row_class = ' class="base"' if is_base else ""
        body.append(f"<tr{row_class}>{''.join(tds)}</tr>")
    table = f'<table class="board"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    return f'<div class="scroll">{table}</div>'


def _tip(column: str) -> str:
    definition = COST_DEFINITIONS.get(column)
    return f' title="{html.escape(definition)}"' if definition else ""


def _extras(about: dict) -> list[str]:
    """``reproduce``'s MI meter readings and figures, embedded."""
    esc = html.escape
    parts = []
    if about.get("mi"):
        parts.append("<h2>MI meter</h2>")
        parts.append(
            "<p class=\"note\">The paper's mutual-information estimate in nats, over the model's own responses y "
            "scored under the base model: log π(y | x, c) − log π(y | x) on personalization data, log π(y | x) − the "
            "mean of log π(y | x′) over other prompts x′ on general tasks; a 95% CI over prompts; vs base: the paired "
            "difference on the same prompts.</p>"
        )
        rows = []
        for name, r in about["mi"].items():
            ci = "" if r.get("low") is None else f" [{r['low']:+.3f}, {r['high']:+.3f}]"
            d = r.get("delta_vs_base")
            vs = "-" if not d else f"{d['mean']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"
            rows.append(({}, [name, f"{r['mean']:+.3f}{ci}", str(r.get("n")), vs], False))
        parts.append(_table(("run", "MI (nats) [95% CI]", "n", "vs base"), {}, rows))
    for figure in about.get("figures") or []:
        png = Path(figure)
        if png.suffix == ".png" and png.is_file():
            uri = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")
            parts.append(f"<h2>{esc(png.stem.replace('_', ' '))}</h2>")
            parts += _img(uri, png.stem)
    return parts


def _sort_value(value) -> str:
    if value is None or isinstance(value, bool) or (isinstance(value, float) and math.isnan(value)):
        return ""
    return repr(float(value))


def _bar_rows(rows: list[dict], base: str, gain: str = "gain") -> list[dict]:
    """The rows that have a gain, as :func:`~mipo_bench.analysis.figures.bar_figure` takes them (nan CI: no whisker)."""
    several_models = len({r["model"] for r in rows}) > 1
    return [
        {
            "label": f"{r['label']} ({r['model']})" if several_models else r["label"],
            "gain": r[gain],
            "low": math.nan if r.get("low") is None else r["low"],
            "high": math.nan if r.get("high") is None else r["high"],
        }
        for r in rows
        if r["label"] != base and r.get(gain) is not None
    ]


def _figure(rows: list[dict], percent: bool, title: str, xlabel: str) -> str | None:
    """A bar figure of the rows' gains (and CIs) as a ``data:`` URI; None when there is nothing to draw."""
    from ..figures import bar_figure

    if not rows:
        return None
    k = 100 if percent else 1
    scaled = [{**r, "gain": k * r["gain"], "low": k * r["low"], "high": k * r["high"]} for r in rows]
    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / "figure.png"
        bar_figure(scaled, png, title, f"{xlabel} ({'points' if percent else 'score units'})")
        return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")


def _img(uri: str | None, alt: str) -> list[str]:
    return [f'<figure><img alt="{html.escape(alt)}" src="{uri}"></figure>'] if uri else []
