"""Table 5's ``prompt`` ablation: MI with the joint (prompt, context); rejected ~ pi_ref(y | x', c'), another item's
query with that item's context."""

from __future__ import annotations

from ..data.prompts import personalized_prompt
from ..data.sampling import draw_others
from .base import PairStrategy, register


@register("prompt")
class JointPrompt(PairStrategy):
    needs_context = True

    def rejected_sources(self, items, seed):
        others = draw_others(items, 1, seed, key=lambda it: it["query"])
        sources = []
        for item in items:
            other = next(iter(others[item["id"]]), None)
            if other is None:
                raise ValueError("the 'prompt' strategy needs at least two distinct queries")
            prompt = personalized_prompt(other["query"], other["context"])
            sources.append({"prompt": prompt, "from_id": other["id"], "context": other["context"]})
        return sources
