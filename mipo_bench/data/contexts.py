"""User contexts written by `mipo-bench contexts` (PRISM / Community Alignment instructions, Multi-Bench user
statements), applied to records wherever they are read: the lm-eval tasks (``load_docs``) and the training prompts of
the pairs stage.

Where the file comes from: an explicit path (``--metadata '{"contexts": PATH}'`` for a task, ``data.contexts`` in a
recipe), else ``$MIPO_BENCH_CONTEXTS_<DATASET>`` (e.g. ``MIPO_BENCH_CONTEXTS_PRISM``).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..core.runs import read_jsonl


def contexts_env_var(dataset: str) -> str:
    return f"MIPO_BENCH_CONTEXTS_{dataset.upper()}"


def contexts_path(dataset: str, explicit: str | Path | None = None) -> Path | None:
    """The contexts file for ``dataset``: ``explicit`` if given, else ``$MIPO_BENCH_CONTEXTS_<DATASET>``, else None.

    A named file that does not exist is an error (naming where the name came from), not a silent no-op.
    """
    origin = "given path" if explicit else f"${contexts_env_var(dataset)}"
    value = explicit or os.environ.get(contexts_env_var(dataset))
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no such contexts file ({origin}); write one with `mipo-bench contexts {dataset}`"
        )
    return path


def apply_contexts(records: list[dict], contexts_path: str | Path) -> list[dict]:
    """Records with ``context``/``preferences`` filled from a contexts file (failed rows leave them as they were).

    A JSON object of instructions (PRISM, CA) becomes itemized ``preferences`` joined into ``context``; a string (a
    rewritten Multi-Bench user statement) replaces the context. ``eligible_contexts`` (the contexts of the same
    prompt's other variants) are rewritten the same way, so the 'random' strategy draws among rewritten statements.
    """
    found = {row["id"]: row["value"] for row in read_jsonl(contexts_path) if not row.get("failed")}
    out, renamed = [], {}
    for rec in records:
        value = found.get(rec["id"])
        if isinstance(value, dict):  # extracted instructions: itemized preferences
            new = {**rec, "preferences": list(value.values()), "context": " ".join(value.values())}
        elif isinstance(value, str):  # a rewritten user statement
            new = {**rec, "preferences": [value], "context": value}
        else:
            new = rec
        if new is not rec and rec.get("context"):
            renamed[(rec.get("prompt"), rec["context"])] = new["context"]
        out.append(new)
    if renamed:
        out = [
            {**r, "eligible_contexts": [renamed.get((r.get("prompt"), c), c) for c in r["eligible_contexts"]]}
            if r.get("eligible_contexts")
            else r
            for r in out
        ]
    return out
