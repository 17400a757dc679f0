"""``kto``: Kahneman-Tversky Optimization (Ethayarajh et al., 2024) on the two sides of MIPO's pairs, TRL's
KTOTrainer: each pair becomes two unpaired rows, the chosen response desirable and the rejected one undesirable, under
the same prompt. The reference log-probs are precomputed from the in-memory model (never reloaded from disk)."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from .base import PAIRS, TrainContext, register_method
from .common import TrainSettings
from .dpo import REFERENCES
from .processes import shared_dataset


@dataclass
class KTOSettings(TrainSettings):
    """KTO's settings (TRL's KTOConfig fields of the same names), on top of :class:`TrainSettings`.

    Args:
        beta: the KTO temperature (TRL's default 0.1).
        desirable_weight: the weight of the chosen (desirable) rows' loss.
        undesirable_weight: the weight of the rejected (undesirable) rows'.
        per_device_train_batch_size: 2: KTO estimates its KL term from the other rows of a micro batch, so TRL needs
            more than one (the global batch still sets the update size).
        reference: ``precompute`` (default) or ``frozen_copy``, as MIPO's.
    """

    beta: float = 0.1
    desirable_weight: float = 1.0
    undesirable_weight: float = 1.0
    per_device_train_batch_size: int = 2
    reference: str = "precompute"


def unpaired(rows: list[dict]) -> list[dict]:
    """Each pair as two KTO rows: ``{"prompt", "completion", "label"}`` (chosen True, rejected False)."""
    out = []
    for row in rows:
        out.append({"prompt": row["prompt"], "completion": row["chosen"], "label": True})
        out.append({"prompt": row["prompt"], "completion": row["rejected"], "label": False})
    return out


@register_method("kto", consumes=PAIRS, settings=KTOSettings)
def build_kto_trainer(policy, tokenizer, rows: list[dict], settings: KTOSettings, ctx: TrainContext):
    from trl import KTOConfig, KTOTrainer

    if settings.reference not in REFERENCES:
        raise ValueError(f"train.reference must be one of {REFERENCES}, not {settings.reference!r}")
    precompute = settings.reference == "precompute"
    ref_model = None if precompute or settings.lora_r else copy.deepcopy(policy).eval().requires_grad_(False)
    config = settings.trl_config(KTOConfig, ctx, precompute_ref_log_probs=precompute)
    dataset = shared_dataset(unpaired(rows), ctx.out_dir / "trainer" / "kto_dataset")
    return KTOTrainer(
        model=policy,
        ref_model=ref_model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=ctx.callbacks,
        peft_config=settings.peft_config(),
    )
