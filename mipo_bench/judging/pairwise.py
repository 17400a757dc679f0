"""Pairwise judging with both orders asked (MT-Bench's rule): for each (item, preference) the judge compares the
response with the reference twice — the response as A, then as B — and the item's outcome is a win when both orders
prefer the response, a loss when both prefer the reference, and a tie when the verdict follows the position instead
(a **position flip**). The flip rate is the judge's position bias, measured.

A verdict is read as ``scoring`` says: ``logprob`` (the more likely of the labels "A" / "B" as the reply's first token,
a verdict for every call on ``hf``) or ``text`` (the reply's first standalone A or B; none is a failed call).
Template: ``judges/pairwise.yaml`` (``{response}`` is Response A, ``{reference}`` Response B).

    rows, summary = judge_pairwise(items, reference_items, backend, out / "pairwise.jsonl", scoring="logprob")
    summary["position_flip_rate"], summary["win_rate_ties_half"]
"""

from __future__ import annotations

import re
from pathlib import Path

from ..core.runs import append_jsonl
from ..generation import SamplingParams, generate_cached
from .calls import check_scoring
from .templates import judge_messages, load_template, quote

TEMPLATE = "pairwise"
_LETTER = re.compile(r"\b([AB])\b")


def _verdict_text(reply: str) -> str | None:
    match = _LETTER.search(reply or "")
    return match.group(1) if match else None


def _verdict_logprob(dist: dict[str, float]) -> str | None:
    present = {k: v for k, v in dist.items() if k in ("A", "B")}
    return max(present, key=present.get) if present else None


def _ask(backend, requests: list[dict], scoring: str, out_path: Path, seed: int) -> dict[str, str | None]:
    """request id -> "A" / "B" / None."""
    if scoring == "logprob":
        dists = backend.label_logprobs([r["messages"] for r in requests], ["A", "B"])
        return {r["id"]: _verdict_logprob(d) for r, d in zip(requests, dists)}
    cache = out_path.with_name(out_path.stem + ".generations.jsonl")
    params = SamplingParams(temperature=0, max_new_tokens=4, seed=seed)
    return {row["id"]: _verdict_text(row["text"]) for row in generate_cached(backend, requests, params, cache, 16)}


def judge_pairwise(
    items: list[dict], references: list[dict], backend, out_path: str | Path, scoring: str = "logprob", seed: int = 0
) -> tuple[list[dict], dict]:
    """Rows ``item_id, preference_index, first, second, outcome, flip`` (``first``: the verdict with the response as
    A, ``second``: with it as B; ``outcome`` +1 / 0 / -1 for the response, None when a call failed) and the summary."""
    template = load_template(TEMPLATE)
    check_scoring(scoring, template)
    by_id = {r["id"]: r for r in references}
    requests = []
    for it in items:
        ref = by_id.get(it["id"])
        if ref is None:
            continue
        for k, pref in enumerate(it["preferences"]):
            for order, (a, b) in (
                ("first", (it["response"], ref["response"])),
                ("second", (ref["response"], it["response"])),
            ):
                messages = judge_messages(template, it["query"], a, pref, reference=quote(b))  # both quoted
                requests.append({"id": f"{it['id']}#{k}#{order}", "messages": messages})
    out_path = Path(out_path)
    verdicts = _ask(backend, requests, scoring, out_path, seed) if requests else {}
    rows = []
    for req in requests[::2]:
        item_id, k, _ = req["id"].rsplit("#", 2)
        first, second = verdicts[req["id"]], verdicts[f"{item_id}#{k}#second"]
        prefers = None if first is None or second is None else (first == "A", second == "B")
        outcome = None if prefers is None else (1 if all(prefers) else -1 if not any(prefers) else 0)
        rows.append(
            {
                "item_id": item_id,
                "preference_index": int(k),
                "first": first,
                "second": second,
                "outcome": outcome,
                "flip": outcome == 0,
            }
        )
    out_path.unlink(missing_ok=True)
    append_jsonl(out_path, rows)
    return rows, pairwise_summary(rows, scoring)


def pairwise_summary(rows: list[dict], scoring: str) -> dict:
    decided = [r["outcome"] for r in rows if r["outcome"] is not None]
    wins, ties, losses = decided.count(1), decided.count(0), decided.count(-1)
    return {
        "scoring": scoring,
        "pairs": len(rows),
        "failed": len(rows) - len(decided),
        "wins": wins,
        "ties": ties,
        "losses": losses,
        "position_flip_rate": ties / len(decided) if decided else None,
        "win_rate_ties_half": (wins + ties / 2) / len(decided) if decided else None,
    }
