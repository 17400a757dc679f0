"""Answer extraction for the reasoning tasks.

The paper's extraction (the released scripts, PROTOCOL.md §4), filter ``paper``:
  numbers   the text after the FIRST ``####`` (up to a second one), its FIRST number ``\\d+\\.?\\d*`` (no sign,
            no thousands separator: "-5" -> 5, "1,200" -> 1); when there is none the scripts re-ask the model
            (``mipo-bench eval`` does that as a second pass; plain lm-eval reports ``paper_noreask``);
  choices   the text after the FIRST case-insensitive "the answer is", its FIRST standalone capital letter among the
            item's option letters (the scripts: A-D; see ``choice_paper``).

The suite's own extraction, kept beside it:
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

from .records import format_number
from .sampling import LETTERS

INVALID = "[invalid]"

# a minus right after a number or a closing bracket (with or without a space) is subtraction, not a sign:
# "20 - 12" and "3-2" end in 12 and 2, while "x = -3", "is -12" and "2*-3" are negative
_NUMBER = r"(?:(?<![\d)\]])(?<![\d)\]]\s)-)?\$?\s?\d[\d,]*(?:\.\d+)?"
_PAPER_NUMBER = re.compile(r"\d+\.?\d*")
_PAPER_ANSWER_IS = re.compile(r"the answer is", re.IGNORECASE)
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


def number_paper(response: str) -> str | None:
    """The scripts' first pass: the first number after the first ``####``; None sends the item to the re-ask."""
    parts = response.split("####")
    if len(parts) < 2:
        return None
    match = _PAPER_NUMBER.search(parts[1])
    return _clean_number(match.group()) if match else None


def number_reask(reply: str) -> str | None:
    """The scripts' second pass: the first number anywhere in the model's re-ask reply."""
    match = _PAPER_NUMBER.search(reply)
    return _clean_number(match.group()) if match else None


def choice_paper(response: str, n_options: int = 4) -> str | None:
    """The first standalone capital option letter after the first "the answer is" (case-insensitive).

    The script's regex is ``\\b([ABCD])\\b``; we allow the letters of the item's own options (A-E on the few
    5-option ARC items, whose gold E the script could never match), which is the same rule on 4-option items.
    """
    parts = _PAPER_ANSWER_IS.split(response, maxsplit=1)
    if len(parts) < 2:
        return None
    letters = LETTERS[: max(n_options, 4)]
    match = re.search(rf"\b([{letters}])\b", parts[1])
    return match.group(1) if match else None


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
