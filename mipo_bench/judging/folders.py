"""Where a judgment's files are: ``mipo-bench judge`` (and ``reproduce``, in ``<eval dir>/judge/``) writes
``judgments.jsonl``, ``reference_judgments.jsonl`` and ``judge_summary.json`` into one folder; these find it."""

from __future__ import annotations

import json
from pathlib import Path


def read_summary(path: Path) -> dict:
    """A ``judge_summary.json``; ``ValueError`` naming the file when it is not JSON."""
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    return obj if isinstance(obj, dict) else {}


def judge_folder(eval_dir: Path, task: str) -> Path | None:
    """The folder holding the judgment of ``task``'s samples in ``eval_dir`` (``judge/`` or the directory itself)."""
    for folder in (eval_dir / "judge", eval_dir):
        summary = folder / "judge_summary.json"
        if summary.is_file() and f"samples_{task}_" in Path(read_summary(summary).get("samples", "")).name:
            return folder
    return None


def find_judgment(path: Path, task: str | None) -> Path:
    """The judgment folder (holding ``judge_summary.json``) of ``path``: itself, its ``judge/``, its task's, or the
    only one under it (the re-judgments ``--compare`` writes in ``scoring-*`` folders are not candidates)."""
    for folder in (path, path / "judge"):
        if (folder / "judge_summary.json").is_file():
            return folder
    if task:
        found = judge_folder(path, task)
        if found:
            return found
    found = [p for p in sorted(path.rglob("judge_summary.json")) if not p.parent.name.startswith("scoring-")]
    if len(found) != 1:
        raise FileNotFoundError(f"{path}: {'no' if not found else len(found)} judge_summary.json under it; name one")
    return found[0].parent
