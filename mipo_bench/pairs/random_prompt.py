"""General MIPO: rejected ~ pi_ref(y | x'), x' another prompt of the same set (never x itself), a fresh sample; x' is
the suite's one draw of another prompt (:func:`mipo_bench.data.sampling.draw_others`)."""

from __future__ import annotations

from ..data.sampling import draw_others
from .base import PairStrategy, item_prompt, register


@register("random_prompt")
class RandomPrompt(PairStrategy):
    def rejected_sources(self, items, seed):
        others = draw_others(items, 1, seed, key=item_prompt)
        sources = []
        for item in items:
            if not others[item["id"]]:
                raise ValueError("random_prompt needs at least two distinct prompts")
            other = others[item["id"]][0]
            sources.append({"prompt": item_prompt(other), "from_id": other["id"], "context": other.get("context")})
        return sources
