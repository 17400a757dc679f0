"""Multi-process training for real: ``accelerate launch`` with 2 CPU processes (DDP over gloo) writes every file once.

The launch uses the shipped ``recipes/accelerate/ddp.yaml`` (MULTI_GPU: accelerate's torchrun launcher, 2 processes;
``--cpu`` alone would start a single process); with no GPU visible the processes run on the CPU, and
``--mixed_precision no`` overrides the file's bf16.
"""

import json
import os
import subprocess
import sys

import pytest
import torch
import yaml

from mipo_bench.core.resources import recipes_dir

pytestmark = pytest.mark.slow  # `accelerate launch` with 2 processes: ~45 s in all

N_PAIRS = 8


def write_pairs(path):
    """A handful of TRL conversational pairs (explicit prompt; see ``pairs.build.load_pairs``)."""
    rows = [
        {
            "prompt": [{"role": "user", "content": f"What is {i} plus {i}?"}],
            "chosen": [{"role": "assistant", "content": f"{i} plus {i} is {2 * i}."}],
            "rejected": [{"role": "assistant", "content": "I like turtles."}],
        }
        for i in range(N_PAIRS)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


PINNED = {"gradient_accumulation_steps": 1}  # x 2 processes: global batch 2, so 4 steps
PAPER_BATCH = {"global_batch_size": 4}  # the paper's batch: accumulation 4 / (1 x 2 processes) = 2, so 2 steps


@pytest.mark.parametrize(
    ("method", "lora_r", "batch", "global_batch"),
    [("mipo", 0, PINNED, 2), ("sft", 4, PINNED, 2), ("mipo", 0, PAPER_BATCH, 4)],
    ids=["mipo-pinned", "sft-lora-pinned", "mipo-global-batch-4"],
)
def test_two_process_training_writes_once(method, lora_r, batch, global_batch, tiny_model_dir, tmp_path):
    """mipo: precomputed reference across ranks, full weights; sft: a LoRA adapter gathered, merged, saved once;
    the paper's global batch of 4 stays 4 under 2 processes (the accumulation is divided, not the batch multiplied)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    pairs = tmp_path / "pairs.jsonl"
    write_pairs(pairs)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "name": "tiny",
                "method": method,
                "model": tiny_model_dir,
                "seed": 0,
                "train": {
                    "learning_rate": 1e-3,
                    **batch,
                    "max_length": 96,
                    "warmup_ratio": 0.0,
                    "lora_r": lora_r,
                },
                "eval": {"tasks": []},
            }
        )
    )
    run_dir = tmp_path / "run"
    env = {
        **os.environ,
        "CUDA_VISIBLE_DEVICES": "",
        "ACCELERATE_USE_CPU": "1",
        "OMP_NUM_THREADS": "1",
        "TQDM_DISABLE": "1",
    }
    command = [
        *(sys.executable, "-m", "accelerate.commands.launch"),
        *("--config_file", str(recipes_dir() / "accelerate" / "ddp.yaml"), "--mixed_precision", "no"),
        *("--dynamo_backend", "no", "-m", "mipo_bench.cli", "train", str(recipe)),
        *("--pairs", str(pairs), "--run-dir", str(run_dir)),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-4000:]

    out = run_dir / "train"
    checkpoints = [p.parent for p in run_dir.rglob("config.json")]
    assert checkpoints == [out / "model"]
    assert sorted(p.name for p in (out / "model").glob("*.safetensors")) == ["model.safetensors"]
    assert not list((out / "model").glob("*.bin"))
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    steps = N_PAIRS // global_batch
    assert [row["step"] for row in log if "loss" in row] == list(range(1, steps + 1))  # once each, not once per rank
    assert len([row for row in log if "train_runtime" in row]) == 1
    assert sorted(p.name for p in out.glob("*.manifest.json")) == ["train.manifest.json", "train_inputs.manifest.json"]
    manifest = json.loads((out / "train.manifest.json").read_text())
    assert manifest["method"] == method and manifest["status"] == "complete"
    assert (manifest["global_batch"], manifest["processes"]) == (global_batch, 2)
    card = (out / "model" / "README.md").read_text()
    assert card.count(f"**method**: {method}") == 1

    model = AutoModelForCausalLM.from_pretrained(out / "model")  # a plain model: LoRA merged, no adapter files
    assert not list((out / "model").glob("adapter_*")) and not any("lora" in n for n, _ in model.named_parameters())
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    trained, original = model.model.layers[0].mlp.up_proj.weight, base.model.layers[0].mlp.up_proj.weight
    assert not torch.equal(trained, original)
    tokenizer = AutoTokenizer.from_pretrained(out / "model")
    inputs = tokenizer("What is 2 plus 2?", return_tensors="pt")
    generated = model.generate(**inputs, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    assert generated.shape[1] == inputs["input_ids"].shape[1] + 4
