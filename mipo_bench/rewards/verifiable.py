"""``rlvr_exact_match``: the verifiable reward of RLVR, 1.0 when the completion's final answer is the gold answer.

The answer is graded by :func:`mipo_bench.data.grading.grade`, the grader the evaluation's ``paper`` filter and the
revision filter call too, with the task's ``paper`` extraction (PROTOCOL.md §4):

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

from ..data import grading
from . import REWARDS, RewardFunction, column, completion_text


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
        rows = [
            {key: column(columns, key, n)[i] for key in ("answer", "paper_answer", "choices", "dataset")}
            for i in range(n)
        ]
        rewards: list[float | None] = []
        for completion, row in zip(completions, rows):
            if grading.gold_answer(row) is None:
                rewards.append(None)
                continue
            graded = grading.grade(completion_text(completion), row)
            if graded.found is None:
                self.failures += 1
            rewards.append(1.0 if graded.correct else 0.0)
        return rewards
