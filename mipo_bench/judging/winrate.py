"""Win-rates against a reference: wins/ties/losses, the paper's rate (ties count as wins: an item wins when its
score >= the reference's) and the AlpacaEval-style rate (ties count 1/2), each with a bootstrap CI over items.

Every item is counted: one the judge could not score on either side is ``failed``, and one with no counterpart on
the other side is ``unmatched``; ``wins + ties + losses + failed + unmatched == n``."""

from __future__ import annotations

import numpy as np

from ..stats import bootstrap_mean


def item_scores(score: float | None, reference: float | None) -> dict[str, float]:
    """One item's judged scores, as the scripts count them (the one home of this rule: the results store, the
    leaderboard and the lm-eval tasks all read it): ``win`` 1 when the response scores at least the reference (ties
    as wins), ``win_ties_half`` 1 / 0.5 / 0, both 0 when either side failed to be judged; ``judge_failed`` 1 then;
    ``judge_score`` the response's score (absent when it failed)."""
    failed = score is None or reference is None
    out = {
        "win": 0.0 if failed else float(score >= reference),
        "win_ties_half": 0.0 if failed else (1.0 if score > reference else 0.5 if score == reference else 0.0),
        "judge_failed": float(failed),
    }
    if score is not None:
        out["judge_score"] = float(score)
    return out


def outcomes(scores: list[float | None], reference: list[float | None]) -> list[int | None]:
    """+1 win, 0 tie, -1 loss per item; None where either side failed to be judged."""
    out = []
    for a, b in zip(scores, reference, strict=True):
        out.append(None if a is None or b is None else int(np.sign(a - b)))
    return out


def win_rates(results: list[int | None], n_resamples: int = 2000, seed: int = 0) -> dict:
    """Counts and both rates with 95% percentile-bootstrap CIs; failed items are counted, not dropped silently."""
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
        rate = bootstrap_mean(values, n_resamples, seed=seed)  # one value or all equal: a zero-width interval
        report[name], report[f"{name}_ci"] = rate.mean, (rate.low, rate.high)
    return report


def compare(scores: dict[str, float | None], reference: dict[str, float | None], **bootstrap_options) -> dict:
    """Item-wise comparison of two ``id -> score`` maps (e.g. :func:`.judge.response_scores`), matched by id.

    The rates are over the items judged on both sides; ``win_rate_ties_as_wins_all_n`` is the conservative one
    over all ``n`` items, a failed or unmatched item counting as a loss (as a NaN score does in the scripts).
    """
    shared = [k for k in scores if k in reference]
    only_samples = [k for k in scores if k not in reference]
    only_reference = [k for k in reference if k not in scores]
    report = win_rates(outcomes([scores[k] for k in shared], [reference[k] for k in shared]), **bootstrap_options)
    n = len(shared) + len(only_samples) + len(only_reference)
    report.update(
        n=n,
        judged=report["wins"] + report["ties"] + report["losses"],
        unmatched=len(only_samples) + len(only_reference),
        unmatched_samples=len(only_samples),
        unmatched_reference=len(only_reference),
        unmatched_samples_ids=only_samples,
        unmatched_reference_ids=only_reference,
        win_rate_ties_as_wins_all_n=(report["wins"] + report["ties"]) / n if n else None,
    )
    return report
