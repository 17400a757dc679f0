"""Seconds per online step (rollout + reward + update) of rlvr, rlaif and mi_rl on SmolLM2-135M-Instruct, CPU, and
the share of it spent inside the reward functions (each reward object times its own calls).

One step = one rollout of ``--generation-batch`` completions (``--num-generations`` per prompt), their rewards, and
one optimizer step over them (micro batch 1, accumulation = generation batch, so the paper's 4 completions a step).
rlvr trains on ARC-Easy training prompts; rlaif and mi_rl on PrefEval training prompts with their user context (the
MI baseline is the same query without it). The critic is a second, frozen copy of the model.

    python benchmarks/bench_online.py [--steps 3] [--num-generations 2] [--max-completion-length 32]
"""

import argparse
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (environment: offline hub, data mirror)


def arc_rows(n: int) -> list[dict]:
    from mipo_bench import data
    from mipo_bench.data.prompts import task_prompt

    records = data.train_prompts("arc_easy", n)
    chats = [[{"role": "user", "content": task_prompt(r)}] for r in records]
    return [
        {
            "prompt": chat,
            "id": r["id"],
            "dataset": "arc_easy",
            "answer": r["answer"],
            "query": r["question"],
            "context": None,
            "base_prompt": chats[(i + 1) % len(chats)],  # another prompt x'
        }
        for i, (r, chat) in enumerate(zip(records, chats))
    ]


def prefeval_rows(n: int) -> list[dict]:
    from mipo_bench import data
    from mipo_bench.data.prompts import personalized_prompt

    records = [r for r in data.train_prompts("prefeval", None) if r.get("context")][:n]
    return [
        {
            "prompt": [{"role": "user", "content": personalized_prompt(r["prompt"], r["context"])}],
            "id": r["id"],
            "dataset": "prefeval",
            "answer": None,
            "query": r["prompt"],
            "context": r["context"],
            "base_prompt": [{"role": "user", "content": personalized_prompt(r["prompt"], None)}],
        }
        for r in records
    ]


def run(method: str, rows: list[dict], args, out_dir: Path) -> dict:
    import torch

    from mipo_bench.core.models import load_model
    from mipo_bench.training.base import METHODS, TrainContext
    from mipo_bench.training.online import OnlineSettings

    model = "smollm2-135m-instruct"
    policy, tokenizer = load_model(model, dtype=torch.float32, device="cpu")
    policy.train()
    settings = OnlineSettings(
        num_generations=args.num_generations,
        generation_batch_size=args.generation_batch,
        gradient_accumulation_steps=args.generation_batch,
        max_completion_length=args.max_completion_length,
        extra={"max_steps": args.steps},
    )
    ctx = TrainContext(model_spec=model, out_dir=out_dir / method, seed=0, device="cpu")
    trainer = METHODS[method].build(policy, tokenizer, rows, settings, ctx)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    reward_seconds = sum(r.seconds for r in trainer.reward_funcs)
    failures = {r.__name__: f"{r.failures}/{r.calls}" for r in trainer.reward_funcs}
    return {"step": seconds / args.steps, "reward": reward_seconds / args.steps, "failures": failures}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--num-generations", type=int, default=2)
    ap.add_argument("--generation-batch", type=int, default=4, help="completions per rollout (= per step)")
    ap.add_argument("--max-completion-length", type=int, default=32)
    ap.add_argument("--methods", nargs="+", default=["rlvr", "rlaif", "mi_rl"])
    args = ap.parse_args()
    prompts = args.steps * args.generation_batch // args.num_generations
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for method in args.methods:
            rows = arc_rows(prompts) if method.startswith("rlvr") else prefeval_rows(prompts)
            results[method] = run(method, rows, args, Path(tmp))
    print(
        f"SmolLM2-135M-Instruct, CPU, {args.steps} steps of {args.generation_batch} completions "
        f"({args.num_generations} per prompt, <= {args.max_completion_length} new tokens)"
    )
    print(f"{'method':<8} {'s/step':>8} {'reward s/step':>14} {'reward share':>13}  failures")
    for method, r in results.items():
        share = r["reward"] / r["step"] if r["step"] else 0.0
        print(f"{method:<8} {r['step']:>8.2f} {r['reward']:>14.2f} {100 * share:>12.1f}%  {r['failures']}")


if __name__ == "__main__":
    main()
