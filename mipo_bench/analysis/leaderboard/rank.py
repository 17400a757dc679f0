"""Rank the stored runs: per task, each (base model, method) against the SAME base model's evaluation on the same
items, and across tasks by the mean of those gains.

Per task and base model, a row pools a method's seeds: the headline score's mean ± std over seeds (the paper's
form), the gain over the base model with a 95% CI and a p-value Holm-corrected over all comparisons of the task, and
a rank from tied groups (methods not significantly different from their group's best share a rank). With two or
more seeds on a side the CI and p come from a seed-level t test (:mod:`stats.seed_tests`, calibrated at 3 seeds
by benchmarks/seed_test_calibration.py), so the seed-to-seed training variance counts; with one run each they are
the item-level paired bootstrap and test, conditional on those checkpoints (``test`` says which); the same holds for
each row's score CI and for the pairwise tests of the tied groups. Each column states what it can detect (the
minimum detectable gain at 80% power, from its measured seed and run variance) and marks the gains below it.
Costs are summed over seeds.

A judged task (:mod:`..judged`) ranks by the paper's win-rate against the reference, the ties-as-half rate and the
judge's failures beside it; each judge identity (model, template, decoding, parser) is its own column: runs judged
differently are never compared. The overall ranking's mean gain weighs every task the same, and so do its CI and
its tests (the tasks' comparisons averaged, Satterthwaite's df).

The renderers (terminal, Markdown, CSV) are in :mod:`mipo_bench.analysis.leaderboard.render`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import replace
from itertools import combinations

from ...evaluation.harness import headline_label
from ...stats.paired import holm, per_item_mean, ranks_from_groups, seed_mean_std, tied_groups
from ...stats.seed_tests import (
    Design,
    combine,
    compare_runs,
    run_noise,
    score_interval,
    shared_ids,
    shared_matrix,
)
from ..results import EvalEntry, settings_fingerprint
from .context import task_context

COST_KEYS = ("generated_tokens", "train_seconds", "train_cpu_seconds", "train_generated_tokens", "judge_calls")
TRAIN_COSTS = ("train_seconds", "train_cpu_seconds", "train_generated_tokens")  # once per training run overall
COST_DEFINITIONS = {
    "eval tokens": "tokens the model generated answering the evaluation's items (its output length), summed over seeds",
    "train wall s": "wall-clock seconds of training (TRL's train_runtime), under whatever else the machine ran",
    "train CPU s": "CPU seconds of training, all threads of all training processes (not their children, such as a "
    "vLLM server); less sensitive than wall time to what else ran",
    "train gen. tokens": "tokens the method generated to build its training signal: its pairs' samples, "
    "self-revisions, rollouts and critic replies (not the evaluation)",
    "judge calls": "judge model calls made to score the evaluation, retries included",
}


def leaderboard(store, base: str = "base", alpha: float = 0.05, seed: int = 0) -> dict:
    """The board: ``{"base", "alpha", "tasks": {task: {"headline", "percent", "rows"}}, "overall": rows, "notes"}``.

    ``base`` is the label of the reference rows (the untrained model's evaluation). Rows of a task are sorted by
    base model, then rank. ``store`` is a :class:`.store.ResultsStore` or a list of entries.
    """
    entries = distinct_rows(store if isinstance(store, list) else store.entries())
    notes: list[str] = []
    by_task: dict[str, list[EvalEntry]] = defaultdict(list)
    judges: dict[str, set[str]] = defaultdict(set)
    for entry in entries:
        if not entry.headline:  # generation only: a judged table's reference row, or not judged yet
            notes.append(
                f"{entry.task}: {entry.label} is generation only (no score: the reference of a judged column, or "
                "to be judged with `mipo-bench judge`); not ranked"
            )
            continue
        column = board_task(entry)
        by_task[column].append(entry)
        if column != entry.task:
            judges[entry.task].add(column)
    for task, columns in sorted(judges.items()):
        if len(columns) > 1:
            notes.append(
                f"{task}: judged by {len(columns)} different judges or templates ({'; '.join(sorted(columns))}): "
                "each is its own column, never compared with the others"
            )
    tasks = {task: _task_board(task, group, base, alpha, seed, notes) for task, group in sorted(by_task.items())}
    overall = _overall(tasks, base, alpha, seed)
    context = task_context(dict(sorted(by_task.items())))
    return {"base": base, "alpha": alpha, "tasks": tasks, "overall": overall, "notes": notes, "context": context}


def distinct_rows(entries: list[EvalEntry]) -> list[EvalEntry]:
    """A row is its recipe: runs under one label whose training settings differ (two recipes of one name, or one
    recipe run with other settings) become rows of their own, ``label·fingerprint`` (:func:`settings_fingerprint`)."""
    prints: dict[tuple, set] = defaultdict(set)
    for e in entries:
        prints[(e.task, e.model, e.label)].add(settings_fingerprint(e.manifest.get("train")))
    prints = {key: found - {None} for key, found in prints.items()}  # a run without a train manifest splits nothing
    return [
        replace(e, label=f"{e.label}·{settings_fingerprint(e.manifest.get('train'))}")
        if len(prints[(e.task, e.model, e.label)]) > 1
        else e
        for e in entries
    ]


def _task_board(task: str, entries: list[EvalEntry], base: str, alpha: float, seed: int, notes: list[str]) -> dict:
    headline = headline_label(entries[0].task, _by_count([e.headline for e in entries]))  # the declared one
    groups: dict[tuple[str, str], dict] = {}
    for entry in entries:
        if headline not in entry.scores:
            notes.append(f"{task}: {entry.eval_dir} [{entry.label}] has no {headline!r} score; left out")
            continue
        runs = groups.setdefault((entry.model, entry.label), {})
        if entry.seed in runs:
            notes.append(f"{task}: {entry.label} on {entry.model} has seed {entry.seed} twice; the later run is used")
        runs[entry.seed] = entry
    rows = {key: _pooled_row(task, key, list(runs.values()), headline) for key, runs in groups.items()}
    for row in rows.values():
        _score_ci(row, seed)
    for (model, label), row in rows.items():
        reference = rows.get((model, base))
        if label == base:
            continue
        if reference is None:
            notes.append(f"{task}: no {base!r} entry for {model}; {label} has no gain")
            continue
        try:  # seed-level t with 2+ seeds on a side, else the item-level paired test (seed_tests.compare_runs)
            comparison = compare_runs(row["per_seed"], reference["per_seed"], seed=seed)
        except ValueError as e:  # no item scored by every run of both: no gain
            notes.append(f"{task}: {label} on {model}: {e}; no gain")
            continue
        row.update(gain=comparison.mean, low=comparison.low, high=comparison.high, n_shared=comparison.n)
        row.update(test=comparison.test, p=comparison.p, comparison=comparison, detectable=comparison.detectable)
        shared = set(reference["items"]) & set(row["items"])
        row["item_gains"] = {i: row["items"][i] - reference["items"][i] for i in shared}
    adjusted = holm({key: row["p"] for key, row in rows.items() if row.get("p") is not None})
    for key, p in adjusted.items():
        rows[key]["p_holm"] = p
    for model in sorted({m for m, _ in rows}):
        members = {label: row for (m, label), row in rows.items() if m == model}
        items = {label: row["items"] for label, row in members.items()}
        try:
            ranks = ranks_from_groups(tied_groups(items, alpha, seed=seed, test=_pair_test(members, seed)))
        except ValueError as e:  # no item shared by all of them: no ranks for this model
            notes.append(f"{task}, {model}: {e}")
            continue
        for label, rank in ranks.items():
            rows[(model, label)]["rank"] = rank
            rows[(model, label)]["tied"] = sum(r == rank for r in ranks.values()) > 1
    ordered = sorted(rows.values(), key=lambda r: (r["model"], r.get("rank") or math.inf, -r["mean"], r["label"]))
    values = [v for row in ordered for v in row["items"].values()]
    design = column_design(ordered)
    for row in ordered:  # a gain the design could not tell from chance, said as such
        row["below_detectable"] = bool(design and row["gain"] is not None and abs(row["gain"]) < design["vs_base"])
    board = {"headline": headline, "percent": all(0 <= v <= 1 for v in values), "rows": ordered}
    return {**board, "design": design}


def column_design(rows: list[dict]) -> dict | None:
    """What a column can detect: from its trained rows with two or more seeds, the median variance of a seed's mean
    score and of a run's per-item noise, its items and seeds; the minimum detectable gain over the base model and
    between two methods (80% power, alpha 0.05; :class:`stats.seed_tests.Design`). None without seeded rows."""
    import numpy as np

    parts = []
    for row in rows:
        if len(row["per_seed"]) < 2:
            continue
        ids = shared_ids(row["per_seed"])
        if len(ids) > 1:
            m = shared_matrix(row["per_seed"], ids)
            parts.append((float(m.mean(1).var(ddof=1)), run_noise(m), len(ids), len(m)))
    if not parts:
        return None
    seed_var, noise = float(np.median([p[0] for p in parts])), float(np.median([p[1] for p in parts]))
    design = Design(seed_var, noise, int(np.median([p[2] for p in parts])), int(np.median([p[3] for p in parts])))
    out = {"seed_var": seed_var, "run_noise": noise, "items": design.items, "seeds": design.seeds}
    return {**out, "vs_base": design.vs_base(), "vs_method": design.vs_method(), "object": design}


def _pair_test(rows: dict[str, dict], seed: int):
    """The within-task ranking's test of two rows: the gains' test (:func:`stats.seed_tests.compare_runs`): a
    seed-level t with two or more seeds on a side, else the item-level paired test."""

    def test(a: str, b: str) -> float:
        try:
            return compare_runs(rows[a]["per_seed"], rows[b]["per_seed"], seed=seed).p
        except ValueError:  # no item shared by every run of both: cannot be told apart
            return math.nan

    return test


def _score_ci(row: dict, seed: int) -> None:
    """The row's own score with its 95% CI (:func:`stats.seed_tests.score_interval`): the seeds' spread and the
    items' sampling with two or more seeds, the items alone with one."""
    interval = score_interval(row["per_seed"])
    if interval is not None:
        row.update(score_low=interval[0], score_high=interval[1])


def _pooled_row(task: str, key: tuple[str, str], runs: list[EvalEntry], headline: str) -> dict:
    """One (model, label) of a task, its seeds pooled."""
    model, label = key
    mean, std = seed_mean_std([_mean(e.scores[headline]) for e in runs])
    items = per_item_mean([e.scores[headline] for e in runs])
    judged = all("judge_failed" in e.scores for e in runs)
    row = {
        "task": task,
        "model": model,
        "label": label,
        "method": _most_common([e.method for e in runs]),
        "seeds": sorted((e.seed for e in runs), key=lambda s: (s is None, s)),
        "n_items": len(items),
        "mean": mean,
        "std": std,
        "items": items,
        "per_seed": [e.scores[headline] for e in runs],
        "judge_failed": sum(sum(e.scores["judge_failed"].values()) for e in runs) / len(runs) if judged else None,
        "ties_half": seed_mean_std([_mean(e.scores["win_ties_half"]) for e in runs])[0] if judged else None,
        "ci_over": "seeds (t) and items" if len(runs) > 1 else "items (1 run)",
        "score_low": None,
        "score_high": None,
        "audits": [(e.seed, e.manifest["judge"]["audit"]) for e in runs if judged and e.manifest.get("judge")],
        "gain": None,
        "low": None,
        "high": None,
        "test": None,
        "p": None,
        "p_holm": None,
        "rank": None,
        "tied": False,
        "hardware": sorted({describe_hardware(e.cost.get("hardware")) for e in runs}),
        "train_runs": {_train_key(e): {k: e.cost.get(k) for k in TRAIN_COSTS} for e in runs if e.manifest.get("train")},
        "settings": next((e.manifest["train"].get("settings") for e in runs if e.manifest.get("train")), None),
    }
    for cost in COST_KEYS:
        known = [e.cost.get(cost) for e in runs if e.cost.get(cost) is not None]
        row[cost] = sum(known) if known else None
    return row


def _overall(tasks: dict, base: str, alpha: float, seed: int) -> list[dict]:
    """Across tasks: each (model, label)'s unweighted mean gain over the tasks where it has one, ranked by it with
    ties (:func:`_rank_with_ties`); training time counted once per training run, other costs summed over tasks."""
    per_method: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for board in tasks.values():
        for row in board["rows"]:
            if row["label"] != base and row["gain"] is not None:
                per_method[(row["model"], row["label"])].append(row)
    out = []
    for (model, label), rows in per_method.items():
        train_runs = {k: v for row in rows for k, v in row["train_runs"].items()}  # one training, many tasks
        out.append(
            {
                "model": model,
                "label": label,
                "method": rows[0]["method"],
                "tasks": len(rows),
                "mean_gain": sum(r["gain"] for r in rows) / len(rows),
                "low": None,
                "high": None,
                "better": sum(r["gain"] > 0 and (r["p_holm"] or 1) < alpha for r in rows),
                "worse": sum(r["gain"] < 0 and (r["p_holm"] or 1) < alpha for r in rows),
                "generated_tokens": _sum_known(r["generated_tokens"] for r in rows),
                **{k: _sum_known(run[k] for run in train_runs.values()) for k in TRAIN_COSTS},
                "judge_calls": _sum_known(r["judge_calls"] for r in rows),
                "hardware": sorted({h for r in rows for h in r["hardware"]}),
                "per_task_runs": {r["task"]: r["per_seed"] for r in rows},
            }
        )
    for row in out:  # the CI of the mean gain, every task weighing the same: the tasks' comparisons combined
        combined = combine([r["comparison"] for r in per_method[(row["model"], row["label"])]])
        row.update(low=combined.low, high=combined.high, p=combined.p, test=combined.test)
    out.sort(key=lambda r: (-r["mean_gain"], r["label"], r["model"]))
    _rank_with_ties(out, alpha, seed)
    return out


def _rank_with_ties(rows: list[dict], alpha: float, seed: int) -> None:
    """Set ``rank`` and ``tied`` on rows sorted by mean gain, the rule of
    :func:`stats.tied_groups` in this order: every pair is compared on the tasks both have, each task's
    comparison of their runs (:func:`stats.seed_tests.compare_runs`) averaged over them, every task weighing the
    same (:func:`stats.seed_tests.combine`, as the ranking's mean gain; Holm over all pairs); walking down, a row
    joins the current group unless it differs significantly from the group's first row. A pair with no shared task
    or item cannot be told apart: tied."""
    names = list(range(len(rows)))
    raw = {(a, b): _pair_p(rows[a]["per_task_runs"], rows[b]["per_task_runs"], seed) for a, b in combinations(names, 2)}
    adjusted = holm(raw)
    groups: list[list[int]] = []
    for i in names:
        if groups and not adjusted[(groups[-1][0], i)] < alpha:  # nan (nothing shared) is not < alpha
            groups[-1].append(i)
        else:
            groups.append([i])
    for name, rank in ranks_from_groups(groups).items():
        rows[name]["rank"] = rank
        rows[name]["tied"] = any(len(g) > 1 and name in g for g in groups)


def _pair_p(a: dict, b: dict, seed: int) -> float:
    """Two rows' runs per task, compared on the tasks both have, every task weighing the same."""
    try:
        return combine([compare_runs(a[task], b[task], seed=seed) for task in sorted(set(a) & set(b))]).p
    except ValueError:  # no shared task, or no item shared by every run on one
        return math.nan


def board_task(entry: EvalEntry) -> str:
    """The leaderboard column of an entry: its task, and for a judged task the judge's name, template and identity
    key (runs judged differently land in different columns)."""
    judge = (entry.manifest or {}).get("judge")
    if not judge:
        return entry.task
    name = judge["judge"].rstrip("/").rsplit("/", 1)[-1]
    return f"{entry.task} (judge {name}, template {judge['template']}, {judge['key'][:6]})"


def describe_hardware(hardware: dict | None) -> str:
    """``2× NVIDIA H100`` or ``AMD EPYC 7B13 (16 cores)``; ``unknown`` when the manifest did not record it."""
    if not hardware:
        return "unknown"
    if hardware.get("gpu"):
        return f"{hardware.get('gpus') or 1}× {hardware['gpu']}"
    return f"{hardware.get('cpu') or 'CPU'} ({hardware.get('cores') or '?'} cores)"


def _train_key(entry: EvalEntry) -> str:
    train = entry.manifest["train"]
    return str(train.get("inputs_hash") or entry.eval_dir)


def _mean(scores: dict) -> float:
    return sum(scores.values()) / len(scores) if scores else math.nan


def _sum_known(values) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _most_common(values: list[str]) -> str:
    return max(dict.fromkeys(values), key=values.count)


def _by_count(values: list[str]) -> list[str]:
    """The distinct values, the most common first (the fallback order of a task that declares no headline)."""
    return sorted(dict.fromkeys(values), key=lambda v: -values.count(v))
