"""Where the two-level (seeds, then items) CIs differ from item-level ones on a real run's results store (issue 16).

For every leaderboard row with two or more seeds: the score's 95% CI over items alone (the seed-averaged items
resampled: the old way, as if the seeds were one checkpoint) beside the two-level one the leaderboard now shows, and
for its gain over the base model and every pair of such rows in a column the CI and p-value both ways.

    python3 benchmarks/seed_level_ci.py runs/reproduce/table1-demo/leaderboard.sqlite
"""

from __future__ import annotations

import argparse
from itertools import combinations

from mipo_bench.analysis.leaderboard.rank import leaderboard
from mipo_bench.analysis.leaderboard.store import ResultsStore
from mipo_bench.analysis.metrics.hierarchical import seed_item_bootstrap, seeds_vs_seeds_bootstrap
from mipo_bench.analysis.metrics.stats import paired_bootstrap, paired_test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db")
    args = parser.parse_args()
    with ResultsStore(args.db) as store:
        board = leaderboard(store)
    for column, task_board in board["tasks"].items():
        k = 100 if task_board["percent"] else 1
        seeded = [r for r in task_board["rows"] if len(r["per_seed"]) > 1]
        if not seeded:
            continue
        print(f"## {column}\n")
        print("| row | seeds | score | items-only 95% CI | seeds x items 95% CI |")
        print("|---|---|---|---|---|")
        for row in seeded:
            zero = {i: 0.0 for i in row["items"]}
            item = paired_bootstrap(zero, row["items"])
            two, _ = seed_item_bootstrap(zero, row["per_seed"])
            print(
                f"| {row['label']} | {len(row['per_seed'])} | {k * row['mean']:.2f} | "
                f"[{k * item.low:.2f}, {k * item.high:.2f}] | [{k * two.low:.2f}, {k * two.high:.2f}] |"
            )
        base = next((r for r in task_board["rows"] if r["label"] == board["base"]), None)
        for row in seeded if base else []:  # the gain over the base model, both ways
            item = paired_bootstrap(base["items"], row["items"])
            item_p = paired_test(base["items"], row["items"])
            two, two_p = seed_item_bootstrap(base["items"], row["per_seed"])
            print(
                f"\n{row['label']} - {board['base']}: {k * item.mean:+.2f}; items-only [{k * item.low:+.2f}, "
                f"{k * item.high:+.2f}] {item_p[0]} p = {item_p[1]:.3g}; seeds x items [{k * two.low:+.2f}, "
                f"{k * two.high:+.2f}] p = {two_p:.3g}"
            )
        for a, b in combinations(seeded, 2):
            item_p = paired_test(a["items"], b["items"])
            two = seeds_vs_seeds_bootstrap(a["per_seed"], b["per_seed"])
            print(
                f"\n{b['label']} - {a['label']}: {k * two[0].mean:+.2f}; items-only {item_p[0]} p = {item_p[1]:.3g}; "
                f"seeds x items bootstrap p = {two[1]:.3g}, CI [{k * two[0].low:+.2f}, {k * two[0].high:+.2f}]"
            )
        print()


if __name__ == "__main__":
    main()
