"""General MIPO: rejected ~ pi_ref(y | x'), x' another prompt of the same set (never x itself)."""

from __future__ import annotations

from .base import PairStrategy, register


@register("random_prompt")
class RandomPrompt(PairStrategy):
    def rejected_source(self, item, items, rng):
        others = sorted((it for it in items if it["prompt"] != item["prompt"]), key=lambda it: it["id"])
        if not others:
            raise ValueError("random_prompt needs at least two distinct prompts")
        other = rng.choice(others)
        return {"prompt": other["prompt"], "from_id": other["id"]}
