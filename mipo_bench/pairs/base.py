"""The strategy interface and the pair plan (which chat each side of each pair is generated from).

Items are explicit about what they are:

* a general item ``{"id", "prompt"}``: ``prompt`` is the rendered task prompt (e.g. the 8-shot math prompt), sent
  as is;
* a personalization item ``{"id", "query", "context", "eligible_contexts"?}``: the raw user query and the user's
  context; strategies render it with the paper's :func:`mipo_bench.data.prompts.personalized_prompt` (its base prompt
  when the context is missing).
"""

from __future__ import annotations

import random

from ..core.chat import user_chat
from ..core.registry import Registry
from ..data.prompts import personalized_prompt

STRATEGIES: Registry[type["PairStrategy"]] = Registry("pair strategy")


def register(name: str):
    """Class decorator: register a :class:`PairStrategy` subclass under ``name`` (also its ``name`` attribute)."""

    def wrap(cls):
        cls.name = name
        return STRATEGIES.register(name)(cls)

    return wrap


def get_strategy(name: str) -> "PairStrategy":
    return STRATEGIES.get(name)()


def item_prompt(item: dict) -> str:
    """The user message of ``item``'s chosen side: its rendered prompt (general), or its query with its own context
    through the paper's personalized prompt (the base prompt when it has none)."""
    if "query" not in item:
        return item["prompt"]
    return personalized_prompt(item["query"], item.get("context"))


class PairStrategy:
    """Subclasses set ``needs_context`` and implement :meth:`rejected_source` (or :meth:`rejected_sources` when the
    rejected sides are drawn jointly, e.g. a permutation).

    A source is ``{"prompt": text, "from_id": id or None, "context": c or None}``; a strategy whose rejected response
    is another item's chosen response (no second generation) returns ``{"from_id": other, "reuse_chosen": True}``.
    """

    name = "base"
    needs_context = False

    def chosen_prompt(self, item: dict) -> str:
        return item_prompt(item)

    def rejected_source(self, item: dict, items: list[dict], rng: random.Random) -> dict:
        raise NotImplementedError

    def rejected_sources(self, items: list[dict], seed: int) -> list[dict]:
        """One source per item; by default each item draws from its own RNG seeded by (seed, item id), so a seed
        reproduces an item's draw whatever the order or number of other items."""
        return [self.rejected_source(item, items, _item_rng(seed, item["id"])) for item in items]


def _item_rng(seed: int, item_id: str) -> random.Random:
    return random.Random(f"{seed}:{item_id}")


def check_items(items: list[dict], strategy: PairStrategy) -> None:
    ids = [it.get("id") for it in items]
    if len(set(ids)) != len(ids):
        raise ValueError("pair items need unique ids")
    for it in items:
        if ("prompt" in it) == ("query" in it):
            raise ValueError(
                f"pair item {it.get('id')!r}: give either 'prompt' (a rendered task prompt) or 'query' (+ 'context', "
                f"a personalization item), not {'both' if 'prompt' in it else 'neither'}"
            )
    if strategy.needs_context:
        general = [it["id"] for it in items if "query" not in it]
        if general:
            raise ValueError(f"strategy {strategy.name!r} needs personalization items (query + context): {general[:5]}")
        missing = [it["id"] for it in items if not it.get("context")]
        if missing:
            raise ValueError(f"strategy {strategy.name!r} needs a user context; items without one: {missing[:5]}")


def plan_pairs(items: list[dict], strategy: PairStrategy, seed: int = 0) -> list[dict]:
    """One plan row per item: the chat for the chosen side, the chat (or reused chosen side) for the rejected side,
    and provenance."""
    check_items(items, strategy)
    by_id = {it["id"]: it for it in items}
    plan = []
    for item, source in zip(items, strategy.rejected_sources(items, seed)):
        chosen = strategy.chosen_prompt(item)
        reuse = bool(source.get("reuse_chosen"))
        if reuse and source.get("from_id") not in by_id:
            raise ValueError(f"strategy {strategy.name!r}: item {item['id']!r} reuses an unknown item's response")
        rejected = strategy.chosen_prompt(by_id[source["from_id"]]) if reuse else source["prompt"]
        plan.append(
            {
                "id": item["id"],
                "strategy": strategy.name,
                "prompt": user_chat(chosen),
                "chosen_messages": user_chat(chosen),
                "rejected_messages": user_chat(rejected),
                "rejected_from": source.get("from_id"),
                "rejected_context": source.get("context"),
                "rejected_reuses_chosen": reuse,
            }
        )
    return plan
