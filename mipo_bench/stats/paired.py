"""Paired statistics on per-item scores, and the paper's multi-seed aggregation.

Every comparison here is *paired*: two methods are compared on the items both were scored on (the shared item ids),
so that item difficulty cancels out. Scores are ``dict[item_id, float]``; 0/1 scores (accuracy, win) and graded ones
(a judge's 1-5, a self-BLEU) both work.

- :func:`paired_bootstrap` — mean difference with a percentile bootstrap CI over the shared items;
- :func:`mcnemar` (0/1 scores) and :func:`paired_permutation` (any scores) — two-sided p-values;
  :func:`paired_test` picks between them;
- :func:`holm` — Holm's step-down correction when one table makes many comparisons;
- :func:`tied_groups` / :func:`ranks_from_groups` — methods whose difference is not significant share a rank;
- :func:`seed_mean_std` — the paper's "mean ± std over seeds" (sample std, ddof=1; PROTOCOL.md §8);
- :func:`pooled_ci` / :func:`pooled_paired_ci` — per-item means over seeds first, then a bootstrap over items.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations

import numpy as np
from scipy import stats

Scores = Mapping[Hashable, float]


@dataclass(frozen=True)
class Delta:
    """A mean with its confidence interval over ``n`` items (a difference other − base for the paired functions)."""

    mean: float
    low: float
    high: float
    n: int

    def as_dict(self) -> dict:
        return asdict(self)


def _rng_kwargs(function, seed: int) -> dict:
    """scipy >= 1.15 takes ``rng=``; older versions only ``random_state=``."""
    name = "rng" if "rng" in inspect.signature(function).parameters else "random_state"
    return {name: np.random.default_rng(seed)}


def _shared_ids(base: Scores, other: Scores) -> list:
    """The item ids both dicts score, in a deterministic order (so that a seed gives the same resamples)."""
    return sorted(set(base) & set(other), key=lambda item: (str(type(item)), str(item)))


def _differences(base: Scores, other: Scores) -> np.ndarray:
    ids = _shared_ids(base, other)
    return np.array([float(other[i]) - float(base[i]) for i in ids], dtype=float)


def bootstrap_mean(values: Sequence[float], n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0) -> Delta:
    """Mean of ``values`` with a percentile bootstrap CI.

    Degenerate samples get no resampling: no values -> all nan; one value or all values equal -> low = high = mean,
    which is exactly what every bootstrap resample would give (a zero-width interval; with n = 1 it carries no
    information, which is why ``n`` travels with it).
    """
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return Delta(math.nan, math.nan, math.nan, 0)
    mean = float(data.mean())
    if data.size < 2 or np.all(data == data[0]):
        return Delta(mean, mean, mean, int(data.size))
    interval = stats.bootstrap(
        (data,),
        np.mean,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method="percentile",
        **_rng_kwargs(stats.bootstrap, seed),
    ).confidence_interval
    return Delta(mean, float(interval.low), float(interval.high), int(data.size))


def paired_bootstrap(
    base: Scores, other: Scores, n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> Delta:
    """Mean of ``other − base`` over the shared item ids, with a percentile bootstrap CI (see :func:`bootstrap_mean`
    for the degenerate cases: no shared items -> nan, constant differences -> low = high = mean).

    The package's one paired bootstrap: the leaderboard, the demo's comparison table (``analysis.report``) and the
    MI meter's deltas all call it, so they give the same interval on the same items."""
    return bootstrap_mean(_differences(base, other), n_resamples, confidence, seed)


def mcnemar(base: Scores, other: Scores) -> float:
    """Exact two-sided McNemar p-value for 0/1 scores: a binomial test (p = 1/2) on the discordant pairs.

    No shared items -> nan; no discordant pair -> 1.0 (nothing suggests a difference).
    """
    ids = _shared_ids(base, other)
    for name, scores in (("base", base), ("other", other)):
        bad = next((i for i in ids if float(scores[i]) not in (0.0, 1.0)), None)
        if bad is not None:
            raise ValueError(f"mcnemar needs 0/1 scores; {name}[{bad!r}] = {scores[bad]!r}")
    if not ids:
        return math.nan
    only_other = sum(1 for i in ids if float(other[i]) == 1.0 and float(base[i]) == 0.0)
    only_base = sum(1 for i in ids if float(base[i]) == 1.0 and float(other[i]) == 0.0)
    if only_other + only_base == 0:
        return 1.0
    return float(stats.binomtest(only_other, only_other + only_base, 0.5).pvalue)


def paired_permutation(base: Scores, other: Scores, n_resamples: int = 10000, seed: int = 0) -> float:
    """Two-sided p-value of a sign-flip permutation test on the paired differences (statistic: their mean).

    scipy flips the sign of each difference independently; the test is exact (all 2^n flips) when 2^n is at most
    ``n_resamples``. No shared items -> nan; all differences zero -> 1.0.
    """
    diffs = _differences(base, other)
    if diffs.size == 0:
        return math.nan
    if np.all(diffs == 0):
        return 1.0
    result = stats.permutation_test(
        (diffs,),
        lambda x, axis: np.mean(x, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=n_resamples,
        alternative="two-sided",
        **_rng_kwargs(stats.permutation_test, seed),
    )
    return float(min(1.0, result.pvalue))


def _is_binary(scores: Scores, ids: Sequence) -> bool:
    return all(float(scores[i]) in (0.0, 1.0) for i in ids)


def paired_test(base: Scores, other: Scores, seed: int = 0) -> tuple[str, float]:
    """("mcnemar", p) when every shared score of both is 0/1, else ("permutation", p)."""
    ids = _shared_ids(base, other)
    if _is_binary(base, ids) and _is_binary(other, ids):
        return "mcnemar", mcnemar(base, other)
    return "permutation", paired_permutation(base, other, seed=seed)


def holm(pvalues: Mapping[Hashable, float]) -> dict:
    """Holm step-down adjusted p-values: the k-th smallest of m is multiplied by (m − k + 1), made monotone (never
    below a smaller p's adjustment) and capped at 1. nan p-values (no shared items) stay nan and do not count in m."""
    finite = sorted(((p, key) for key, p in pvalues.items() if not math.isnan(p)), key=lambda pair: pair[0])
    m = len(finite)
    adjusted: dict = {key: math.nan for key, p in pvalues.items() if math.isnan(p)}
    running = 0.0
    for k, (p, key) in enumerate(finite):
        running = max(running, min(1.0, (m - k) * p))
        adjusted[key] = running
    return {key: adjusted[key] for key in pvalues}


def tied_groups(
    scores: Mapping[str, Scores], alpha: float = 0.05, seed: int = 0, test: Callable[[str, str], float] | None = None
) -> list[list[str]]:
    """Methods in groups of statistical ties, best group first.

    The rule: methods are sorted by their mean score over the items that every method has (descending; name breaks
    exact ties). Every pair gets :func:`paired_test` on its shared items, and the p-values of all pairs are
    Holm-adjusted together (``test(a, b)``, when given, is the pair's p-value instead: e.g. a seeds-then-items
    bootstrap for methods trained with several seeds). Walking down the sorted list, a method joins the current group
    unless it differs significantly (adjusted p < ``alpha``) from the group's FIRST (best) member, in which case it
    starts a new group.
    So a group is "not distinguishable from its leader"; a pair with no shared items (nan p) counts as not significant.
    """
    if not scores:
        return []
    common = set.intersection(*(set(s) for s in scores.values()))
    if not common:
        raise ValueError(f"tied_groups: no item is scored by every method ({', '.join(scores)})")
    means = {name: float(np.mean([float(s[i]) for i in common])) for name, s in scores.items()}
    order = sorted(scores, key=lambda name: (-means[name], name))
    test = test or (lambda a, b: paired_test(scores[a], scores[b], seed=seed)[1])
    raw = {(a, b): test(a, b) for a, b in combinations(order, 2)}
    adjusted = holm(raw)

    def differs(a: str, b: str) -> bool:
        p = adjusted[(a, b)] if (a, b) in adjusted else adjusted[(b, a)]
        return not math.isnan(p) and p < alpha

    groups = [[order[0]]]
    for name in order[1:]:
        if differs(groups[-1][0], name):
            groups.append([name])
        else:
            groups[-1].append(name)
    return groups


def ranks_from_groups(groups: Sequence[Sequence[str]]) -> dict[str, int]:
    """Competition ranking: a group shares one rank; the next group's rank is 1 + the number of methods above it."""
    ranks: dict[str, int] = {}
    above = 0
    for group in groups:
        for name in group:
            ranks[name] = above + 1
        above += len(group)
    return ranks


def seed_mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample std (ddof=1, the paper's std; PROTOCOL.md §8) over seeds. One seed -> std 0.0, which callers
    label "single run" rather than print as ± 0."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("seed_mean_std: no values")
    if data.size == 1:
        return float(data[0]), 0.0
    return float(data.mean()), float(data.std(ddof=1))


def per_item_mean(per_seed: Sequence[Scores]) -> dict:
    """Each item's mean over the seeds that scored it."""
    sums: dict = {}
    counts: dict = {}
    for scores in per_seed:
        for item, value in scores.items():
            sums[item] = sums.get(item, 0.0) + float(value)
            counts[item] = counts.get(item, 0) + 1
    return {item: sums[item] / counts[item] for item in sums}


def pooled_ci(per_seed: Sequence[Scores], n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0) -> Delta:
    """A score pooled over seeds: per-item means over the seeds that have the item, then a bootstrap over items."""
    return bootstrap_mean(list(per_item_mean(per_seed).values()), n_resamples, confidence, seed)


def pooled_paired_ci(
    base_per_seed: Sequence[Scores],
    other_per_seed: Sequence[Scores],
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Delta:
    """A difference pooled over seeds: per-item means of each side first, then :func:`paired_bootstrap`."""
    return paired_bootstrap(per_item_mean(base_per_seed), per_item_mean(other_per_seed), n_resamples, confidence, seed)
