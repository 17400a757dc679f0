"""``sft``: the paper's SFT baseline, supervised fine-tuning on the chosen responses only (loss on completions)."""

from __future__ import annotations

from .common import method


@method("sft")
def build_sft_trainer(policy, tokenizer, pairs_path, settings, out_dir, seed, device, callbacks):
    import datasets
    from trl import SFTConfig, SFTTrainer

    from ..pairs.build import load_pairs

    rows = [{"prompt": p["prompt"], "completion": p["chosen"]} for p in load_pairs(pairs_path)]
    config = SFTConfig(completion_only_loss=True, **settings.trl_kwargs(device, seed, out_dir))
    return SFTTrainer(
        model=policy,
        args=config,
        train_dataset=datasets.Dataset.from_list(rows),
        processing_class=tokenizer,
        callbacks=callbacks,
        peft_config=settings.peft_config(),
    )
