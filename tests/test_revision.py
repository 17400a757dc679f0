"""SFT with revision: the reviser's prompts, the cleaning and counting of revisions, the cache, and training."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import yaml

from mipo_bench import data
from mipo_bench.core.resources import recipes_dir
from mipo_bench.data import protocol
from mipo_bench.data.prompts import personalized_prompt, task_prompt
from mipo_bench.generation import Backend
from mipo_bench.training.base import METHODS, PAIRS, TrainContext
from mipo_bench.training.common import jsonl_log_callback, save_checkpoint
from mipo_bench.training.revision import (
    RevisionSettings,
    build_revision_trainer,
    prepare_ground_truth,
    prepare_with_examples,
)
from mipo_bench.workflows.recipe import build_section, load_recipe


class ScriptedReviser(Backend):
    """Returns, for each revision prompt, the scripted text of the first marker found in it; records every call."""

    def __init__(self, script: dict[str, str]):
        super().__init__("scripted-reviser")
        self._fingerprint = "scripted-reviser-v1"
        self.script, self.calls = script, []

    def generate(self, prompts, params, seeds=None):
        self.calls.append((prompts, params))
        return [[next(text for marker, text in self.script.items() if marker in p[-1]["content"])] for p in prompts]


def recipe_for(dataset: str, model: str, overrides=(), **settings):
    recipe = load_recipe("sft", [f"data.dataset={dataset}", f"model={model}", *overrides])
    return replace(recipe, method="sft_revision", train=RevisionSettings(**settings))


def general_pairs(records):
    return [
        {
            "id": r["id"],
            "sample_index": 0,
            "prompt": [{"role": "user", "content": task_prompt(r)}],
            "chosen": [{"role": "assistant", "content": f"own answer {i}: I think so. The answer is: A"}],
            "rejected": [{"role": "assistant", "content": f"rejected {i}"}],
        }
        for i, r in enumerate(records)
    ]


def manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "revision" / "revision.manifest.json").read_text())


def test_ground_truth_revisions_are_checked_counted_cached_and_trained(tmp_path, tiny_model_dir):
    from transformers import AutoModelForCausalLM

    from mipo_bench.core.models import load_model

    records = data.train_prompts("arc_easy", 4, 0)
    pairs = general_pairs(records)
    wrong = next(c["label"] for c in records[1]["choices"] if c["label"] != records[1]["answer"])
    reviser = ScriptedReviser(
        {
            "own answer 0": f"\n  Plants need light. The answer is: {records[0]['answer']}  \n",
            "own answer 1": f"Still unsure. The answer is: {wrong}",
            "own answer 2": "   \n",
            "own answer 3": f"Checked again. The answer is: {records[3]['answer']}",
        }
    )
    recipe = recipe_for("arc_easy", tiny_model_dir)
    rows = prepare_ground_truth(recipe, tmp_path, pairs, backend=reviser)

    asked = [p[-1]["content"] for p in reviser.calls[0][0]]
    for record, pair, text in zip(records, pairs, asked):
        gold_text = next(c["text"] for c in record["choices"] if c["label"] == record["answer"])
        assert record["question"] in text and pair["chosen"][0]["content"] in text
        assert f"The correct final answer is: {record['answer']}: {gold_text}" in text
    assert [r["prompt"] for r in rows] == [pairs[0]["prompt"], pairs[3]["prompt"]]
    assert rows[0]["completion"] == [
        {"role": "assistant", "content": f"Plants need light. The answer is: {records[0]['answer']}"}
    ]
    counts = manifest(tmp_path)["counts"]
    assert counts == {"pairs": 4, "kept": 2, "dropped_empty": 1, "dropped_wrong": 1, "kept_wrong": 0}
    statuses = [json.loads(line)["status"] for line in open(tmp_path / "revision" / "revisions.jsonl")]
    assert statuses == ["kept", "dropped_wrong", "dropped_empty", "kept"]

    assert prepare_ground_truth(recipe, tmp_path, pairs, backend=reviser) == rows  # the stage is current
    kept_wrong = prepare_ground_truth(
        replace(recipe, train=RevisionSettings(keep_wrong=True)), tmp_path, pairs, reviser
    )
    assert len(reviser.calls) == 1  # both served from the cache: the reviser was asked once
    assert len(kept_wrong) == 3 and manifest(tmp_path)["counts"]["kept_wrong"] == 1

    settings = RevisionSettings(
        learning_rate=1e-3, gradient_accumulation_steps=1, lr_scheduler_type="constant", warmup_ratio=0.0
    )
    policy, tokenizer = load_model(tiny_model_dir, dtype=torch.float32, device="cpu")
    policy.train()
    out = tmp_path / "train"
    ctx = TrainContext(tiny_model_dir, out, seed=0, device="cpu", callbacks=[jsonl_log_callback(out / "log.jsonl")])
    trainer = build_revision_trainer(policy, tokenizer, rows, settings, ctx)
    trainer.train()
    save_checkpoint(trainer, tiny_model_dir, out, {"method": "sft_revision"})
    assert len([row for row in map(json.loads, open(out / "log.jsonl")) if "loss" in row]) == 2
    trained = AutoModelForCausalLM.from_pretrained(out / "model")
    before = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert not torch.equal(trained.model.layers[0].mlp.up_proj.weight, before.model.layers[0].mlp.up_proj.weight)


def test_math_revisions_cut_at_the_task_stop_strings_and_use_the_recipe_sampling(tmp_path, tiny_model_dir):
    records = data.train_prompts("gsm8k", 2, 0)
    pairs = general_pairs(records)
    reviser = ScriptedReviser(
        {
            "own answer 0": f"Step by step.\n#### {records[0]['answer']}\nQuestion: a question of its own",
            "own answer 1": "Step by step.\n#### 123456789",
        }
    )
    recipe = recipe_for("gsm8k", tiny_model_dir, revision_temperature=0.3, revision_max_new_tokens=64)
    rows = prepare_ground_truth(recipe, tmp_path, pairs, backend=reviser)
    params = reviser.calls[0][1]
    assert (params.temperature, params.max_new_tokens, params.top_p) == (0.3, 64, 0.9)  # top_p: the paper's for GSM8K
    assert set(protocol.stop_strings("gsm8k")) <= set(params.stop)
    assert f"The correct final answer is: {records[0]['answer']}\n" in reviser.calls[0][0][0][-1]["content"]
    assert [r["completion"][0]["content"] for r in rows] == [f"Step by step.\n#### {records[0]['answer']}"]
    assert manifest(tmp_path)["counts"]["dropped_wrong"] == 1


def test_revision_with_examples_shows_context_good_and_bad(tmp_path, tiny_model_dir):
    records = data.train_prompts("prefeval", 3, 0)
    pairs = [
        {
            "id": r["id"],
            "prompt": [{"role": "user", "content": personalized_prompt(r["prompt"], r["context"])}],
            "chosen": [{"role": "assistant", "content": f"good response {i}"}],
            "rejected": [{"role": "assistant", "content": f"bad response {i}"}],
        }
        for i, r in enumerate(records)
    ]
    reviser = ScriptedReviser(
        {"good response 0": "improved 0", "good response 1": " ", "good response 2": "improved 2"}
    )
    recipe = replace(recipe_for("prefeval", tiny_model_dir), method="sft_revision_examples")
    rows = prepare_with_examples(recipe, tmp_path, pairs, backend=reviser)

    for i, (record, messages) in enumerate(zip(records, reviser.calls[0][0])):
        text = messages[-1]["content"]
        assert record["context"] in text and record["prompt"] in text
        assert f"good response {i}" in text and f"bad response {i}" in text
    assert rows == [
        {"prompt": pairs[i]["prompt"], "completion": [{"role": "assistant", "content": f"improved {i}"}]}
        for i in (0, 2)
    ]
    assert manifest(tmp_path)["counts"] == {
        "pairs": 3,
        "kept": 2,
        "dropped_empty": 1,
        "dropped_wrong": 0,
        "kept_wrong": 0,
    }


def test_pairs_that_cannot_be_looked_up_are_clear_errors(tmp_path, tiny_model_dir):
    recipe = recipe_for("arc_easy", tiny_model_dir)
    pairs = general_pairs(data.train_prompts("arc_easy", 1, 0))
    reviser = ScriptedReviser({"": "unused"})
    with pytest.raises(ValueError, match=r"pairs row 1: no 'id'"):
        prepare_ground_truth(recipe, tmp_path, [{k: v for k, v in pairs[0].items() if k != "id"}], reviser)
    with pytest.raises(ValueError, match=r"\['nowhere/1'\] are not training items of 'arc_easy'"):
        prepare_ground_truth(recipe, tmp_path, [{**pairs[0], "id": "nowhere/1"}], reviser)
    prefeval = recipe_for("prefeval", tiny_model_dir)
    record = data.train_prompts("prefeval", 1, 0)[0]
    with pytest.raises(ValueError, match=r"has no correct answer: sft_revision needs a verifiable dataset"):
        prepare_ground_truth(prefeval, tmp_path, [{**pairs[0], "id": record["id"]}], reviser)
    assert not reviser.calls


def test_hf_reviser_on_the_tiny_model(tmp_path, tiny_model_dir):
    records = data.train_prompts("arc_easy", 2, 0)
    pairs = general_pairs(records)
    overrides = ["pairs.backend=hf", "pairs.device=cpu", "pairs.batch_size=2"]
    recipe = recipe_for("arc_easy", tiny_model_dir, overrides, keep_wrong=True, revision_max_new_tokens=8)
    rows = prepare_ground_truth(recipe, tmp_path, pairs)  # the reviser: the recipe's backend on the recipe's model

    generated = [json.loads(line) for line in open(tmp_path / "revision" / "generations.jsonl")]
    assert len(generated) == 2 and all(g["sampling"]["max_new_tokens"] == 8 for g in generated)
    assert {g["model"] for g in generated} == {tiny_model_dir}
    assert all(p["chosen"][0]["content"] in g["messages"][-1]["content"] for p, g in zip(pairs, generated))
    counts = manifest(tmp_path)["counts"]
    assert counts["kept"] + counts["dropped_empty"] == 2 and counts["dropped_wrong"] == 0 and rows
    cleaned = [g["text"].strip() for g in generated if g["text"].strip()]
    assert [r["completion"][0]["content"] for r in rows] == cleaned


def test_methods_are_registered_and_the_recipes_are_valid_settings():
    for name, recipe_name in (("sft_revision", "sft_revision"), ("sft_revision_examples", "sft_revision_personalized")):
        method = METHODS.get(name)
        assert method.consumes == PAIRS and method.settings is RevisionSettings and method.prepare is not None
        path = recipes_dir() / f"{recipe_name}.yaml"
        raw = yaml.safe_load(path.read_text())
        assert raw["method"] == name
        settings = build_section(RevisionSettings, raw["train"], path, "train")
        assert settings.learning_rate == 5e-7 and settings.global_batch_size == 4  # the paper's batch, on any processes
        assert settings.num_train_epochs is None and settings.keep_wrong is False  # None: the dataset's epochs
