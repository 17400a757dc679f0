"""General MIPO: rejected ~ pi_ref(y | x'), x' another prompt of the same set (never x itself), a fresh sample."""

from __future__ import annotations

from .base import OtherPicker, PairStrategy, _item_rng, item_prompt, register


@register("random_prompt")
class RandomPrompt(PairStrategy):
    def rejected_sources(self, items, seed):
        picker = OtherPicker(items, key=item_prompt)
        sources = []
        for item in items:
            other = picker.pick(item, _item_rng(seed, item["id"]))
            if other is None:
                raise ValueError("random_prompt needs at least two distinct prompts")
            sources.append({"prompt": item_prompt(other), "from_id": other["id"], "context": other.get("context")})
        return sources
