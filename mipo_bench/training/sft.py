"""``sft``: the paper's SFT baseline, supervised fine-tuning on the model's own chosen responses (loss on the
completion only), with the same data and learning-rate grid as MIPO."""

from __future__ import annotations

from dataclasses import dataclass

from .base import SFT, TrainContext, register_method
from .common import TrainSettings

PROMPT_FORMATS = ("plain", "chat")
PLAIN_TEMPLATE = "User: {}\nAssistant: "  # OpenRLHF train_sft's --input_template default (no --apply_chat_template)


@dataclass
class SFTSettings(TrainSettings):
    """The paper's SFT settings (appendix D; OpenRLHF ``train_sft`` mapped onto TRL's SFTConfig): the fields of
    :class:`TrainSettings` plus the text the model is trained on.

    Args:
        prompt_format: ``plain`` (default): the released SFT command's text, ``User: {prompt}\nAssistant: `` then
            the response and EOS (it passes no ``--apply_chat_template``); ``chat``: the model's chat template, as
            MIPO's DPO (which passes it) and the evaluation use.
    """

    prompt_format: str = "plain"


def as_plain_text(rows: list[dict]) -> list[dict]:
    """``{"prompt", "completion"}`` message rows as the released SFT command's plain text: the last user message in
    ``User: …\nAssistant: ``, the assistant's text as the completion (TRL appends EOS)."""
    from ..core.chat import last_user_text

    return [
        {"prompt": PLAIN_TEMPLATE.format(last_user_text(r["prompt"])), "completion": r["completion"][-1]["content"]}
        for r in rows
    ]


def build_sft(policy, tokenizer, rows: list[dict], settings: TrainSettings, ctx: TrainContext):
    """TRL's SFTTrainer on ``{"prompt", "completion"}`` message rows, loss on the completion (shared by the
    revision methods)."""
    import datasets
    from trl import SFTConfig, SFTTrainer

    prompt_format = getattr(settings, "prompt_format", "chat")
    if prompt_format not in PROMPT_FORMATS:
        raise ValueError(f"train.prompt_format must be one of {PROMPT_FORMATS}, not {prompt_format!r}")
    rows = [{"prompt": r["prompt"], "completion": r["completion"]} for r in rows]
    data = datasets.Dataset.from_list(as_plain_text(rows) if prompt_format == "plain" else rows)
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
