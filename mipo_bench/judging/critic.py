"""The RLAIF critic (the frozen model scores 1-5) and its accuracy against human labels (the paper's Table 6)."""

from __future__ import annotations

from pathlib import Path

from .judge import judge_items, response_scores


def critic_accuracy(chosen: list[float | None], rejected: list[float | None]) -> dict:
    """Strict: chosen scored above rejected; tie-tolerant: not below. Unscored pairs are counted, not dropped."""
    pairs = [(c, r) for c, r in zip(chosen, rejected, strict=True) if c is not None and r is not None]
    n = len(pairs)
    return {
        "pairs": len(chosen),
        "failed": len(chosen) - n,
        "strict": sum(c > r for c, r in pairs) / n if n else None,
        "tie_tolerant": sum(c >= r for c, r in pairs) / n if n else None,
    }


def run_critic(records: list[dict], backend, out_dir: str | Path, retries: int = 2, batch_size: int = 16) -> dict:
    """Score each record's human-chosen and rejected responses with the RLAIF critic prompt."""
    records = [r for r in records if r.get("context") and r.get("chosen") and r.get("rejected")]
    if not records:
        raise ValueError("critic accuracy needs records with a context and human chosen/rejected responses")
    items = [
        {"id": f"{r['id']}|{side}", "query": r["prompt"], "preferences": [r["context"]], "response": r[side]}
        for r in records
        for side in ("chosen", "rejected")
    ]
    rows = judge_items(items, backend, Path(out_dir) / "critic_judgments.jsonl", "rlaif_critic", retries, batch_size)
    scores = response_scores(rows)
    return critic_accuracy(
        [scores[f"{r['id']}|chosen"] for r in records], [scores[f"{r['id']}|rejected"] for r in records]
    )
