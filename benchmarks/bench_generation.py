"""hf backend vs a plain batched model.generate loop (same prompts, batch size, greedy) and vs batch size 1.

python benchmarks/bench_generation.py [--prompts 32] [--tokens 64] [--batch 16]
"""

import argparse

import torch
from _common import Timer, arc_chats

from mipo_bench.core.models import load_model
from mipo_bench.generation import SamplingParams, get_backend


def plain_loop(model, tokenizer, chats, batch, tokens):
    """What one writes without mipo-bench: prompts in dataset order, left padding, model.generate."""
    tokenizer.padding_side = "left"
    texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in chats]
    out = []
    for i in range(0, len(texts), batch):
        enc = tokenizer(texts[i : i + batch], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            gen = model.generate(**enc, max_new_tokens=tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        out += tokenizer.batch_decode(gen[:, enc.input_ids.shape[1] :], skip_special_tokens=True)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()
    chats = arc_chats(args.prompts)
    model, tokenizer = load_model("smollm2-135m-instruct", device="cpu")
    params = SamplingParams(temperature=0, max_new_tokens=args.tokens)
    ours = get_backend("hf", "smollm2-135m-instruct", batch_size=args.batch, model_obj=model, tokenizer_obj=tokenizer)
    single = get_backend("hf", "smollm2-135m-instruct", batch_size=1, model_obj=model, tokenizer_obj=tokenizer)
    plain_loop(model, tokenizer, chats[:2], 2, 4)  # warm-up
    with Timer() as t_plain:
        plain_loop(model, tokenizer, chats, args.batch, args.tokens)
    with Timer() as t_ours:
        ours.generate(chats, params)
    with Timer() as t_single:
        single.generate(chats, params)
    print(f"{args.prompts} ARC-Easy prompts, {args.tokens} new tokens, greedy, batch {args.batch}, CPU")
    print(f"plain batched generate loop : {t_plain.seconds:7.1f} s")
    print(f"hf backend (batched, sorted): {t_ours.seconds:7.1f} s")
    print(f"hf backend, batch size 1    : {t_single.seconds:7.1f} s")
    print(f"throughput hf backend / plain loop : {t_plain.seconds / t_ours.seconds:.2f}x (goal >= 0.95x)")
    print(f"throughput hf backend / batch 1    : {t_single.seconds / t_ours.seconds:.2f}x (goal >= 4x)")


if __name__ == "__main__":
    main()
