"""``mipo``: DPO on MIPO pairs with TRL's DPOTrainer (summed response log-probs, sigmoid loss)."""

from __future__ import annotations

import copy

from .common import method, shared_dataset


@method("mipo")
def build_dpo_trainer(policy, tokenizer, pairs_path, settings, out_dir, seed, device, callbacks):
    from trl import DPOConfig, DPOTrainer

    from ..pairs.build import load_pairs

    pairs = load_pairs(pairs_path)
    precompute = settings.reference == "precompute"
    if settings.reference not in ("precompute", "frozen_copy"):
        raise ValueError(f"reference must be 'precompute' or 'frozen_copy', not {settings.reference!r}")
    ref_model = None
    if not precompute and not settings.lora_r:
        # The copy stays in the policy's dtype, fp32 (see common.training_precision): 4 bytes a parameter where bf16
        # would take 2, i.e. 2 GB more GPU memory per billion parameters (0.27 GB for SmolLM2-135M). Its forward runs
        # under the same bf16 autocast on GPU, so compute is unchanged. The precomputed reference (the default) costs
        # nothing extra: it is the fp32 policy itself, run once (under autocast) before training.
        ref_model = copy.deepcopy(policy).eval().requires_grad_(False)
    config = DPOConfig(
        beta=settings.beta,
        loss_type=["sigmoid"],
        precompute_ref_log_probs=precompute,
        precompute_ref_batch_size=8,
        **settings.trl_kwargs(device, seed, out_dir),
    )
    dataset = shared_dataset(pairs, out_dir / "trainer" / "pairs_dataset")  # precompute works across processes
    # ref_model=None is safe here: with precompute (or LoRA) TRL uses the in-memory policy, never a disk reload.
    return DPOTrainer(
        model=policy,
        ref_model=ref_model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=callbacks,
        peft_config=settings.peft_config(),
    )
