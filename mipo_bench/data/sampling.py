"""The two seeded draws of the suite: the released scripts' pandas sample (evaluation items) and the suite's own
order-keeping draw (training prompts), and the lettering of multiple-choice options by position."""

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
