"""Comparison tables: scores per model (the paper's extraction first), answer-format failures, and paired deltas
with bootstrap CIs, from eval stages' ``eval_results.json``.

The deltas are :func:`mipo_bench.stats.paired_bootstrap`, the leaderboard's, so the demo table and
the leaderboard give the same interval on the same items (constant differences: a zero-width interval at the constant).

Scores are read under each sample's own metric names (``exact_match`` of the generation tasks, ``acc``/``acc_norm``
of the loglikelihood tasks); generation-only tasks (``bypass``) have none to compare.
"""

from __future__ import annotations

import json

import numpy as np
from rich.table import Table

from ..data.extract import INVALID
from ..evaluation.harness import headline_label, order_scores, score_label
from ..stats.paired import paired_bootstrap

EXTRACTION_FILTERS = ("paper", "strict", "flexible")


def _metrics(sample: dict) -> list[str]:
    """The sample's metric names (older eval_results.json files carry only ``exact_match``)."""
    return list(sample.get("metrics") or (["exact_match"] if "exact_match" in sample else []))


def score_pairs(eval_results: dict, task: str) -> list[tuple[str, str]]:
    """(metric, filter) pairs with a numeric per-item score in the task's samples, the paper's extraction first."""
    pairs = [
        (m, s["filter"])
        for s in eval_results["samples"][task]
        for m in _metrics(s)
        if isinstance(s.get(m), (int, float, bool))
    ]
    return order_scores(pairs)


def per_item_scores(eval_results: dict, task: str, filt: str, metric: str | None = None) -> dict[int, float]:
    """doc_id -> score for one task and filter; ``metric`` defaults to the samples' first metric."""
    rows = [s for s in eval_results["samples"][task] if s["filter"] == filt]
    metric = metric or next((m for s in rows for m in _metrics(s)), "exact_match")
    return {s["doc_id"]: float(s[metric]) for s in rows if isinstance(s.get(metric), (int, float, bool))}


def no_answer_count(eval_results: dict, task: str, filt: str = "strict") -> int:
    return sum(
        1 for s in eval_results["samples"][task] if s["filter"] == filt and s["filtered_resps"] in (INVALID, [INVALID])
    )


def headline_filter(task: str, pairs: list[tuple[str, str]]) -> str | None:
    """The extraction filter whose failures the table counts: the task's headline's (its declared primary metric,
    :func:`~mipo_bench.evaluation.harness.headline_label`) where that is an extraction, else ``strict``."""
    label = headline_label(task, [score_label(m, f) for m, f in pairs])
    filt = next((f for m, f in pairs if score_label(m, f) == label), None)
    if filt in EXTRACTION_FILTERS:
        return filt
    return next((f for f in EXTRACTION_FILTERS if any(p[1] == f for p in pairs)), None)


def comparison_table(results: dict[str, dict], task: str, baseline: str, title: str) -> tuple[Table, list[dict]]:
    """One row per model: every score of the task (paper first, then strict, flexible, …), the no-answer count of
    the headline extraction, paired deltas vs ``baseline`` and the share of changed responses.

    Each row: ``{"model", "n", "scores": {label: mean}, "deltas": {label: (d, lo, hi)}, "no_answer", "changed"}``
    with labels as the columns name them (``paper``, ``strict``, ``acc``, …); a delta on no shared items is nan.
    """
    pairs = order_scores(p for res in results.values() for p in score_pairs(res, task))
    labels = [score_label(m, f) for m, f in pairs]
    headline = headline_filter(task, pairs)
    table = Table(title=title)
    columns = (
        "model",
        "n",
        *(f"acc {label}" for label in labels),
        f"no answer ({headline})" if headline else "no answer",
        *(f"Δ {label} [95% CI]" for label in labels),
        "responses changed",
    )
    for col in columns:
        table.add_column(col, justify="left" if col == "model" else "right")
    rows = []
    for name, res in results.items():
        row = {"model": name, "n": 0, "scores": {}, "deltas": {}}
        for (metric, filt), label in zip(pairs, labels):
            scores = per_item_scores(res, task, filt, metric)
            row["scores"][label] = float(np.mean(list(scores.values()))) if scores else float("nan")
            row["n"] = max(row["n"], len(scores))
            if name != baseline:
                d = paired_bootstrap(per_item_scores(results[baseline], task, filt, metric), scores)
                row["deltas"][label] = (d.mean, d.low, d.high)
        row["no_answer"] = no_answer_count(res, task, headline) if headline else None
        row["changed"] = changed_share(results[baseline], res, task) if name != baseline else None
        rows.append(row)

        def delta(label, row=row):
            if label not in row["deltas"]:
                return "-"
            d, lo, hi = row["deltas"][label]
            return f"{100 * d:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]" if d == d else "-"  # nan: no shared items

        table.add_row(
            name,
            str(row["n"]),
            *(f"{100 * row['scores'][label]:.1f}" for label in labels),
            "-" if row["no_answer"] is None else str(row["no_answer"]),
            *(delta(label) for label in labels),
            "-" if row["changed"] is None else f"{100 * row['changed']:.0f}%",
        )
    return table, rows


def changed_share(base: dict, other: dict, task: str) -> float | None:
    """Share of items whose generated response differs from the baseline's (did training change the model?);
    None for tasks that generate nothing (loglikelihood scoring)."""

    def texts(res):
        out = {}
        for s in res["samples"][task]:
            text = s["resps"][0][0] if s.get("resps") else None
            if isinstance(text, str):
                out.setdefault(s["doc_id"], text)
        return out

    a, b = texts(base), texts(other)
    shared = set(a) & set(b)
    if not shared:
        return None
    return sum(a[i] != b[i] for i in shared) / len(shared)


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
