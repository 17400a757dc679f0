"""Bootstraps with more than one level of chance (issue 16): training seeds and items, or tasks and items.

- :func:`seed_item_bootstrap` — a method trained with several seeds against one reference run: resample the seeds,
  then the items (a two-level / cluster bootstrap). Seed-to-seed training variance enters the CI and the p-value, so
  a method whose seeds disagree is not called significant on the strength of many items. With one seed it is the
  item-level paired bootstrap, conditional on that checkpoint. :func:`seeds_vs_seeds_bootstrap` is the same for two
  methods that both have seeds (the within-task ranking's pairwise tests).
- :func:`task_weighted_bootstrap` — the mean over tasks of per-task mean gains (every task weighs the same, as the
  overall ranking's mean gain does), items resampled within their task.

Both return a :class:`.stats.Delta` and a two-sided percentile-bootstrap p-value, ``2 min(P(T* <= 0), P(T* >= 0))``
(Efron & Tibshirani 1993, ch. 16; floored at 1 / (resamples + 1)).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np

from .stats import Delta

Scores = Mapping[Hashable, float]


def _order(ids) -> list:
    return sorted(ids, key=lambda item: (str(type(item)), str(item)))


def _summary(observed: float, stats_: np.ndarray, n: int, confidence: float) -> tuple[Delta, float]:
    alpha = (1 - confidence) / 2
    low, high = np.quantile(stats_, [alpha, 1 - alpha])
    tail = min((stats_ <= 0).mean(), (stats_ >= 0).mean())
    p = float(min(1.0, max(2 * tail, 1 / (len(stats_) + 1))))
    return Delta(float(observed), float(low), float(high), n), p


def seed_item_bootstrap(
    reference: Scores,
    per_seed: Sequence[Scores],
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[Delta, float]:
    """Gain of ``per_seed`` (one score map per training seed) over ``reference`` on the items every seed and the
    reference share: ``(Delta, p)``, seeds resampled, then items."""
    return seeds_vs_seeds_bootstrap([reference], per_seed, n_resamples, confidence, seed)


def seeds_vs_seeds_bootstrap(
    reference_seeds: Sequence[Scores],
    per_seed: Sequence[Scores],
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[Delta, float]:
    """Mean of ``per_seed`` minus mean of ``reference_seeds`` (two methods, each with its seeds) on the items all of
    them share: ``(Delta, p)``. Each side's seeds are resampled on their own, then the items, paired (the same
    resampled items on both sides). A side with one seed is that checkpoint, conditional on it."""
    if not per_seed or not reference_seeds:
        raise ValueError("seed_item_bootstrap: no seeds")
    ids = set(reference_seeds[0])
    for scores in [*reference_seeds, *per_seed]:
        ids &= set(scores)
    ids = _order(ids)
    if not ids:
        raise ValueError("seed_item_bootstrap: no item is scored by every seed and the reference")
    base = np.array([[float(s[i]) for i in ids] for s in reference_seeds])  # reference seeds x items
    other = np.array([[float(s[i]) for i in ids] for s in per_seed])  # seeds x items
    rng = np.random.default_rng(seed)
    n_items = len(ids)
    out = np.empty(n_resamples)
    for r in range(n_resamples):
        seeds = rng.integers(0, len(other), len(other)) if len(other) > 1 else np.zeros(1, dtype=int)
        base_seeds = rng.integers(0, len(base), len(base)) if len(base) > 1 else np.zeros(1, dtype=int)
        items = rng.integers(0, n_items, n_items)
        out[r] = other[np.ix_(seeds, items)].mean() - base[np.ix_(base_seeds, items)].mean()
    return _summary(other.mean() - base.mean(), out, n_items, confidence)


def task_weighted_bootstrap(
    differences: Mapping[tuple, float], n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[Delta, float]:
    """``differences`` keyed ``(task, item)``: the mean over tasks of each task's mean difference, items resampled
    within their task; ``(Delta, p)``. Every task weighs the same, whatever its item count."""
    by_task: dict = {}
    for (task, _item), value in differences.items():
        by_task.setdefault(task, []).append(float(value))
    if not by_task:
        raise ValueError("task_weighted_bootstrap: no differences")
    arrays = [np.array(v) for _, v in sorted(by_task.items(), key=lambda kv: str(kv[0]))]
    rng = np.random.default_rng(seed)
    out = np.zeros(n_resamples)
    for values in arrays:
        picks = rng.integers(0, len(values), (n_resamples, len(values)))
        out += values[picks].mean(axis=1)
    out /= len(arrays)
    observed = float(np.mean([v.mean() for v in arrays]))
    return _summary(observed, out, sum(len(v) for v in arrays), confidence)
