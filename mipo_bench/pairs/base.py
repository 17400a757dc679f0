"""The strategy interface and the pair plan (which chat each side of each pair is generated from)."""

from __future__ import annotations

import random

STRATEGIES: dict[str, type["PairStrategy"]] = {}


def register(name: str):
    def wrap(cls):
        cls.name = name
        STRATEGIES[name] = cls
        return cls

    return wrap


def get_strategy(name: str) -> "PairStrategy":
    if name not in STRATEGIES:
        raise ValueError(f"unknown pair strategy {name!r}; known: {', '.join(sorted(STRATEGIES))}")
    return STRATEGIES[name]()


def personalized_prompt(prompt: str, context: str | None) -> str:
    """The paper's personalized prompting (appendix C.2): the query, then the user's requirements."""
    if not context:
        return prompt
    return f"{prompt}\n\nPlease respect the following requirements made by the user: {context}"


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


class PairStrategy:
    """Subclasses set ``needs_context`` and implement :meth:`rejected_source`."""

    name = "base"
    needs_context = False

    def chosen_prompt(self, item: dict) -> str:
        return personalized_prompt(item["prompt"], item.get("context"))

    def rejected_source(self, item: dict, items: list[dict], rng: random.Random) -> dict:
        """What the rejected response is generated from: ``{"prompt": text, "from_id": id or None, ...}``."""
        raise NotImplementedError


def _item_rng(seed: int, item_id: str) -> random.Random:
    return random.Random(f"{seed}:{item_id}")


def plan_pairs(items: list[dict], strategy: PairStrategy, seed: int = 0) -> list[dict]:
    """One plan row per item: the chat for the chosen side, the chat for the rejected side, and provenance.

    Each item draws from its own RNG seeded by (seed, item id), so a seed reproduces the same plan whatever the
    order or number of other items.
    """
    ids = [it["id"] for it in items]
    if len(set(ids)) != len(ids):
        raise ValueError("pair items need unique ids")
    if strategy.needs_context:
        missing = [it["id"] for it in items if not it.get("context")]
        if missing:
            raise ValueError(f"strategy {strategy.name!r} needs a user context; items without one: {missing[:5]}")
    plan = []
    for item in items:
        chosen = strategy.chosen_prompt(item)
        source = strategy.rejected_source(item, items, _item_rng(seed, item["id"]))
        plan.append(
            {
                "id": item["id"],
                "strategy": strategy.name,
                "prompt": user(chosen),
                "chosen_messages": user(chosen),
                "rejected_messages": user(source["prompt"]),
                "rejected_from": source.get("from_id"),
                "rejected_context": source.get("context"),
            }
        )
    return plan
