"""Shared training settings and the entry point that dispatches to a registered method (``base.METHODS``).

Training runs in one process or under ``accelerate launch`` (DDP, FSDP, DeepSpeed): the policy is held in fp32 with
bf16 autocast on GPU (``training_precision``), and only the main process writes files.
"""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import asdict, dataclass, field
from dataclasses import fields as dataclass_fields
from pathlib import Path

from ..core.runs import absolute, append_jsonl, content_hash, file_hash, manifest_path, read_jsonl, write_manifest
from .base import METHODS, PAIRS, PROMPTS, SFT, Method, TrainContext
from .lengths import cut_warning, length_report
from .processes import is_main_process, training_precision, wait_for_everyone, world_size


@dataclass
class TrainSettings:
    """The settings every method shares: the paper's optimizer and schedule (appendix D, OpenRLHF) mapped onto TRL.
    A method's own settings subclass this (``dpo.MipoSettings``, ``infonce.InfoNCESettings``, ...).

    Args:
        learning_rate: peak learning rate; 5e-7, the released commands' (README ``--learning_rate 5e-7``), where
            appendix D's table lists 1e-7 as the best of its sweep {1e-6, 5e-7, 1e-7}: PROTOCOL.md's rule, the code
            that produced the numbers; ``--sweep train.learning_rate=1e-6,5e-7,1e-7`` runs the paper's grid.
        per_device_train_batch_size: micro batch (OpenRLHF micro_train_batch_size = 1).
        global_batch_size: examples per optimizer step over all processes (OpenRLHF train_batch_size; paper: 4).
            The accumulation is derived from it: global / (micro batch x processes), so 4 processes still train at
            the paper's batch of 4 (an error when it does not divide).
        gradient_accumulation_steps: set it to pin the accumulation instead (then the global batch is micro x
            accumulation x processes); None = derived from ``global_batch_size``.
        num_train_epochs: passes over the pairs; None = the dataset's (its spec's ``train_epochs``: the paper's 1,
            2 on Multi-Bench where appendix D says "2-3"), 1 when no dataset is known.
        lr_scheduler_type: cosine decaying to ``min_lr_rate`` x lr (OpenRLHF's cosine_with_min_lr).
        min_lr_rate: floor of the cosine schedule as a fraction of the peak.
        warmup_ratio: share of steps spent warming up (paper: 3%; passed as a float ``warmup_steps``, which
            transformers 5 reads as a ratio when below 1).
        adam_beta1, adam_beta2: Adam betas (OpenRLHF: 0.9, 0.95).
        max_grad_norm: gradient clipping.
        max_length: prompt + response tokens kept per sequence (online methods: not used; see their settings);
            None = the dataset's (its spec's ``train_max_length``: the released runs' ``--max_len 15360``). The rows
            over it are counted in the train manifest (``lengths``).
        lora_r: LoRA rank; 0 trains all weights.
        lora_alpha: LoRA scaling.
        gradient_checkpointing: trade compute for memory (off by default: small models on CPU).
        logging_steps: how often the training log gets a row.
        report_to: TRL's ``report_to``: ``none`` (default), or one or more of ``tensorboard``, ``trackio``,
            ``wandb``, ``mlflow`` (comma-separated; each needs its package). TensorBoard writes under
            ``<run>/train/trainer/runs/``; the curves are in ``train_log.jsonl`` either way.
        save_steps: 0 (default): one checkpoint, the final model in ``<train>/model`` (fp32, 4 bytes a parameter);
            N: also one with its optimizer state every N steps in ``<train>/trainer/checkpoint-N`` (not in the cache
            key: set it before the first run), the newest ``save_total_limit`` of them (None: all).
    """

    learning_rate: float = 5e-7
    per_device_train_batch_size: int = 1
    global_batch_size: int = 4
    gradient_accumulation_steps: int | None = None
    num_train_epochs: float | None = None
    lr_scheduler_type: str = "cosine_with_min_lr"
    min_lr_rate: float = 0.1
    warmup_ratio: float = 0.03
    adam_beta1: float = 0.9
    adam_beta2: float = 0.95
    max_grad_norm: float = 1.0
    max_length: int | None = None
    lora_r: int = 0
    lora_alpha: int = 16
    gradient_checkpointing: bool = False
    logging_steps: int = 1
    report_to: str = "none"
    save_steps: int = 0
    save_total_limit: int | None = None
    extra: dict = field(default_factory=dict)

    def trl_kwargs(self, device: str, seed: int, out_dir: Path) -> dict:
        """TRL config keywords for ``device``; computed without touching it, so GPU settings can be checked on CPU."""
        _, bf16_autocast = training_precision(device)
        return dict(
            output_dir=str(out_dir / "trainer"),
            learning_rate=self.learning_rate,
            per_device_train_batch_size=self.per_device_train_batch_size,
            gradient_accumulation_steps=self.accumulation_steps(world_size()),
            num_train_epochs=1.0 if self.num_train_epochs is None else self.num_train_epochs,
            lr_scheduler_type=self.lr_scheduler_type,
            lr_scheduler_kwargs={"min_lr_rate": self.min_lr_rate}
            if self.lr_scheduler_type == "cosine_with_min_lr"
            else {},
            warmup_steps=self.warmup_ratio,
            adam_beta1=self.adam_beta1,
            adam_beta2=self.adam_beta2,
            max_grad_norm=self.max_grad_norm,
            max_length=self.max_length,
            bf16=bf16_autocast,  # autocast over fp32 master weights (see training_precision)
            fp16=False,
            use_cpu=not str(device).startswith("cuda"),
            gradient_checkpointing=self.gradient_checkpointing,
            logging_steps=self.logging_steps,
            save_strategy="steps" if self.save_steps else "no",
            **({"save_steps": self.save_steps, "save_total_limit": self.save_total_limit} if self.save_steps else {}),
            report_to=[t.strip() for t in self.report_to.split(",") if t.strip() not in ("", "none")],
            seed=seed,
            data_seed=seed,
            disable_tqdm=False,
            **self.extra,
        )

    def __post_init__(self):
        """``extra`` passes TRL keywords the settings do not have; one the suite sets itself is refused here, with
        the setting to use instead (it would have been a raw TypeError, or silently fought the suite's own value)."""
        if self.save_steps < 0:
            raise ValueError(f"train.save_steps must be 0 (final model only) or a step count, not {self.save_steps}")
        own = {f.name for f in dataclass_fields(self)} - {"extra"}
        for key in self.extra or {}:
            if key in own:
                raise ValueError(f"train.extra.{key}: use train.{key} instead")
            if key in SET_BY_THE_SUITE:
                raise ValueError(f"train.extra.{key}: set by mipo-bench; {SET_BY_THE_SUITE[key]}")

    def accumulation_steps(self, processes: int) -> int:
        """Micro-batches per optimizer step on each of ``processes``, so that a step sees ``global_batch_size``
        examples (or the pinned ``gradient_accumulation_steps``)."""
        if self.gradient_accumulation_steps is not None:
            return self.gradient_accumulation_steps
        per_step = self.per_device_train_batch_size * processes
        if per_step > self.global_batch_size or self.global_batch_size % per_step:
            raise ValueError(
                f"train.global_batch_size={self.global_batch_size} is not a multiple of the micro batch "
                f"({self.per_device_train_batch_size}) x {processes} processes; change one of them, or pin "
                "train.gradient_accumulation_steps"
            )
        return self.global_batch_size // per_step

    def effective_batch(self, processes: int) -> int:
        """Examples per optimizer step over all processes, as this run trains."""
        return self.per_device_train_batch_size * self.accumulation_steps(processes) * processes

    def trl_config(self, config_cls, ctx: TrainContext, **pinned):
        """``config_cls`` (a TRL / transformers config) built from these settings, their single source: the shared
        keywords of :meth:`trl_kwargs` that ``config_cls`` knows, every field of the method's own settings that
        ``config_cls`` has under the same name (DPO's ``beta``, GRPO's ``num_generations``, ...), then ``pinned``
        (what the method computes or fixes, e.g. DPO's loss type); ``extra`` goes last, unfiltered."""
        known = {f.name for f in dataclass_fields(config_cls)}
        shared = {f.name for f in dataclass_fields(TrainSettings)}
        own = {f.name: getattr(self, f.name) for f in dataclass_fields(self) if f.name in known - shared}
        common = self.trl_kwargs(ctx.device, ctx.seed, ctx.out_dir)
        for key in self.extra:
            common.pop(key)
        common = {k: v for k, v in common.items() if k in known}
        return config_cls(**{**own, **pinned, **common, **self.extra})

    def peft_config(self):
        if not self.lora_r:
            return None
        from peft import LoraConfig

        return LoraConfig(r=self.lora_r, lora_alpha=self.lora_alpha, task_type="CAUSAL_LM", target_modules="all-linear")


# TRL keywords every method's config gets from the suite (trl_kwargs), and where a user sets them instead
SET_BY_THE_SUITE = {
    "output_dir": "the run directory decides it (--run-dir)",
    "seed": "use the recipe's top-level seed",
    "data_seed": "use the recipe's top-level seed",
    "save_strategy": "the final model is saved to <run>/train/model; use train.save_steps for more",
    "warmup_steps": "use train.warmup_ratio",
    "lr_scheduler_kwargs": "use train.min_lr_rate",
    **dict.fromkeys(("bf16", "fp16"), "the precision follows the device (fp32 weights, bf16 autocast on GPU)"),
    "use_cpu": "the device decides it",
    "disable_tqdm": "progress bars are the suite's",
}


def jsonl_log_callback(path: Path):
    """A callback appending each logged row to ``path``, from the main process only (every rank calls ``on_log``)."""
    from transformers import TrainerCallback

    class JsonlLog(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and state.is_world_process_zero:
                append_jsonl(path, [{"step": state.global_step, "epoch": state.epoch, **logs}])

    return JsonlLog()


def save_checkpoint(trainer, base_model: str, out_dir: Path, card: dict) -> Path:
    """Save ``out_dir/model``: merged weights (LoRA folded in), tokenizer and a short model card.

    Called on every rank: ``trainer.save_model`` gathers FSDP / ZeRO-3 shards collectively and writes from the main
    process only. A LoRA policy is saved as its (gathered) adapter, then the main process folds it into a fresh fp32
    copy of ``base_model``, so the checkpoint is always a plain model that ``from_pretrained`` loads. Other ranks wait
    until the checkpoint is complete.
    """
    import torch
    from peft import PeftModel

    from ..core.models import load_model

    target = out_dir / "model"
    main = trainer.is_world_process_zero()
    if isinstance(trainer.accelerator.unwrap_model(trainer.model), PeftModel):
        adapter_dir = Path(trainer.args.output_dir) / "adapter"
        trainer.save_model(str(adapter_dir))
        if main:
            base, _ = load_model(base_model, dtype=torch.float32, device="cpu")  # the adapter trained over fp32
            merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
            merged.save_pretrained(target)
            trainer.processing_class.save_pretrained(target)
    else:
        trainer.save_model(str(target))
    if main:
        (target / "training_args.bin").unlink(missing_ok=True)  # pickled TrainingArguments: the manifest has them
        lines = [f"# {card['method']} checkpoint", ""] + [f"- **{k}**: {v}" for k, v in card.items()]
        (target / "README.md").write_text("\n".join(lines) + "\n")
    trainer.accelerator.wait_for_everyone()
    return target


def load_rows(method: Method, data_path: str | Path) -> list[dict]:
    """The rows ``method`` consumes, read from ``data_path`` (a ``pairs.jsonl``, an SFT file or a ``prompts.jsonl``).

    An SFT method given a pairs file trains on the chosen sides (the paper's SFT baseline). Every row is checked; a
    bad one is an error naming the file and the line.
    """
    from ..pairs.build import load_pairs

    if method.consumes == PAIRS:
        return load_pairs(data_path)
    rows = list(read_jsonl(data_path))
    if not rows:
        raise ValueError(f"{data_path}: no training rows")
    need = {SFT: ("prompt", "completion"), PROMPTS: ("prompt",)}[method.consumes]
    if method.consumes == SFT and "completion" not in rows[0]:
        rows = [{**r, "completion": r.get("chosen")} for r in rows]
    for i, row in enumerate(rows, 1):
        for key in need:
            if not isinstance(row.get(key), list) or not row[key]:
                raise ValueError(f"{data_path}:{i}: missing or empty {key!r} message list")
    return rows


def as_settings(method: Method, settings: TrainSettings) -> TrainSettings:
    """``settings`` as ``method``'s own settings class: the shared optimizer and schedule (:class:`TrainSettings`)
    are kept, the method's own fields take their defaults (a same-named field of another method means something
    else: DPO's ``beta`` is not GRPO's KL weight)."""
    from dataclasses import fields

    if isinstance(settings, method.settings):
        return settings
    shared = {f.name: getattr(settings, f.name) for f in fields(TrainSettings)}
    return method.settings(**shared)


def build_trainer(
    method_name: str,
    data_path: str | Path,
    model: str,
    out_dir: str | Path,
    settings: TrainSettings,
    seed: int,
    device: str,
    callbacks: list | None = None,
    recipe=None,
    run_dir: str | Path | None = None,
):
    """Load the policy in its training precision and hand it to the method's trainer builder (nothing trained yet).

    The rows come from ``data_path`` as the method consumes them, then through the method's ``prepare`` (e.g.
    self-revisions) when it has one. The policy is loaded on the CPU; the trainer places it on its own device
    (``cuda:<local rank>`` under ``accelerate launch``), or leaves placement to FSDP / DeepSpeed. So the GPU settings
    can be built on a CPU machine.
    """
    from ..core.models import load_model

    method = METHODS.get(method_name)
    settings = as_settings(method, settings)
    rows = load_rows(method, data_path)
    if method.prepare is not None:  # a cached stage: the main process runs it, the other ranks then read its output
        if is_main_process():
            rows_main = method.prepare(recipe, Path(run_dir or Path(out_dir).parent), rows)
        wait_for_everyone()
        rows = rows_main if is_main_process() else method.prepare(recipe, Path(run_dir or Path(out_dir).parent), rows)
    load_dtype, _ = training_precision(device)
    policy, tokenizer = load_model(model, dtype=load_dtype, device="cpu")
    policy.train()
    ctx = TrainContext(model, Path(out_dir), seed, device, list(callbacks or []), recipe)
    trainer = method.build(policy, tokenizer, rows, settings, ctx)
    trainer.mipo_revised = method.prepare is not None
    trainer.mipo_lengths = length_report(rows, tokenizer, settings.max_length) if method.consumes != PROMPTS else None
    if (warning := cut_warning(trainer.mipo_lengths)) and is_main_process():
        print(warning, file=sys.stderr)
    return trainer


def train(
    method_name: str,
    data_path: str | Path,
    model: str,
    out_dir: str | Path,
    settings: TrainSettings,
    seed: int = 42,
    device: str | None = None,
    recipe=None,
    run_dir: str | Path | None = None,
) -> dict:
    """Train ``model`` with ``method_name`` on ``data_path``; writes ``model/``, ``train_log.jsonl``, manifest.

    Works in one process or under ``accelerate launch`` (DDP, FSDP, DeepSpeed): only the main process writes files,
    and every rank returns the manifest, read back after a barrier.
    """
    from ..core.models import default_device

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = device or default_device()
    log_path = out_dir / "train_log.jsonl"
    trainer = build_trainer(
        method_name, data_path, model, out_dir, settings, seed, device, [jsonl_log_callback(log_path)], recipe, run_dir
    )
    if trainer.is_world_process_zero():
        log_path.unlink(missing_ok=True)
    from .cost import process_cpu_seconds, training_cost

    cpu_start = process_cpu_seconds()
    with contextlib.redirect_stdout(sys.stderr):  # TRL's per-step log dicts are progress, not the result
        result = trainer.train()
    cost = training_cost(trainer, process_cpu_seconds() - cpu_start, Path(run_dir or out_dir.parent))
    data_manifest = next(Path(data_path).parent.glob("*.manifest.json"), None)
    card = {
        "method": method_name,
        "recipe": getattr(recipe, "source", recipe) or "",
        "base_model": absolute(model),
        "seed": seed,
        "data": absolute(data_path),
        "data_hash": file_hash(data_path),
        "data_manifest": json.loads(data_manifest.read_text()) if data_manifest else None,
        "settings": asdict(settings),
    }
    save_checkpoint(
        trainer, model, out_dir, {k: card[k] for k in ("method", "recipe", "base_model", "seed", "data", "data_hash")}
    )
    if trainer.is_world_process_zero():
        write_manifest(
            out_dir,
            "train",
            content_hash(card),
            **card,
            lengths=trainer.mipo_lengths,
            global_batch=settings.effective_batch(world_size()),
            processes=world_size(),
            train_runtime=result.metrics.get("train_runtime"),
            optimizer_steps=trainer.state.global_step,
            **cost,
            train_loss=result.metrics.get("train_loss"),
        )
    trainer.accelerator.wait_for_everyone()
    return json.loads(manifest_path(out_dir, "train").read_text())
