"""Pair strategies: how the rejected side of a MIPO pair is sampled.

Each strategy is one module registering itself with :func:`register`; a strategy turns an item
(``id, prompt`` and, for personalization, ``context`` and optionally ``eligible_contexts``) into the chat sent
for the chosen response and the chat sent for the rejected one. The pair is always stored under the chosen
side's prompt (x, or x with its context c).
"""

from __future__ import annotations

from . import missing_context, prompt_ablation, random_context, random_prompt  # noqa: F401,E402  (registration)
from .base import STRATEGIES, PairStrategy, get_strategy, personalized_prompt, plan_pairs, register

__all__ = ["STRATEGIES", "PairStrategy", "get_strategy", "personalized_prompt", "plan_pairs", "register"]
