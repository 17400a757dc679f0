"""What a planned row costs on a GPU: memory per training process, FLOPs per method, and generation time by backend.

Every figure here is a stated assumption, not a measurement (``benchmarks/gpu_check.py`` measures the ones that matter
on a real card; put its numbers in :data:`ASSUMED` when you have them):

- Training memory per process (:func:`train_memory`): the policy's fp32 weights and gradients and AdamW's two fp32
  moments, 16 bytes a parameter, sharded over the processes as the accelerate config says (ddp: nothing; zero2:
  gradients and optimizer state; zero3 / fsdp2: all three); a resident reference or critic model; activations of one
  micro-batch of the longest sequence, 34·s·h bytes a layer with bf16 autocast and memory-efficient attention
  (Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer Models", Table 2 with the
  attention-score term gone), 2·s·h a layer under gradient checkpointing; fp32 logits and their log-softmax (8·s·V
  bytes); and a CUDA context.
- Training FLOPs: 6·P per token through the policy (forward and backward), 2·P per token for a forward pass alone
  (a reference's log-probs, an MI reward, a critic's prompt), at :data:`ASSUMED` ``train_mfu`` of the card's bf16 peak.
- Generation is decode-bound: a step reads every weight (2 bytes a parameter in bf16) at ``hbm_efficiency`` of the
  card's bandwidth, and costs at least ``hf_step_ms_per_layer`` per layer under transformers' ``generate`` (kernel
  launches, Python) or ``vllm_step_ms`` under vLLM (CUDA graphs); a step decodes one token for each sequence of the
  batch: the recipe's ``pairs.batch_size`` on hf, up to ``vllm_batch`` sequences on vLLM.
"""

from __future__ import annotations

from ..core.hardware import GPU, Shape

GiB = 1024**3

ASSUMED = {
    "train_mfu": 0.35,  # model-FLOPs utilisation of a full fine-tune (typical of ZeRO-2 / FSDP on H100-class cards)
    "forward_mfu": 0.45,  # a forward pass alone (reference log-probs, MI scores, judge prompts)
    "hbm_efficiency": 0.6,  # of the datasheet bandwidth, reading the weights once a decode step
    "hf_step_ms_per_layer": 0.5,  # transformers generate: launch-bound, ~14 ms a step for a 28-layer model
    "vllm_step_ms": 4.0,  # vLLM with CUDA graphs: the floor of one decode step
    "vllm_batch": 256,  # sequences vLLM decodes together once it has the whole request list
    "cuda_context_gib": 2.0,
}
SHARDED = {"ddp": (), "zero2": ("grads", "optimizer"), "zero3": ("weights", "grads", "optimizer")}
SHARDED["fsdp2"] = SHARDED["zero3"]


def train_memory(
    shape: Shape,
    processes: int,
    config: str,
    sequence: int,
    micro_batch: int = 1,
    resident_copies: float = 0.0,
    checkpointing: bool = False,
) -> dict:
    """Bytes one training process holds, by part, and their sum in GiB. ``resident_copies``: frozen models held
    beside the policy, in policy sizes of bf16 weights (a reference: 1; a reference and a critic: 2)."""
    p = shape.parameters
    sharded = SHARDED.get(config, ())
    split = max(processes, 1)
    parts = {
        "weights": 4 * p / (split if "weights" in sharded else 1),
        "grads": 4 * p / (split if "grads" in sharded else 1),
        "optimizer": 8 * p / (split if "optimizer" in sharded else 1),
        "frozen_models": 2 * p * resident_copies,
        "activations": (2 if checkpointing else 34) * sequence * micro_batch * shape.hidden * shape.layers,
        "logits": 8 * sequence * micro_batch * shape.vocab,
        "cuda_context": ASSUMED["cuda_context_gib"] * GiB,
    }
    return {
        "parts_gib": {k: round(v / GiB, 1) for k, v in parts.items()},
        "total_gib": round(sum(parts.values()) / GiB, 1),
    }


def fits(memory: dict, card: GPU) -> bool:
    return memory["total_gib"] <= card.memory_gib


def train_seconds(shape: Shape, card: GPU, trained_tokens: float, forward_tokens: float = 0.0) -> float:
    """GPU-seconds for ``trained_tokens`` through the policy (6·P each) and ``forward_tokens`` of forward passes
    (2·P each)."""
    p, peak = shape.parameters, card.bf16_tflops * 1e12
    return 6 * p * trained_tokens / (peak * ASSUMED["train_mfu"]) + 2 * p * forward_tokens / (
        peak * ASSUMED["forward_mfu"]
    )


def decode_rate(shape: Shape, card: GPU, backend: str, batch: int) -> float:
    """Tokens a second one GPU decodes for ``backend`` (hf, vllm, ray/openai treated as vLLM-served) at ``batch``."""
    weights_ms = 2 * shape.parameters / (card.hbm_tb_s * 1e12 * ASSUMED["hbm_efficiency"]) * 1e3
    if backend == "hf":
        step_ms, sequences = max(weights_ms, ASSUMED["hf_step_ms_per_layer"] * shape.layers), max(batch, 1)
    else:
        step_ms, sequences = max(weights_ms, ASSUMED["vllm_step_ms"]), ASSUMED["vllm_batch"]
    return sequences / step_ms * 1e3


def decode_seconds(shape: Shape, card: GPU, backend: str, batch: int, tokens: float) -> float:
    return tokens / decode_rate(shape, card, backend, batch)
