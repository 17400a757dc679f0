"""Reading a judge's 1-5 score from its reply; anything unparseable or out of range is a failure (None).

Parsers are registered by name, and a judge template names the one it uses (``parser:`` in judges/*.yaml):

- ``tolerant`` (the default): a bare number ("4"), "Score: 4", "Score (1-5): 4", "[RESULT] 4", "4/5",
  "Rating: 4 out of 5", "**4**". A range written after "Score" ("(1-5)", "1 to 5:") is the scale, not the score.
- ``paper_first_int``: the released eval scripts' ``int(re.search(r'\\d+', s).group())``: the first run of digits
  anywhere in the reply (so "Score (1-5): 4" reads 1, "-2" reads 2, "4.5" reads 4, exactly as the scripts do).
  The scripts never clamp; here a number outside 1-5 (e.g. "10") is a counted failure rather than a score of 10.

Parsers read only the judge's reply, never the judged response, so text inside a response cannot set its own score.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..core.registry import Registry

ScoreParser = Callable[[str], "int | None"]
PARSERS: Registry[ScoreParser] = Registry("score parser")
DEFAULT_PARSER = "tolerant"
LOW, HIGH = 1, 5


def register(name: str):
    """Decorator: ``@register("name")`` adds a score parser (the package's one registry style)."""
    return PARSERS.register(name)


def get_parser(name: str) -> ScoreParser:
    return PARSERS.get(name)


def _in_range(number: float) -> int | None:
    return int(number) if number.is_integer() and LOW <= number <= HIGH else None


_NUMBER = r"([0-9]+(?:\.[0-9]+)?)"
# the scale a template writes after "Score": "(1-5)", "[1 to 5]", "(out of 5)", or "1-5" right before a colon
_RANGE = r"(?:\d+\s*(?:-|–|to)\s*\d+|out of \d+)"
_SCALE = rf"(?:\(\s*{_RANGE}\s*\)|\[\s*{_RANGE}\s*\]|{_RANGE}(?=\s*:))"
_PATTERNS = [
    re.compile(rf"\[RESULT\]\s*\(?\s*{_NUMBER}", re.IGNORECASE),
    re.compile(rf"\b(?:score|rating)\s*(?:{_SCALE}\s*)?(?:is|of|=)?\s*:?\s*\**\s*{_NUMBER}", re.IGNORECASE),
    re.compile(rf"^\s*\**\s*{_NUMBER}\s*\**\s*(?:/\s*5|out of 5)?\s*\.?\s*$"),
    re.compile(rf"^\s*\**\s*{_NUMBER}\s*(?:/\s*5|out of 5)\b"),
]


@register("tolerant")
def parse_score(reply: str) -> int | None:
    """The integer score in 1-5 stated by ``reply``, else None."""
    if not isinstance(reply, str):
        return None
    text = reply.strip()
    for pattern in _PATTERNS:
        match = pattern.search(text)
        if match:
            # a stated but invalid score is a failure, not a cue to keep looking
            return _in_range(float(match.group(1)))
    return None


_FIRST_INT = re.compile(r"\d+")


@register("paper_first_int")
def parse_first_int(reply: str) -> int | None:
    """The scripts' parse (first ``\\d+`` in the reply), with out-of-range numbers counted as failures."""
    if not isinstance(reply, str):
        return None
    match = _FIRST_INT.search(reply)
    if not match:
        return None
    number = int(match.group())  # an int, so a reply of 400 digits cannot overflow a float
    return number if LOW <= number <= HIGH else None
