"""Evaluation entries read from run directories (analysis.results): the shapes pipeline.run_eval_stage writes,
the base model matched across spellings, costs, and directories that are not finished evaluations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mipo_bench.analysis.results import canonical_model, collect

TASK = "mipo_arc_easy"
HARDWARE = {"cpu": "Test CPU", "cores": 2, "gpu": None, "gpus": 0}


def generation_samples(correct: list[int], responses: list[str] | None = None, reask: dict | None = None) -> list:
    """Slim samples of a generation task as run_eval_stage writes them: one row per item and filter."""
    rows = []
    for filt in ("paper", "strict", "flexible"):
        for doc_id, ok in enumerate(correct):
            text = responses[doc_id] if responses else f"The answer is {'A' if ok else 'B'}."
            row = {
                "doc_id": doc_id,
                "filter": filt,
                "metrics": ["exact_match"],
                "exact_match": float(ok),
                "filtered_resps": ["A" if ok else "B"],
                "resps": [[text]],
            }
            if filt == "paper" and reask and doc_id in reask:
                row["reask_reply"] = reask[doc_id]
            rows.append(row)
    return rows


def loglik_samples(correct: list[int]) -> list:
    """Slim samples of a multiple_choice (loglikelihood) task: acc/acc_norm, no generated text."""
    return [
        {
            "doc_id": doc_id,
            "filter": "none",
            "metrics": ["acc", "acc_norm"],
            "acc": float(ok),
            "acc_norm": float(ok),
            "filtered_resps": [[-1.5, False], [-0.5, True]],
            "resps": [[[-1.5, False]], [[-0.5, True]]],
        }
        for doc_id, ok in enumerate(correct)
    ]


def write_eval(
    eval_dir: Path,
    model: str,
    samples: dict[str, list],
    inputs_hash: str = "e30313efe35ebd3e",
    status: str = "complete",
    hardware: dict | None = HARDWARE,
) -> Path:
    """An eval directory: eval.manifest.json + eval_results.json (the slim shape of pipeline.run_eval_stage)."""
    eval_dir.mkdir(parents=True, exist_ok=True)
    manifest = {
        "stage": "eval",
        "status": status,
        "inputs_hash": inputs_hash,
        "finished_at": 1795681430.6,
        "versions": {"mipo-bench": "0.1.0"},
        "model": model,
        "tasks": list(samples),
        "limit": 100,
    }
    if hardware:
        manifest["hardware"] = hardware
    (eval_dir / "eval.manifest.json").write_text(json.dumps(manifest))
    results = {
        "results": {t: {"name": t} for t in samples},
        "n-samples": {t: {"original": 500, "effective": len(ss)} for t, ss in samples.items()},
        "mipo_bench": {"model_spec": model, "wall_seconds": 12.5},
        "samples": samples,
    }
    (eval_dir / "eval_results.json").write_text(json.dumps(results))
    return eval_dir


def write_trained(
    run_dir: Path, method: str, base_model: str, seed: int, runtime: float | None = 317.05, log_runtime: bool = True
) -> Path:
    """A training stage as pipeline.run_train leaves it: model/, train.manifest.json, train_log.jsonl."""
    (run_dir / "train" / "model").mkdir(parents=True, exist_ok=True)
    manifest = {"stage": "train", "status": "complete", "inputs_hash": f"train-{method}-{seed}", "method": method}
    manifest.update(base_model=base_model, seed=seed, recipe=f"recipes/{method}.yaml", hardware=HARDWARE)
    if runtime is not None:
        manifest.update(train_runtime=runtime + 1000)  # the log's value wins when the log has one
    (run_dir / "train" / "train.manifest.json").write_text(json.dumps(manifest))
    rows = [{"step": 1, "loss": 0.6, "rewards/margins": 0.1}, {"step": 2, "loss": 0.5, "rewards/margins": 0.3}]
    if log_runtime and runtime is not None:
        rows.append({"step": 2, "epoch": 2.0, "train_runtime": runtime, "train_loss": 0.55})
    (run_dir / "train" / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run_dir / "train" / "model"


def test_collect_reads_base_and_trained_runs_with_costs(tmp_path, tiny_model_dir):
    from transformers import AutoTokenizer

    responses = ["The answer is A.", "Energy from the Sun, so the answer is B.", "It is A"]
    base = write_eval(tmp_path / "base" / "eval", tiny_model_dir, {TASK: generation_samples([1, 0, 0], responses)})
    model = write_trained(tmp_path / "mipo", "mipo", tiny_model_dir, seed=42)
    write_eval(
        tmp_path / "mipo" / "eval",
        str(model),
        {TASK: generation_samples([1, 1, 0], responses, reask={2: "#### 7"})},
        inputs_hash="caa92f21d33834d9",
    )
    (tmp_path / "mipo" / "eval" / "judge").mkdir()
    (tmp_path / "mipo" / "eval" / "judge" / "judgments.jsonl").write_text(
        json.dumps({"item_id": 0, "replies": ["4", "5"], "failed": False})
        + "\n"
        + json.dumps({"item_id": 1, "replies": ["3"], "failed": False})
        + "\n"
    )

    entries, skipped = collect([tmp_path])

    assert skipped == []
    by_method = {e.method: e for e in entries}
    assert set(by_method) == {"base", "mipo"}
    b, m = by_method["base"], by_method["mipo"]
    assert (b.eval_dir, b.task, b.seed, b.label, b.model) == (base, TASK, None, "base", tiny_model_dir)
    assert (m.seed, m.label, m.model) == (42, "mipo", tiny_model_dir)  # the train manifest's base model
    assert b.headline == m.headline == "paper"
    assert list(m.scores) == ["paper", "strict", "flexible"]
    assert m.scores["paper"] == {0: 1.0, 1: 1.0, 2: 0.0}
    assert b.scores["strict"] == {0: 1.0, 1: 0.0, 2: 0.0}
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    n_tokens = sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in responses)
    assert b.cost["generated_tokens"] == n_tokens  # each response once, not once per filter
    assert m.cost["generated_tokens"] == n_tokens + len(tokenizer("#### 7", add_special_tokens=False)["input_ids"])
    assert b.cost["token_counter"] == f"tokenizer:{tiny_model_dir}"
    assert m.cost["train_seconds"] == 317.05  # from the log's train_runtime, not the manifest
    assert b.cost["train_seconds"] is None
    assert (m.cost["judge_calls"], b.cost["judge_calls"]) == (3, 0)  # every reply, retries included
    assert m.cost["hardware"] == HARDWARE
    assert m.manifest["train"]["method"] == "mipo" and m.manifest["eval"]["inputs_hash"] == "caa92f21d33834d9"


def test_collect_names_unfinished_and_torn_runs(tmp_path):
    write_eval(tmp_path / "good", "someone/base-model", {TASK: generation_samples([1, 0])})
    write_eval(tmp_path / "running", "someone/base-model", {TASK: generation_samples([1])}, status="running")
    torn = write_eval(tmp_path / "torn", "someone/base-model", {TASK: generation_samples([1])})
    text = (torn / "eval_results.json").read_text()
    (torn / "eval_results.json").write_text(text[: len(text) // 2])
    missing = write_eval(tmp_path / "missing", "someone/base-model", {TASK: generation_samples([1])})
    (missing / "eval_results.json").unlink()
    (tmp_path / "empty").mkdir()

    entries, skipped = collect([tmp_path, tmp_path / "empty", tmp_path / "nowhere"])

    assert [e.eval_dir.name for e in entries] == ["good"]
    assert len(skipped) == 5
    text = "\n".join(skipped)
    assert f"{tmp_path / 'running'}: eval.manifest.json status is 'running'" in text
    assert f"{tmp_path / 'torn'}: eval_results.json is not valid JSON" in text
    assert f"{tmp_path / 'missing'}: eval_results.json is missing" in text
    assert f"{tmp_path / 'empty'}: no eval.manifest.json" in text
    assert f"{tmp_path / 'nowhere'}: not a directory" in text


def test_label_loglik_task_and_fallbacks(tmp_path):
    """A user label replaces the method's name; a loglikelihood task ranks by acc and generates nothing; with no
    loadable tokenizer tokens are whitespace words; train seconds fall back to the manifest, judge calls to the
    judge summary."""
    model = write_trained(tmp_path / "run", "my_method", "someone/not-cached", seed=3, log_runtime=False)
    samples = {
        TASK: generation_samples([1, 0], ["one two three", "four five"]),
        "mipo_arc_easy_loglik": loglik_samples([1, 1, 0]),
    }
    write_eval(tmp_path / "run" / "eval", str(model), samples, hardware=None)
    summary = {"judgments": 4, "failed": 0, "reference": {"judgments": 4}}  # a summary without its judgment files
    (tmp_path / "run" / "eval" / "judge_summary.json").write_text(json.dumps(summary))

    entries, skipped = collect([tmp_path / "run"], label="My method v2")

    assert skipped == []
    gen, loglik = sorted(entries, key=lambda e: e.task)
    assert {e.label for e in entries} == {"My method v2"} and {e.method for e in entries} == {"my_method"}
    assert (loglik.headline, list(loglik.scores)) == ("acc", ["acc", "acc_norm"])
    assert loglik.scores["acc"] == {0: 1.0, 1: 1.0, 2: 0.0}
    assert loglik.cost["generated_tokens"] == 0
    assert (gen.cost["generated_tokens"], gen.cost["token_counter"]) == (5, "whitespace")
    assert gen.cost["train_seconds"] == pytest.approx(1317.05)
    assert gen.cost["hardware"] == HARDWARE  # the eval manifest has none: the training's
    assert gen.cost["judge_calls"] == 8


def test_converted_gguf_directory_is_the_embedded_model():
    """The base model's eval names its converted cache directory, its trained models name the embedded spec: the
    leaderboard must see one model."""
    from mipo_bench.core.models import embedded_gguf, gguf_cache_dir

    converted = gguf_cache_dir(embedded_gguf("smollm2-135m-instruct").resolve())
    assert canonical_model(str(converted)) == "smollm2-135m-instruct"
    assert canonical_model("/elsewhere/cache/models/" + converted.name) == "smollm2-135m-instruct"
    assert canonical_model("smollm2-135m-instruct") == "smollm2-135m-instruct"
    assert canonical_model("/x/models/Other.Q4_1-0123456789abcdef") == "/x/models/Other.Q4_1-0123456789abcdef"
    assert canonical_model("Qwen/Qwen2.5-0.5B") == "Qwen/Qwen2.5-0.5B"


def test_an_evaluation_saved_with_a_relative_model_path_is_found_from_any_directory(tmp_path, monkeypatch):
    """Eval manifests stored the model path as given: read from another directory, a trained run became "base"."""
    from mipo_bench.workflows.pipeline import save_evaluation

    work = tmp_path / "work"
    write_trained(work / "runs" / "r", "mipo", "smollm2-135m-instruct", seed=7)
    monkeypatch.chdir(work)
    results = {"results": {TASK: {}}, "mipo_bench": {}, "samples": {TASK: generation_samples([1, 0])}}
    save_evaluation(Path("runs/r/eval"), results, "k", "runs/r/train/model", [TASK], None)
    manifest = json.loads((work / "runs/r/eval/eval.manifest.json").read_text())
    assert manifest["model"] == str(work / "runs/r/train/model")
    monkeypatch.chdir(tmp_path)  # elsewhere
    entries, skipped = collect([work / "runs"])
    assert not skipped and [(e.method, e.seed) for e in entries] == [("mipo", 7)]
