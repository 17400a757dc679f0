"""Plain verdicts for one row of a leaderboard against each other row: better, worse, or cannot tell at this size,
and, when it cannot tell, how many seeds or items would.

    for line in verdicts(board, "my_method"):
        print(line)

Per task, the row is compared with each other row of the same base model by the leaderboard's own test
(:func:`stats.seed_tests.compare_runs`: seed-level t with seeds, item-level with single runs), at the board's
alpha, unadjusted (one verdict per pair, as a reader asks it). "Cannot tell" says the difference, the smallest one
this design detects (80% power), and the seeds (items fixed) or items (seeds fixed) at which this difference would
become detectable (:func:`stats.seed_tests.needed`), or that neither would within 64 seeds or 32 times the items.
"""

from __future__ import annotations

from ...stats.seed_tests import compare_runs, needed


def verdicts(board: dict, label: str) -> list[str]:
    alpha, lines = board["alpha"], []
    found = False
    for task, tb in board["tasks"].items():
        k = 100 if tb["percent"] else 1
        unit = " points" if tb["percent"] else ""
        for mine in (r for r in tb["rows"] if r["label"] == label):
            found = True
            for other in tb["rows"]:
                if other["label"] == label or other["model"] != mine["model"]:
                    continue
                try:
                    c = compare_runs(mine["per_seed"], other["per_seed"])
                except ValueError as e:
                    lines.append(f"{task}: {label} vs {other['label']}: cannot compare ({e})")
                    continue
                diff = f"{k * c.mean:+.1f}{unit} [{k * c.low:+.1f}, {k * c.high:+.1f}], p = {c.p:.3g}, {c.test}"
                if c.p < alpha:
                    word = "better than" if c.mean > 0 else "worse than"
                    lines.append(f"{task}: {label} is {word} {other['label']}: {diff}")
                    continue
                tells = _what_tells(tb, c, other, k, unit)
                lines.append(f"{task}: {label} vs {other['label']}: cannot tell at this size ({diff}); {tells}")
    if not found:
        raise ValueError(f"no row labelled {label!r} on the board (rows: {sorted(_labels(board))})")
    return lines


def _what_tells(tb: dict, c, other: dict, k: float, unit: str) -> str:
    if c.detectable != c.detectable:  # NaN: the two rows agree on every item, so there is no spread to size it by
        return "the two rows answered every item alike: no spread to size the smallest detectable difference by"
    detectable = f"the smallest difference this design detects is {k * c.detectable:.1f}{unit}"
    design = (tb.get("design") or {}).get("object")
    if design is None or c.mean == 0:
        return detectable
    against = "method" if len(other["per_seed"]) > 1 else "base"
    more = needed(design, c.mean, against)
    ways = []
    if more["seeds"]:
        ways.append(f"{more['seeds']} seeds a row")
    if more["items"]:
        ways.append(f"{more['items']} items")
    tell = " or ".join(ways) if ways else "neither 64 seeds nor 32x the items"
    return f"{detectable}; a difference of {k * abs(c.mean):.1f}{unit} would be detected with {tell}"


def _labels(board: dict) -> set[str]:
    return {r["label"] for tb in board["tasks"].values() for r in tb["rows"]}
