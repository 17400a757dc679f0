"""PRISM (Kirk et al., 2024), ``HannahRoseKirk/prism-alignment`` (config ``conversations``) or the release file
``conversations.jsonl`` in a mirror at ``personalization/prism/``.

Each conversation row has ``conversation_id``, ``user_id``, ``opening_prompt`` and ``conversation_history``: turns
with ``turn``, ``role`` ("user"/"model"), ``content``, ``model_name``, ``score``, ``if_chosen``. The first turn's
chosen model response is the reference; the lowest-scored other response of that turn is the rejected one. PRISM
writes an empty text as the literal ``"EMPTY STRING"``: such a response is no response (a row whose chosen one is
empty is skipped and counted); the ~1% of conversations opened in another language are left out and counted
(:func:`.language.looks_english`). The user context is verbalized later from chosen vs rejected (`mipo-bench contexts`);
until then ``context`` is None.
NOT available offline here: tested on a fixture written in this schema.
"""

from __future__ import annotations

from pathlib import Path

from .language import looks_english
from .records import LeftOut, MalformedRow, field, keep_good_rows, read_jsonl
from .spec import PERSONALIZATION, DatasetSpec, Decoding, register_dataset

HUB_ID = "HannahRoseKirk/prism-alignment"
# NOT pinned: no commit of this dataset could be looked up on the offline machines this suite is built on, and the
# paper names none: the hub's main is read, and `reproduce --plan` says so. Pin one here once it is known.
HUB_REVISION = None
SUBDIR = Path("personalization") / "prism"
EMPTY = "EMPTY STRING"  # how the release writes an empty text


def text_of(turn: dict) -> str:
    """A turn's text; "" for a missing one and for the release's ``"EMPTY STRING"``."""
    content = turn.get("content")
    text = content.strip() if isinstance(content, str) else ""
    return "" if text == EMPTY else text


def to_record(row: dict, path, line: int) -> dict | None:
    history = field(row, "conversation_history", path, line, list)
    first = [t for t in history if isinstance(t, dict) and t.get("turn", 0) == 0 and t.get("role") == "model"]
    chosen = [t for t in first if t.get("if_chosen")]
    if not chosen:
        return None  # no first-turn choice recorded
    if not text_of(chosen[0]):
        raise MalformedRow(path, line, "the chosen first-turn response is empty")
    others = [t for t in first if not t.get("if_chosen") and text_of(t)]
    others.sort(key=lambda t: (t.get("score") is None, t.get("score")))
    if not others:
        raise MalformedRow(path, line, "no non-empty other first-turn response to serve as rejected")
    prompt = field(row, "opening_prompt", path, line).strip()
    if not looks_english(prompt):
        raise LeftOut("not English (the paper's data is English; data/language.py)")
    return {
        "id": f"prism/{field(row, 'conversation_id', path, line)}",
        "prompt": prompt,
        "context": None,
        "preferences": [],
        "reference": text_of(chosen[0]),
        "chosen": text_of(chosen[0]),
        "rejected": text_of(others[0]),
        "user_id": str(row.get("user_id", "")),
    }


def from_mirror(root: Path) -> list[dict]:
    path = root / SUBDIR / "conversations.jsonl"
    return keep_good_rows(read_jsonl(path), lambda row, line: to_record(row, path, line), path)


def from_hub() -> list[dict]:
    import datasets

    rows = datasets.load_dataset(HUB_ID, "conversations", split="train", revision=HUB_REVISION)
    numbered = ((i + 1, row) for i, row in enumerate(rows))
    return keep_good_rows(numbered, lambda row, line: to_record(row, HUB_ID, line), HUB_ID)


SPEC = register_dataset(
    DatasetSpec(
        name="prism",
        kind=PERSONALIZATION,
        eval_task="mipo_prism",
        pair_sampling=Decoding(0.1, 0.9, 512),
        from_mirror=lambda root, split: from_mirror(root),
        from_hub=lambda split: from_hub(),
        hub_id=HUB_ID,
        hub_revision=HUB_REVISION,
        splits=("test",),  # one set: the eval sample is held out, the rest are training prompts
        eval_size=200,
        contexts_template="extract_preferences",
        judge_template="paper",  # prism.py's messages: the RAW prompt in "User:" (PROTOCOL.md §5.1)
        reference="the human-chosen first-turn response (prism.py: chosen_score)",
        eval_sample="head",  # the script judges the first 200 rows of its file (PROTOCOL.md §1.1)
    )
)
