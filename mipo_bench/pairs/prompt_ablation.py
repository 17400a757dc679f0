"""Table 5's ``prompt`` ablation: MI with the joint (prompt, context); rejected ~ pi_ref(y | x', c'), another item's
query with that item's context."""

from __future__ import annotations

from ..data.prompts import personalized_prompt
from .base import OtherPicker, PairStrategy, _item_rng, register


@register("prompt")
class JointPrompt(PairStrategy):
    needs_context = True

    def rejected_sources(self, items, seed):
        picker = OtherPicker(items, key=lambda it: it["query"])
        sources = []
        for item in items:
            other = picker.pick(item, _item_rng(seed, item["id"]))
            if other is None:
                raise ValueError("the 'prompt' strategy needs at least two distinct queries")
            prompt = personalized_prompt(other["query"], other["context"])
            sources.append({"prompt": prompt, "from_id": other["id"], "context": other["context"]})
        return sources
