"""General MIPO as the released scripts build it: rejected_i = the chosen response of another item, under a seeded
permutation of the chosen responses (no second generation; PROTOCOL.md §6.1, arc.py / svamp.py).

The scripts' ``random.sample`` / ``random.shuffle`` is unseeded and allows fixed points (a pair whose rejected is its
own chosen response); here the permutation is seeded and a derangement whose every item maps to another prompt.
The rejected response is stored under x_i, the chosen side's prompt, as in the scripts.
"""

from __future__ import annotations

import random

from .base import PairStrategy, item_prompt, register

MAX_TRIES = 10_000


def derangement(prompts: list[str], rng: random.Random) -> list[int]:
    """A uniformly drawn permutation ``p`` with ``prompts[p[i]] != prompts[i]`` for every ``i`` (rejection sampling:
    about e tries when prompts are distinct)."""
    order = list(range(len(prompts)))
    for _ in range(MAX_TRIES):
        rng.shuffle(order)
        if all(prompts[j] != prompts[i] for i, j in enumerate(order)):
            return order
    raise ValueError("random_prompt_shuffle: no permutation maps every item to another prompt (too many duplicates)")


@register("random_prompt_shuffle")
class RandomPromptShuffle(PairStrategy):
    def rejected_sources(self, items, seed):
        if len({item_prompt(it) for it in items}) < 2:
            raise ValueError("random_prompt_shuffle needs at least two distinct prompts")
        ordered = sorted(items, key=lambda it: it["id"])  # the draw ignores item order
        perm = derangement([item_prompt(it) for it in ordered], random.Random(f"{seed}:random_prompt_shuffle"))
        other = {it["id"]: ordered[j]["id"] for it, j in zip(ordered, perm)}
        return [{"from_id": other[it["id"]], "reuse_chosen": True} for it in items]
