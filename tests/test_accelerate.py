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


@pytest.mark.parametrize(("method", "lora_r"), [("mipo", 0), ("sft", 4)])
def test_two_process_training_writes_once(method, lora_r, tiny_model_dir, tmp_path):
    """mipo: precomputed reference across ranks, full weights; sft: a LoRA adapter gathered, merged, saved once."""
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
                    "gradient_accumulation_steps": 1,  # x 2 processes: global batch 2, so 4 steps
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
    assert [row["step"] for row in log if "loss" in row] == [1, 2, 3, 4]  # each step once, not once per rank
    assert len([row for row in log if "train_runtime" in row]) == 1
    assert sorted(p.name for p in out.glob("*.manifest.json")) == ["train.manifest.json", "train_inputs.manifest.json"]
    manifest = json.loads((out / "train.manifest.json").read_text())
    assert manifest["method"] == method and manifest["status"] == "complete"
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
