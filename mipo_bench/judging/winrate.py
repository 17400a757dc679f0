"""Win-rates against a reference: wins/ties/losses, the paper's rate (ties count as wins) and the
AlpacaEval-style rate (ties count 1/2), each with a bootstrap CI over items."""

from __future__ import annotations

import numpy as np


def outcomes(scores: list[float | None], reference: list[float | None]) -> list[int | None]:
    """+1 win, 0 tie, -1 loss per item; None where either side failed to be judged."""
    out = []
    for a, b in zip(scores, reference, strict=True):
        out.append(None if a is None or b is None else int(np.sign(a - b)))
    return out


def win_rates(results: list[int | None], n_resamples: int = 2000, seed: int = 0) -> dict:
    """Counts and both rates with 95% percentile-bootstrap CIs; failed items are counted, not dropped silently."""
    from scipy.stats import bootstrap

    valid = np.array([r for r in results if r is not None], dtype=float)
    report = {
        "n": len(results),
        "failed": sum(r is None for r in results),
        "wins": int((valid > 0).sum()),
        "ties": int((valid == 0).sum()),
        "losses": int((valid < 0).sum()),
    }
    rates = {
        "win_rate_ties_as_wins": (valid >= 0).astype(float),
        "win_rate_ties_half": np.where(valid > 0, 1.0, np.where(valid == 0, 0.5, 0.0)),
    }
    for name, values in rates.items():
        if len(values) == 0:
            report[name] = None
            continue
        report[name] = float(values.mean())
        if len(values) > 1 and values.std() > 0:
            ci = bootstrap(
                (values,),
                np.mean,
                n_resamples=n_resamples,
                method="percentile",
                random_state=np.random.default_rng(seed),
            ).confidence_interval
            report[f"{name}_ci"] = (float(ci.low), float(ci.high))
        else:
            report[f"{name}_ci"] = (float(values.mean()), float(values.mean()))
    return report
