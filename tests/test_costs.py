"""What a plan says a row costs: memory per training process with a refusal before anything loads, FLOPs by method,
decode rates by backend, cached work counted once, every judge call counted."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mipo_bench.core.hardware import GPUS, SHAPES, gpu, shape_of
from mipo_bench.workflows.costs import decode_rate, train_memory
from mipo_bench.workflows.plan import plan_table

QWEN_7B = "Qwen/Qwen2.5-7B-Instruct"


def test_the_paper_models_shapes_give_their_published_sizes():
    sizes = {name: round(shape.parameters / 1e9, 2) for name, shape in SHAPES.items()}
    assert sizes["qwen2.5-1.5b"] == 1.54 and sizes["qwen2.5-7b"] == 7.62 and sizes["llama-3.2-1b"] == 1.24
    assert sizes["llama-3-8b"] == 8.03 and sizes["qwen2.5-14b"] == 14.77
    assert shape_of("meta-llama/Meta-Llama-3-8B-Instruct") is SHAPES["llama-3-8b"] and shape_of("x/unknown") is None


def test_a_7b_full_fine_tune_needs_16_bytes_a_parameter_unless_sharded():
    """Before: nothing checked memory; a 7B row under the default DDP config holds ~122 GB of weights, gradients and
    Adam states in every process, more than an H100 has."""
    shape = shape_of(QWEN_7B)
    ddp = train_memory(shape, 4, "ddp", 2048)
    states = sum(ddp["parts_gib"][k] for k in ("weights", "grads", "optimizer"))
    assert states == pytest.approx(16 * shape.parameters / 1024**3, abs=0.3)  # 113.5 GiB = 122 GB
    assert ddp["total_gib"] > GPUS["h100"].memory_gib
    zero3 = train_memory(shape, 4, "zero3", 2048)
    assert zero3["parts_gib"]["optimizer"] == pytest.approx(ddp["parts_gib"]["optimizer"] / 4, abs=0.1)
    assert zero3["total_gib"] < GPUS["h100"].memory_gib


def test_vllm_decodes_far_faster_than_transformers_generate_at_the_recipes_batch():
    shape, card = shape_of("Qwen/Qwen2.5-1.5B-Instruct"), gpu("h100")
    assert decode_rate(shape, card, "vllm", 16) > 20 * decode_rate(shape, card, "hf", 16)
    assert decode_rate(shape, card, "hf", 32) == pytest.approx(2 * decode_rate(shape, card, "hf", 16))
    with pytest.raises(ValueError, match="h100, h200, a100"):
        gpu("v100")


def test_a_row_that_cannot_fit_the_named_card_is_refused_and_sharding_lets_it(mirror):
    plan = plan_table("2", QWEN_7B, "paper", seeds=1, tasks=["arc_easy"], processes=4, gpu="h100")
    assert plan["memory_problems"] and "arc_easy / sft: needs" in plan["memory_problems"][0]
    assert "NVIDIA H100" in plan["memory_problems"][0] and set(plan["memory_problems"]) <= set(plan["problems"])
    sharded = plan_table("2", QWEN_7B, "paper", 1, ["arc_easy"], 4, gpu="h100", accelerate_config="zero3")
    assert not sharded["memory_problems"]


def test_reproduce_refuses_before_anything_loads(mirror, tmp_path):
    from mipo_bench.cli.report import refuse_rows_that_do_not_fit

    args = SimpleNamespace(
        model=QWEN_7B, scale="paper", seeds=1, num_processes=4, judge=None, set=[], gpu="h100",
        accelerate_config=None, run_dir=str(tmp_path / "run"),
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"arc_easy / sft: needs .* GiB .* \(nothing was run\)"):
        refuse_rows_that_do_not_fit(args, "2", ["arc_easy"])
    assert not (tmp_path / "run").exists()


@pytest.mark.slow  # plans Table 1 and 2 at paper scale
def test_cached_work_is_counted_once_and_every_judge_call_counted(mirror):
    """Before: each row that read the same pairs was charged their generation (3x on Table 2); responses were all
    counted at their full budget (GSM8K's evaluation at the pairs' 1,024 tokens, not 5,012); no judge, critic, MI
    or re-ask call was counted."""
    plan = plan_table("2", "Qwen/Qwen2.5-1.5B-Instruct", "paper", seeds=1, tasks=["gsm8k"], processes=4)
    task = plan["tasks"]["gsm8k"]
    (pairs,) = [i for i in task["inputs"].values() if i["kind"] == "pairs"]  # SFT, MIPO and revisions share it
    assert pairs["generations"] == task["train_prompts"] == 7405  # shuffled pairs: one generation a prompt
    assert pairs["expected_tokens"]["tokens"] < 300 and "reference answers" in pairs["expected_tokens"]["source"]
    assert task["eval_budget"] == 5012 and task["reask"]
    assert plan["totals"]["reask_calls_upper_bound"] == task["evaluations"] * 200
    assert plan["totals"]["trained_tokens"] > 0 and plan["totals"]["gpu_hours_by_stage"]["rollouts"] > 0
    judged = plan_table("5", "Qwen/Qwen2.5-1.5B-Instruct", "demo", seeds=1)
    prefeval = judged["tasks"]["prefeval"]
    assert judged["judge"] == "Qwen/Qwen2.5-14B-Instruct" and prefeval["judge_calls"] > 0
    assert judged["totals"]["judge_calls"] == prefeval["judge_calls"]
