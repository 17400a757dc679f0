"""``rlvr_exact_match``: the verifiable reward of RLVR, 1.0 when the completion's final answer is the gold answer.

The answer is read with the task's ``paper`` extraction, the one the evaluation uses (PROTOCOL.md §4):

- math (GSM8K, SVAMP): :func:`mipo_bench.data.extract.number_paper`, the first number after the first ``####``, compared
  as ``mipo_bench.evaluation.hooks._paper_number`` does with the row's ``paper_answer`` when it has one (GSM8K: the
  scripts read the gold with the same sign-dropping regex, so "-5" matches a gold of -5) and its ``answer`` otherwise;
- multiple choice (ARC, MMLU): :func:`..data.extract.choice_paper`, the first standalone option letter after the
  first "the answer is", compared with the row's letter ``answer``.

No re-ask: the training reward reads the completion as written. A malformed completion (empty, not text, no
``####`` / "the answer is", no number or letter after it) scores 0.0 and is counted in ``failures``; a row with no
gold answer gets ``None`` (not applicable; the trainer builder rejects such rows up front).

The released training code (PROTOCOL.md §4.3, ``self_play_experience_maker.py:486-505``) used its own regexes, not
the evaluation's: math ``####\\s*[:\\-]?\\s*([-+]?\\d*\\.?\\d+)`` on both the rubric (gold) and the generation, compared
as floats, so it keeps a sign ("#### -5" reads -5, where ``number_paper`` reads 5), skips one ``:``/``-`` after the
marker, reads the first ``####`` with a number right after it (``number_paper`` reads the first ``####`` and the first
number anywhere after it, e.g. "#### The total is 42" reads 42 here, nothing there), and never matches a gold of -1
or below (``answer > -1``); MCQ: the first ``\\b([ABCD])\\b`` after ``(?i)the answer is\\s*:?\\s*``, i.e. A-D only.
We train on the evaluation's extraction so that the reward is exactly the accuracy the tables report.
"""

from __future__ import annotations

from ..data import extract
from ..data.records import format_number
from ..data.spec import answer_kind
from . import REWARDS, RewardFunction, column, completion_text

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def normalized_number(value) -> str | None:
    """A gold number in the extraction's canonical form ("42.0" -> "42"), or None when it is not a number."""
    try:
        return format_number(value)
    except (TypeError, ValueError):
        return None


def gold_number(answer, paper_answer) -> str | None:
    """The gold the scripts compare with: ``paper_answer`` when the row has one (GSM8K), else ``answer``."""
    return normalized_number(paper_answer if paper_answer not in (None, "") else answer)


def option_count(answer: str, choices) -> int:
    """How many option letters the extraction accepts: the row's options, at least A-D, and always the gold's."""
    count = len(choices) if isinstance(choices, (list, tuple)) else 4
    return max(count, 4, LETTERS.index(answer) + 1 if answer in LETTERS else 0)


@REWARDS.register("rlvr_exact_match")
class ExactMatchReward(RewardFunction):
    """RLVR's exact-match reward: 1.0 for the gold answer through the paper extraction, 0.0 otherwise.

    Columns: ``answer`` (required), ``paper_answer``, ``choices``, ``dataset`` (optional; they decide the kind).
    ``failures`` counts completions with no extractable answer (scored 0.0, like a wrong one).
    """

    name = "rlvr_exact_match"
    required_columns = ("answer",)

    @classmethod
    def from_settings(cls, settings, ctx, tokenizer) -> "ExactMatchReward":
        return cls()

    def score(self, prompts, completions, completion_ids, columns) -> list[float | None]:
        n = len(completions)
        answers, paper_answers = column(columns, "answer", n), column(columns, "paper_answer", n)
        choices, datasets = column(columns, "choices", n), column(columns, "dataset", n)
        rewards: list[float | None] = []
        for i, completion in enumerate(completions):
            answer = answers[i]
            if answer is None or str(answer).strip() == "":
                rewards.append(None)
                continue
            text = completion_text(completion)
            if answer_kind(datasets[i], choices=choices[i], answer=answer) == "choice":
                gold = str(answer).strip()
                found = extract.choice_paper(text, option_count(gold, choices[i]))
            else:
                gold = gold_number(answer, paper_answers[i])
                found = extract.number_paper(text)
            if found is None:
                self.failures += 1
            rewards.append(1.0 if found is not None and found == gold else 0.0)
        return rewards
