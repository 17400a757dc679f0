"""MIPO-personalized, missing context: rejected ~ pi_ref(y | x), x rendered with the paper's base prompt (the paper's
recommended default, Table 1 "MIPO")."""

from __future__ import annotations

from ..data.prompts import personalized_prompt
from .base import PairStrategy, register


@register("missing")
class MissingContext(PairStrategy):
    needs_context = True

    def rejected_source(self, item, items, rng):
        return {"prompt": personalized_prompt(item["query"], None), "from_id": None, "context": None}
