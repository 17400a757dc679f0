"""``mipo``: DPO on MIPO pairs with TRL's DPOTrainer (summed response log-probs; the sigmoid loss by default, any
loss TRL's DPOConfig lists through ``train.loss_type``, e.g. ``ipo``: ``recipes/ipo.yaml``)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from .base import PAIRS, TrainContext, register_method
from .common import TrainSettings
from .processes import shared_dataset

REFERENCES = ("precompute", "frozen_copy")


@dataclass
class MipoSettings(TrainSettings):
    """MIPO's DPO settings (the paper's appendix D; OpenRLHF ``train_dpo`` mapped onto TRL's DPOConfig), on top of
    :class:`TrainSettings`.

    Args:
        beta: DPO temperature (paper: 0.1).
        reference: ``precompute`` (reference log-probs computed once from the in-memory model before training, the
            default) or ``frozen_copy`` (a frozen deep copy kept beside the policy). Never TRL's reload of the
            reference from the model's path on disk.
        prefix_sharing: encode each pair's prompt once, as one packed row ``[x, y_chosen, y_rejected]`` under a mask
            that keeps the responses apart (``prefix_sharing.py``), for the policy and the reference log-probs; the
            log-probs, loss and gradients are those of TRL's two rows. Turns itself off, with the reason logged,
            where it cannot apply (flash attention, vision-language or mixture-of-experts models).
        loss_type: TRL's DPO loss(es), any DPOConfig lists (``sigmoid``, ``hinge``, ``ipo``, ``exo_pair``,
            ``nca_pair``, ``robust``, ``bco_pair``, ``sppo_hard``, ``aot``, ``aot_unpaired``, ``apo_zero``,
            ``apo_down``, ``discopop``, ``sft``, ``sigmoid_norm``); several are summed with ``loss_weights``
            (e.g. MPO: ``[sigmoid, bco_pair, sft]``). Prefix sharing gives each the log-probs, loss and gradients of
            TRL's two rows (tests/test_prefix_sharing.py). The paper: ``sigmoid``.
        loss_weights: the weight of each ``loss_type`` (default: 1 each).
    """

    beta: float = 0.1
    reference: str = "precompute"
    prefix_sharing: bool = True
    loss_type: list[str] = field(default_factory=lambda: ["sigmoid"])
    loss_weights: list[float] | None = None


def preference_columns(rows: list[dict]) -> list[dict]:
    """Only what TRL's preference trainers read: provenance columns stay in pairs.jsonl."""
    return [{k: row[k] for k in ("prompt", "chosen", "rejected")} for row in rows]


@register_method("mipo", consumes=PAIRS, settings=MipoSettings)
def build_dpo_trainer(policy, tokenizer, rows: list[dict], settings: MipoSettings, ctx: TrainContext):
    from .prefix_sharing import PrefixSharedDPOConfig, PrefixSharedDPOTrainer

    if settings.reference not in REFERENCES:
        raise ValueError(f"train.reference must be one of {REFERENCES}, not {settings.reference!r}")
    precompute = settings.reference == "precompute"
    ref_model = None
    if not precompute and not settings.lora_r:
        # The copy stays in the policy's dtype, fp32 (see processes.training_precision): 4 bytes a parameter where bf16
        # would take 2, i.e. 2 GB more GPU memory per billion parameters (0.27 GB for SmolLM2-135M). Its forward runs
        # under the same bf16 autocast on GPU, so compute is unchanged. The precomputed reference (the default) costs
        # nothing extra: it is the fp32 policy itself, run once (under autocast) before training.
        ref_model = copy.deepcopy(policy).eval().requires_grad_(False)
    # beta, prefix_sharing, loss_type and loss_weights come from the settings' fields of the same names
    # (TrainSettings.trl_config); TRL checks the loss names and their settings (e.g. exo_pair's label_smoothing)
    pinned = dict(precompute_ref_log_probs=precompute, precompute_ref_batch_size=8)
    config = settings.trl_config(PrefixSharedDPOConfig, ctx, **pinned)
    # precompute works across processes only on a disk-backed dataset (see processes.shared_dataset)
    dataset = shared_dataset(preference_columns(rows), ctx.out_dir / "trainer" / "pairs_dataset")
    # ref_model=None is safe here: with precompute (or LoRA) TRL uses the in-memory policy, never a disk reload.
    return PrefixSharedDPOTrainer(
        model=policy,
        ref_model=ref_model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=ctx.callbacks,
        peft_config=settings.peft_config(),
    )
