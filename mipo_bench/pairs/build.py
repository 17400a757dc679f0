"""The ``pairs`` stage: generate both sides of every planned pair and write TRL preference data.

Output (in ``out_dir``): ``generations.jsonl`` (the resumable generation cache), ``pairs.jsonl`` in TRL's
conversational explicit-prompt format (``prompt``, ``chosen``, ``rejected`` message lists, plus provenance
columns), and ``pairs.manifest.json``.

With ``sampling.n = k`` every item yields k pairs: sample i of its chosen side with sample i of its rejected side
(``sample_index`` i). A strategy that reuses another item's chosen response as the rejected one
(``random_prompt_shuffle``) gets no rejected generation: sample i pairs with sample i of that item's chosen side.
"""

from __future__ import annotations

from pathlib import Path

from ..core.runs import absolute, content_hash, read_jsonl, write_jsonl
from ..core.stage import Stage
from ..generation import SamplingParams, generate_cached
from .base import get_strategy, plan_pairs


def _requests(plan: list[dict]) -> list[dict]:
    """The chosen side of every item, and the rejected side of those that generate one."""
    requests = []
    for row in plan:
        requests.append(
            {"id": f"{row['id']}/chosen", "messages": row["chosen_messages"], "salt": f"chosen:{row['id']}"}
        )
        if not row["rejected_reuses_chosen"]:
            # salted with the item id: two items that drew the same x' still get independent rejected samples
            requests.append(
                {"id": f"{row['id']}/rejected", "messages": row["rejected_messages"], "salt": f"rejected:{row['id']}"}
            )
    return requests


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
    """Plan, generate and write the pairs; returns the manifest. Skipped when inputs (plan, model weights,
    sampling) are unchanged."""
    out_dir = Path(out_dir)
    plan = plan_pairs(items, get_strategy(strategy), seed)
    sampling = sampling.with_model_defaults(backend.model_defaults())  # the scripts' model.generate defaults
    inputs_hash = content_hash({"plan": plan, "model": backend.fingerprint(), "sampling": sampling.to_dict()})
    stage = Stage(out_dir, "pairs", inputs_hash, outputs=("pairs.jsonl",))
    if stage.is_current():
        return stage.manifest()
    stage.start()
    generated = generate_cached(backend, _requests(plan), sampling, out_dir / "generations.jsonl", batch_size, progress)
    texts = {(row["id"], row["index"]): row["text"] for row in generated}
    pairs, dropped = [], []
    for row in plan:
        rejected_id = f"{row['rejected_from']}/chosen" if row["rejected_reuses_chosen"] else f"{row['id']}/rejected"
        for i in range(sampling.n):
            chosen, rejected = texts[(f"{row['id']}/chosen", i)], texts[(rejected_id, i)]
            if not chosen.strip() or not rejected.strip():
                dropped.append(row["id"] if sampling.n == 1 else f"{row['id']}#{i}")
                continue
            pairs.append(
                {
                    "id": row["id"],
                    "sample_index": i,
                    "prompt": row["prompt"],
                    "chosen": [{"role": "assistant", "content": chosen}],
                    "rejected": [{"role": "assistant", "content": rejected}],
                    "strategy": row["strategy"],
                    "rejected_prompt": row["rejected_messages"][0]["content"],
                    "rejected_from": row["rejected_from"],
                    "rejected_reuses_chosen": row["rejected_reuses_chosen"],
                }
            )
    write_jsonl(out_dir / "pairs.jsonl", pairs)
    return stage.finish(
        model=absolute(backend.model),
        model_fingerprint=backend.fingerprint(),
        strategy=strategy,
        seed=seed,
        sampling=sampling.to_dict(),
        model_generation_defaults=backend.model_defaults(),  # top_k / repetition_penalty and where each came from
        source=source or {},
        counts={"items": len(plan), "samples_per_item": sampling.n, "pairs": len(pairs), "dropped_empty": len(dropped)},
        generated=backend.count_tokens([row["text"] for row in generated]),  # every sample drawn, kept or not
        dropped_ids=dropped[:100],
        pairs_hash=content_hash(pairs),
    )


def load_pairs(path: str | Path) -> list[dict]:
    """The rows of a ``pairs.jsonl``: TRL's prompt/chosen/rejected message lists (checked) plus the provenance
    columns (``id``, ``rejected_prompt``, ...), which methods such as InfoNCE and the revisions read."""
    rows = []
    for i, row in enumerate(read_jsonl(path), 1):
        for key in ("prompt", "chosen", "rejected"):
            if not isinstance(row.get(key), list) or not row[key]:
                raise ValueError(f"{path}:{i}: missing or empty {key!r} message list")
        rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no pairs")
    return rows
