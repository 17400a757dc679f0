"""Community Alignment (Zhang et al., 2025), ``facebook/community-alignment-dataset`` - today one file,
``community_alignment.csv``, which the hub serves as split ``train`` (the v1.0 release's ``filtered`` split is gone) -
or that CSV in a mirror at ``personalization/community_alignment/``.

Columns used (from the release): ``conversation_id``, ``annotator_id``, ``assigned_lang``, ``first_turn_prompt``,
``first_turn_response_{a,b,c,d}`` and ``first_turn_preferred_response`` ("response_b"). Each English row becomes
one record: the prompt, the annotator's chosen response, and a rejected one: one of the other non-empty responses,
drawn per conversation with a fixed seed (always the first other slot would tie "rejected" to response_a/b). A row
with an empty preferred response or an unknown label is skipped and counted (:func:`.records.keep_good_rows`). The
user context is verbalized later from chosen vs rejected (`mipo-bench contexts`); until then ``context`` is None.
NOT available offline here: tested on fixtures written in this schema.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

from .records import DataFormatError, MalformedRow, keep_good_rows, present
from .spec import PERSONALIZATION, DatasetSpec, Decoding, register_dataset

HUB_ID = "facebook/community-alignment-dataset"
HUB_SPLIT = "train"  # the one CSV of the current revision (v1.0 had a "filtered" split)
# pinned: main as of the one-CSV layout this loader reads. The paper's CA files were built from a revision the release
# does not name (PROTOCOL.md §1: AMBIGUOUS), from the v1.0 "filtered" split, which this revision no longer has.
HUB_REVISION = "97343c7f6399fcbea430ed0f37c1768281a78d56"
SUBDIR = Path("personalization") / "community_alignment"
RESPONSE_KEYS = "abcd"  # first_turn_response_a ... _d


def to_record(row: dict, path, line: int) -> dict | None:
    """A normalized record, or None for rows the paper does not use (not English, no first-turn choice); a
    :class:`MalformedRow` for a row that cannot be used (an empty preferred response, an unknown label)."""
    if (row.get("assigned_lang") or "en") != "en" or not present(row.get("first_turn_preferred_response")):
        return None
    for key in ("conversation_id", "first_turn_prompt"):
        if not present(row.get(key)):
            raise MalformedRow(path, line, f"missing field {key!r}")
    preferred = str(row["first_turn_preferred_response"]).strip().removeprefix("response_").lower()
    if preferred not in RESPONSE_KEYS:
        raise MalformedRow(
            path,
            line,
            f"first_turn_preferred_response {row['first_turn_preferred_response']!r} is not response_a..response_d",
        )
    responses = {
        c: str(row.get(f"first_turn_response_{c}") or "").replace("<|end_of_text|>", "").strip() for c in RESPONSE_KEYS
    }
    if not responses[preferred]:
        raise MalformedRow(path, line, f"the preferred response first_turn_response_{preferred} is empty")
    others = [responses[c] for c in RESPONSE_KEYS if c != preferred and responses[c]]
    if not others:
        raise MalformedRow(path, line, "no non-preferred response to serve as rejected")
    conversation = str(row["conversation_id"]).strip()
    return {
        "id": f"ca/{conversation}",
        "prompt": str(row["first_turn_prompt"]).strip(),
        "context": None,
        "preferences": [],
        "reference": responses[preferred],
        "chosen": responses[preferred],
        "rejected": random.Random(f"ca-rejected:{conversation}").choice(others),
        "user_id": str(row.get("annotator_id") or ""),
    }


def from_mirror(root: Path) -> list[dict]:
    path = root / SUBDIR / "community_alignment.csv"
    if not path.is_file():
        raise DataFormatError(path, None, "file not found (Community Alignment is on the HF hub only)")
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        rows = [(reader.line_num, row) for row in reader]
    return keep_good_rows(rows, lambda row, line: to_record(row, path, line), path)


def from_hub() -> list[dict]:
    import datasets

    rows = datasets.load_dataset(HUB_ID, split=HUB_SPLIT, revision=HUB_REVISION)
    where = f"{HUB_ID} ({HUB_SPLIT})"  # line i + 2: the CSV's line (after its header)
    numbered = ((i + 2, row) for i, row in enumerate(rows))
    return keep_good_rows(numbered, lambda row, line: to_record(row, where, line), where)


SPEC = register_dataset(
    DatasetSpec(
        name="community_alignment",
        kind=PERSONALIZATION,
        eval_task="mipo_community_alignment",
        pair_sampling=Decoding(0.1, 0.9, 512),  # not released: PRISM's
        from_mirror=lambda root, split: from_mirror(root),
        from_hub=lambda split: from_hub(),
        hub_id=HUB_ID,
        hub_revision=HUB_REVISION,
        splits=("test",),  # one set: the eval sample is held out, the rest are training prompts
        eval_size=200,  # not given by the paper: the suite's default
        contexts_template="extract_preferences",
        judge_template="paper_ca",  # ca.py's messages: the personalized prompt in "User:" (PROTOCOL.md §5.1)
        reference="the annotator's preferred response (ca.py: test_chosen_*_scored)",
    )
)
