"""PRISM (Kirk et al., 2024), ``HannahRoseKirk/prism-alignment`` (config ``conversations``) or the release file
``conversations.jsonl`` in a mirror at ``personalization/prism/``.

Each conversation row has ``conversation_id``, ``user_id``, ``opening_prompt`` and ``conversation_history``: turns
with ``turn``, ``role`` ("user"/"model"), ``content``, ``model_name``, ``score``, ``if_chosen``. The first turn's
chosen model response is the reference; the lowest-scored other response of that turn is the rejected one. The user
context is verbalized later from chosen vs rejected (`mipo-bench contexts`); until then ``context`` is None.
NOT available offline here: tested on a fixture written in this schema.
"""

from __future__ import annotations

from pathlib import Path

from .records import DataFormatError, field, read_jsonl
from .spec import PERSONALIZATION, DatasetSpec, Decoding, register_dataset

HUB_ID = "HannahRoseKirk/prism-alignment"
SUBDIR = Path("personalization") / "prism"


def to_record(row: dict, path, line: int) -> dict | None:
    history = field(row, "conversation_history", path, line, list)
    first = [t for t in history if isinstance(t, dict) and t.get("turn", 0) == 0 and t.get("role") == "model"]
    chosen = [t for t in first if t.get("if_chosen")]
    if not chosen:
        return None  # no first-turn choice recorded
    others = sorted(
        (t for t in first if not t.get("if_chosen")), key=lambda t: (t.get("score") is None, t.get("score"))
    )
    if not others:
        return None
    for turn in (chosen[0], others[0]):
        if not isinstance(turn.get("content"), str) or not turn["content"].strip():
            raise DataFormatError(path, line, "a first-turn model response has no content")
    return {
        "id": f"prism/{field(row, 'conversation_id', path, line)}",
        "prompt": field(row, "opening_prompt", path, line).strip(),
        "context": None,
        "preferences": [],
        "reference": chosen[0]["content"].strip(),
        "chosen": chosen[0]["content"].strip(),
        "rejected": others[0]["content"].strip(),
        "user_id": str(row.get("user_id", "")),
    }


def from_mirror(root: Path) -> list[dict]:
    path = root / SUBDIR / "conversations.jsonl"
    return [r for line, row in read_jsonl(path) if (r := to_record(row, path, line)) is not None]


def from_hub() -> list[dict]:
    import datasets

    rows = datasets.load_dataset(HUB_ID, "conversations", split="train")
    return [r for i, row in enumerate(rows) if (r := to_record(row, HUB_ID, i + 1)) is not None]


SPEC = register_dataset(
    DatasetSpec(
        name="prism",
        kind=PERSONALIZATION,
        eval_task="mipo_prism",
        pair_sampling=Decoding(0.1, 0.9, 512),
        from_mirror=lambda root, split: from_mirror(root),
        from_hub=lambda split: from_hub(),
        hub_id=HUB_ID,
        splits=("test",),  # one set: the eval sample is held out, the rest are training prompts
        eval_size=200,
        contexts_template="extract_preferences",
        eval_sample="head",  # the script judges the first 200 rows of its file (PROTOCOL.md §1.1)
    )
)
