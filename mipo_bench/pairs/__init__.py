"""Pair strategies: how the rejected side of a MIPO pair is sampled.

Each strategy is one module registering itself with :func:`register`; a strategy turns an item (general:
``id, prompt``; personalization: ``id, query, context`` and optionally ``eligible_contexts``) into the chat sent
for the chosen response and the chat sent for the rejected one, or declares that the rejected response is another
item's chosen response (``random_prompt_shuffle``). The pair is always stored under the chosen side's prompt.
"""

from __future__ import annotations

from . import (  # noqa: F401,E402  (registration)
    missing_context,
    prompt_ablation,
    random_context,
    random_prompt,
    random_prompt_shuffle,
)
from .base import STRATEGIES, PairStrategy, get_strategy, item_prompt, plan_pairs, register

__all__ = ["STRATEGIES", "PairStrategy", "get_strategy", "item_prompt", "plan_pairs", "register"]
