"""PrefEval (Zhao et al., ICLR 2025), explicit preferences:
``personalization/prefeval/explicit_preference/<topic>.json``.

1000 (preference, question) pairs over 20 topics. Normalized to the personalization record:
``id, prompt`` (the question), ``context`` (the stated preference), ``preferences`` (itemized statements: here the
one preference), ``reference`` (None: PrefEval has no reference response), ``topic``, ``explanation``.
Local mirror only (the benchmark is distributed through its GitHub release, not the HF hub).
"""

from __future__ import annotations

from pathlib import Path

from .records import DataFormatError, field, read_json_array
from .spec import PERSONALIZATION, DatasetSpec, Decoding, register_dataset

SUBDIR = Path("personalization") / "prefeval" / "explicit_preference"


def topics(root: Path) -> list[str]:
    folder = root / SUBDIR
    if not folder.is_dir():
        raise DataFormatError(folder, None, "PrefEval folder not found (is MIPO_BENCH_DATA pointing at the mirror?)")
    return sorted(p.stem for p in folder.glob("*.json"))


def from_mirror(root: Path) -> list[dict]:
    records = []
    for topic in topics(root):
        path = root / SUBDIR / f"{topic}.json"
        for i, row in enumerate(read_json_array(path), 1):
            if not isinstance(row, dict):
                raise DataFormatError(path, i, "expected a JSON object")
            preference = field(row, "preference", path, i).strip()
            records.append(
                {
                    "id": f"prefeval/{topic}/{i}",
                    "prompt": field(row, "question", path, i).strip(),
                    "context": preference,
                    "preferences": [preference],
                    "reference": None,
                    "topic": topic,
                    "explanation": row.get("explanation", ""),
                }
            )
    return records


SPEC = register_dataset(
    DatasetSpec(
        name="prefeval",
        kind=PERSONALIZATION,
        eval_task="mipo_prefeval",
        pair_sampling=Decoding(0.1, 0.9, 512),  # not in the paper: PRISM's
        from_mirror=lambda root, split: from_mirror(root),
        from_hub=None,
        hub_id=None,
        splits=("test",),  # one set: the eval sample is held out, the rest are training prompts
        eval_size=100,  # not in the paper: the suite's default
        has_reference=False,  # PrefEval has no reference response
        reference="none: the table's reference row (personalized prompting) is judged instead",
    )
)
