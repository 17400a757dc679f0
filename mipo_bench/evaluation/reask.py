"""The math scripts' second pass (PROTOCOL.md §4.1): re-ask the same model for the number its answer lacks.

The scripts read the first number after the first ``####``; when there is no ``####``, or no number after it, they
send the model under evaluation one more user message, ``reask_prompt(dataset, response)`` (T=0.1, top_p=0.9, 1024
new tokens), and take the first number anywhere in its reply. lm-eval scores the first pass as filter
``paper_noreask``; :func:`add_paper_filter` runs the second pass, batched and resumable, after lm-eval finishes and
adds filter ``paper`` beside it:

- per item a ``paper`` sample row (a copy of the first-pass row, the re-ask reply kept as ``reask_reply``);
- ``exact_match,paper`` (and its standard error, as lm-eval computes it) in ``results["results"][task]``;
- the paper's Avg. of the reasoning groups: the unweighted mean of ``exact_match,paper`` over the group's tasks.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..data import format_number
from ..data.extract import INVALID, number_reask
from ..data.prompts import reask_prompt
from ..data.protocol import REASK_SAMPLING, Decoding
from ..generation import Backend, SamplingParams, generate_cached

FIRST_PASS = "paper_noreask"
PAPER = "paper"
# groups whose headline is the paper's Avg.: the unweighted mean over their five tasks
PAPER_AVERAGE_GROUPS = ("mipo_reasoning", "mipo_reasoning_full")


def _filtered(sample: dict) -> str:
    """The filtered answer of a generate_until sample (lm-eval keeps one per request: a one-item list)."""
    value = sample.get("filtered_resps")
    return value[0] if isinstance(value, list) and value else value


def needs_reask(sample: dict) -> bool:
    """True for a first-pass row whose response has no ``####`` or no number after it."""
    return sample.get("filter") == FIRST_PASS and _filtered(sample) == INVALID


def math_tasks(results: dict) -> list[str]:
    """Tasks whose samples carry the first-pass filter (GSM8K, SVAMP and their ``_full`` versions)."""
    return [t for t, rows in results.get("samples", {}).items() if any(s.get("filter") == FIRST_PASS for s in rows)]


def _task_dataset(results: dict, task: str) -> str:
    try:
        return results["configs"][task]["dataset_kwargs"]["dataset"]
    except KeyError as e:
        raise KeyError(f"task {task!r}: no dataset_kwargs.dataset in its config, so no re-ask prompt") from e


def _request_id(task: str, sample: dict) -> str:
    return f"{task}/{sample['doc_id']}"


def reask_requests(results: dict) -> list[dict]:
    """One chat per first-pass row without a number: the scripts' re-ask message around the model's own response."""
    requests = []
    for task in math_tasks(results):
        dataset = _task_dataset(results, task)
        for s in results["samples"][task]:
            if needs_reask(s):
                message = reask_prompt(dataset, s["resps"][0][0])
                rid = _request_id(task, s)  # also the salt: each item its own draw, as the scripts sample per item
                requests.append({"id": rid, "messages": [{"role": "user", "content": message}], "salt": rid})
    return requests


def _canonical(value) -> str | None:
    try:
        return format_number(value)
    except (TypeError, ValueError):
        return None


def paper_row(first_pass: dict, reply: str | None) -> dict:
    """The ``paper`` row of one item: the first-pass number if any, else the first number of the re-ask reply.

    The re-ask number is scored as the first pass is (``lm_eval_hooks._paper_number``): against the doc's
    ``paper_answer`` where the scripts' gold differs from the answer (GSM8K drops a sign), reported as the answer.
    """
    doc = first_pass["doc"]
    gold = _canonical(doc["answer"])
    answer = _filtered(first_pass)
    if answer == INVALID:
        number = number_reask(reply) if reply is not None else None
        paper_gold = _canonical(doc.get("paper_answer", doc["answer"]))
        answer = doc["answer"] if number is not None and number == paper_gold else (number or INVALID)
    correct = answer != INVALID and _canonical(answer) == gold
    return {
        **first_pass,
        "filter": PAPER,
        "filtered_resps": [answer],
        "metrics": ["exact_match"],
        "exact_match": float(correct),
        "reask_reply": reply,
    }


def _mean_and_stderr(values: list[float]) -> tuple[float, float | str]:
    """lm-eval's aggregate of ``exact_match``: the mean, and the sample standard error ("N/A" for one item)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, "N/A"
    variance = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(variance) / math.sqrt(len(values))


def _update_group_averages(results: dict) -> None:
    for group in PAPER_AVERAGE_GROUPS:
        children = results.get("group_subtasks", {}).get(group)
        scores = [results["results"].get(c, {}).get(f"exact_match,{PAPER}") for c in children or []]
        if not children or not all(isinstance(v, (int, float)) for v in scores):
            continue
        for table in ("results", "groups"):
            if group in results.get(table, {}):
                results[table][group][f"exact_match,{PAPER}"] = sum(scores) / len(scores)
                results[table][group][f"exact_match_stderr,{PAPER}"] = "N/A"


def add_paper_filter(
    results: dict,
    backend: Backend,
    cache_path: str | Path,
    seed: int,
    batch_size: int = 8,
    sampling: Decoding = REASK_SAMPLING,
    progress=None,
) -> dict[str, int]:
    """Re-ask ``backend`` where the first pass found no number and add filter ``paper`` to ``results`` (in place).

    Replies are cached in ``cache_path`` (``generate_cached``: keyed by the model's weights, the message and the
    sampling, so a rerun resumes and a retrained model is asked afresh). Returns {task: items re-asked}.
    """
    requests = reask_requests(results)
    replies: dict[str, str] = {}
    if requests:
        params = SamplingParams(
            temperature=sampling.temperature, top_p=sampling.top_p, max_new_tokens=sampling.max_new_tokens, seed=seed
        )
        rows = generate_cached(backend, requests, params, cache_path, batch_size, progress)
        replies = {row["id"]: row["text"] for row in rows}
    reasked = {}
    for task in math_tasks(results):
        first = [s for s in results["samples"][task] if s.get("filter") == FIRST_PASS]
        rows = [paper_row(s, replies.get(_request_id(task, s))) for s in first]
        results["samples"][task].extend(rows)
        mean, stderr = _mean_and_stderr([r["exact_match"] for r in rows])
        results["results"][task][f"exact_match,{PAPER}"] = mean
        results["results"][task][f"exact_match_stderr,{PAPER}"] = stderr
        reasked[task] = sum(needs_reask(s) for s in first)
    _update_group_averages(results)
    return reasked
