"""Comparisons that hold at 3 seeds: tests on seed-level means with a t reference, the smallest gain a design can
detect, and what more seeds or items would tell.

Two runs of methods are compared on the items every seed of both scored (paired by item). With k seeds, a method's
score is the mean of its k seed means; its seed-to-seed spread is a level of chance the items cannot average away.

- Both sides with seeds: Student's t on the seed means (pooled variance, ``kA + kB - 2`` degrees of freedom) when the
  seed counts are equal, Welch's (Satterthwaite's degrees of freedom) when they differ.
- One side a single run (the untrained base model): the seeded side's seed-mean variance ``s²/k``, inflated by
  ``k/(k-1)``, plus the single run's own sampling noise ``w/n`` (``w``: the items' variance across the seeded side's
  runs, a run's noise per item), Satterthwaite's degrees of freedom (``k-1`` and ``n-1``). The inflation is a
  small-sample correction: without it the test rejects 7-8% of true nulls at 3 seeds when seeds spread by 8 points
  (Satterthwaite's df is estimated from the same noisy variances); with it every case of
  ``benchmarks/seed_test_calibration.py`` stays within 3.1-6.0% (2,000 simulated tables a cell).
- Both single runs: the item-level paired test (McNemar on 0/1 scores, a permutation test otherwise), conditional on
  the two checkpoints, with a bootstrap CI over items.

Every :class:`Comparison` keeps its variance parts with their degrees of freedom, so :func:`combine` can average
comparisons over tasks (every task weighing the same) with Satterthwaite's df, and :func:`detectable_effect` gives
the minimum detectable effect at 80% power and alpha 0.05: ``(t(1 - alpha/2, df) + t(power, df)) * se``.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as sp

Scores = Mapping[Hashable, float]
ALPHA, POWER = 0.05, 0.8


@dataclass(frozen=True)
class Comparison:
    """``mean`` (method minus reference) with its ``low`` / ``high`` CI, two-sided ``p``, standard error and df;
    ``test`` names the test; ``parts`` are ``(variance, df)`` of each independent source, for :func:`combine`."""

    mean: float
    low: float
    high: float
    p: float
    se: float
    df: float
    n: int
    test: str
    parts: tuple[tuple[float, float], ...] = field(default=())

    @property
    def detectable(self) -> float:
        """The smallest gain this design detects with 80% power at alpha 0.05 (:func:`detectable_effect`)."""
        return detectable_effect(self.se, self.df)


def detectable_effect(se: float, df: float, alpha: float = ALPHA, power: float = POWER) -> float:
    if not se or math.isnan(se):
        return math.nan
    df = max(df, 1.0)
    return float((sp.t.ppf(1 - alpha / 2, df) + sp.t.ppf(power, df)) * se)


def _satterthwaite(parts: Sequence[tuple[float, float]]) -> float:
    total = sum(v for v, _ in parts)
    denominator = sum(v * v / d for v, d in parts if d > 0 and v > 0)
    return total * total / denominator if denominator > 0 else float(sum(d for _, d in parts))


def _from_parts(mean: float, parts: list[tuple[float, float]], n: int, test: str, confidence=0.95) -> Comparison:
    var = sum(v for v, _ in parts)
    df = _satterthwaite(parts)
    if var <= 0:  # every run scored every item the same: no spread to test against
        return Comparison(mean, mean, mean, 1.0 if mean == 0 else 0.0, 0.0, df, n, test, tuple(parts))
    se = math.sqrt(var)
    half = sp.t.ppf(1 - (1 - confidence) / 2, df) * se
    p = float(2 * sp.t.sf(abs(mean) / se, df))
    return Comparison(mean, mean - half, mean + half, p, se, df, n, test, tuple(parts))


def shared_matrix(runs: Sequence[Scores], ids: list) -> np.ndarray:
    return np.array([[float(r[i]) for i in ids] for r in runs])


def shared_ids(*groups: Sequence[Scores]) -> list:
    runs = [r for g in groups for r in g]
    ids = set(runs[0]) if runs else set()
    for r in runs[1:]:
        ids &= set(r)
    return sorted(ids, key=lambda item: (str(type(item)), str(item)))


def seed_component(matrix: np.ndarray) -> tuple[float, float]:
    """``(variance of the mean of the seed means, df)`` of a seeds x items matrix, with the small-sample inflation."""
    k = len(matrix)
    s2 = float(matrix.mean(1).var(ddof=1))
    return s2 / k * k / (k - 1), k - 1.0


def run_noise(matrix: np.ndarray) -> float:
    """A single run's sampling noise per item: the items' variance across the runs of ``matrix`` (seeds x items)."""
    return float(matrix.var(0, ddof=1).mean())


def compare_runs(method: Sequence[Scores], reference: Sequence[Scores], seed: int = 0) -> Comparison:
    """``method`` (its seeds' per-item scores) minus ``reference`` (likewise), on the items all of them share."""
    ids = shared_ids(method, reference)
    if not ids:
        raise ValueError("no item is scored by every run of both sides")
    a, b = shared_matrix(method, ids), shared_matrix(reference, ids)
    n, ka, kb = len(ids), len(a), len(b)
    mean = float(a.mean() - b.mean())
    if ka > 1 and kb > 1:
        va, vb = float(a.mean(1).var(ddof=1)) / ka, float(b.mean(1).var(ddof=1)) / kb
        if ka == kb:  # Student's t on the seed means, pooled variance
            return _from_parts(mean, [(va + vb, ka + kb - 2.0)], n, f"seed-level t ({ka} vs {kb} seeds)")
        return _from_parts(mean, [(va, ka - 1.0), (vb, kb - 1.0)], n, f"seed-level Welch t ({ka} vs {kb} seeds)")
    if ka > 1 or kb > 1:
        seeded = a if ka > 1 else b
        parts = [seed_component(seeded), (run_noise(seeded) / n, n - 1.0)]
        return _from_parts(mean, parts, n, f"seed-level t ({max(ka, kb)} seeds vs 1 run)")
    from .paired import paired_bootstrap, paired_test

    base, other = dict(zip(ids, b[0])), dict(zip(ids, a[0]))
    delta = paired_bootstrap(base, other, seed=seed)
    name, p = paired_test(base, other, seed=seed)
    diffs = a[0] - b[0]
    var = float(diffs.var(ddof=1)) / n if n > 1 else 0.0
    se = math.sqrt(var)
    test = f"item-level {name} (1 run each)"
    return Comparison(delta.mean, delta.low, delta.high, p, se, n - 1.0, n, test, ((var, n - 1.0),))


def score_interval(runs: Sequence[Scores], confidence: float = 0.95) -> tuple[float, float] | None:
    """A row's own score with its CI: the seed means' spread (inflated, df k-1) and the items' sampling (the variance
    of the per-item means over the n items), Satterthwaite's df; one run: the items alone."""
    ids = shared_ids(runs)
    if not ids:
        return None
    m = shared_matrix(runs, ids)
    n = len(ids)
    parts = [(float(m.mean(0).var(ddof=1)) / n if n > 1 else 0.0, n - 1.0)]
    if len(m) > 1:
        parts.append(seed_component(m))
    c = _from_parts(float(m.mean()), parts, n, "")
    return c.low, c.high


def combine(comparisons: Sequence[Comparison]) -> Comparison:
    """The mean of ``comparisons`` (one per task, each weighing the same), its CI and p from their variance parts
    with Satterthwaite's df."""
    if not comparisons:
        raise ValueError("nothing to combine")
    t = len(comparisons)
    mean = sum(c.mean for c in comparisons) / t
    parts = [(v / (t * t), d) for c in comparisons for v, d in c.parts]
    tests = sorted({c.test.split(" (")[0] for c in comparisons})
    return _from_parts(mean, parts, sum(c.n for c in comparisons), f"{' + '.join(tests)}, {t} task(s) averaged")


@dataclass(frozen=True)
class Design:
    """What a column's comparisons rest on: ``seed_var`` (the variance of one seed's mean score), ``run_noise`` (a
    run's per-item noise), ``items`` and ``seeds`` (per trained side)."""

    seed_var: float
    run_noise: float
    items: int
    seeds: int

    def _seed_var(self, items: int) -> float:
        """One seed's score variance at ``items`` items: its training spread plus a run's noise averaged over them."""
        return max(self.seed_var - self.run_noise / self.items, 0.0) + self.run_noise / items

    def vs_base(self, seeds: int | None = None, items: int | None = None) -> float:
        """The minimum detectable gain of a method with ``seeds`` seeds over the single-run base model."""
        k, n = seeds or self.seeds, items or self.items
        if k < 2:
            return detectable_effect(math.sqrt(2 * self.run_noise / n), n - 1.0)
        parts = [(self._seed_var(n) / (k - 1), k - 1.0), (self.run_noise / n, n - 1.0)]
        return detectable_effect(math.sqrt(sum(v for v, _ in parts)), _satterthwaite(parts))

    def vs_method(self, seeds: int | None = None, items: int | None = None) -> float:
        """The minimum detectable difference between two methods with ``seeds`` seeds each."""
        k, n = seeds or self.seeds, items or self.items
        if k < 2:
            return detectable_effect(math.sqrt(2 * self.run_noise / n), n - 1.0)
        return detectable_effect(math.sqrt(2 * self._seed_var(n) / k), 2 * k - 2.0)


def needed(design: Design, effect: float, against: str = "method", most: int = 64) -> dict:
    """The seeds (items fixed) and the items (seeds fixed) at which ``effect`` becomes detectable; None when more of
    that alone never gets there (within ``most`` seeds, or because the seed spread dominates)."""
    size = abs(effect)
    fn = design.vs_method if against == "method" else design.vs_base
    seeds = next((k for k in range(max(design.seeds, 2), most + 1) if fn(seeds=k) <= size), None)
    items = next((n for n in (design.items * f for f in (2, 4, 8, 16, 32)) if fn(items=n) <= size), None)
    return {"seeds": seeds, "items": items}
