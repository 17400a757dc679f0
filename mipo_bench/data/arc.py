"""ARC (Clark et al., 2018), ARC-V1-Feb2018 jsonl: ``arc/ARC-{Easy,Challenge}-{Train,Dev,Test}.jsonl``.

Labels are kept as released (usually A-D; some rows use 1-4, a few have 3 or 5 choices).
"""

from __future__ import annotations

from pathlib import Path

from .records import DataFormatError, field, read_jsonl, record
from .spec import MULTIPLE_CHOICE, DatasetSpec, Decoding, register_dataset

HUB_ID = "allenai/ai2_arc"
HUB_REVISION = "210d026faf9955653af8916fad021475a3f00453"  # pinned: the parquet release of both configs
SPLITS = ("train", "validation", "test")
FILE_SPLIT = {"train": "Train", "validation": "Dev", "test": "Test"}
SUBSETS = {"arc_easy": "ARC-Easy", "arc_challenge": "ARC-Challenge"}


def _to_record(obj: dict, path, line: int, subset: str) -> dict:
    q = field(obj, "question", path, line, dict)
    stem = field(q, "stem", path, line)
    raw_choices = field(q, "choices", path, line, list)
    choices = []
    for c in raw_choices:
        if not isinstance(c, dict) or not str(c.get("label", "")).strip() or not isinstance(c.get("text"), str):
            raise DataFormatError(path, line, f"malformed choice {c!r}")
        choices.append({"label": str(c["label"]).strip(), "text": c["text"].strip()})
    if len(choices) < 2:
        raise DataFormatError(path, line, "fewer than two choices")
    gold = str(field(obj, "answerKey", path, line)).strip()
    if gold not in {c["label"] for c in choices}:
        raise DataFormatError(path, line, f"answerKey {gold!r} is not one of the choice labels")
    return record(str(field(obj, "id", path, line)), stem, gold, choices, subject=subset)


def from_mirror(root: Path, split: str, subset: str) -> list[dict]:
    path = root / "arc" / f"{SUBSETS[subset]}-{FILE_SPLIT[split]}.jsonl"
    return [_to_record(obj, path, line, subset) for line, obj in read_jsonl(path)]


def from_hub(split: str, subset: str) -> list[dict]:
    import datasets

    rows = datasets.load_dataset(HUB_ID, SUBSETS[subset], split=split, revision=HUB_REVISION)
    out = []
    for i, row in enumerate(rows):
        obj = {
            "id": row["id"],
            "answerKey": row["answerKey"],
            "question": {
                "stem": row["question"],
                "choices": [
                    {"label": lab, "text": t} for lab, t in zip(row["choices"]["label"], row["choices"]["text"])
                ],
            },
        }
        out.append(_to_record(obj, HUB_ID, i + 1, subset))
    return out


SPECS = {
    name: register_dataset(
        DatasetSpec(
            name=name,
            kind=MULTIPLE_CHOICE,
            eval_task=f"mipo_{name}",
            pair_sampling=Decoding(1.0, 0.9, 1024),
            from_mirror=lambda root, split, name=name: from_mirror(root, split, name),
            from_hub=lambda split, name=name: from_hub(split, name),
            hub_id=HUB_ID,
            hub_revision=HUB_REVISION,
            splits=SPLITS,
            eval_size=500,
        )
    )
    for name in SUBSETS
}
