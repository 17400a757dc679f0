"""``orpo``: Odds Ratio Preference Optimization (Hong et al., 2024) on MIPO pairs, TRL's ORPOTrainer
(``trl.experimental`` in TRL 1.16): the NLL of the chosen response plus an odds-ratio penalty, no reference model."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from .base import PAIRS, TrainContext, register_method
from .common import TrainSettings
from .dpo import preference_columns


@dataclass
class ORPOSettings(TrainSettings):
    """ORPO's settings, on top of :class:`TrainSettings`.

    Args:
        beta: the weight of the odds-ratio term (the paper's lambda; TRL's default 0.1).
    """

    beta: float = 0.1


@register_method("orpo", consumes=PAIRS, settings=ORPOSettings)
def build_orpo_trainer(policy, tokenizer, rows: list[dict], settings: ORPOSettings, ctx: TrainContext):
    import datasets

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    return ORPOTrainer(
        model=policy,
        args=settings.trl_config(ORPOConfig, ctx),
        train_dataset=datasets.Dataset.from_list(preference_columns(rows)),
        processing_class=tokenizer,
        callbacks=ctx.callbacks,
        peft_config=settings.peft_config(),
    )
