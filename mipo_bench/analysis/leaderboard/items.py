"""The items behind the numbers: for every task of the board, each row's per-item headline score (the mean over its
seeds) and what it answered (the prompt and the user's context, the response, the extracted answer or the judge's
scores), for the page's item view (pick two rows, see the items where they differ, largest difference first).

Texts are read from each run's own ``eval_results.json`` (the store keeps scores, not texts); a run whose directory
is gone shows its scores without texts. One seed's texts are shown per row (its lowest seed); the score is the mean
over the row's seeds. Texts longer than :data:`MAX_CHARS` are cut, saying so. Everything here is data: the page
embeds it as JSON and renders it with ``textContent`` only (never as markup).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

MAX_CHARS = 4000
PAGE_SIZE = 100  # items rendered at a time ("show more" renders the next ones)


def _cut(text) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + f" … [cut: {len(text) - MAX_CHARS} more characters]"


def _samples(eval_dir: Path, task: str) -> list[dict]:
    try:
        results = json.loads((Path(eval_dir) / "eval_results.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return []
    return list((results.get("samples") or {}).get(task) or [])


def _response(sample: dict) -> str:
    """The generated text, or for a loglikelihood task the option the model scored highest."""
    resps = sample.get("resps") or []
    first = resps[0] if resps else ""
    first = first[0] if isinstance(first, list) and first else first
    if isinstance(first, str):
        return first
    try:  # loglikelihood: one [logprob, greedy] per option
        scores = [float(r[0][0] if isinstance(r[0], list) else r[0]) for r in resps]
    except (TypeError, ValueError, IndexError):
        return str(first)
    best = max(range(len(scores)), key=scores.__getitem__)
    choices = (sample.get("doc") or {}).get("choices") or []
    label = choices[best].get("label") if best < len(choices) and isinstance(choices[best], dict) else None
    return f"option {label or best + 1} (highest log-likelihood)"


def _answer(sample: dict) -> str | None:
    filtered = sample.get("filtered_resps")
    value = filtered[0] if isinstance(filtered, list) and filtered else filtered
    return None if value is None or isinstance(value, (dict, list)) else str(value)


def _doc_texts(doc: dict) -> dict:
    out = {"prompt": _cut(doc.get("prompt") or doc.get("question") or doc.get("query") or "")}
    if doc.get("context"):
        out["context"] = _cut(doc["context"])
    if doc.get("answer") is not None:
        out["gold"] = _cut(doc["answer"])
    if doc.get("reference"):
        out["reference"] = _cut(doc["reference"])
    return out


def _judge_text(judgments: list[dict], doc_id: int) -> str | None:
    sides: dict[str, list[str]] = defaultdict(list)
    for j in judgments:
        if j["doc_id"] == doc_id:
            sides[j["side"]].append("failed" if j["failed"] or j["score"] is None else f"{j['score']:g}")
    if not sides:
        return None
    return "; ".join(f"{side}: {', '.join(scores)}" for side, scores in sides.items())


def item_view(entries) -> list[dict]:
    """Per task: ``{"task", "headline", "rows": [label, ...], "docs": {doc_id: texts}, "scores": {label: {doc_id:
    mean}}, "texts": {label: {doc_id: {"response", "answer", "judge"}}}, "seeds": {label: [seeds]}}``."""
    by_task: dict[str, list] = defaultdict(list)
    for entry in entries:
        by_task[entry.task].append(entry)
    view = []
    for task, task_entries in by_task.items():
        headline = task_entries[0].headline
        scores: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
        seeds: dict[str, list] = defaultdict(list)
        shown: dict[str, object] = {}
        for e in sorted(task_entries, key=lambda e: (e.seed is None, e.seed or 0)):
            for doc_id, score in (e.scores.get(e.headline) or {}).items():
                scores[e.label][int(doc_id)].append(float(score))
            seeds[e.label].append(e.seed)
            shown.setdefault(e.label, e)  # the lowest seed's texts
        docs: dict[int, dict] = {}
        texts: dict[str, dict[int, dict]] = {}
        for label, e in shown.items():
            filt = e.headline.rpartition(" ")[2] if " " in e.headline else e.headline
            rows: dict[int, dict] = {}
            for sample in _samples(e.eval_dir, task):
                doc_id = int(sample.get("doc_id", -1))
                if doc_id in rows and sample.get("filter") != filt:
                    continue  # one row per item: the headline filter's where there are several
                docs.setdefault(doc_id, _doc_texts(sample.get("doc") or {}))
                rows[doc_id] = {"response": _cut(_response(sample)), "answer": _answer(sample)}
            for doc_id, row in rows.items():
                row["judge"] = _judge_text(e.judgments, doc_id)
            texts[label] = rows
        view.append(
            {
                "task": task,
                "headline": headline,
                "rows": list(dict.fromkeys(e.label for e in task_entries)),  # in the order they were added
                "docs": docs,
                "scores": {label: {d: sum(v) / len(v) for d, v in items.items()} for label, items in scores.items()},
                "texts": texts,
                "seeds": dict(seeds),
            }
        )
    return view


def differences(view_task: dict, a: str, b: str, keep: str = "differ") -> list[tuple[int, float]]:
    """``(doc_id, score_a - score_b)`` over the items both rows scored, largest difference first (then by doc id);
    ``keep``: ``differ`` (every item where they differ), ``won`` (a higher), ``lost`` (a lower), ``tied``. The page's
    script does the same in the browser; this is its reference, for the tests."""
    sa, sb = view_task["scores"].get(a, {}), view_task["scores"].get(b, {})
    diffs = [(d, sa[d] - sb[d]) for d in sa if d in sb]
    test = {"differ": lambda x: x != 0, "won": lambda x: x > 0, "lost": lambda x: x < 0, "tied": lambda x: x == 0}[keep]
    return sorted(((d, x) for d, x in diffs if test(x)), key=lambda t: (-abs(t[1]), t[0]))


def embedded_json(view: list[dict]) -> str:
    """The view as JSON safe inside ``<script type="application/json">``: ``<``, ``>`` and ``&`` escaped, so no
    text can close the script element."""
    text = json.dumps(view, ensure_ascii=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
