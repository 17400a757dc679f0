"""Batched judging of lm-eval sample logs: one judge call per (item, itemized preference), tolerant parsing,
bounded retries, failures recorded (never dropped or defaulted), raw replies kept.

Output rows (``judgments.jsonl``): ``item_id, preference_index, score, replies, failed``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import yaml

from ..generation import SamplingParams, generate_cached
from ..resources import resource_dir
from ..runs import append_jsonl, read_jsonl
from .parse import parse_score


def load_template(name: str) -> dict:
    path = Path(name) if Path(name).is_file() else resource_dir("judges") / f"{name}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no judge template {name!r} (a path or a name in judges/)")
    template = yaml.safe_load(path.read_text())
    for key in ("system", "user"):
        if key not in template:
            raise ValueError(f"{path}: judge template needs a {key!r} field")
    return template


def quote(response: str) -> str:
    """Keep the judged text inside its tags: a response cannot close the block and speak to the judge."""
    return response.replace("<response>", "&lt;response&gt;").replace("</response>", "&lt;/response&gt;")


def judge_messages(
    template: dict,
    query: str,
    response: str,
    preference: str = "",
    rubric: dict | None = None,
    reference: str | None = None,
) -> list[dict]:
    fields = {
        "query": query,
        "response": quote(response),
        "preference": preference,
        "reference": reference or "(none)",
        "criteria": "",
        **{f"score{k}": "" for k in range(1, 6)},
    }
    if rubric:
        fields["criteria"] = rubric["criteria"]
        fields.update({f"score{k}": rubric["score_descriptions"][str(k)] for k in range(1, 6)})
    user = template["user"].format(**fields)
    return [{"role": "system", "content": template["system"]}, {"role": "user", "content": user}]


def read_samples(path: str | Path) -> list[dict]:
    """Items from an lm-eval ``samples_<task>_*.jsonl``: query, preferences, and the generated response."""
    items = []
    for i, row in enumerate(read_jsonl(path), 1):
        doc = row.get("doc") or {}
        if "prompt" not in doc or "preferences" not in doc or not row.get("resps"):
            raise ValueError(f"{path}:{i}: not a personalization sample (needs doc.prompt, doc.preferences, resps)")
        resp = row["resps"][0][0] if isinstance(row["resps"][0], list) else row["resps"][0]
        item = {"id": doc["id"], "query": doc["prompt"], "preferences": doc["preferences"], "response": resp}
        if doc.get("rubric"):
            item["rubric"], item["reference"] = doc["rubric"], doc.get("reference")
        items.append(item)
    return items


def ask_until_parsed(
    backend, requests: list[dict], parse, out_path: Path, retries: int, batch_size: int, max_new_tokens: int
) -> dict[str, tuple]:
    """Greedy replies, then up to ``retries`` sampled re-asks for those ``parse`` rejects.

    Returns ``id -> (first parsed value or None, all raw replies)``; generations are cached beside ``out_path``.
    """
    cache = out_path.with_name(out_path.stem + ".generations.jsonl")
    greedy = SamplingParams(temperature=0, max_new_tokens=max_new_tokens)
    replies = {r["id"]: [r["text"]] for r in generate_cached(backend, requests, greedy, cache, batch_size)}
    for attempt in range(1, retries + 1):
        pending = [r for r in requests if parse(replies[r["id"]][-1]) is None]
        if not pending:
            break
        sampled = SamplingParams(temperature=0.7, top_p=0.95, max_new_tokens=max_new_tokens, seed=attempt)
        for row in generate_cached(backend, pending, sampled, cache, batch_size):
            replies[row["id"]].append(row["text"])
    out = {}
    for req in requests:
        values = [parse(text) for text in replies[req["id"]]]
        out[req["id"]] = (next((v for v in values if v is not None), None), replies[req["id"]])
    return out


def judge_items(
    items: list[dict],
    backend,
    out_path: str | Path,
    template: str = "personalization_score",
    retries: int = 2,
    batch_size: int = 16,
    max_new_tokens: int = 8,
    constrained: bool = False,
) -> list[dict]:
    """Score every (item, preference); unparseable replies are retried with sampling, then marked failed."""
    tmpl = load_template(template)
    requests = [
        {
            "id": f"{it['id']}#{k}",
            "messages": judge_messages(tmpl, it["query"], it["response"], pref, it.get("rubric"), it.get("reference")),
        }
        for it in items
        for k, pref in enumerate(it["preferences"])
    ]
    out_path = Path(out_path)
    if constrained:
        return _judge_constrained(requests, backend, out_path)
    answers = ask_until_parsed(backend, requests, parse_score, out_path, retries, batch_size, max_new_tokens)
    rows = []
    for req in requests:
        item_id, k = req["id"].rsplit("#", 1)
        score, replies = answers[req["id"]]
        rows.append(
            {
                "item_id": item_id,
                "preference_index": int(k),
                "score": score,
                "replies": replies,
                "failed": score is None,
            }
        )
    out_path.unlink(missing_ok=True)
    append_jsonl(out_path, rows)
    return rows


def _judge_constrained(requests: list[dict], backend, out_path: Path) -> list[dict]:
    """The judge's score as the most likely of the tokens "1".."5" (hf backend); the distribution is kept."""
    if not hasattr(backend, "next_token_logprobs"):
        raise ValueError("constrained judging needs the hf backend")
    digits = [str(k) for k in range(1, 6)]
    dists = backend.next_token_logprobs([r["messages"] for r in requests], digits)
    rows = []
    for req, dist in zip(requests, dists):
        item_id, k = req["id"].rsplit("#", 1)
        best = max(dist, key=dist.get)
        weights = {d: math.exp(v) for d, v in dist.items()}
        expected = sum(int(d) * w for d, w in weights.items()) / sum(weights.values())
        rows.append(
            {
                "item_id": item_id,
                "preference_index": int(k),
                "score": int(best),
                "replies": [best],
                "logprobs": dist,
                "expected": expected,
                "failed": False,
            }
        )
    out_path.unlink(missing_ok=True)
    append_jsonl(out_path, rows)
    return rows


def response_scores(rows: list[dict]) -> dict[str, float | None]:
    """Mean over an item's preferences (the paper's aggregation); None when any preference failed to be judged."""
    by_item: dict[str, list] = {}
    for row in rows:
        by_item.setdefault(row["item_id"], []).append(row["score"])
    return {k: (None if any(s is None for s in v) else sum(v) / len(v)) for k, v in by_item.items()}


def summary(rows: list[dict]) -> dict:
    scores = [s for s in response_scores(rows).values() if s is not None]
    return {
        "judgments": len(rows),
        "failed": sum(r["failed"] for r in rows),
        "retried": sum(len(r["replies"]) > 1 for r in rows),
        "mean_score": sum(scores) / len(scores) if scores else None,
        "items": len(response_scores(rows)),
    }


def dump(obj, path):
    Path(path).write_text(json.dumps(obj, indent=2))
