"""MIPO-personalized, missing context: rejected ~ pi_ref(y | x) (the paper's recommended default)."""

from __future__ import annotations

from .base import PairStrategy, register


@register("missing")
class MissingContext(PairStrategy):
    needs_context = True

    def rejected_source(self, item, items, rng):
        return {"prompt": item["prompt"], "from_id": None, "context": None}
