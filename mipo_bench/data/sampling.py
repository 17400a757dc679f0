"""The seeded draws of the suite: the released scripts' pandas sample (evaluation items), the suite's own
order-keeping draw (training prompts), the one draw of "another prompt x'" (:func:`draw_others`: MIPO's
random-prompt pairs, the MI reward's base prompt and the MI meter's contrasts all call it), and the lettering of
multiple-choice options by position."""

from __future__ import annotations

import random

EVAL_SEED = 42
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def sample(records: list[dict], n: int | None, seed: int = EVAL_SEED) -> list[dict]:
    """``n`` records drawn without replacement with ``seed``, kept in their original order (the suite's own draw,
    used for training prompts and strata; evaluation items use :func:`paper_sample`)."""
    if n is None or n >= len(records):
        return list(records)
    keep = sorted(random.Random(seed).sample(range(len(records)), n))
    return [records[i] for i in keep]


def paper_sample(records: list[dict], n: int | None, seed: int = EVAL_SEED) -> list[dict]:
    """The released scripts' draw: ``DataFrame.sample(n, random_state=seed, replace=False)`` on the split in its
    file (hub) order, in the order pandas returns (PROTOCOL.md §1.1); the whole split when ``n`` is None or larger."""
    if n is None or n >= len(records):
        return list(records)
    import pandas as pd

    order = pd.DataFrame({"row": range(len(records))}).sample(n=n, random_state=seed, replace=False)["row"]
    return [records[i] for i in order.tolist()]


def with_letters(record: dict) -> dict:
    """A multiple-choice record as the paper's prompt shows it: options lettered A, B, C, … by position, the gold
    answer the letter at the position of the released key (kept as ``released_answer``; PROTOCOL.md §2.2)."""
    if not record.get("choices"):
        return record
    labels = [c["label"] for c in record["choices"]]
    letters = [LETTERS[i] for i in range(len(labels))]
    return {
        **record,
        "choices": [{"label": letter, "text": c["text"]} for letter, c in zip(letters, record["choices"])],
        "answer": letters[labels.index(record["answer"])],
        "released_answer": record["answer"],
    }


def draw_others(items: list[dict], k: int, seed: int, key=lambda item: item["prompt"]) -> dict[str, list[dict]]:
    """For each item, ``k`` other items whose ``key`` (their prompt text) differs from its own, drawn without
    replacement (fewer when the set has fewer), keyed by item id.

    The one definition of x', "another prompt of the same set" (§4 L84: y_r ~ pi_ref(y | x'), x' ~ X): the draw is made
    from the items sorted by id with ``random.Random(f"{seed}:{id}")``, so an item's x' depends on the seed, its id and
    the set, never on the order of the items. ``k=1`` is MIPO's random-prompt rejection and the MI reward's base
    prompt on general tasks; ``k`` > 1 the MI meter's contrasts (its first draw is the pairs' x'). Items are
    ``{"id", ...}`` dicts with unique ids; an item with no other prompt in the set gets an empty list.
    """
    ordered = sorted(items, key=lambda it: it["id"])
    positions: dict = {}
    for i, it in enumerate(ordered):
        positions.setdefault(key(it), []).append(i)
    out = {}
    for item in items:
        same = positions[key(item)]
        n_other = len(ordered) - len(same)
        picks = random.Random(f"{seed}:{item['id']}").sample(range(n_other), min(int(k), n_other))
        out[item["id"]] = [ordered[_skip(p, same)] for p in picks]
    return out


def _skip(k: int, same: list[int]) -> int:
    """The position of the ``k``-th item of the sorted list once the (sorted) positions ``same`` are left out."""
    for position in same:
        if position > k:
            break
        k += 1
    return k
