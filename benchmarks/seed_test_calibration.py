"""False-positive rate and power of the leaderboard's comparisons (mipo_bench/stats/seed_tests.py), the
shipped function itself on simulated tables.

A simulated table: n items with difficulty p_i ~ Beta(2, 2); the base model one run, item i correct with probability
p_i; a trained method k seeds, seed s shifting every item's probability by o_s ~ N(0, sigma) points (training
variance) plus the true gain, each seed one run (clipped to [0, 1]). Two comparisons, as the leaderboard makes them: a
method against the single-run base model ("vs base"), and two methods with k seeds each ("vs method"). Under a true
gain of 0, the share of p < 0.05 is the false-positive rate (nominal 5%); under +5 points, the power.

    python benchmarks/seed_test_calibration.py [--sims 2000] [--seeds 3,5] [--items 200,500] [--sigma 0,4,8]

Prints one Markdown table (the one quoted in benchmarks/README.md) and, with --json, the numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def simulate(rng, n: int, k: int, sigma: float, gain: float, against: str):
    from mipo_bench.stats.seed_tests import compare_runs

    p = rng.beta(2, 2, n)

    def runs(count: int, shift: float) -> list[dict]:
        offsets = rng.normal(0, sigma / 100, count)
        draws = rng.random((count, n)) < np.clip(p + shift / 100 + offsets[:, None], 0, 1)
        return [dict(enumerate(row.astype(float))) for row in draws]

    method = runs(k, gain)
    reference = [dict(enumerate((rng.random(n) < p).astype(float)))] if against == "base" else runs(k, 0.0)
    return compare_runs(method, reference).p


def rate(n, k, sigma, gain, against, sims, seed=0) -> float:
    rng = np.random.default_rng([seed, n, k, int(sigma * 10), int(gain * 10), against == "base"])
    return float(np.mean([simulate(rng, n, k, sigma, gain, against) < 0.05 for _ in range(sims)]))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sims", type=int, default=2000)
    ap.add_argument("--seeds", default="3,5")
    ap.add_argument("--items", default="200,500")
    ap.add_argument("--sigma", default="0,4,8")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    seeds = [int(x) for x in args.seeds.split(",")]
    items = [int(x) for x in args.items.split(",")]
    sigmas = [float(x) for x in args.sigma.split(",")]
    results = []
    lines = [
        "| against | seeds | items | sigma (points) | false positives at p < 0.05 | power at +5 points |",
        "|---|---|---|---|---|---|",
    ]
    for against in ("base", "method"):
        for k in seeds:
            for n in items:
                for sigma in sigmas:
                    fpr = rate(n, k, sigma, 0.0, against, args.sims)
                    power = rate(n, k, sigma, 5.0, against, args.sims)
                    results.append({"against": against, "seeds": k, "items": n, "sigma": sigma, "fpr": fpr})
                    results[-1]["power"] = power
                    lines.append(f"| {against} | {k} | {n} | {sigma:g} | {100 * fpr:.1f}% | {100 * power:.1f}% |")
    print("\n".join(lines))
    if args.json:
        print(json.dumps(results, indent=1))
    return {"sims": args.sims, "results": results}


if __name__ == "__main__":
    main()
