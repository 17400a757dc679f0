"""Table 5's ``prompt`` ablation: MI with the joint (prompt, context); rejected ~ pi_ref(y | x', c')."""

from __future__ import annotations

from .base import PairStrategy, personalized_prompt, register


@register("prompt")
class JointPrompt(PairStrategy):
    needs_context = True

    def rejected_source(self, item, items, rng):
        others = sorted((it for it in items if it["prompt"] != item["prompt"]), key=lambda it: it["id"])
        if not others:
            raise ValueError("the 'prompt' strategy needs at least two distinct prompts")
        other = rng.choice(others)
        return {
            "prompt": personalized_prompt(other["prompt"], other["context"]),
            "from_id": other["id"],
            "context": other["context"],
        }
