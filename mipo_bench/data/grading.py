"""Grading an answer: the one definition of "is this response correct" for the verifiable tasks.

The evaluation (the lm-eval ``paper`` filters, :mod:`mipo_bench.evaluation.hooks`), the RLVR reward
(:mod:`mipo_bench.rewards.verifiable`) and the ground-truth revision filter (:mod:`mipo_bench.training.revision`) all
call :func:`grade`, so training and evaluation cannot disagree on what is correct (nanochat's ``tasks/gsm8k.py``,
where ``reward`` calls ``evaluate``, is the model).

A record is any row that carries the gold: ``answer`` (a number or an option letter), GSM8K's ``paper_answer`` (the
gold read with the scripts' sign-dropping regex), ``choices`` for multiple choice and optionally ``dataset``. The
response is read with the paper's extraction (PROTOCOL.md §4, first pass, no re-ask):

- numbers: the first number after the first ``####`` (:func:`~.extract.number_paper`), compared as the scripts compare
  it, with ``paper_answer`` when the row has one, else ``answer``, both in the extraction's canonical form;
- choices: the first standalone option letter after the first "the answer is" (:func:`~.extract.choice_paper`),
  among :func:`option_letters` (the scripts' ``[ABCD]``, widened to the item's own options on the few 5-option ARC
  items, whose gold E the script could never match).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import extract
from .records import format_number
from .spec import answer_kind


@dataclass(frozen=True)
class Grade:
    """``found``: the extracted answer (None: none could be read); ``gold``: what it is compared with; ``correct``."""

    found: str | None
    gold: str | None
    correct: bool


def kind_of(record: dict) -> str:
    """``choice`` or ``number`` (:func:`~.spec.answer_kind`: the row's options, else its dataset, else its gold)."""
    return answer_kind(record.get("dataset"), choices=record.get("choices"), answer=record.get("answer"))


def option_count(record: dict) -> int:
    """How many option letters the extraction accepts: the item's options, at least A-D (the scripts' regex)."""
    choices = record.get("choices")
    return max(len(choices) if isinstance(choices, (list, tuple)) else 4, 4)


def gold_answer(record: dict) -> str | None:
    """The gold as the extraction's output is compared with it: the option letter, or the number in canonical form
    (``paper_answer`` where the row has one); None when the row has no usable gold."""
    answer = record.get("answer")
    if answer is None or str(answer).strip() == "":
        return None
    if kind_of(record) == "choice":
        return str(answer).strip()
    paper = record.get("paper_answer")
    try:
        return format_number(paper if paper not in (None, "") else answer)
    except (TypeError, ValueError):
        return None


def extract_answer(response: str, record: dict) -> str | None:
    """The paper's first-pass extraction of ``response`` for ``record``'s answer kind."""
    if kind_of(record) == "choice":
        return extract.choice_paper(response, option_count(record))
    return extract.number_paper(response)


def grade(response: str, record: dict) -> Grade:
    """The response's answer, the gold, and whether they match (an unreadable answer is wrong)."""
    found = extract_answer(response if isinstance(response, str) else "", record)
    gold = gold_answer(record)
    return Grade(found, gold, found is not None and gold is not None and found == gold)
