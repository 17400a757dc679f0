"""Reward functions for the online methods (``mipo_bench.training.online``), as TRL's GRPOTrainer calls them.

TRL calls every reward function once per generation batch as

    reward_func(prompts=[messages, ...], completions=[[{"role": "assistant", "content": text}], ...],
                completion_ids=[[token ids], ...], **columns) -> list[float | None]

where ``columns`` holds every other column of the PROMPTS rows (``answer``, ``context``, ``base_prompt``, ...), one
value per completion, plus TRL's ``trainer_state``, ``log_extra`` and ``log_metric``. ``None`` means "not applicable"
(TRL turns it into NaN and leaves it out of the group baseline). A reward here is a class registered in
:data:`REWARDS`; its instances are such callables, with a ``__name__`` (TRL logs ``rewards/<name>/mean``), counters
(``calls``: completions scored, ``failures``: completions whose reward could not be read, each given a defined
reward) and the seconds spent inside them (``seconds``, for the benchmark). Every reward is batched and reads a
malformed completion (empty, not text, no answer) as a defined reward, never an exception.

Registered: ``rlvr_exact_match`` (:mod:`.verifiable`), ``rlvr_judged`` and ``rlaif_critic`` (:mod:`.critic`),
``mutual_information`` (:mod:`.mutual_information`). Each class has ``from_settings(settings, ctx, tokenizer)``, which
builds it from the recipe's ``train:`` section (:class:`mipo_bench.training.online.OnlineSettings`).
"""

from __future__ import annotations

import time

from ..core.chat import is_chat, last_user_text  # noqa: F401  (is_chat: part of this module's interface)
from ..core.registry import Registry

REWARDS: Registry[type] = Registry("reward")
TRL_KWARGS = ("trainer_state", "log_extra", "log_metric")


def completion_text(completion) -> str:
    """The text of one completion: a plain string, or the string contents of a conversational completion's
    messages joined; anything else (None, a number, a message without content) reads as ""."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if isinstance(completion, (list, tuple)):
        contents = [m.get("content") for m in completion if isinstance(m, dict)]
        return "".join(c for c in contents if isinstance(c, str))
    return ""


def user_text(messages) -> str:
    """The last user message's text of a chat (the task prompt), or "" for anything that is not a chat."""
    if isinstance(messages, str):
        return messages
    if not isinstance(messages, (list, tuple)):
        return ""
    return last_user_text(messages)


class RewardFunction:
    """Base of the registered rewards: times and counts the calls; subclasses implement :meth:`score`.

    Attributes:
        name: the registry name, also the instance's ``__name__`` (TRL's ``rewards/<name>/...`` log keys).
        required_columns: PROMPTS columns every row needs for this reward; the trainer builder checks them up front,
            naming the row. At call time a row without them gets ``None`` (not applicable), never an exception.
        calls: completions scored so far.
        failures: completions whose reward could not be read (no extractable answer, an unparseable judge reply),
            each given the reward's defined failure value; see the subclass.
        seconds: wall time spent inside the calls.
        completion_tokens: tokens of the completions scored (TRL's ``completion_ids``): the rollouts' generation cost.
    """

    name = "reward"
    required_columns: tuple[str, ...] = ()

    def __init__(self):
        self.__name__ = self.name
        self.calls = 0
        self.failures = 0
        self.seconds = 0.0
        self.completion_tokens = 0

    def __call__(self, prompts, completions, completion_ids=None, **columns) -> list[float | None]:
        start = time.perf_counter()
        log_metric = columns.get("log_metric")
        columns = {k: v for k, v in columns.items() if k not in TRL_KWARGS}
        failures_before = self.failures
        try:
            rewards = self.score(list(prompts), list(completions), completion_ids, columns)
        finally:
            self.seconds += time.perf_counter() - start
        self.calls += len(rewards)
        self.completion_tokens += sum(len(ids) for ids in completion_ids or () if ids is not None)
        if callable(log_metric) and rewards:
            log_metric(f"{self.name}/failure_rate", (self.failures - failures_before) / len(rewards))
        return rewards

    def score(self, prompts: list, completions: list, completion_ids, columns: dict) -> list[float | None]:
        raise NotImplementedError

    def stats(self) -> dict:
        return {
            "calls": self.calls,
            "failures": self.failures,
            "seconds": self.seconds,
            "completion_tokens": self.completion_tokens,
        }


def column(columns: dict, key: str, n: int) -> list:
    """Column ``key`` of a batch as ``n`` values (``None`` each when the rows have no such column)."""
    values = columns.get(key)
    if not isinstance(values, (list, tuple)) or len(values) != n:
        return [None] * n
    return list(values)


from . import critic, mutual_information, verifiable  # noqa: E402,F401  (registration)

__all__ = ["REWARDS", "RewardFunction", "completion_text", "user_text", "is_chat", "column"]
