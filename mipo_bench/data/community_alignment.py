"""Community Alignment (Zhang et al., 2025), ``facebook/community-alignment-dataset`` (split ``filtered``) or the
release CSV ``community_alignment.csv`` in a mirror at ``personalization/community_alignment/``.

Columns used (from the release): ``conversation_id``, ``annotator_id``, ``assigned_lang``, ``first_turn_prompt``,
``first_turn_response_{a,b,c,d}`` and ``first_turn_preferred_response`` ("response_b"). Each English row becomes
one record: the prompt, the annotator's chosen response, and a rejected one (the first other response). The user
context is verbalized later from chosen vs rejected (`mipo-bench contexts`); until then ``context`` is None.
NOT available offline here: tested on a fixture written in this schema.
"""

from __future__ import annotations

import csv
from pathlib import Path

from .records import DataFormatError
from .spec import PERSONALIZATION, DatasetSpec, Decoding, register_dataset

HUB_ID = "facebook/community-alignment-dataset"
SUBDIR = Path("personalization") / "community_alignment"
LETTERS = "abcd"


def to_record(row: dict, path, line: int) -> dict | None:
    """A normalized record, or None for rows the paper does not use (not English, no first-turn choice)."""
    if (row.get("assigned_lang") or "en") != "en" or not row.get("first_turn_preferred_response"):
        return None
    for key in ("conversation_id", "first_turn_prompt"):
        if not str(row.get(key) or "").strip():
            raise DataFormatError(path, line, f"missing field {key!r}")
    preferred = str(row["first_turn_preferred_response"]).strip().removeprefix("response_").lower()
    if preferred not in LETTERS:
        raise DataFormatError(
            path,
            line,
            f"first_turn_preferred_response {row['first_turn_preferred_response']!r} is not response_a..response_d",
        )
    responses = {
        c: str(row.get(f"first_turn_response_{c}") or "").replace("<|end_of_text|>", "").strip() for c in LETTERS
    }
    if not responses[preferred]:
        raise DataFormatError(path, line, f"the preferred response first_turn_response_{preferred} is empty")
    others = [responses[c] for c in LETTERS if c != preferred and responses[c]]
    if not others:
        raise DataFormatError(path, line, "no non-preferred response to serve as rejected")
    return {
        "id": f"ca/{row['conversation_id']}",
        "prompt": str(row["first_turn_prompt"]).strip(),
        "context": None,
        "preferences": [],
        "reference": responses[preferred],
        "chosen": responses[preferred],
        "rejected": others[0],
        "user_id": str(row.get("annotator_id") or ""),
    }


def from_mirror(root: Path) -> list[dict]:
    path = root / SUBDIR / "community_alignment.csv"
    if not path.is_file():
        raise DataFormatError(path, None, "file not found (Community Alignment is on the HF hub only)")
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        records = [to_record(row, path, reader.line_num) for row in reader]
    return [r for r in records if r is not None]


def from_hub() -> list[dict]:
    import datasets

    rows = datasets.load_dataset(HUB_ID, split="filtered")
    return [r for i, row in enumerate(rows) if (r := to_record(row, HUB_ID, i + 1)) is not None]


SPEC = register_dataset(
    DatasetSpec(
        name="community_alignment",
        kind=PERSONALIZATION,
        eval_task="mipo_community_alignment",
        pair_sampling=Decoding(0.1, 0.9, 512),  # not released: PRISM's
        from_mirror=lambda root, split: from_mirror(root),
        from_hub=lambda split: from_hub(),
        hub_id=HUB_ID,
        splits=("test",),  # one set: the eval sample is held out, the rest are training prompts
        eval_size=200,  # not given by the paper: the suite's default
        contexts_template="extract_preferences",
    )
)
