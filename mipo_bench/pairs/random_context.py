"""MIPO-personalized, random context: rejected ~ pi_ref(y | x, c'), the paper's personalized prompt with c'.

c' comes from the item's own ``eligible_contexts`` when contexts depend on the prompt (Multi-Bench), else from
the pool of all items' contexts; never c itself.
"""

from __future__ import annotations

import random
from bisect import bisect_left

from ..data.prompts import personalized_prompt
from .base import PairStrategy, _item_rng, register


def draw_other(pool: list[str], own: str, rng: random.Random) -> str | None:
    """A uniform draw from the sorted ``pool`` without ``own`` (None when nothing else is there)."""
    at = bisect_left(pool, own)
    if at < len(pool) and pool[at] == own:
        if len(pool) == 1:
            return None
        k = rng.randrange(len(pool) - 1)
        return pool[k + (k >= at)]
    return rng.choice(pool) if pool else None


@register("random")
class RandomContext(PairStrategy):
    needs_context = True

    def rejected_sources(self, items, seed):
        shared = sorted({it["context"] for it in items if it.get("context")})  # sorted: the draw ignores item order
        sources = []
        for item in items:
            eligible = item.get("eligible_contexts")
            pool = sorted({c for c in eligible if c}) if eligible else shared
            context = draw_other(pool, item["context"], _item_rng(seed, item["id"]))
            if context is None:
                raise ValueError(f"item {item['id']!r}: no other context to sample for the 'random' strategy")
            sources.append({"prompt": personalized_prompt(item["query"], context), "from_id": None, "context": context})
        return sources
