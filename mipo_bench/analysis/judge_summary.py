"""How a judge run reads on screen: the per-side score table, the win-rate table and the ids that matched nothing,
built from the summary `judging.samples.judge_samples` returns, so the CLI only prints and the same view can be shown
from a stored ``judge_summary.json``."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

WIN_RATE_TITLE = "win-rate vs reference (a win: score >= the reference's)"


def score_table(report: dict, judge: str, template: str) -> Table:
    """Items, mean score and failures of the samples (and of the reference, when one was judged)."""
    table = Table(title=f"judged by {judge} (template {template})")
    for col in ("", "items", "mean score", "failed items", "failed judgments"):
        table.add_column(col)
    sides = [("samples", report)] + ([("reference", report["reference"])] if "reference" in report else [])
    for name, side in sides:
        mean = "n/a" if side["mean_score"] is None else f"{side['mean_score']:.2f}"
        table.add_row(name, str(side["items"]), mean, str(side["failed_items"]), str(side["failed"]))
    return table


def rate_with_ci(win_rate: dict, name: str) -> str:
    """``61.5 [48.0, 74.0]``: a rate and its 95% CI in percent, or why there is none."""
    if win_rate[name] is None:
        return "n/a (nothing judged)"
    lo, hi = win_rate[f"{name}_ci"]
    return f"{100 * win_rate[name]:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"


def win_rate_table(w: dict) -> Table:
    """Counts, unjudged and unmatched items, and both win-rates of ``judging.winrate.compare``'s report."""
    table = Table(title=WIN_RATE_TITLE)
    table.add_column("")
    table.add_column("value", justify="right")
    all_n = w["win_rate_ties_as_wins_all_n"]
    for name, value in (
        ("items (n)", w["n"]),
        ("wins / ties / losses", f"{w['wins']} / {w['ties']} / {w['losses']}"),
        ("unjudged (a side failed)", w["failed"]),
        ("unmatched: samples only", w["unmatched_samples"]),
        ("unmatched: reference only", w["unmatched_reference"]),
        ("win-rate, ties as wins (paper) [95% CI]", rate_with_ci(w, "win_rate_ties_as_wins")),
        ("win-rate, ties as 1/2 [95% CI]", rate_with_ci(w, "win_rate_ties_half")),
        ("ties as wins, of all n (unjudged/unmatched lose)", "n/a" if all_n is None else f"{100 * all_n:.1f}"),
    ):
        table.add_row(name, str(value))
    return table


def judge_tables(report: dict, judge: str, template: str) -> list:
    """What to print for a judge run: the score table; with a reference, the win-rate table and, when some items
    matched nothing on the other side, a line with the first of their ids (all of them are in the summary file)."""
    shown: list = [score_table(report, judge, template)]
    w = report.get("win_rate")
    if w is not None:
        shown.append(win_rate_table(w))
        if w["unmatched"]:
            shown.append(
                Text(
                    f"unmatched ids, samples only: {w['unmatched_samples_ids'][:5]}, "
                    f"reference only: {w['unmatched_reference_ids'][:5]} (all in judge_summary.json)"
                )
            )
    return shown
