"""``sft``: the paper's SFT baseline, supervised fine-tuning on the model's own chosen responses (loss on the
completion only), with the same data and learning-rate grid as MIPO."""

from __future__ import annotations

from dataclasses import dataclass

from .base import SFT, TrainContext, register_method
from .common import TrainSettings


@dataclass
class SFTSettings(TrainSettings):
    """The paper's SFT settings (appendix D; OpenRLHF ``train_sft`` mapped onto TRL's SFTConfig): the fields of
    :class:`TrainSettings`, nothing more."""


def build_sft(policy, tokenizer, rows: list[dict], settings: TrainSettings, ctx: TrainContext):
    """TRL's SFTTrainer on ``{"prompt", "completion"}`` message rows, loss on the completion (shared by the
    revision methods)."""
    import datasets
    from trl import SFTConfig, SFTTrainer

    data = datasets.Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]} for r in rows])
    config = settings.trl_config(SFTConfig, ctx, completion_only_loss=True)
    return SFTTrainer(
        model=policy,
        args=config,
        train_dataset=data,
        processing_class=tokenizer,
        callbacks=ctx.callbacks,
        peft_config=settings.peft_config(),
    )


register_method("sft", consumes=SFT, settings=SFTSettings)(build_sft)
