"""MIPO-personalized, random context: rejected ~ pi_ref(y | x, c').

c' comes from the item's own ``eligible_contexts`` when contexts depend on the prompt (Multi-Bench), else from
the pool of all items' contexts; never c itself.
"""

from __future__ import annotations

from .base import PairStrategy, personalized_prompt, register


@register("random")
class RandomContext(PairStrategy):
    needs_context = True

    def rejected_source(self, item, items, rng):
        if item.get("eligible_contexts"):
            pool = list(dict.fromkeys(item["eligible_contexts"]))
        else:
            pool = list(dict.fromkeys(it["context"] for it in items))
        pool = sorted(c for c in pool if c != item["context"])  # sorted: the draw ignores item order
        if not pool:
            raise ValueError(f"item {item['id']!r}: no other context to sample for the 'random' strategy")
        context = rng.choice(pool)
        return {"prompt": personalized_prompt(item["prompt"], context), "from_id": None, "context": context}
