"""Batched judging vs one judge call per item, on the same 64 PrefEval items (the response judged is each item's
`explanation` text, so the inputs are real and fixed).

    python benchmarks/bench_judge.py [--items 64] [--batch 16]
"""

import argparse
import tempfile
from pathlib import Path

from _common import Timer

from mipo_bench import data
from mipo_bench.generation import get_backend
from mipo_bench.judging.judge import judge_items
from mipo_bench.models import load_model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()
    docs = data.eval_docs("prefeval", "full")[: args.items]
    items = [
        {"id": d["id"], "query": d["prompt"], "preferences": d["preferences"], "response": d["explanation"]}
        for d in docs
    ]
    model, tokenizer = load_model("smollm2-135m-instruct", device="cpu")
    batched = get_backend(
        "hf", "smollm2-135m-instruct", batch_size=args.batch, model_obj=model, tokenizer_obj=tokenizer
    )
    single = get_backend("hf", "smollm2-135m-instruct", batch_size=1, model_obj=model, tokenizer_obj=tokenizer)
    with tempfile.TemporaryDirectory() as tmp:
        with Timer() as t_batched:
            rows_b = judge_items(items, batched, Path(tmp) / "b.jsonl", retries=0, batch_size=args.batch)
        with Timer() as t_single:
            rows_s = judge_items(items, single, Path(tmp) / "s.jsonl", retries=0, batch_size=1)
    agree = sum(a["score"] == b["score"] for a, b in zip(rows_b, rows_s)) / len(rows_b)
    print(f"{len(items)} PrefEval items judged by SmolLM2-135M-Instruct (greedy, 8 new tokens), CPU")
    print(f"one call per item : {t_single.seconds:7.1f} s")
    print(f"batched ({args.batch:>2})      : {t_batched.seconds:7.1f} s")
    print(f"speed-up batched / per item: {t_single.seconds / t_batched.seconds:.2f}x (goal >= 4x)")
    print(
        f"same score in both runs: {100 * agree:.0f}% of judgments; unparseable: "
        f"{sum(r['failed'] for r in rows_b)} batched, {sum(r['failed'] for r in rows_s)} per item"
    )


if __name__ == "__main__":
    main()
