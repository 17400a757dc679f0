"""The `mipo` recipe's training time per pair vs TRL's DPOTrainer with default settings, same pairs.

TRL default: ``ref_model=None`` (a second model re-loaded from the model's path and run at every step),
gradient checkpointing on. Ours: reference log-probs precomputed once from the in-memory model, no checkpointing.

    python benchmarks/bench_dpo.py PAIRS.jsonl [--pairs 16]
"""

import argparse
import tempfile
from pathlib import Path

import datasets
from _common import Timer

from mipo_bench.models import load_model, resolve_model_path
from mipo_bench.pairs.build import load_pairs
from mipo_bench.training import TrainSettings, train


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pairs_jsonl")
    ap.add_argument("--pairs", type=int, default=16)
    ap.add_argument("--micro", type=int, default=4, help="our micro batch (global batch stays 4)")
    args = ap.parse_args()
    rows = load_pairs(args.pairs_jsonl)[: args.pairs]
    with tempfile.TemporaryDirectory() as tmp:
        subset = Path(tmp) / "pairs.jsonl"
        import json

        subset.write_text("".join(json.dumps(r) + "\n" for r in rows))
        from trl import DPOConfig, DPOTrainer

        model, tokenizer = load_model("smollm2-135m-instruct", device="cpu")
        model.train()
        config = DPOConfig(
            output_dir=f"{tmp}/trl",
            per_device_train_batch_size=1,
            gradient_accumulation_steps=4,
            num_train_epochs=1,
            bf16=False,
            use_cpu=True,
            report_to=[],
            save_strategy="no",
            max_length=1024,
        )
        with Timer() as t_trl:
            DPOTrainer(
                model=model, args=config, train_dataset=datasets.Dataset.from_list(rows), processing_class=tokenizer
            ).train()
        with Timer() as t_ours:
            train(
                "mipo",
                subset,
                resolve_model_path("smollm2-135m-instruct"),
                Path(tmp) / "ours",
                TrainSettings(per_device_train_batch_size=args.micro, gradient_accumulation_steps=4 // args.micro),
                device="cpu",
            )
    n = len(rows)
    print(f"{n} pairs, global batch 4, fp32 CPU")
    print(f"TRL DPOTrainer defaults : {t_trl.seconds / n:6.2f} s/pair (incl. reference load)")
    print(
        f"mipo recipe (micro {args.micro})   : {t_ours.seconds / n:6.2f} s/pair (incl. model load and checkpoint save)"
    )
    print(f"ratio ours/TRL default  : {t_ours.seconds / t_trl.seconds:.2f}x (goal <= 0.6x)")


if __name__ == "__main__":
    main()
