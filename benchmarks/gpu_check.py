"""The GPU check: does prefix-shared DPO hold up in bf16 on a GPU, and how fast do training and HF generation go there?
The figures the plan's cost estimates use (mipo_bench/workflows/costs.py: ASSUMED), measured.

On a random-weight Qwen2.5-1.5B built from its config on the card (no weights to carry), with sequences shaped like
the plan's GSM8K pairs (an 8-shot prompt of ~926 tokens, responses of ~125):

1. checks, each with a pass/fail threshold:
   - sharing is exact: the prefix-shared log-probs of the responses equal the two-row ones in fp32;
   - bf16 autocast against fp32: the summed response log-probs and the DPO loss (beta 0.1, the reference the fp32
     policy) differ by less than the thresholds below;
2. throughput: prefix-shared DPO training steps (forward, backward and AdamW over fp32 master weights under bf16
   autocast, micro batch 1 pair, like the recipes) in trained tokens a second and the fraction of the card's bf16
   peak (6 x parameters FLOPs a token); HF ``generate`` tokens a second at the plan's batch sizes (8 and 16, the
   recipes' pairs.batch_size / judge batch), from the GSM8K prompt, every sequence made to run its full length.

    python benchmarks/gpu_check.py --out DIR                        # on the device machine (benchmarks/gpu_check.sh)
    python benchmarks/gpu_check.py --out DIR --device cpu --tiny    # the dry run the tests make on CPU

It writes ``gpu_check.json`` (checks, throughput, and the ``measured`` values to put in costs.ASSUMED) and exits 1
when a check fails. Imports only torch, transformers, TRL (its log-softmax) and the suite's prefix-sharing module.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Qwen2.5-1.5B-Instruct's config.json (the architecture; weights are drawn at random)
QWEN25_15B = {
    "hidden_size": 1536,
    "intermediate_size": 8960,
    "num_hidden_layers": 28,
    "num_attention_heads": 12,
    "num_key_value_heads": 2,
    "vocab_size": 151936,
    "max_position_embeddings": 32768,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-06,
    "tie_word_embeddings": True,
    "use_sliding_window": False,
}
TINY = {**QWEN25_15B, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4}
TINY |= {"num_key_value_heads": 2, "vocab_size": 2048}
THRESHOLDS = {
    "shared_vs_rows_fp32_max_abs": 0.05,  # nats, on sums of ~125 token log-probs (float rounding of two layouts)
    "bf16_vs_fp32_logp_max_rel": 0.01,  # relative difference of a response's summed log-prob
    "bf16_vs_fp32_loss_max_abs": 0.05,  # DPO loss (natural log), beta 0.1
}
PROMPT, RESPONSE, PAIRS = 926, 125, 4  # the plan's GSM8K lengths; a global batch of 4 pairs


def build(config: dict, device: str):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(**config, attn_implementation="sdpa")).to(device)
    return model


def pairs(vocab: int, prompt: int, response: int, n: int, device: str) -> dict:
    """``n`` pairs as TRL's collator lays them out: rows 2i and 2i+1 share prompt i, then chosen / rejected."""
    g = torch.Generator().manual_seed(1)
    rows, masks = [], []
    for _ in range(n):
        x = torch.randint(3, vocab, (prompt,), generator=g)
        for _ in range(2):
            y = torch.randint(3, vocab, (response,), generator=g)
            rows.append(torch.cat([x, y]))
            masks.append(torch.cat([torch.zeros(prompt, dtype=torch.long), torch.ones(response, dtype=torch.long)]))
    input_ids = torch.stack(rows)
    return {
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
        "completion_mask": torch.stack(masks),
        "groups": [[2 * i, 2 * i + 1] for i in range(n)],
    }


def row_logps(model, batch: dict) -> torch.Tensor:
    from trl.trainer.utils import selective_log_softmax

    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    token = selective_log_softmax(logits.float(), batch["input_ids"][:, 1:])
    return (token * batch["completion_mask"][:, 1:]).sum(-1)


def shared_logps(model, batch: dict, shared: dict) -> torch.Tensor:
    from mipo_bench.training.prefix_sharing import shared_response_logps

    return shared_response_logps(model, shared, batch["completion_mask"], "sdpa", torch.float32)


def dpo_loss(policy: torch.Tensor, reference: torch.Tensor, beta: float = 0.1) -> torch.Tensor:
    margin = (policy[0::2] - policy[1::2]) - (reference[0::2] - reference[1::2])
    return -torch.nn.functional.logsigmoid(beta * margin).mean()


def checks(model, batch: dict, shared: dict, device: str) -> dict:
    """Exactness of sharing in fp32 and the bf16-autocast differences, against :data:`THRESHOLDS`."""
    model.eval()
    with torch.no_grad():
        rows = row_logps(model, batch)
        fp32 = shared_logps(model, batch, shared)
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device != "cpu"):
            bf16 = shared_logps(model, batch, shared)
    reference = fp32 + torch.linspace(-1, 1, len(fp32), device=fp32.device)  # a reference a little apart
    measured = {
        "shared_vs_rows_fp32_max_abs": (fp32 - rows).abs().max().item(),
        "bf16_vs_fp32_logp_max_rel": ((bf16 - fp32).abs() / fp32.abs().clamp(min=1)).max().item(),
        "bf16_vs_fp32_loss_max_abs": (dpo_loss(bf16, reference) - dpo_loss(fp32, reference)).abs().item(),
    }
    if device == "cpu":  # no bf16 autocast on this CPU (it dies with SIGILL): the bf16 checks ran in fp32
        measured["note"] = "CPU dry run: autocast off, the bf16 columns are fp32"
    return {
        name: {"value": value, "threshold": THRESHOLDS[name], "pass": value <= THRESHOLDS[name]}
        for name, value in measured.items()
        if name in THRESHOLDS
    } | ({"note": measured["note"]} if "note" in measured else {})


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def training_throughput(model, batch: dict, shared: dict, device: str, steps: int, peak_tflops: float) -> dict:
    """Prefix-shared DPO optimizer steps, one pair a micro batch, AdamW over fp32 weights, bf16 autocast on GPU."""
    from mipo_bench.training.prefix_sharing import pack_shared_prefix

    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-7, betas=(0.9, 0.95))
    with torch.no_grad():
        reference = shared_logps(model, batch, shared).detach()
    micro = []
    for i, group in enumerate(batch["groups"]):  # one pair a micro batch (per_device_train_batch_size 1)
        rows = {k: batch[k][group] for k in ("input_ids", "attention_mask", "completion_mask")}
        one = pack_shared_prefix(rows["input_ids"], rows["attention_mask"], rows["completion_mask"], [[0, 1]], 0)
        micro.append((rows, {k: v.to(device) for k, v in one.items()}, reference[2 * i : 2 * i + 2]))
    packed_tokens = sum(int((m[1]["segments"] >= 0).sum()) for m in micro)

    def step():
        for rows, one, ref in micro:
            with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device != "cpu"):
                policy = shared_logps(model, rows, one)
            (dpo_loss(policy, ref) / len(micro)).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # warm-up
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    seconds = (time.perf_counter() - start) / steps
    parameters = sum(p.numel() for p in model.parameters())
    tokens_per_s = packed_tokens / seconds
    mfu = 6 * parameters * tokens_per_s / (peak_tflops * 1e12) if peak_tflops else None
    unshared = int(batch["attention_mask"].sum())
    return {
        "step_seconds": seconds,
        "packed_tokens_per_step": packed_tokens,
        "unshared_tokens_per_step": unshared,
        "trained_tokens_per_s": tokens_per_s,
        "mfu": mfu,
        "parameters": parameters,
    }


def generation_throughput(model, vocab: int, device: str, batches: list[int], new_tokens: int, prompt: int) -> dict:
    """HF ``generate`` tokens a second at each batch size, every sequence running its ``new_tokens``."""
    model.eval()
    out = {}
    g = torch.Generator().manual_seed(2)
    layers = model.config.num_hidden_layers
    for batch in batches:
        ids = torch.randint(3, vocab, (batch, prompt), generator=g).to(device)
        kwargs = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=True, top_k=50, pad_token_id=0)
        with torch.no_grad(), torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device != "cpu"):
            model.generate(ids, attention_mask=torch.ones_like(ids), **{**kwargs, "max_new_tokens": 2})  # warm-up
            synchronize(device)
            start = time.perf_counter()
            model.generate(ids, attention_mask=torch.ones_like(ids), **kwargs)
            synchronize(device)
        seconds = time.perf_counter() - start
        out[str(batch)] = {
            "tokens_per_s": batch * new_tokens / seconds,
            "step_ms": 1e3 * seconds / new_tokens,
            "step_ms_per_layer": 1e3 * seconds / new_tokens / layers,
        }
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--tiny", action="store_true", help="a 2-layer model and short sequences (the CPU dry run)")
    ap.add_argument("--steps", type=int, default=5, help="timed DPO optimizer steps of 4 pairs")
    ap.add_argument("--batches", default="8,16", help="HF generate batch sizes")
    ap.add_argument("--new-tokens", type=int, default=128)
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no GPU visible (use --device cpu --tiny for the dry run)", file=sys.stderr)
        return 2
    from mipo_bench.core.hardware import visible_gpu
    from mipo_bench.training.prefix_sharing import pack_shared_prefix

    config = TINY if args.tiny else QWEN25_15B
    prompt, response = (48, 12) if args.tiny else (PROMPT, RESPONSE)
    card = visible_gpu() if args.device == "cuda" else None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"device": card.name if card else "cpu", "torch": torch.__version__, "config": config}
    report["shapes"] = {"prompt": prompt, "response": response, "pairs": PAIRS}
    started = time.perf_counter()
    model = build(config, args.device)
    batch = pairs(config["vocab_size"], prompt, response, PAIRS, "cpu")
    shared = pack_shared_prefix(
        batch["input_ids"], batch["attention_mask"], batch["completion_mask"], batch["groups"], 0
    )  # fmt: skip
    on_device = {k: v.to(args.device) if torch.is_tensor(v) else v for k, v in batch.items()}
    shared = {k: v.to(args.device) for k, v in shared.items()}
    report["checks"] = checks(model, on_device, shared, args.device)
    peak = card.bf16_tflops if card else 0.0
    report["training"] = training_throughput(model, batch, shared, args.device, args.steps, peak)
    batches = [int(b) for b in args.batches.split(",")]
    new_tokens = 4 if args.tiny else args.new_tokens
    report["generation"] = generation_throughput(model, config["vocab_size"], args.device, batches, new_tokens, prompt)
    report["measured"] = {  # for mipo_bench/workflows/costs.py ASSUMED
        "train_mfu": report["training"]["mfu"],
        "hf_step_ms_per_layer": min(g["step_ms_per_layer"] for g in report["generation"].values()),
    }
    report["passed"] = all(c["pass"] for k, c in report["checks"].items() if k != "note")
    report["seconds"] = time.perf_counter() - started
    (out / "gpu_check.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
