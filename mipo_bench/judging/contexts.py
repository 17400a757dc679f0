"""`mipo-bench contexts`: LLM-written user contexts and rubrics (the paper's appendix C.2 protocol).

Three jobs, each a template in judges/: ``extract_preferences`` (PRISM, CA: a JSON object of general instructions
from chosen vs rejected), ``rewrite_system_message`` (Multi-Bench: a first-person user statement) and
``generate_rubric`` (criteria + 1-5 score descriptions). Invalid JSON is retried a bounded number of times, then
recorded as a failure in the output; it never stops the run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..core.runs import write_jsonl
from ..data.contexts import apply_contexts  # noqa: F401  (moved to the data layer; re-exported)
from .calls import ask_until_parsed
from .templates import load_template, template_decoding

_JSON = re.compile(r"\{.*\}", re.DOTALL)


def parse_json_reply(reply: str, kind: str):
    """The structured value in ``reply`` for ``kind``, or None when it is not valid."""
    match = _JSON.search(reply or "")
    if not match:
        return None
    try:
        obj = json.loads(match.group(0))
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    if kind == "json_object":
        items = {k: v.strip() for k, v in obj.items() if isinstance(k, str) and isinstance(v, str) and v.strip()}
        return items or None
    if kind == "user_statement":
        value = obj.get("user-statement") or obj.get("user_statement")
        return value.strip() if isinstance(value, str) and value.strip() and "fill this" not in value else None
    if kind == "rubric":
        scores = obj.get("score_descriptions") or obj.get("score-descriptions")
        if (
            isinstance(obj.get("criteria"), str)
            and isinstance(scores, dict)
            and {str(k) for k in scores} == {"1", "2", "3", "4", "5"}
        ):
            return {"criteria": obj["criteria"], "score_descriptions": {str(k): str(v) for k, v in scores.items()}}
        return None
    raise ValueError(f"unknown output kind {kind!r}")


def run_contexts(
    records: list[dict],
    template_name: str,
    backend,
    out_path: str | Path,
    retries: int = 2,
    batch_size: int = 16,
    max_new_tokens: int | None = None,
    seed: int = 0,
) -> list[dict]:
    """One output row per record: ``{id, value, replies, failed}``; the JSONL cache makes it resumable.

    ``max_new_tokens`` defaults to the template's (384 for the shipped ones: a JSON object of instructions).
    """
    template = load_template(template_name)
    decoding = template_decoding(template, max_new_tokens or template.get("max_new_tokens") or 384, retries, seed)
    kind = template.get("output", "json_object")
    requests = []
    for rec in records:
        fields = {
            "prompt": rec.get("prompt", ""),
            "chosen": rec.get("chosen", ""),
            "rejected": rec.get("rejected", ""),
            "context": rec.get("context") or "",
            "dimension": rec.get("dimension", ""),
        }
        user = template["user"].format(**fields)
        requests.append(
            {
                "id": rec["id"],
                "messages": [{"role": "system", "content": template["system"]}, {"role": "user", "content": user}],
            }
        )
    out_path = Path(out_path)
    answers = ask_until_parsed(
        backend, requests, lambda text: parse_json_reply(text, kind), out_path, decoding, batch_size
    )
    rows = [
        {"id": rid, "template": template_name, "value": value, "replies": replies, "failed": value is None}
        for rid, (value, replies) in answers.items()
    ]
    write_jsonl(out_path, rows)
    return rows
