"""DPO time per pair on the same pairs, side by side: TRL's DPOTrainer with default settings, the `mipo` recipe with
prefix sharing off, and the `mipo` recipe as shipped (prefix sharing on), on GSM8K 8-shot pairs and on ARC pairs.

TRL default: two rows per pair, ``ref_model=None`` (a second model re-loaded from the model's path and run at every
step), gradient checkpointing on. `mipo`: reference log-probs precomputed once from the in-memory model, no
checkpointing; with prefix sharing each pair is one packed row ``[x, y_chosen, y_rejected]``, for the policy and the
reference (``mipo_bench/training/prefix_sharing.py``). Our times include loading the model and saving the checkpoint
(``train`` as a user runs it); TRL's include its reference load.

    python benchmarks/bench_dpo.py --arc ARC_PAIRS.jsonl [--gsm8k GSM8K_PAIRS.jsonl] [--pairs 16] [--device cuda]

ARC pairs: the `mipo` recipe's pairs (``mipo-bench pairs mipo data.n_prompts=16`` writes ``runs/mipo/pairs/
pairs.jsonl``; the demo's ``<out>/pairs/pairs.jsonl`` serves too). GSM8K pairs: ``mipo-bench pairs mipo
data.dataset=gsm8k data.n_prompts=16``; without ``--gsm8k`` they are built without generation from GSM8K's training
split: the 8-shot prompt (~900 tokens), the item's reference solution as the chosen response and the next item's as
the rejected one (the released code's permutation negatives), i.e. the real prompts with solution-sized responses.
"""

import argparse
import json
import tempfile
from pathlib import Path

import datasets
from _common import Timer

from mipo_bench.core.models import load_model, resolve_model_path
from mipo_bench.pairs.build import load_pairs
from mipo_bench.training import MipoSettings, train
from mipo_bench.training.dpo import preference_columns
from mipo_bench.training.processes import training_precision


def gsm8k_pairs(n: int) -> list[dict]:
    """``n`` GSM8K 8-shot pairs without generation: reference solutions, each rejected being the next item's."""
    from mipo_bench import data
    from mipo_bench.data.prompts import task_prompt

    records = data.train_prompts("gsm8k", n)
    return [
        {
            "prompt": [{"role": "user", "content": task_prompt(record)}],
            "chosen": [{"role": "assistant", "content": record["solution"]}],
            "rejected": [{"role": "assistant", "content": records[(i + 1) % len(records)]["solution"]}],
        }
        for i, record in enumerate(records)
    ]


def trl_default_seconds(rows: list[dict], model_spec: str, device: str, out: Path) -> float:
    from trl import DPOConfig, DPOTrainer

    dtype, _ = training_precision(device)
    model, tokenizer = load_model(model_spec, dtype=dtype, device="cpu")
    model.train()
    config = DPOConfig(
        output_dir=str(out),
        per_device_train_batch_size=1,
        gradient_accumulation_steps=4,
        num_train_epochs=1,
        use_cpu=device == "cpu",
        bf16=device != "cpu",  # TRL's default on GPU; CPU bf16 dies with SIGILL here
        report_to=[],
        save_strategy="no",
    )
    with Timer() as timer:
        trainer = DPOTrainer(
            model=model,
            args=config,
            train_dataset=datasets.Dataset.from_list(preference_columns(rows)),
            processing_class=tokenizer,
        )
        trainer.train()
    return timer.seconds


def mipo_seconds(pairs_path: Path, model_spec: str, device: str, out: Path, sharing: bool, micro: int) -> float:
    settings = MipoSettings(
        per_device_train_batch_size=micro, gradient_accumulation_steps=4 // micro, prefix_sharing=sharing
    )
    with Timer() as timer:
        train("mipo", pairs_path, resolve_model_path(model_spec), out, settings, device=device)
    return timer.seconds


def token_counts(rows: list[dict], model_spec: str) -> tuple[float, float]:
    """Mean prompt and mean response tokens (chat template applied)."""
    _, tokenizer = load_model(model_spec, device="cpu")

    def length(messages, **kwargs):
        return len(tokenizer.apply_chat_template(messages, return_dict=True, **kwargs)["input_ids"])

    prompt = [length(r["prompt"], add_generation_prompt=True) for r in rows]
    full = [length(r["prompt"] + r[side]) for r in rows for side in ("chosen", "rejected")]
    return sum(prompt) / len(rows), sum(full) / len(full) - sum(prompt) / len(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arc", help="ARC pairs.jsonl (skipped when not given)")
    ap.add_argument("--gsm8k", help="GSM8K pairs.jsonl (default: built from reference solutions, see above)")
    ap.add_argument("--pairs", type=int, default=16)
    ap.add_argument("--micro", type=int, default=1, help="our micro batch (global batch stays 4)")
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    sets = {"gsm8k": load_pairs(args.gsm8k) if args.gsm8k else gsm8k_pairs(args.pairs)}
    if args.arc:
        sets["arc"] = load_pairs(args.arc)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, rows in sets.items():
            rows = rows[: args.pairs]
            subset = Path(tmp) / name / "pairs.jsonl"
            subset.parent.mkdir(parents=True)
            subset.write_text("".join(json.dumps(r) + "\n" for r in rows))
            trl = trl_default_seconds(rows, args.model, args.device, Path(tmp) / name / "trl")
            off = mipo_seconds(subset, args.model, args.device, Path(tmp) / name / "off", False, args.micro)
            on = mipo_seconds(subset, args.model, args.device, Path(tmp) / name / "on", True, args.micro)
            results[name] = (len(rows), token_counts(rows, args.model), trl, off, on)
    print(f"{args.model}, {args.device}, global batch 4 (ours: micro {args.micro}), s/pair; ratios vs TRL default")
    print("pairs          | n  | prompt/resp tok | TRL default | mipo, sharing off | mipo (sharing on) | on/off")
    for name, (n, (prompt, response), trl, off, on) in results.items():
        print(
            f"{name:14s} | {n:2d} | {prompt:6.0f} / {response:5.0f} | {trl / n:8.2f} s  | "
            f"{off / n:6.2f} s ({off / trl:.2f}x) | {on / n:6.2f} s ({on / trl:.2f}x) | {on / off:.2f}x"
        )
    print("goal: mipo (sharing on) <= 0.6x TRL default on GSM8K 8-shot pairs")


if __name__ == "__main__":
    main()
