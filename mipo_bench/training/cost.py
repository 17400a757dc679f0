"""What a training cost besides its wall time (TRL's ``train_runtime``), for the train manifest and the leaderboard's
cost columns: CPU seconds over all processes, and the tokens the method generated to train."""

from __future__ import annotations

import json
from pathlib import Path


def process_cpu_seconds() -> float:
    """CPU seconds of this process, all its threads, user + system (its children excluded)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def training_cost(trainer, cpu_seconds: float, run_dir: Path) -> dict:
    """What the training cost besides its wall time (``train_runtime``): ``cpu_seconds`` summed over the processes,
    and ``generation``: the tokens generated to train — rollouts (the completions the rewards scored) and the
    critic's replies, summed over the processes, plus the self-revisions of ``<run_dir>/revision`` when the method
    revised (the pairs' own generation is in the data manifest and counted by the reader)."""
    import torch

    rewards = [r for r in getattr(trainer, "reward_funcs", None) or [] if hasattr(r, "stats")]
    stats = [r.stats() for r in rewards]
    local = [
        cpu_seconds,
        max((s["completion_tokens"] for s in stats), default=0),  # every reward scores the same completions
        sum(s.get("judge_calls", 0) for s in stats),
        sum(s.get("judge_reply_tokens", 0) for s in stats),
    ]
    local = torch.tensor(local, dtype=torch.float64, device=trainer.accelerator.device)  # NCCL reduces GPU tensors
    total = trainer.accelerator.reduce(local, reduction="sum").tolist()
    generation = {"rollout_tokens": int(total[1]), "critic_calls": int(total[2]), "critic_reply_tokens": int(total[3])}
    revision = run_dir / "revision" / "revision.manifest.json"
    if getattr(trainer, "mipo_revised", False) and revision.is_file():
        generation["revision_tokens"] = (json.loads(revision.read_text()).get("generated") or {}).get("tokens")
    return {"cpu_seconds": round(total[0], 2), "generation": generation}
