"""Tolerant parsing of a judge's 1-5 score; anything unparseable or out of range is a failure (None).

Accepted: a bare number ("4"), "Score: 4", "[RESULT] 4", "4/5", "Rating: 4 out of 5", "**4**". The parser reads
only the judge's reply, never the judged response, so text inside a response cannot set its own score.
"""

from __future__ import annotations

import re

_PATTERNS = [
    re.compile(r"\[RESULT\]\s*\(?\s*([0-9]+(?:\.[0-9]+)?)", re.IGNORECASE),
    re.compile(r"\b(?:score|rating)\s*(?:is|of|=)?\s*:?\s*\**\s*([0-9]+(?:\.[0-9]+)?)", re.IGNORECASE),
    re.compile(r"^\s*\**\s*([0-9]+(?:\.[0-9]+)?)\s*\**\s*(?:/\s*5|out of 5)?\s*\.?\s*$"),
    re.compile(r"^\s*\**\s*([0-9]+(?:\.[0-9]+)?)\s*(?:/\s*5|out of 5)\b"),
]


def parse_score(reply: str, low: int = 1, high: int = 5) -> int | None:
    """The integer score in ``[low, high]`` stated by ``reply``, else None."""
    if not isinstance(reply, str):
        return None
    text = reply.strip()
    for pattern in _PATTERNS:
        match = pattern.search(text)
        if match:
            number = float(match.group(1))
            # a stated but invalid score is a failure, not a cue to keep looking
            return int(number) if number.is_integer() and low <= number <= high else None
    return None
