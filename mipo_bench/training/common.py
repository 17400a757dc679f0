"""Shared training settings and the entry point that dispatches to a method module."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ..runs import append_jsonl, content_hash, file_hash, write_manifest

METHODS: dict[str, Callable] = {}


def method(name: str):
    def wrap(fn):
        METHODS[name] = fn
        return fn

    return wrap


@dataclass
class TrainSettings:
    """The paper's settings (appendix D, OpenRLHF) mapped onto TRL.

    Args:
        learning_rate: peak learning rate; the paper swept {1e-6, 5e-7, 1e-7}.
        beta: DPO temperature (ignored by SFT).
        per_device_train_batch_size: micro batch (OpenRLHF micro_train_batch_size = 1).
        gradient_accumulation_steps: global batch = micro x accumulation x devices (paper: 4).
        num_train_epochs: passes over the pairs (paper: 1; 2-3 on Multi-Bench).
        lr_scheduler_type: cosine decaying to ``min_lr_rate`` x lr (OpenRLHF's cosine_with_min_lr).
        min_lr_rate: floor of the cosine schedule as a fraction of the peak.
        warmup_ratio: share of steps spent warming up (paper: 3%; passed as a float ``warmup_steps``, which
            transformers 5 reads as a ratio when below 1).
        adam_beta1, adam_beta2: Adam betas (OpenRLHF: 0.9, 0.95).
        max_grad_norm: gradient clipping.
        max_length: prompt + response tokens kept per sequence.
        reference: ``precompute`` (reference log-probs computed once from the in-memory model) or ``frozen_copy``
            (a frozen deep copy kept beside the policy). Never a reload from disk.
        lora_r: LoRA rank; 0 trains all weights.
        lora_alpha: LoRA scaling.
        gradient_checkpointing: trade compute for memory (off by default: small models on CPU).
        logging_steps: how often the training log gets a row.
    """

    learning_rate: float = 5e-7
    beta: float = 0.1
    per_device_train_batch_size: int = 1
    gradient_accumulation_steps: int = 4
    num_train_epochs: float = 1.0
    lr_scheduler_type: str = "cosine_with_min_lr"
    min_lr_rate: float = 0.1
    warmup_ratio: float = 0.03
    adam_beta1: float = 0.9
    adam_beta2: float = 0.95
    max_grad_norm: float = 1.0
    max_length: int = 1024
    reference: str = "precompute"
    lora_r: int = 0
    lora_alpha: int = 16
    gradient_checkpointing: bool = False
    logging_steps: int = 1
    extra: dict = field(default_factory=dict)

    def trl_kwargs(self, device: str, seed: int, out_dir: Path) -> dict:
        on_gpu = device.startswith("cuda")
        return dict(
            output_dir=str(out_dir / "trainer"),
            learning_rate=self.learning_rate,
            per_device_train_batch_size=self.per_device_train_batch_size,
            gradient_accumulation_steps=self.gradient_accumulation_steps,
            num_train_epochs=self.num_train_epochs,
            lr_scheduler_type=self.lr_scheduler_type,
            lr_scheduler_kwargs={"min_lr_rate": self.min_lr_rate}
            if self.lr_scheduler_type == "cosine_with_min_lr"
            else {},
            warmup_steps=self.warmup_ratio,
            adam_beta1=self.adam_beta1,
            adam_beta2=self.adam_beta2,
            max_grad_norm=self.max_grad_norm,
            max_length=self.max_length,
            bf16=on_gpu,
            fp16=False,
            use_cpu=not on_gpu,
            gradient_checkpointing=self.gradient_checkpointing,
            logging_steps=self.logging_steps,
            save_strategy="no",
            report_to=[],
            seed=seed,
            data_seed=seed,
            disable_tqdm=False,
            **self.extra,
        )

    def peft_config(self):
        if not self.lora_r:
            return None
        from peft import LoraConfig

        return LoraConfig(r=self.lora_r, lora_alpha=self.lora_alpha, task_type="CAUSAL_LM", target_modules="all-linear")


def jsonl_log_callback(path: Path):
    from transformers import TrainerCallback

    class JsonlLog(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs:
                append_jsonl(path, [{"step": state.global_step, "epoch": state.epoch, **logs}])

    return JsonlLog()


def save_checkpoint(model, tokenizer, out_dir: Path, card: dict) -> Path:
    """Merged weights (LoRA folded in) + tokenizer + a short model card."""
    target = out_dir / "model"
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    lines = [f"# {card['method']} checkpoint", ""] + [f"- **{k}**: {v}" for k, v in card.items()]
    (target / "README.md").write_text("\n".join(lines) + "\n")
    return target


def train(
    method_name: str,
    pairs_path: str | Path,
    model: str,
    out_dir: str | Path,
    settings: TrainSettings,
    seed: int = 42,
    device: str | None = None,
    recipe: str = "",
) -> dict:
    """Train ``model`` with ``method_name`` on ``pairs_path``; writes ``model/``, ``train_log.jsonl``, manifest."""
    from ..models import default_device, load_model

    if method_name not in METHODS:
        raise ValueError(f"unknown method {method_name!r}; known: {', '.join(sorted(METHODS))}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = device or default_device()
    policy, tokenizer = load_model(model, device=device)
    policy.train()
    log_path = out_dir / "train_log.jsonl"
    log_path.unlink(missing_ok=True)
    trainer = METHODS[method_name](
        policy, tokenizer, pairs_path, settings, out_dir, seed, device, [jsonl_log_callback(log_path)]
    )
    result = trainer.train()
    data_manifest = Path(pairs_path).with_name("pairs.manifest.json")
    card = {
        "method": method_name,
        "recipe": recipe,
        "base_model": model,
        "seed": seed,
        "pairs": str(pairs_path),
        "pairs_hash": file_hash(pairs_path),
        "data_manifest": json.loads(data_manifest.read_text()) if data_manifest.exists() else None,
        "settings": asdict(settings),
    }
    save_checkpoint(
        trainer.model,
        tokenizer,
        out_dir,
        {k: card[k] for k in ("method", "recipe", "base_model", "seed", "pairs", "pairs_hash")},
    )
    return write_manifest(
        out_dir,
        "train",
        content_hash(card),
        **card,
        train_runtime=result.metrics.get("train_runtime"),
        train_loss=result.metrics.get("train_loss"),
    )


from . import dpo, sft  # noqa: E402,F401  (method registration)
