"""The judge audit's comparisons, which ask the judge again (``mipo-bench judge-audit EVAL_DIR --compare``):

- **text vs logprob**: the same responses and references judged with the other scoring (the paper's parsed reply,
  or G-Eval's expected label; :mod:`mipo_bench.judging.calls`), into ``judge/scoring-<other>/``. Reported: each
  scoring's failed calls, Spearman's rank correlation of the per-response scores both gave, and their agreement on
  each item's outcome against the reference (a win when the response scores at least the reference, the scripts'
  rule) over the items both decided.
- **pairwise**: the response and the reference compared directly, both orders asked (:mod:`..judging.pairwise`),
  into ``judge/pairwise.jsonl``; reported: the position-flip rate, the pairwise win-rate (ties half), and how often
  its decided verdicts agree with each pointwise scoring's outcome.

The judge, template, seed and reference are the judgment's own (its ``judge_summary.json``); only ``backend``,
``batch_size`` and the text scoring's reply budget ``max_new_tokens`` (default: the template's) are the caller's.
Written to ``judge_compare.json`` beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..core.runs import read_jsonl, write_json
from ..judging.calls import response_scores
from ..judging.folders import find_judgment
from ..judging.pairwise import judge_pairwise
from ..judging.samples import judge_backend, judge_samples, judged_sides

SCORINGS = ("text", "logprob")


def compare_scorings(
    eval_dir: str | Path,
    task: str | None = None,
    backend: str = "hf",
    batch_size: int = 8,
    write: bool = True,
    max_new_tokens: int | None = None,
) -> dict:
    folder = find_judgment(Path(eval_dir), task)
    summary = json.loads((folder / "judge_summary.json").read_text())
    done = summary.get("scoring") or "text"
    other = SCORINGS[1 - SCORINGS.index(done)]
    reference = summary.get("reference") or {}
    source, dataset = reference.get("source"), reference.get("dataset")
    if not source or source == "None":
        raise ValueError(f"{folder}: this judgment has no reference side to compare outcomes against")
    again = judge_samples(
        summary["samples"],
        summary["judge"],
        folder / f"scoring-{other}",
        template=summary.get("template"),
        backend=backend,
        reference=source,
        dataset=dataset,
        seed=(summary.get("decoding") or {}).get("seed", 0),
        batch_size=batch_size,
        scoring=other,
        judge_choice=summary.get("judge_choice"),
        max_new_tokens=max_new_tokens,
    )
    sides = {
        done: _scores(folder),
        other: _scores(folder / f"scoring-{other}"),
    }
    report = {
        "judge": summary["judge"],
        "template": summary.get("template"),
        "failed_calls": {
            done: {
                "failed": summary["failed"] + reference.get("failed", 0),
                "calls": summary["judgments"] + reference.get("judgments", 0),
            },
            other: {
                "failed": again["failed"] + again["reference"]["failed"],
                "calls": again["judgments"] + again["reference"]["judgments"],
            },
        },
        "rank_correlation": _rank_correlation(sides["text"], sides["logprob"]),
        "win_agreement": _agreement(_outcomes(sides["text"]), _outcomes(sides["logprob"])),
    }
    items, ref_items = judged_sides(summary["samples"], source, dataset)
    engine = judge_backend(backend, summary["judge"], batch_size)
    try:
        rows, pairwise = judge_pairwise(items, ref_items, engine, folder / "pairwise.jsonl", scoring="logprob")
    finally:
        engine.close()
    pair_outcomes = {}
    for row in rows:  # an item's outcome: the mean over its preferences, as the pointwise scores are averaged
        pair_outcomes.setdefault(row["item_id"], []).append(row["outcome"])
    decided = {k: (1 if sum(v) > 0 else -1 if sum(v) < 0 else 0) for k, v in pair_outcomes.items() if None not in v}
    report["pairwise"] = {
        **pairwise,
        "agreement": {
            s: _agreement({k: v for k, v in decided.items() if v != 0}, _outcomes(sides[s])) for s in SCORINGS
        },
    }
    if write:
        write_json(folder / "judge_compare.json", report)
    return report


def _scores(folder: Path) -> dict:
    """``{"mine": id -> score, "theirs": id -> score}`` of one judgment folder (None where unjudged)."""
    theirs = folder / "reference_judgments.jsonl"
    return {
        "mine": response_scores(list(read_jsonl(folder / "judgments.jsonl"))),
        "theirs": response_scores(list(read_jsonl(theirs))) if theirs.is_file() else {},
    }


def _outcomes(side: dict) -> dict[str, int]:
    """Item id -> +1 (the response scores at least the reference: the scripts' win) or -1, where both are scored."""
    mine, theirs = side["mine"], side["theirs"]
    return {k: 1 if mine[k] >= theirs[k] else -1 for k in mine if mine[k] is not None and theirs.get(k) is not None}


def _rank_correlation(text: dict, logprob: dict) -> dict:
    from scipy.stats import spearmanr

    pairs = [
        (text[side][k], logprob[side][k])
        for side in ("mine", "theirs")
        for k in text[side]
        if text[side][k] is not None and logprob[side].get(k) is not None
    ]
    if len(pairs) < 3 or len({a for a, _ in pairs}) < 2 or len({b for _, b in pairs}) < 2:
        return {"n": len(pairs), "spearman": None, "why": "fewer than 3 responses scored by both, or no spread"}
    rho, p = spearmanr([a for a, _ in pairs], [b for _, b in pairs])
    return {"n": len(pairs), "spearman": float(rho), "p": float(p)}


def _agreement(a: dict[str, int], b: dict[str, int]) -> dict:
    shared = [k for k in a if k in b]
    same = sum(a[k] == b[k] for k in shared)
    return {"n": len(shared), "agree": same, "rate": same / len(shared) if shared else None}


def compare_lines(report: dict) -> list[tuple[str, str]]:
    """(check, finding) rows for the audit's table."""
    lines = []
    for scoring, f in report["failed_calls"].items():
        rate = f"{100 * f['failed'] / f['calls']:.1f}%" if f["calls"] else "-"
        lines.append((f"failed calls ({scoring})", f"{f['failed']} of {f['calls']} ({rate})"))
    rc = report["rank_correlation"]
    lines.append(
        (
            "text vs logprob ranks",
            rc.get("why") or f"Spearman ρ = {rc['spearman']:+.2f} (p = {rc['p']:.2g}, n = {rc['n']})",
        )
    )
    wa = report["win_agreement"]
    lines.append(("text vs logprob wins", _rate(wa, "items decided by both")))
    pw = report["pairwise"]
    flips = "-" if pw["position_flip_rate"] is None else f"{100 * pw['position_flip_rate']:.1f}%"
    lines.append(
        (
            "pairwise position flips",
            f"{pw['ties']} of {pw['pairs'] - pw['failed']} comparisons ({flips}); {pw['failed']} failed",
        )
    )
    for scoring, agreement in pw["agreement"].items():
        lines.append((f"pairwise vs {scoring} wins", _rate(agreement, "items decided by both")))
    return lines


def _rate(agreement: dict, what: str) -> str:
    if not agreement["n"]:
        return f"no {what}"
    return f"{agreement['agree']} of {agreement['n']} {what} agree ({100 * agreement['rate']:.1f}%)"
