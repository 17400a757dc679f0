"""GSM8K (Cobbe et al., 2021): ``gsm8k/{train,test}.jsonl`` with ``question`` and ``answer`` ('... #### 18')."""

from __future__ import annotations

import re
from pathlib import Path

from .records import DataFormatError, field, format_number, read_jsonl, record
from .spec import MATH, DatasetSpec, Decoding, register_dataset

HUB_ID = "openai/gsm8k"
HUB_REVISION = "e53f048856ff4f594e959d75785d2c2d37b678ee"  # pinned (lighteval's gsm8k task pins it too)
SPLITS = ("train", "test")


def gold_from_solution(solution: str, path: Path | str = "<hub>", line: int | None = None) -> str:
    if "####" not in solution:
        raise DataFormatError(path, line, "answer has no '####' final answer")
    try:
        return format_number(solution.split("####")[-1])
    except ValueError:
        raise DataFormatError(path, line, f"final answer is not a number: {solution.split('####')[-1]!r}") from None


def _to_record(obj: dict, path, line: int, split: str) -> dict:
    question = field(obj, "question", path, line)
    solution = field(obj, "answer", path, line)
    rec = record(f"gsm8k/{split}/{line}", question, gold_from_solution(solution, path, line), subject="gsm8k")
    rec["solution"] = solution
    # the scripts' gold: float(first \d+\.?\d* after "####"), which drops a sign ("-3" -> 3.0; PROTOCOL.md §4.1)
    paper = re.search(r"\d+\.?\d*", solution.split("####")[1])
    rec["paper_answer"] = format_number(paper.group()) if paper else rec["answer"]
    return rec


def from_mirror(root: Path, split: str) -> list[dict]:
    path = root / "gsm8k" / f"{split}.jsonl"
    return [_to_record(obj, path, line, split) for line, obj in read_jsonl(path)]


def from_hub(split: str) -> list[dict]:
    import datasets

    rows = datasets.load_dataset(HUB_ID, "main", split=split, revision=HUB_REVISION)
    return [_to_record(obj, HUB_ID, i + 1, split) for i, obj in enumerate(rows)]


def train_records(load) -> list[dict]:
    """The scripts' training prompts: the train split in order, without the rows they skip - a question with no
    '.'-terminated sentence before its last one, ``len(question.split(".")[:-1]) < 1`` (gsm.py:142-150)."""
    return [{**r, "dataset": "gsm8k"} for r in load("gsm8k", "train") if len(r["question"].split(".")[:-1]) >= 1]


SPEC = register_dataset(
    DatasetSpec(
        name="gsm8k",
        kind=MATH,
        eval_task="mipo_gsm8k",
        pair_sampling=Decoding(0.1, 0.9, 1024),
        from_mirror=from_mirror,
        from_hub=from_hub,
        hub_id=HUB_ID,
        hub_revision=HUB_REVISION,
        splits=SPLITS,
        eval_size=200,
        train_records=train_records,
        reask_prompt="Extract the numeric answer from this reasoning, and do not include anythig else in your "
        "response other than the number. ",  # gsm.py, typo and all (PROTOCOL.md §4.1)
    )
)
