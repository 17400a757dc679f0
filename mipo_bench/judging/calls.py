"""Batched judging of lm-eval sample logs: one judge call per (item, itemized preference), the template's own
decoding and parser, bounded retries, failures recorded (never dropped or defaulted), raw replies kept.

Two ways to read a score (``scoring``):

- ``text`` (the paper's, the default at paper scale): the judge writes a reply, the template's parser reads the score
  from it; an unparseable reply is re-asked, then a counted failure.
- ``logprob`` (G-Eval's, the demo scale's): the score is the expected rating under the judge's next-token distribution
  over the labels "1".."5", renormalized over them — a real number in [1, 5] that exists for every call on ``hf``
  (whole distribution) and wherever a label is among a server's top log-probabilities (vLLM, OpenAI-compatible
  servers that return ``top_logprobs``). Needs a template whose reply starts with the score (``score_first``).

Output rows (``judgments.jsonl``): ``item_id, preference_index, score, replies, failed`` (plus ``error`` for an
item that could not be asked at all, e.g. one without preferences; ``logprobs``, ``label_mass`` and ``argmax`` for
logprob scoring). The calls of one response share their leading tokens (query and response before the preference):
they are sent together, so that prefix is encoded once (:mod:`mipo_bench.generation.prefix_cache`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..core.runs import append_jsonl, content_hash, read_jsonl
from ..generation import generate_cached
from ..generation.prefix_cache import prefix_order
from .templates import (  # noqa: F401  (load_template, judge_messages, quote: the public names of this module)
    Decoding,
    judge_messages,
    load_template,
    quote,
    template_decoding,
    template_parser,
)

SCORINGS = ("text", "logprob")
LABELS = [str(k) for k in range(1, 6)]
NO_LABEL = "none of the labels 1-5 is among the judge's top next tokens"
NO_PREFERENCES = "the item has no preferences to judge against (run `mipo-bench contexts` for PRISM / CA)"


def read_samples(path: str | Path) -> list[dict]:
    """Items from an lm-eval ``samples_<task>_*.jsonl``: query, preferences, the generated response, and the
    doc's ``context`` / ``reference`` / ``rubric`` where it has them."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no samples file {path} (an lm-eval samples_<task>_*.jsonl)")
    items, seen = [], {}
    for i, row in enumerate(read_jsonl(path, torn_ok=False), 1):
        doc = row.get("doc") or {}
        if "prompt" not in doc or "preferences" not in doc or not row.get("resps"):
            raise ValueError(f"{path}:{i}: not a personalization sample (needs doc.prompt, doc.preferences, resps)")
        if "id" not in doc:
            raise ValueError(f"{path}:{i}: the sample's doc has no 'id'")
        if doc["id"] in seen:
            raise ValueError(f"{path}:{i}: doc id {doc['id']!r} repeats row {seen[doc['id']]} (ids must be unique)")
        seen[doc["id"]] = i
        items.append(sample_item(doc, row["resps"][0]))
    if not items:
        raise ValueError(f"{path}: no samples in it (an empty lm-eval samples file: nothing to judge)")
    return items


def sample_item(doc: dict, resps) -> dict:
    """A judge item from a task's doc and its response(s) (the first one is judged): query, preferences, response,
    and the doc's ``context`` / ``reference`` / ``rubric`` where it has them."""
    response = resps[0] if isinstance(resps, (list, tuple)) else resps
    item = {"id": doc["id"], "query": doc["prompt"], "preferences": doc["preferences"], "response": response}
    if doc.get("context"):  # the user's context: a `query: personalized` template's personalized prompt
        item["context"] = doc["context"]
    if doc.get("rubric"):
        item["rubric"] = doc["rubric"]
    if doc.get("rubric") or doc.get("reference"):
        item["reference"] = doc.get("reference")
    return item


def reference_items(items: list[dict], source: str | Path, lookup: dict[str, str | None] | None = None) -> list[dict]:
    """The same items with the dataset's reference response (PRISM / CA: the human-chosen one) as the response.

    An item's own ``reference`` (the sample doc's) is used when present, else ``lookup[id]`` (records of the
    dataset, by id). An item with neither is an error naming ``source`` and the row: PrefEval has no reference.
    """
    out = []
    for row, item in enumerate(items, 1):
        reference = item.get("reference") or (lookup or {}).get(item["id"])
        if not isinstance(reference, str) or not reference.strip():
            raise ValueError(
                f"{source}: row {row} (id {item['id']!r}) has no reference response (doc.reference is empty"
                f"{'' if lookup is None else ' and the dataset has none for this id'}); datasets without one "
                "(PrefEval) need --reference SAMPLES, another model's samples"
            )
        out.append({**item, "response": reference, "reference": reference})
    return out


def ask_until_parsed(
    backend, requests: list[dict], parse, out_path: Path, decoding: Decoding, batch_size: int
) -> dict[str, tuple]:
    """The template's decoding first, then up to ``decoding.retries`` sampled re-asks for replies ``parse``
    rejects; every call is seeded.

    Returns ``id -> (first parsed value or None, all raw replies)``; generations are cached beside ``out_path``.
    """
    cache = out_path.with_name(out_path.stem + ".generations.jsonl")
    replies = {r["id"]: [r["text"]] for r in generate_cached(backend, requests, decoding.first(), cache, batch_size)}
    for attempt in range(1, decoding.retries + 1):
        pending = [r for r in requests if parse(replies[r["id"]][-1]) is None]
        if not pending:
            break
        for row in generate_cached(backend, pending, decoding.retry(attempt), cache, batch_size):
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
    retries: int | None = None,
    batch_size: int = 16,
    max_new_tokens: int | None = None,
    scoring: str = "text",
    seed: int = 0,
) -> list[dict]:
    """Score every (item, preference) by ``scoring`` (``text``: unparseable replies are retried with sampling, then
    marked failed; ``logprob``: the expected label, see the module's docstring).

    ``retries`` and ``max_new_tokens`` default to the template's (see :mod:`.templates`); ``seed`` seeds every call.
    A ``query: personalized`` template (CA's, Multi-Bench's) sees the personalized prompt of the item's ``context``
    (its preferences joined, when it has none), the prompt the policy answered.
    """
    tmpl = load_template(template)
    check_scoring(scoring, tmpl)
    decoding = template_decoding(tmpl, max_new_tokens, retries, seed)
    requests = [
        {
            "id": f"{it['id']}#{k}",
            "messages": judge_messages(
                tmpl,
                it["query"],
                it["response"],
                pref,
                it.get("rubric"),
                it.get("reference"),
                context=it.get("context") or " ".join(it["preferences"]),
            ),
        }
        for it in items
        for k, pref in enumerate(it["preferences"])
    ]
    out_path = Path(out_path)
    if scoring == "logprob":
        rows = _judge_logprob(requests, backend, out_path)
    else:
        # a response's calls adjacent: its shared prefix is encoded once (hf) or hits the server's prefix cache
        ordered = prefix_order(requests)
        answers = ask_until_parsed(backend, ordered, template_parser(tmpl), out_path, decoding, batch_size)
        rows = []
        for req in requests:
            item_id, k = req["id"].rsplit("#", 1)
            score, replies = answers[req["id"]]
            row = {"item_id": item_id, "preference_index": int(k), "score": score, "replies": replies}
            rows.append({**row, "failed": score is None})
    # an item with nothing to judge against is a counted failure, not an item that silently vanishes
    for it in items:
        if not it["preferences"]:
            row = {"item_id": it["id"], "preference_index": None, "score": None, "replies": [], "failed": True}
            rows.append({**row, "error": NO_PREFERENCES})
    out_path.unlink(missing_ok=True)
    append_jsonl(out_path, rows)
    return rows


def check_scoring(scoring: str, template: dict) -> None:
    if scoring not in SCORINGS:
        raise ValueError(f"judge scoring must be one of {', '.join(SCORINGS)}, not {scoring!r}")
    if scoring == "logprob" and not template.get("score_first", True):
        raise ValueError(
            f"{template['path']}: this template's reply begins with feedback, not its score (score_first: false): "
            "logprob scoring reads the reply's first token; judge it with scoring: text"
        )


def label_score(dist: dict[str, float]) -> dict:
    """A call's score from its labels' log-probabilities: the expected label renormalized over the labels present
    (G-Eval), the most likely label, and the probability mass the labels hold; a failure when none is present."""
    weights = {label: math.exp(v) for label, v in dist.items() if v > -math.inf}
    if not weights:
        return {"score": None, "failed": True, "error": NO_LABEL}
    mass = sum(weights.values())
    return {
        "score": sum(int(label) * w for label, w in weights.items()) / mass,
        "argmax": int(max(weights, key=weights.get)),
        "label_mass": mass,
        "failed": False,
    }


def _judge_logprob(requests: list[dict], backend, out_path: Path) -> list[dict]:
    """Every request's label distribution (cached beside ``out_path`` by the judge's fingerprint and messages, so a
    rerun or an interrupted run asks only what is missing), scored by :func:`label_score`."""
    cache = out_path.with_name(out_path.stem + ".logprobs.jsonl")
    model = backend.fingerprint()
    keys = {r["id"]: content_hash({"model": model, "messages": r["messages"], "labels": LABELS}) for r in requests}
    known = {row["key"]: row["logprobs"] for row in read_jsonl(cache)} if cache.exists() else {}
    missing = [r for r in requests if keys[r["id"]] not in known]
    for start in range(0, len(missing), 64):  # appended a chunk at a time: an interruption loses one chunk at most
        chunk = missing[start : start + 64]
        dists = backend.label_logprobs([r["messages"] for r in chunk], LABELS)
        fresh = [{"key": keys[r["id"]], "logprobs": d} for r, d in zip(chunk, dists)]
        append_jsonl(cache, fresh)
        known.update((row["key"], row["logprobs"]) for row in fresh)
    rows = []
    for req in requests:
        item_id, k = req["id"].rsplit("#", 1)
        dist = known[keys[req["id"]]]
        rows.append(
            {"item_id": item_id, "preference_index": int(k), "replies": [], "logprobs": dist, **label_score(dist)}
        )
    return rows


def response_scores(rows: list[dict]) -> dict[str, float | None]:
    """Mean over an item's preferences (the paper's aggregation); None when any preference failed to be judged.

    The scripts differ on a failed call (CA scores it 0, PRISM leaves it out of the mean); here the item is
    reported as unjudged instead, so no number silently absorbs a judge failure.
    """
    by_item: dict[str, list] = {}
    for row in rows:
        by_item.setdefault(row["item_id"], []).append(row["score"])
    return {k: (None if any(s is None for s in v) else sum(v) / len(v)) for k, v in by_item.items()}


def summary(rows: list[dict]) -> dict:
    per_item = response_scores(rows)
    scores = [s for s in per_item.values() if s is not None]
    return {
        "judgments": len(rows),
        "failed": sum(r["failed"] for r in rows),
        "retried": sum(len(r["replies"]) > 1 for r in rows),
        "mean_score": sum(scores) / len(scores) if scores else None,
        "items": len(per_item),
        "failed_items": len(per_item) - len(scores),
    }


def dump(obj, path):
    Path(path).write_text(json.dumps(obj, indent=2))
