"""Prefix-cached judging vs one uncached call per (item, preference), on the same 64 PrefEval items x 4 preferences.

Inputs are real and fixed: the judged response is each item's PrefEval `explanation`. PrefEval states one preference
per item; each item is judged against 4: its own and those of the items 250, 500 and 750 places further along
PrefEval's 1000-preference pool (cyclically, so from other topics). Both runs use the same model object, the same
batching (`--batch` calls per generate) and the `personalization_score` template (greedy, 8 new tokens, no re-asks);
the only difference is the hf backend's `prefix_cache` option. `--per-call` adds the batch-size-1 uncached run.

    python benchmarks/bench_judge.py [--items 64] [--preferences 4] [--batch 16] [--per-call]
"""

import argparse
import tempfile
from pathlib import Path

from _common import Timer

from mipo_bench import data
from mipo_bench.core.models import load_model
from mipo_bench.generation import get_backend
from mipo_bench.judging.calls import judge_items, judge_messages, load_template

MODEL = "smollm2-135m-instruct"
POOL_STRIDE = 250  # the extra preferences come this many places further along the pool


def prefeval_items(n: int, preferences: int) -> list[dict]:
    docs = data.eval_docs("prefeval", "full")
    pool = [d["preferences"][0] for d in docs]
    return [
        {
            "id": d["id"],
            "query": d["prompt"],
            "response": d["explanation"],
            "preferences": [pool[(j + POOL_STRIDE * m) % len(pool)] for m in range(preferences)],
        }
        for j, d in enumerate(docs[:n])
    ]


def token_counts(items: list[dict], tokenizer) -> tuple[float, float]:
    """Mean tokens of a judge call, and mean tokens of it shared with the item's other calls."""
    template = load_template("personalization_score")
    total = shared = calls = 0
    for item in items:
        texts = [
            tokenizer.apply_chat_template(
                judge_messages(template, item["query"], item["response"], p), tokenize=False, add_generation_prompt=True
            )
            for p in item["preferences"]
        ]
        ids = [tokenizer(t, add_special_tokens=False).input_ids for t in texts]
        common = min(next((k for k, (a, b) in enumerate(zip(ids[0], x)) if a != b), len(x)) for x in ids[1:])
        total += sum(len(x) for x in ids)
        shared += common * len(ids)
        calls += len(ids)
    return total / calls, shared / calls


def prefill(forward_kwargs: dict) -> int:
    """Positions a forward call encodes when it encodes a prompt (more than one position); 0 for a decoding step."""
    ids = forward_kwargs["input_ids"]
    return ids.numel() if ids.shape[1] > 1 else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=64)
    ap.add_argument("--preferences", type=int, default=4)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--per-call", action="store_true", help="also time one uncached call at a time (batch 1)")
    args = ap.parse_args()
    if args.preferences < 2:
        ap.error("--preferences must be at least 2 (a single call per item has nothing to share)")
    items = prefeval_items(args.items, args.preferences)
    model, tokenizer = load_model(MODEL, device="cpu")

    def backend(batch: int, prefix_cache: bool):
        return get_backend(
            "hf", MODEL, batch_size=batch, prefix_cache=prefix_cache, model_obj=model, tokenizer_obj=tokenizer
        )

    runs = {"uncached": backend(args.batch, False), "prefix-cached": backend(args.batch, True)}
    if args.per_call:
        runs["uncached, batch 1"] = backend(1, False)
    rows, seconds, encoded = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for k, engine in enumerate(runs.values()):  # warm-up: first calls pay one-time costs (stop criteria)
            judge_items(items[:2], engine, Path(tmp) / f"warm-{k}.jsonl", retries=0)
        for name, engine in runs.items():
            batch = 1 if name.endswith("batch 1") else args.batch
            sizes = []  # positions of the forward calls that encode more than one token (prefill; pads included)
            hook = model.register_forward_pre_hook(lambda _m, _a, kw, s=sizes: s.append(prefill(kw)), with_kwargs=True)
            with Timer() as t:
                rows[name] = judge_items(items, engine, Path(tmp) / f"{name}.jsonl", retries=0, batch_size=batch)
            hook.remove()
            seconds[name], encoded[name] = t.seconds, sum(sizes)
    mean_tokens, mean_shared = token_counts(items, tokenizer)
    print(
        f"{len(items)} PrefEval items x {args.preferences} preferences = {len(rows['uncached'])} judge calls by "
        f"SmolLM2-135M-Instruct (personalization_score: greedy, 8 new tokens), CPU, batch {args.batch}"
    )
    print(f"a call: {mean_tokens:.0f} prompt tokens on average, {mean_shared:.0f} of them shared with its item's calls")
    for name, s in seconds.items():
        print(f"{name:<18}: {s:7.1f} s, {encoded[name]:>7} prompt tokens encoded (pads included)")
    cached = seconds["prefix-cached"]
    print(f"speed-up prefix-cached / uncached: {seconds['uncached'] / cached:.2f}x (goal >= 3x)")
    if args.per_call:
        print(f"speed-up prefix-cached / uncached batch 1: {seconds['uncached, batch 1'] / cached:.2f}x")
    for name in rows:
        if name == "prefix-cached":
            continue
        same = sum(a == b for a, b in zip(rows["prefix-cached"], rows[name]))
        print(f"identical judgments (score and reply), prefix-cached vs {name}: {same}/{len(rows[name])}")
    failed = ", ".join(f"{sum(r['failed'] for r in judged)} {name}" for name, judged in rows.items())
    print(f"unparseable replies: {failed}")


if __name__ == "__main__":
    main()
