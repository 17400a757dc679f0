"""``cpo``: Contrastive Preference Optimization (Xu et al., 2024) on MIPO pairs, TRL's CPOTrainer (``trl.experimental``
in TRL 1.16): a reference-free preference loss on the policy's own log-probs plus an NLL term on the chosen side.
``simpo`` (:mod:`.simpo`) is the same trainer with SimPO's length-normalized loss."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from .base import PAIRS, TrainContext, register_method
from .common import TrainSettings
from .dpo import preference_columns


@dataclass
class CPOSettings(TrainSettings):
    """CPO's settings (TRL's CPOConfig fields of the same names), on top of :class:`TrainSettings`.

    Args:
        beta: the temperature of the preference loss (TRL's default 0.1).
        loss_type: ``sigmoid`` (CPO), ``hinge``, ``ipo``, ``simpo`` (length-normalized, with ``simpo_gamma``) or
            ``alphapo``.
        cpo_alpha: the weight of the NLL term on the chosen response (CPO: 1.0; SimPO: 0).
        simpo_gamma: SimPO's target reward margin (used by ``loss_type: simpo`` only).
    """

    beta: float = 0.1
    loss_type: str = "sigmoid"
    cpo_alpha: float = 1.0
    simpo_gamma: float = 0.5


def build_cpo_trainer(policy, tokenizer, rows: list[dict], settings: TrainSettings, ctx: TrainContext):
    """TRL's CPOTrainer on the pairs' prompt / chosen / rejected (no reference model: nothing is reloaded)."""
    import datasets

    with warnings.catch_warnings():  # "experimental" import notice: the trainer is TRL's own, pinned by our tests
        warnings.simplefilter("ignore")
        from trl.experimental.cpo import CPOConfig, CPOTrainer

    config = settings.trl_config(CPOConfig, ctx)
    return CPOTrainer(
        model=policy,
        args=config,
        train_dataset=datasets.Dataset.from_list(preference_columns(rows)),
        processing_class=tokenizer,
        callbacks=ctx.callbacks,
        peft_config=settings.peft_config(),
    )


register_method("cpo", consumes=PAIRS, settings=CPOSettings)(build_cpo_trainer)
