"""MMLU (Hendrycks et al., 2021), original CSV release: ``mmlu/{dev,val,test}/<subject>_<split>.csv``.

No header row; columns are ``question, A, B, C, D, answer_letter``. The paper draws training prompts
from MMLU's training data; the mirror has no ``auxiliary_train``, so ``train`` reads ``dev`` + ``val``
there (the hub's ``auxiliary_train`` when loading from the hub).
"""

from __future__ import annotations

from pathlib import Path

from .records import DataFormatError, read_csv_rows, record
from .spec import MULTIPLE_CHOICE, DatasetSpec, Decoding, register_dataset

HUB_ID = "cais/mmlu"
SPLITS = ("train", "dev", "validation", "test")
FILE_SPLIT = {"dev": "dev", "validation": "val", "test": "test"}
LETTERS = "ABCD"

SUBJECTS = (
    "abstract_algebra anatomy astronomy business_ethics clinical_knowledge college_biology college_chemistry "
    "college_computer_science college_mathematics college_medicine college_physics computer_security "
    "conceptual_physics econometrics electrical_engineering elementary_mathematics formal_logic global_facts "
    "high_school_biology high_school_chemistry high_school_computer_science high_school_european_history "
    "high_school_geography high_school_government_and_politics high_school_macroeconomics "
    "high_school_mathematics high_school_microeconomics high_school_physics high_school_psychology "
    "high_school_statistics high_school_us_history high_school_world_history human_aging human_sexuality "
    "international_law jurisprudence logical_fallacies machine_learning management marketing medical_genetics "
    "miscellaneous moral_disputes moral_scenarios nutrition philosophy prehistory professional_accounting "
    "professional_law professional_medicine professional_psychology public_relations security_studies "
    "sociology us_foreign_policy virology world_religions"
).split()


def _to_record(row: list[str], path, line: int, subject: str, split: str) -> dict:
    if len(row) != 6:
        raise DataFormatError(path, line, f"expected 6 columns (question, A, B, C, D, answer), got {len(row)}")
    question, *options, answer = (cell.strip() for cell in row)
    if answer not in LETTERS:
        raise DataFormatError(path, line, f"answer {answer!r} is not one of A-D")
    if not question:
        raise DataFormatError(path, line, "empty question")
    choices = [{"label": lab, "text": text} for lab, text in zip(LETTERS, options)]
    return record(f"mmlu/{subject}/{split}/{line}", question, answer, choices, subject=subject)


def _subject_from_mirror(root: Path, split: str, subject: str) -> list[dict]:
    path = root / "mmlu" / FILE_SPLIT[split] / f"{subject}_{FILE_SPLIT[split]}.csv"
    return [_to_record(row, path, line, subject, split) for line, row in read_csv_rows(path)]


def from_mirror(root: Path, split: str, subjects: tuple[str, ...] = SUBJECTS) -> list[dict]:
    if split == "train":
        return from_mirror(root, "dev", subjects) + from_mirror(root, "validation", subjects)
    return [rec for subject in subjects for rec in _subject_from_mirror(root, split, subject)]


def from_hub(split: str, subjects: tuple[str, ...] = SUBJECTS) -> list[dict]:
    import datasets

    hub_split = "auxiliary_train" if split == "train" else split
    rows = datasets.load_dataset(HUB_ID, "all", split=hub_split)
    out = []
    for i, row in enumerate(rows):
        subject = row.get("subject") or "auxiliary_train"
        if split != "train" and subject not in subjects:
            continue
        cells = [row["question"], *row["choices"], LETTERS[int(row["answer"])]]
        out.append(_to_record(cells, HUB_ID, i + 1, subject, split))
    return out


SPEC = register_dataset(
    DatasetSpec(
        name="mmlu",
        kind=MULTIPLE_CHOICE,
        eval_task="mipo_mmlu",
        # MMLU's scripts are not released: ARC's settings (the paper: "the same template")
        pair_sampling=Decoding(1.0, 0.9, 1024),
        from_mirror=from_mirror,
        from_hub=from_hub,
        hub_id=HUB_ID,
        splits=SPLITS,
        eval_size=200,
        train_size=5000,  # the paper's 5000 training prompts, sampled (the selection is not released)
    )
)
