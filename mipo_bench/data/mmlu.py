"""MMLU (Hendrycks et al., 2021), original CSV release: ``mmlu/{dev,val,test}/<subject>_<split>.csv``.

No header row; columns are ``question, A, B, C, D, answer_letter``.

Training prompts (``train``): ``dev`` + ``validation``, all 1,816 of them, in file order, on the mirror and on the hub
alike, the same for every seed. The paper says "we sample 5,000 samples from the training" (§C.1 L414) and released
no MMLU script (PROTOCOL.md §1.2, AMBIGUOUS): MMLU has no training split of its own; the hub's ``auxiliary_train``
(99,842 rows) is RACE, ARC, OBQA and MCTest, not MMLU, and no mirror carries it. We take MMLU's own non-test
questions, whichever source is read, so two users get the same MMLU column (recipes/reproduce/table2.yaml declares the
difference). Ids number the rows within each subject's file (``mmlu/<subject>/<split>/<row>``) on both sources.
"""

from __future__ import annotations

from pathlib import Path

from .records import DataFormatError, read_csv_rows, record
from .sampling import LETTERS
from .spec import MULTIPLE_CHOICE, DatasetSpec, Decoding, register_dataset

HUB_ID = "cais/mmlu"
HUB_REVISION = "c30699e8356da336a370243923dbaf21066bb9fe"  # pinned
SPLITS = ("train", "dev", "validation", "test")
FILE_SPLIT = {"dev": "dev", "validation": "val", "test": "test"}
OPTION_LETTERS = LETTERS[:4]  # MMLU: four options, A-D

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


def _to_record(row: list[str], path, line: int, subject: str, split: str, number: int) -> dict:
    """``line``: where the row is, for errors; ``number``: its place among the subject file's rows (the id)."""
    if len(row) != 6:
        raise DataFormatError(path, line, f"expected 6 columns (question, A, B, C, D, answer), got {len(row)}")
    question, *options, answer = (cell.strip() for cell in row)
    if answer not in OPTION_LETTERS:
        raise DataFormatError(path, line, f"answer {answer!r} is not one of A-D")
    if not question:
        raise DataFormatError(path, line, "empty question")
    choices = [{"label": lab, "text": text} for lab, text in zip(OPTION_LETTERS, options)]
    return record(f"mmlu/{subject}/{split}/{number}", question, answer, choices, subject=subject)


def _subject_from_mirror(root: Path, split: str, subject: str) -> list[dict]:
    path = root / "mmlu" / FILE_SPLIT[split] / f"{subject}_{FILE_SPLIT[split]}.csv"
    rows = enumerate(read_csv_rows(path), 1)
    return [_to_record(row, path, line, subject, split, number) for number, (line, row) in rows]


def from_mirror(root: Path, split: str, subjects: tuple[str, ...] = SUBJECTS) -> list[dict]:
    if split == "train":
        return from_mirror(root, "dev", subjects) + from_mirror(root, "validation", subjects)
    return [rec for subject in subjects for rec in _subject_from_mirror(root, split, subject)]


def from_hub(split: str, subjects: tuple[str, ...] = SUBJECTS) -> list[dict]:
    if split == "train":  # the mirror's training set: MMLU's own dev + validation questions
        return from_hub("dev", subjects) + from_hub("validation", subjects)
    import datasets

    rows = datasets.load_dataset(HUB_ID, "all", split=split, revision=HUB_REVISION)
    out, lines = [], {}
    for row in rows:
        subject = row["subject"]
        if subject not in subjects:
            continue
        lines[subject] = lines.get(subject, 0) + 1  # the row's place in its subject's file, as the mirror numbers it
        cells = [row["question"], *row["choices"], LETTERS[int(row["answer"])]]
        record = _to_record(cells, HUB_ID, len(out) + 1, subject, split, lines[subject])
        out.append((subjects.index(subject), lines[subject], record))
    return [rec for *_, rec in sorted(out, key=lambda t: t[:2])]  # the mirror's order: subject by subject


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
        hub_revision=HUB_REVISION,
        splits=SPLITS,
        eval_size=200,
    )
)
