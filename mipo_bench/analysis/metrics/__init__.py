"""Metrics behind the paper's diversity, entropy and significance numbers.

- :mod:`.self_bleu` — Self-BLEU-4 the way Texygen computes it (Tables 3-4), settings carried with every value;
- :mod:`.entropy` — answer entropy over multiple-choice options, from sampled answers or from the next-token
  distribution after the answer marker (Figures 2-3);
- :mod:`.stats` — paired bootstrap CIs, McNemar / permutation tests, Holm correction, tied groups and ranks, and
  the multi-seed aggregation (mean ± sample std, pooled per-item CIs).
"""

from .entropy import (
    answer_context,
    answer_prefix,
    entropy,
    entropy_from_samples,
    letter_token_ids,
    option_distribution,
)
from .self_bleu import SelfBleu, self_bleu
from .stats import (
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
    "SelfBleu",
    "answer_context",
    "answer_prefix",
    "bootstrap_mean",
    "entropy",
    "entropy_from_samples",
    "holm",
    "letter_token_ids",
    "mcnemar",
    "option_distribution",
    "paired_bootstrap",
    "paired_permutation",
    "paired_test",
    "per_item_mean",
    "pooled_ci",
    "pooled_paired_ci",
    "ranks_from_groups",
    "seed_mean_std",
    "self_bleu",
    "tied_groups",
]
