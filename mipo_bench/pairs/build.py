"""The ``pairs`` stage: generate both sides of every planned pair and write TRL preference data.

Output (in ``out_dir``): ``generations.jsonl`` (the resumable generation cache), ``pairs.jsonl`` in TRL's
conversational explicit-prompt format (``prompt``, ``chosen``, ``rejected`` message lists, plus provenance
columns), and ``pairs.manifest.json``.
"""

from __future__ import annotations

from pathlib import Path

from ..generation import SamplingParams, generate_cached
from ..runs import content_hash, read_jsonl, stage_is_current, write_jsonl, write_manifest
from .base import get_strategy, plan_pairs


def build_pairs(
    items: list[dict],
    strategy: str,
    backend,
    sampling: SamplingParams,
    out_dir: str | Path,
    seed: int = 0,
    batch_size: int = 16,
    source: dict | None = None,
    progress=None,
) -> dict:
    """Plan, generate and write the pairs; returns the manifest. Skipped when inputs are unchanged."""
    out_dir = Path(out_dir)
    plan = plan_pairs(items, get_strategy(strategy), seed)
    inputs_hash = content_hash({"plan": plan, "model": backend.model, "sampling": sampling.to_dict()})
    if stage_is_current(out_dir, "pairs", inputs_hash):
        import json

        return json.loads((out_dir / "pairs.manifest.json").read_text())
    requests = []
    for row in plan:
        requests.append(
            {"id": f"{row['id']}/chosen", "messages": row["chosen_messages"], "salt": f"chosen:{row['id']}"}
        )
        # salted with the item id: two items that drew the same x' still get independent rejected samples
        requests.append(
            {"id": f"{row['id']}/rejected", "messages": row["rejected_messages"], "salt": f"rejected:{row['id']}"}
        )
    generated = generate_cached(backend, requests, sampling, out_dir / "generations.jsonl", batch_size, progress)
    pairs, dropped = [], []
    for row, chosen, rejected in zip(plan, generated[0::2], generated[1::2]):
        if not chosen["text"].strip() or not rejected["text"].strip():
            dropped.append(row["id"])
            continue
        pairs.append(
            {
                "id": row["id"],
                "prompt": row["prompt"],
                "chosen": [{"role": "assistant", "content": chosen["text"]}],
                "rejected": [{"role": "assistant", "content": rejected["text"]}],
                "strategy": row["strategy"],
                "rejected_prompt": row["rejected_messages"][0]["content"],
                "rejected_from": row["rejected_from"],
            }
        )
    write_jsonl(out_dir / "pairs.jsonl", pairs)
    return write_manifest(
        out_dir,
        "pairs",
        inputs_hash,
        model=backend.model,
        strategy=strategy,
        seed=seed,
        sampling=sampling.to_dict(),
        source=source or {},
        counts={"items": len(plan), "pairs": len(pairs), "dropped_empty": len(dropped)},
        dropped_ids=dropped[:100],
        pairs_hash=content_hash(pairs),
    )


def load_pairs(path: str | Path) -> list[dict]:
    """TRL-format rows of a ``pairs.jsonl`` (checked: each row has prompt/chosen/rejected message lists)."""
    rows = []
    for i, row in enumerate(read_jsonl(path), 1):
        for key in ("prompt", "chosen", "rejected"):
            if not isinstance(row.get(key), list) or not row[key]:
                raise ValueError(f"{path}:{i}: missing or empty {key!r} message list")
        rows.append({k: row[k] for k in ("prompt", "chosen", "rejected")})
    if not rows:
        raise ValueError(f"{path}: no pairs")
    return rows
