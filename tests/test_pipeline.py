"""`mipo-bench run` end to end on the tiny model: tasks whose metric is not exact_match, and the eval stage's key."""

from __future__ import annotations

import json

import pytest
import yaml

from mipo_bench.workflows.pipeline import run_eval_stage, run_recipe
from mipo_bench.workflows.recipe import load_recipe


def _recipe(tmp_path, model_dir, dataset, task, **pairs) -> str:
    raw = {
        "name": f"tiny_{dataset}",
        "method": "mipo",
        "model": model_dir,
        "seed": 3,
        "data": {"dataset": dataset, "n_prompts": 4},
        "pairs": {"backend": "hf", "batch_size": 4, "temperature": 0.7, "top_p": 0.9, "max_new_tokens": 8, **pairs},
        "train": {"learning_rate": 1e-4, "gradient_accumulation_steps": 2, "max_length": 256},
        "eval": {"tasks": [task], "limit": 2, "batch_size": 2, "gen_kwargs": "max_gen_toks=8"},
    }
    path = tmp_path / f"{dataset}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def _forbid_every_stage(monkeypatch):
    """A run that regenerates pairs, retrains or re-evaluates fails."""
    import mipo_bench.evaluation.harness
    import mipo_bench.training
    from mipo_bench.generation.hf import HFBackend

    def fail(*args, **kwargs):
        raise AssertionError("a stage ran again although its inputs are unchanged")

    monkeypatch.setattr(HFBackend, "generate", fail)
    monkeypatch.setattr(mipo_bench.training, "train", fail)
    monkeypatch.setattr(mipo_bench.evaluation.harness, "run_eval", fail)


@pytest.mark.parametrize(
    ("dataset", "task", "strategy", "metric"),
    [
        ("prefeval", "mipo_prefeval", "missing", None),  # personalization: generation only (judged afterwards)
        ("arc_easy", "mipo_arc_easy_loglik", "random_prompt", "acc"),  # loglikelihood: acc, acc_norm
    ],
)
def test_run_on_tasks_without_exact_match(
    tiny_model_dir, mirror, tmp_path, monkeypatch, dataset, task, strategy, metric
):
    """Regression: the eval stage read s["exact_match"] and crashed on these tasks before writing its manifest."""
    recipe = load_recipe(_recipe(tmp_path, tiny_model_dir, dataset, task, strategy=strategy))
    run_dir = tmp_path / "run"
    out = run_recipe(recipe, run_dir)
    manifest = json.loads((run_dir / "eval" / "eval.manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["tasks"] == [task]
    saved = json.loads((run_dir / "eval" / "eval_results.json").read_text())
    assert saved == json.loads(json.dumps(out, default=str))
    samples = saved["samples"][task]
    assert len({s["doc_id"] for s in samples}) == 2
    if metric is None:  # the run's eval does not judge inside lm-eval: responses logged, no score
        assert all(s["metrics"] == [] and s["filter"] == "judged" and s["resps"] for s in samples)
        assert not [k for k in saved["results"][task] if "," in k and k != "alias,none"]
    else:
        assert all(metric in s["metrics"] and metric in s for s in samples)
        assert f"{metric},none" in saved["results"][task]
    _forbid_every_stage(monkeypatch)
    assert run_recipe(recipe, run_dir) == saved


def _sharded_model(tiny_model_dir, path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    AutoModelForCausalLM.from_pretrained(tiny_model_dir).save_pretrained(path, max_shard_size="2MB")
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(path)
    shards = sorted(path.glob("model-*.safetensors"))
    assert len(shards) > 1 and not (path / "model.safetensors").exists()
    return shards


def test_eval_stage_reruns_when_one_shard_changes(tiny_model_dir, mirror, tmp_path, monkeypatch):
    """Regression: the key hashed only model.safetensors, so a sharded checkpoint retrained in place was skipped."""
    from safetensors.torch import load_file, save_file

    import mipo_bench.evaluation.harness

    model = tmp_path / "model"
    shards = _sharded_model(tiny_model_dir, model)
    calls = []
    real_run_eval = mipo_bench.evaluation.harness.run_eval

    def counting_run_eval(*args, **kwargs):
        calls.append(args[0])
        return real_run_eval(*args, **kwargs)

    monkeypatch.setattr(mipo_bench.evaluation.harness, "run_eval", counting_run_eval)
    stage = dict(tasks=["mipo_arc_easy_loglik"], out=tmp_path / "eval", limit=1, batch_size=2)
    first = run_eval_stage(str(model), **stage)
    run_eval_stage(str(model), **stage)
    assert len(calls) == 1  # unchanged weights: skipped
    tensors = load_file(shards[-1])
    name = next(iter(tensors))
    tensors[name] = tensors[name] + 1.0
    save_file(tensors, shards[-1], metadata={"format": "pt"})
    second = run_eval_stage(str(model), **stage)
    assert len(calls) == 2  # one shard changed: evaluated again
    assert second["samples"]["mipo_arc_easy_loglik"][0]["resps"] != first["samples"]["mipo_arc_easy_loglik"][0]["resps"]


@pytest.mark.slow  # the demo with every method on a tiny model
def test_demo_compares_any_registered_methods_on_the_same_pairs(tmp_path, tiny_model_dir):
    """`mipo-bench demo --methods ...`: every method trains on the run's one pairs file (or prompt set) and is
    evaluated on the same items; the table has one row per method and the base model."""
    from mipo_bench.workflows.demo import run_demo

    overrides = [
        f"model={tiny_model_dir}",
        "data.n_prompts=4",
        "pairs.max_new_tokens=6",
        "train.max_length=256",
        "train.num_train_epochs=1",
        "eval.limit=2",
        "eval.gen_kwargs=max_gen_toks=4",
    ]
    summary = run_demo(tmp_path, overrides, methods=("mipo", "infonce", "rlvr"))
    assert [r["model"] for r in summary["rows"]] == ["base", "mipo", "infonce", "rlvr"]
    assert (tmp_path / "pairs" / "pairs.jsonl").exists() and (tmp_path / "prompts" / "prompts.jsonl").exists()
    for name in ("mipo", "infonce", "rlvr"):
        manifest = json.loads((tmp_path / name / "train.manifest.json").read_text())
        assert manifest["method"] == name
    assert json.loads((tmp_path / "infonce" / "train.manifest.json").read_text())["data"].endswith("pairs.jsonl")


def test_eval_key_follows_the_code_and_the_contexts_behind_the_tasks(tmp_path, monkeypatch):
    """An edited hook module or a different contexts file must rerun the eval stage, not reuse stale results."""
    from mipo_bench.workflows import pipeline

    before = pipeline._task_files_hash()
    (tmp_path / "ctx.jsonl").write_text('{"id": "x", "value": "Be brief.", "failed": false}\n')
    monkeypatch.setenv("MIPO_BENCH_CONTEXTS_PRISM", str(tmp_path / "ctx.jsonl"))
    with_contexts = pipeline._task_files_hash()
    assert with_contexts != before
    (tmp_path / "ctx.jsonl").write_text('{"id": "x", "value": "Be long.", "failed": false}\n')
    assert pipeline._task_files_hash() != with_contexts
    monkeypatch.setattr(pipeline, "EVAL_CODE", pipeline.EVAL_CODE[1:])  # as if lm_eval_hooks.py had changed
    monkeypatch.delenv("MIPO_BENCH_CONTEXTS_PRISM")
    assert pipeline._task_files_hash() != before
