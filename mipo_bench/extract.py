"""Answer extraction for the reasoning tasks.

Numbers (GSM8K, SVAMP):
  strict    the number after the last ``####``;
  flexible  the last number anywhere in the response.
Choices (MMLU, ARC):
  strict    the label after "the answer is" (case-insensitive, optional colon, parentheses, bold);
  flexible  strict, else the text after "the answer is" (or the last line) when it is a lone label or
            names exactly one option's text.
Normalization: commas, ``$`` and a trailing dot are dropped; 18.0 -> "18". A placeholder such as the
instruction's own "X" is never read as an answer (labels are A-E or 1-5).
"""

from __future__ import annotations

import re

from .data.records import format_number

INVALID = "[invalid]"

_NUMBER = r"-?\$?\s?\d[\d,]*(?:\.\d+)?"
_STRICT_NUMBER = re.compile(r"####\s*(" + _NUMBER + ")")
_ANY_NUMBER = re.compile(_NUMBER)
_ANSWER_IS = re.compile(r"the\s+answer\s+is\s*:?\s*", re.IGNORECASE)
_LABEL_AFTER = re.compile(r"[\(\[\*\s]*([A-Za-z]|\d)(?![A-Za-z0-9])\s*[\)\]\*]*(.*)", re.DOTALL)
_LONE_LABEL = re.compile(r"^[\(\[\*\s]*([A-Za-z]|\d)\s*[\)\]\*]*\s*[.:]?\s*$")
_PLACEHOLDER = re.compile(
    r"the\s+answer\s+is\s*:?\s*[\(\[<\*\"']*\s*x\s*[\)\]>\*\"']*\s*\.?\s*$", re.IGNORECASE | re.MULTILINE
)


def _clean_number(text: str) -> str | None:
    try:
        return format_number(text.replace(" ", ""))
    except ValueError:
        return None


def number_strict(response: str) -> str | None:
    matches = _STRICT_NUMBER.findall(response)
    return _clean_number(matches[-1]) if matches else None


def number_flexible(response: str) -> str | None:
    matches = _ANY_NUMBER.findall(response)
    return _clean_number(matches[-1]) if matches else None


def _as_label(token: str, rest: str, labels: list[str]) -> str | None:
    """``token`` as one of ``labels``; a lowercase letter counts only if no word follows it ("is a cell")."""
    if token.upper() not in labels:
        return None
    if token.islower() and re.match(r"\s*[A-Za-z]", rest):
        return None
    return token.upper()


def choice_strict(response: str, labels: list[str]) -> str | None:
    answer = None
    for m in _ANSWER_IS.finditer(response):
        after = _LABEL_AFTER.match(response, m.end())
        if after:
            answer = _as_label(after.group(1), after.group(2), labels) or answer
    return answer


def _normalize(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def choice_flexible(response: str, choices: list[dict]) -> str | None:
    labels = [c["label"] for c in choices]
    strict = choice_strict(response, labels)
    if strict:
        return strict
    tails = [response[m.end() :].split("\n")[0] for m in _ANSWER_IS.finditer(response)]
    lines = [line for line in response.strip().splitlines() if line.strip()]
    candidates = tails[::-1] + lines[-1:]
    for tail in candidates:
        lone = _LONE_LABEL.match(tail)
        if lone and lone.group(1).upper() in labels:
            return lone.group(1).upper()
        norm_tail = _normalize(tail)
        if not norm_tail:
            continue
        hits = [c["label"] for c in choices if _normalize(c["text"]) and _normalize(c["text"]) in norm_tail]
        if len(hits) == 1:
            return hits[0]
    return None


def copies_placeholder(response: str) -> bool:
    """True when the response ends its answer with the instruction's placeholder ("The answer is: X")."""
    return bool(_PLACEHOLDER.search(response))
