"""SVAMP (Patel et al., 2021).

Hub (the paper's path): ``ChilleD/SVAMP``, its own train (700) / test (300) splits in their order, question =
``question_concat``. Mirror: the original release ``svamp/SVAMP.json`` (1000 problems, no split): a fixed shuffle with
``SPLIT_SEED`` gives 700 train / 300 test, and the question is ``Body + " " + Question`` (how ``question_concat`` is
built). The mirror's split is NOT ChilleD's: a documented difference (tasks/README.md, protocol table).
"""

from __future__ import annotations

import random
from pathlib import Path

from . import gsm8k
from .records import DataFormatError, field, format_number, read_json_array, record
from .sampling import paper_sample
from .spec import MATH, DatasetSpec, Decoding, register_dataset

HUB_ID = "ChilleD/SVAMP"
HUB_REVISION = "5e0bf1e5e7c0e9c4bc39180d224f41f3f801b7ef"  # pinned: the 700/300 split the scripts read
SPLITS = ("train", "test")
SPLIT_SEED = 42
N_TRAIN = 700


def _to_record(obj, path, line: int) -> dict:
    if not isinstance(obj, dict):
        raise DataFormatError(path, line, "expected a JSON object")
    body = field(obj, "Body", path, line)
    question = field(obj, "Question", path, line)
    answer = field(obj, "Answer", path, line, (int, float, str))
    try:
        gold = format_number(answer)
    except ValueError:
        raise DataFormatError(path, line, f"Answer is not a number: {answer!r}") from None
    text = obj.get("question_concat") or f"{body.strip()} {question.strip()}"
    rec = record(str(field(obj, "ID", path, line)), text, gold, subject="svamp")
    rec["equation"] = str(obj.get("Equation", "")).strip()  # the RLVR rubric's correct response (svamp.py:173)
    return rec


def split_records(records: list[dict], split: str) -> list[dict]:
    if split not in SPLITS:
        raise ValueError(f"SVAMP has splits {SPLITS}, not {split!r}")
    ordered = sorted(records, key=lambda r: r["id"])
    random.Random(SPLIT_SEED).shuffle(ordered)
    return ordered[:N_TRAIN] if split == "train" else ordered[N_TRAIN:]


def from_mirror(root: Path, split: str) -> list[dict]:
    path = root / "svamp" / "SVAMP.json"
    # objects are one per element; report the element index (1-based) as the "line"
    records = [_to_record(obj, path, i + 1) for i, obj in enumerate(read_json_array(path))]
    return split_records(records, split)


def from_hub(split: str) -> list[dict]:
    import datasets

    if split not in SPLITS:
        raise ValueError(f"SVAMP has splits {SPLITS}, not {split!r}")
    rows = datasets.load_dataset(HUB_ID, split=split, revision=HUB_REVISION)
    return [_to_record(obj, HUB_ID, i + 1) for i, obj in enumerate(rows)]


GSM8K_ROWS = 700


def train_records(load) -> list[dict]:
    """The 700 SVAMP training rows in order, then the scripts' 700 GSM8K rows: ``sample(n=700, random_state=42)`` of
    the GSM8K training rows (svamp.py:150-157) - 1400 in all."""
    svamp_rows = [{**r, "dataset": "svamp"} for r in load("svamp", "train")]
    return svamp_rows + paper_sample(gsm8k.train_records(load), GSM8K_ROWS)


SPEC = register_dataset(
    DatasetSpec(
        name="svamp",
        kind=MATH,
        eval_task="mipo_svamp",
        pair_sampling=Decoding(0.1, 0.9, 1024),
        from_mirror=from_mirror,
        from_hub=from_hub,
        hub_id=HUB_ID,
        hub_revision=HUB_REVISION,
        splits=SPLITS,
        eval_size=300,
        train_records=train_records,
        # the RLVR rubric's correct response: Equation + "\n#### " + Answer (svamp.py:173-174)
        reference_solution=lambda row: f"{row.get('equation') or ''}\n#### {row['answer']}",
        reask_prompt="Extract the numeric answer from this reasoning, and do not include anythig ele in your "
        "response other than the number. ",  # svamp.py, typos and all (PROTOCOL.md §4.1)
    )
)
