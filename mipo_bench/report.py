"""Comparison tables: accuracy per model, answer-format failures, and paired deltas with bootstrap CIs."""

from __future__ import annotations

import json

import numpy as np
from rich.table import Table


def per_item_scores(eval_results: dict, task: str, filt: str) -> dict[int, float]:
    """doc_id -> exact_match for one task and filter, from an eval stage's ``eval_results.json``."""
    return {s["doc_id"]: float(s["exact_match"]) for s in eval_results["samples"][task] if s["filter"] == filt}


def no_answer_count(eval_results: dict, task: str, filt: str = "strict") -> int:
    return sum(
        1
        for s in eval_results["samples"][task]
        if s["filter"] == filt and s["filtered_resps"] in ("[invalid]", ["[invalid]"])
    )


def paired_delta(base: dict[int, float], other: dict[int, float], seed: int = 0) -> tuple[float, float, float]:
    """Mean difference on the shared items with a 95% bootstrap CI (scipy, BCa falls back to percentile)."""
    from scipy.stats import bootstrap

    ids = sorted(set(base) & set(other))
    diff = np.array([other[i] - base[i] for i in ids])
    if len(diff) < 2 or np.all(diff == diff[0]):
        return float(diff.mean()) if len(diff) else 0.0, float("nan"), float("nan")
    ci = bootstrap(
        (diff,),
        np.mean,
        confidence_level=0.95,
        n_resamples=2000,
        method="percentile",
        random_state=np.random.default_rng(seed),
    ).confidence_interval
    return float(diff.mean()), float(ci.low), float(ci.high)


def comparison_table(results: dict[str, dict], task: str, baseline: str, title: str) -> tuple[Table, list[dict]]:
    """One row per model: strict/flexible accuracy, no-answer count, and deltas vs ``baseline``."""
    table = Table(title=title)
    columns = (
        "model",
        "n",
        "acc strict",
        "acc flexible",
        "no answer",
        "Δ strict [95% CI]",
        "Δ flexible [95% CI]",
        "responses changed",
    )
    for col in columns:
        table.add_column(col, justify="left" if col == "model" else "right")
    rows = []
    for name, res in results.items():
        row = {"model": name}
        for filt in ("strict", "flexible"):
            scores = per_item_scores(res, task, filt)
            row[f"acc_{filt}"] = float(np.mean(list(scores.values())))
            row["n"] = len(scores)
            if name != baseline:
                row[f"delta_{filt}"] = paired_delta(per_item_scores(results[baseline], task, filt), scores)
        row["no_answer"] = no_answer_count(res, task)
        row["changed"] = changed_share(results[baseline], res, task) if name != baseline else None
        rows.append(row)

        def delta(filt, row=row):
            if f"delta_{filt}" not in row:
                return "-"
            d, lo, hi = row[f"delta_{filt}"]
            return f"{100 * d:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]" if lo == lo else f"{100 * d:+.1f}"

        table.add_row(
            name,
            str(row["n"]),
            f"{100 * row['acc_strict']:.1f}",
            f"{100 * row['acc_flexible']:.1f}",
            str(row["no_answer"]),
            delta("strict"),
            delta("flexible"),
            "-" if row["changed"] is None else f"{100 * row['changed']:.0f}%",
        )
    return table, rows


def changed_share(base: dict, other: dict, task: str) -> float:
    """Share of items whose generated response differs from the baseline's (did training change the model?)."""

    def texts(res):
        return {s["doc_id"]: s["resps"][0][0] for s in res["samples"][task] if s["filter"] == "strict"}

    a, b = texts(base), texts(other)
    shared = set(a) & set(b)
    return sum(a[i] != b[i] for i in shared) / len(shared) if shared else 0.0


def training_summary(log_path) -> dict:
    """First vs last quarter of a DPO log: reward accuracy and margin (did training move the model?)."""
    rows = [json.loads(line) for line in open(log_path) if "rewards/margins" in line]
    if not rows:
        return {}
    q = max(1, len(rows) // 4)

    def mean(key, part):
        return float(np.mean([r[key] for r in part]))

    return {
        "steps": len(rows),
        "reward_acc_first": mean("rewards/accuracies", rows[:q]),
        "reward_acc_last": mean("rewards/accuracies", rows[-q:]),
        "margin_first": mean("rewards/margins", rows[:q]),
        "margin_last": mean("rewards/margins", rows[-q:]),
    }
