"""Per-item scores of a judged evaluation, for the results store and the leaderboard.

`mipo-bench judge` (and `reproduce`, in ``<eval dir>/judge/``) writes ``judgments.jsonl`` (the response's score per
preference), ``reference_judgments.jsonl`` (the reference's) and ``judge_summary.json`` (the judge, template,
decoding). Per item (lm-eval ``doc_id``) this gives:

``win``             1 when the response's score >= the reference's (the paper's win-rate, ties as wins), else 0; an
                    item whose judge call failed (either side) counts 0, as the scripts count a NaN / failed call
``win_ties_half``   1 for a win, 0.5 for a tie, 0 for a loss or a failure
``judge_score``     the response's mean 1-5 score over the item's preferences (judged items only)
``judge_failed``    1 when the item could not be compared (a failed call on either side, or no counterpart)

each preference's own judgment (:func:`preference_judgments`: side, preference index, score or None, failed), and
the judge's identity (model, template, decoding, parser): runs judged differently are never compared.
"""

from __future__ import annotations

from pathlib import Path

from ..core.runs import content_hash, read_jsonl
from ..judging.folders import judge_folder, read_summary

HEADLINE = "win"
JUDGED_SCORES = ("win", "win_ties_half", "judge_score", "judge_failed")
SIDES = {"response": "judgments.jsonl", "reference": "reference_judgments.jsonl"}


def judged_scores(eval_dir: Path, task: str) -> tuple[dict[str, dict[int, float]], dict, list[dict]] | None:
    """``(scores, judge, preferences)`` of ``task`` in ``eval_dir`` (see the module docstring), or None when it was
    not judged against a reference. ``ValueError`` names the file when a judgment file is unreadable."""
    folder = judge_folder(eval_dir, task)
    if folder is None:
        return None
    summary = read_summary(folder / "judge_summary.json")
    if "win_rate" not in summary:
        return None  # scored without a reference: no win-rate to rank by
    from ..judging.calls import response_scores
    from ..judging.winrate import item_scores

    ids = _doc_ids(eval_dir, task, Path(summary.get("samples", "")))
    rows = {side: list(read_jsonl(folder / name)) for side, name in SIDES.items()}
    mine, theirs = response_scores(rows["response"]), response_scores(rows["reference"])
    scores: dict[str, dict[int, float]] = {name: {} for name in JUDGED_SCORES}
    for item_id, doc_id in ids.items():
        for name, value in item_scores(mine.get(item_id), theirs.get(item_id)).items():
            scores[name][doc_id] = value
    return scores, judge_identity(summary), preference_judgments(rows, ids)


def preference_judgments(rows: dict[str, list[dict]], ids: dict[str, int]) -> list[dict]:
    """One row per judge call kept: ``{"doc_id", "side" ("response" | "reference"), "preference_index", "score"
    (None when the call failed), "failed"}``, for items of the samples file."""
    out = []
    for side, judged in rows.items():
        for row in judged:
            if row.get("item_id") in ids:
                score = row.get("score")
                out.append(
                    {
                        "doc_id": ids[row["item_id"]],
                        "side": side,
                        "preference_index": int(row.get("preference_index") or 0),
                        "score": None if score is None else float(score),
                        "failed": bool(row.get("failed", score is None)),
                    }
                )
    return out


def judge_identity(summary: dict) -> dict:
    """What makes two judgments comparable: the judge model, the template (and its file's content), the decoding
    and the scoring (text parsed or logprob); ``key`` is their hash."""
    template_path = summary.get("template_path")
    template_hash = None
    if template_path and Path(template_path).is_file():
        template_hash = content_hash(Path(template_path).read_text())
    identity = {
        "judge": str(summary.get("judge")),
        "template": summary.get("template"),
        "template_hash": template_hash,
        "decoding": summary.get("decoding"),
        "scoring": summary.get("scoring") or ("logprob" if summary.get("constrained") else "text"),
        "reference": (summary.get("reference") or {}).get("source"),
    }
    identity["key"] = content_hash({k: v for k, v in identity.items() if k != "reference"})[:12]
    return identity


def _doc_ids(eval_dir: Path, task: str, samples: Path) -> dict[str, int]:
    """Dataset item id -> lm-eval doc_id, from the judged samples file (or the task's samples in ``eval_dir``)."""
    if not samples.is_file():
        found = sorted(eval_dir.rglob(f"samples_{task}_*.jsonl"))
        if not found:
            raise ValueError(f"{eval_dir}: judged, but no samples_{task}_*.jsonl to match the judgments to items")
        samples = found[-1]
    out = {}
    for line, row in enumerate(read_jsonl(samples), 1):
        doc = row.get("doc") or {}
        if "id" not in doc or "doc_id" not in row:
            raise ValueError(f"{samples}:{line}: a sample without doc.id or doc_id")
        out[doc["id"]] = int(row["doc_id"])
    return out
