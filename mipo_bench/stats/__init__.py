"""The package's statistics, in one place: every interval and test the leaderboard, the tables, the judge's
win-rates, the critic's accuracy and the MI meter report comes from here.

- :mod:`.paired` — percentile-bootstrap CIs of a mean and of paired differences, McNemar / permutation tests, Holm,
  tied groups and ranks, the paper's mean ± sample std over seeds, pooled per-item CIs;
- :mod:`.seed_tests` — seed-level t tests on seed means (calibrated at 3 seeds), score intervals, the minimum
  detectable effect and how many seeds or items would tell.

It imports nothing from the package (numpy and scipy only).
"""

from .paired import (
    Delta,
    bootstrap_mean,
    holm,
    mcnemar,
    paired_bootstrap,
    paired_permutation,
    paired_test,
    per_item_mean,
    pooled_ci,
    pooled_paired_ci,
    ranks_from_groups,
    seed_mean_std,
    tied_groups,
)

__all__ = [
    "Delta",
    "bootstrap_mean",
    "holm",
    "mcnemar",
    "paired_bootstrap",
    "paired_permutation",
    "paired_test",
    "per_item_mean",
    "pooled_ci",
    "pooled_paired_ci",
    "ranks_from_groups",
    "seed_mean_std",
    "tied_groups",
]
