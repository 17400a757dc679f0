"""Judge rewards: a frozen model scores each completion 1-5 and the reward is score / 5.

``rlvr_judged``   the paper's RLVR (§5.1 L158): "the reward model is given the correct answer and instructed to output
                  a score on a 1-5 scale based on the model's reasoning and accuracy against the ground truth". The
                  message is the released code's (PROTOCOL.md §6.5, §7): the dataset's ground-truth rubric f-string,
                  verbatim, then the completion, then the RLAIF suffix.
``rlaif_critic``  the paper's RLAIF (§5.1 L160): the same, frozen, initial model as the critic, with the paper's
                  "RLAIF scoring instruction" (appendix C.2, PROTOCOL.md §5.1) verbatim: context first, then query,
                  then the completion, then the suffix.

Both go through the suite's judge code (:mod:`mipo_bench.judging`): the decoding and parser of a template
(:func:`template_decoding`, :func:`template_parser`), the bounded re-asks and failure marking of
:func:`ask_until_parsed`, and a :mod:`mipo_bench.generation` backend (``hf`` by default) created once per reward and
held by it. The judge is the base model itself unless the recipe names another (``train.judge``).

``judge_template: paper`` (the default) builds the released code's message, ONE user message (no system message, as
the code sends none; the judge's chat template adds its own default):

    rubric.strip() + completion.strip()
    + " Only output one score between 1 and 5 and do not give any explanation. Score: "

(``strip`` removes the rubric's trailing space, so the completion follows "Assistant:" directly, as in the code),
decoded as the reward call of PROTOCOL.md §3: sampled, T=0.1, top-p 0.9, up to 1256 new tokens, asked once (no
re-ask). The reply is read by the ``paper_reward_number`` parser: the code's first ``[-+]?\\d*\\.?\\d+`` as a float. Any
other ``judge_template`` is a ``judges/`` template name or path (e.g. ``rlaif_critic``, the guarded variant that quotes
the completion so it cannot talk to the critic), filled by :func:`judge_messages` with the query, the completion, the
user's context as the preference and the correct answer as the reference, with that template's decoding and parser.

A reply that no parser reads (after the template's re-asks) is a counted failure (``failures``) with reward 0.0, as
the code's exception path gives; never an exception. Deliberate correction, as for the suite's ``paper_first_int``
evaluation parser: the code never clamps, so "10" scored 2.0 and "-3" scored -0.6; here a number outside 1-5 is a
counted failure (reward 0.0).

``judge_max_new_tokens`` (default 32) caps the reply budget: the score is the first number of the reply, a reply
that gives it later than its 32nd token is rare, and an uncapped 1256-token budget lets one rambling reply hold a
whole judge batch for 1256 decoding steps. ``train.judge_max_new_tokens=null`` restores the template's own budget.
"""

from __future__ import annotations

import re
import tempfile
from collections import deque
from pathlib import Path

from ..data.spec import DATASETS, answer_kind
from ..judging.calls import ask_until_parsed
from ..judging.parse import register
from ..judging.templates import judge_messages, load_template, template_decoding, template_parser
from . import REWARDS, RewardFunction, column, completion_text, user_text

PAPER = "paper"
PAPER_PARSER = "paper_reward_number"

# The released reward call's suffix (PROTOCOL.md §7, "RLAIF" row), appended after the completion.
REWARD_SUFFIX = " Only output one score between 1 and 5 and do not give any explanation. Score: "

# Ground-truth rubrics, verbatim f-strings of the released data builders (PROTOCOL.md §6.5; the typo "Only response"
# is theirs). GSM8K (gsm.py:125) and SVAMP (svamp.py:173-174) share the text; {correct_response} is GSM8K's solution
# field (rationale + "#### N") or SVAMP's Equation + "\n#### " + Answer. {prompt} is the policy's prompt.
MATH_RUBRIC = (
    "You are a helpful math assistant, that evaluates another assistant's response based on how accurately the "
    "response solves the given problem. Here's the correct response: {correct_response}\n\nGive a score between 1 and "
    "5 based on partial correctness. 1 if the reasoning is poor, and 5 if the reasoning is correct and the answer is "
    "correct. Only response with a number between 1 and 5 and do not provide an explanation.\n\nUser: {prompt}\n"
    "Assistant: "
)
# ARC (arc.py:186-187): {correct_answer} is the gold option letter (the suite's positional letter, PROTOCOL.md §0).
MCQ_RUBRIC = (
    "You are a helpful math assistant, that evaluates another assistant's response based on how accurately the "
    "response answers the given problem. Here's the correct answer: {correct_answer}\n\nGive a score between 1 and 5 "
    "based on partial correctness. 1 if the reasoning is poor, and 5 if the reasoning is correct and the answer is "
    "correct. Only response with a number between 1 and 5 and do not provide an explanation.\n\nUser: {prompt}\n"
    "Assistant: "
)
# The paper's "RLAIF scoring instruction" (appendix C.2, PROTOCOL.md §5.1), one block as printed (the PDF's curly
# apostrophes straightened, as in the scripts' system message). Its builder is not released, so how the code laid it
# out (line breaks) is unknown; the printed text has single spaces.
RLAIF_INSTRUCTION = (
    "You are a helpful assistant, that evaluates another assistant's response based on how well the response is "
    "personalized to this user based on their stated preference. Give a score between 1 and 5, 1 if the response is "
    "general, and 5 if the response sufficiently addresses the user's preference. Only respond with a number between "
    "1 and 5 and do not provide an explanation. User preference: {context} User: {query} Assistant: "
)
# Decoding of the released reward call (PROTOCOL.md §3, "RLAIF / judge-RLVR reward call"): asked once.
PAPER_JUDGE = {"name": PAPER, "temperature": 0.1, "top_p": 0.9, "max_new_tokens": 1256, "retries": 0}

_FIRST_NUMBER = re.compile(r"[-+]?\d*\.?\d+")


@register(PAPER_PARSER)
def parse_paper_reward(reply: str) -> float | None:
    """The released reward code's parse, ``float(re.search(r"[-+]?\\d*\\.?\\d+", reply).group())``, with a number
    outside 1-5 counted as a failure (None) instead of a reward below 0 or above 1."""
    if not isinstance(reply, str):
        return None
    match = _FIRST_NUMBER.search(reply)
    if not match:
        return None
    number = float(match.group())
    return number if 1.0 <= number <= 5.0 else None


def paper_message(rubric: str, completion: str) -> list[dict]:
    """The released code's judge input: one user message, rubric and completion each stripped, then the suffix."""
    return [{"role": "user", "content": rubric.strip() + completion.strip() + REWARD_SUFFIX}]


def judge_backend(settings, ctx):
    """The judge's ``hf`` backend (loaded on first use): ``train.judge`` or the base model, on this process's device."""
    from ..generation import get_backend

    device = "cpu"
    if str(ctx.device).startswith("cuda"):
        from accelerate import PartialState

        device = str(PartialState().device)  # each rank's own GPU under accelerate launch
    return get_backend("hf", settings.judge or ctx.model_spec, batch_size=settings.judge_batch_size, device=device)


class JudgeReward(RewardFunction):
    """A frozen judge's 1-5 score / 5. Subclasses say what the judge is shown (:meth:`paper_messages`,
    :meth:`template_fields`); this class asks, parses, counts and maps failures to 0.0.

    Args:
        backend: a :mod:`mipo_bench.generation` backend (the judge); held for the reward's lifetime.
        template: ``paper`` (the released code's message) or a ``judges/`` template name or path.
        max_new_tokens: cap on the reply budget (None: the template's own; paper 1256).
        retries: sampled re-asks of an unparseable reply (None: the template's own; paper 0).
        seed: base seed of the judge's sampling (each request's seed derives from it and the request).
        batch_size: judge requests per generation batch.

    Besides the counters of :class:`RewardFunction`: ``retried`` (completions re-asked), ``judge_calls`` and
    ``judge_reply_tokens`` (the critic's replies, retries included: its generation cost) and ``failed_replies`` (the
    last 8 unparseable replies, to see why a judge fails).
    """

    def __init__(
        self,
        backend,
        template: str = PAPER,
        max_new_tokens: int | None = None,
        retries: int | None = None,
        seed: int = 0,
        batch_size: int = 8,
    ):
        super().__init__()
        self.backend = backend
        self.template = PAPER_JUDGE if template == PAPER else load_template(template)
        budget = self.template.get("max_new_tokens")
        if max_new_tokens is not None and budget:
            max_new_tokens = min(max_new_tokens, budget)
        self.decoding = template_decoding(self.template, max_new_tokens, retries, seed)
        self.parse = template_parser({"parser": PAPER_PARSER} if template == PAPER else self.template)
        self.batch_size = batch_size
        self.retried = 0
        self.judge_calls = 0  # replies asked of the critic, retries included
        self.judge_reply_tokens = 0
        self.failed_replies: deque[str] = deque(maxlen=8)  # the last unparseable replies, for diagnosis

    @classmethod
    def from_settings(cls, settings, ctx, tokenizer) -> "JudgeReward":
        return cls(
            judge_backend(settings, ctx),
            template=settings.judge_template,
            max_new_tokens=settings.judge_max_new_tokens,
            retries=settings.judge_retries,
            seed=ctx.seed,
            batch_size=settings.judge_batch_size,
        )

    def paper_messages(self, row: dict, prompt, completion: str) -> list[dict] | None:
        raise NotImplementedError

    def template_fields(self, row: dict, prompt) -> dict | None:
        """``query``, ``preference`` and ``reference`` for a ``judges/`` template; None: the row is not applicable."""
        raise NotImplementedError

    def messages(self, row: dict, prompt, completion: str) -> list[dict] | None:
        if self.template is PAPER_JUDGE:
            return self.paper_messages(row, prompt, completion)
        fields = self.template_fields(row, prompt)
        if fields is None:
            return None
        return judge_messages(
            self.template, fields["query"], completion, fields["preference"], reference=fields["reference"]
        )

    def score(self, prompts, completions, completion_ids, columns) -> list[float | None]:
        n = len(completions)
        values = {key: column(columns, key, n) for key in columns}
        rows = [{key: value[i] for key, value in values.items()} for i in range(n)]
        requests = []
        for i, (row, prompt, completion) in enumerate(zip(rows, prompts, completions)):
            messages = self.messages(row, prompt, completion_text(completion))
            if messages is not None:
                requests.append({"id": str(i), "messages": messages})
        with tempfile.TemporaryDirectory(prefix="mipo-judge-") as tmp:  # per-call cache: the judge is asked afresh
            answers = ask_until_parsed(
                self.backend, requests, self.parse, Path(tmp) / "reward.jsonl", self.decoding, self.batch_size
            )
        rewards: list[float | None] = [None] * n
        for request in requests:
            value, replies = answers[request["id"]]
            self.retried += len(replies) > 1
            self.judge_calls += len(replies)
            self.judge_reply_tokens += self.backend.count_tokens(list(replies))["tokens"]
            if value is None:
                self.failures += 1
                self.failed_replies.append(replies[-1])
            rewards[int(request["id"])] = 0.0 if value is None else float(value) / 5.0
        return rewards

    def stats(self) -> dict:
        return {
            **super().stats(),
            "retried": self.retried,
            "judge_calls": self.judge_calls,
            "judge_reply_tokens": self.judge_reply_tokens,
        }


def shown_reference(row: dict, kind: str) -> str:
    """The correct answer as the rubric shows it: the option letter; GSM8K's solution (rationale + "#### N");
    SVAMP's Equation + "\\n#### " + Answer (an empty equation when the row has none: the suite's SVAMP records keep
    only the answer); "#### N" for a math row with no solution."""
    answer = str(row.get("answer")).strip()
    if kind == "choice":
        return answer
    spec = DATASETS.get(row.get("dataset"), None) if isinstance(row.get("dataset"), str) else None
    if spec is not None and spec.reference_solution is not None:
        return spec.reference_solution({**row, "answer": answer})
    return row.get("solution") or f"#### {answer}"


@REWARDS.register("rlvr_judged")
class RubricJudgeReward(JudgeReward):
    """The paper's judged RLVR: the frozen judge sees the correct answer (the ground-truth rubric) and the completion.

    Columns: ``answer`` (required); ``dataset``, ``choices`` (the rubric: GSM8K/SVAMP or ARC), ``solution`` (GSM8K),
    ``equation`` (SVAMP). The rubric's "User:" line is the policy's own prompt (the task prompt it answered).
    """

    name = "rlvr_judged"
    required_columns = ("answer",)

    def paper_messages(self, row, prompt, completion):
        if row.get("answer") in (None, ""):
            return None
        kind = answer_kind(row.get("dataset"), choices=row.get("choices"), answer=row["answer"])
        reference = shown_reference(row, kind)
        if kind == "choice":
            rubric = MCQ_RUBRIC.format(correct_answer=reference, prompt=user_text(prompt))
        else:
            rubric = MATH_RUBRIC.format(correct_response=reference, prompt=user_text(prompt))
        return paper_message(rubric, completion)

    def template_fields(self, row, prompt):
        if row.get("answer") in (None, ""):
            return None
        kind = answer_kind(row.get("dataset"), choices=row.get("choices"), answer=row["answer"])
        return {"query": user_text(prompt), "preference": "", "reference": shown_reference(row, kind)}


@REWARDS.register("rlaif_critic")
class CriticReward(JudgeReward):
    """The paper's RLAIF critic: the frozen initial model scores how well the completion fits the user's context.

    Columns: ``context`` (required: the user's stated preferences); ``query`` (the user's query without the context;
    the policy prompt's user text when the row has none).
    """

    name = "rlaif_critic"
    required_columns = ("context",)

    def _query(self, row, prompt) -> str:
        return row.get("query") if isinstance(row.get("query"), str) and row.get("query") else user_text(prompt)

    def paper_messages(self, row, prompt, completion):
        if not isinstance(row.get("context"), str) or not row["context"].strip():
            return None
        rubric = RLAIF_INSTRUCTION.format(context=row["context"], query=self._query(row, prompt))
        return paper_message(rubric, completion)

    def template_fields(self, row, prompt):
        if not isinstance(row.get("context"), str) or not row["context"].strip():
            return None
        return {"query": self._query(row, prompt), "preference": row["context"], "reference": None}
