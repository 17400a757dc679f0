"""Regressions on the users' path at paper scale (8-shot math prompts, hub-format personalization data), each on
the tiny model or the fixtures laid out as the hub publishes the data."""

from __future__ import annotations

import json

import pytest

from mipo_bench import data
from mipo_bench.data.prompts import task_prompt


def _user(text):
    return [{"role": "user", "content": text}]


def _assistant(text):
    return [{"role": "assistant", "content": text}]


def _gsm8k_pairs(path, n=4):
    """MIPO pairs on 8-shot GSM8K prompts (~900 tokens) whose responses are worked solutions ending in #### N."""
    records = data.train_prompts("gsm8k", n, 0)
    rows = [
        {
            "prompt": _user(task_prompt(r)),
            "chosen": _assistant(r["solution"]),
            "rejected": _assistant(records[(i + 1) % n]["solution"]),
        }
        for i, r in enumerate(records)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def test_math_pairs_keep_their_whole_response_and_cuts_are_counted(tiny_model_dir, mirror, tmp_path, capfd):
    """Fix 1: train.max_length was 1024, under an 8-shot prompt plus its solution, so TRL cut the responses (and
    their #### N) silently. The default is now the dataset's (the released --max_len 15360); cuts are counted."""
    from mipo_bench.workflows.pipeline import run_train
    from mipo_bench.workflows.recipe import load_recipe

    pairs = tmp_path / "pairs.jsonl"
    _gsm8k_pairs(pairs)
    overrides = [f"model={tiny_model_dir}", "data.dataset=gsm8k", "seed=0", "train.learning_rate=1e-4"]
    manifest = run_train(load_recipe("mipo", overrides), tmp_path / "run", pairs)
    lengths = manifest["lengths"]
    assert lengths["max_length"] == data.dataset_spec("gsm8k").train_max_length == 15360
    assert lengths["longest"] > 1024, "the old default would have cut these rows"
    assert lengths["truncated_rows"] == 0 and lengths["sequences"] == 8

    cut = run_train(load_recipe("mipo", overrides + ["train.max_length=1024"]), tmp_path / "cut", pairs)["lengths"]
    assert cut["max_length"] == 1024 and cut["truncated_rows"] >= 1
    assert f"{cut['truncated_rows']} of 4 rows exceed max_length=1024" in capfd.readouterr().err
