"""The judged personalization tasks score inside lm-eval (mipo_bench/evaluation/judged_metric.py): the judge a task's
metadata or $MIPO_BENCH_JUDGE names, the per-item scores by the one rule, and the same numbers as `mipo-bench judge`
on the same samples (in process on tiny models; through the real `lm_eval` and `mipo-bench` CLIs on SmolLM2)."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mipo_bench import data
from mipo_bench.evaluation import judged_metric
from mipo_bench.evaluation.judged_metric import judge_settings, judged_results
from mipo_bench.judging.samples import judge_samples
from mipo_bench.judging.winrate import item_scores
from tests.paper_scale_fixtures import write_community_alignment, write_contexts


@pytest.fixture(autouse=True)
def clean(monkeypatch, tmp_path):
    monkeypatch.delenv("MIPO_BENCH_JUDGE", raising=False)
    monkeypatch.delenv("MIPO_BENCH_JUDGE_SCORING", raising=False)
    monkeypatch.setenv("MIPO_BENCH_JUDGE_CACHE", str(tmp_path / "judge-cache"))
    judged_metric._METADATA.clear()
    yield
    judged_metric._METADATA.clear()


@pytest.mark.parametrize(
    "score, reference, expected",
    [
        (4.0, 3.0, (1.0, 1.0, 0.0)),
        (3.0, 3.0, (1.0, 0.5, 0.0)),
        (2.0, 3.0, (0.0, 0.0, 0.0)),
        (None, 3.0, (0.0, 0.0, 1.0)),
    ],
)
def test_an_items_scores_follow_the_scripts_rule(score, reference, expected):
    """Ties win, a failed call loses (and is counted), as `mipo-bench judge`'s win-rate counts them."""
    got = judged_results({}, [{"judged": True, "score": score, "reference_score": reference}])
    assert (got["win"], got["win_ties_half"], got["judge_failed"]) == expected
    assert got == {"judge_score": math.nan if score is None else score, **item_scores(score, reference)} or (
        score is None and math.isnan(got["judge_score"])
    )
    prefeval = judged_results({}, [{"judged": True, "score": score}])  # no reference side: score and failures only
    assert set(prefeval) == {"judge_score", "judge_failed"} and prefeval["judge_failed"] == float(score is None)
    assert judged_results({}, [{"judged": False}]) == {}  # MIPO_BENCH_JUDGE=none: generation only


def test_which_judge(monkeypatch, caplog):
    settings = judge_settings("prefeval")  # nothing named: the embedded model, logprob, and a warning
    assert settings["embedded"] and settings["scoring"] == "logprob" and settings["backend"] == "hf"
    assert "may be judging itself" in caplog.text
    monkeypatch.setenv("MIPO_BENCH_JUDGE", "Qwen/Qwen2.5-14B-Instruct")
    assert judge_settings("prism")["judge"] == "Qwen/Qwen2.5-14B-Instruct"
    assert judge_settings("prism")["scoring"] == "text"  # a named judge: the paper's parsed score
    judged_metric.remember_metadata("prism", "/models/judge", "logprob")  # the task's metadata comes first
    assert judge_settings("prism")["judge"] == "/models/judge" and judge_settings("prism")["scoring"] == "logprob"
    judged_metric.remember_metadata("prism", "judge-8b@http://127.0.0.1:8000/v1/")
    served = judge_settings("prism")
    assert (served["backend"], served["judge"], served["options"]) == (
        "openai",
        "judge-8b",
        {"base_url": "http://127.0.0.1:8000/v1"},
    )
    monkeypatch.setenv("MIPO_BENCH_JUDGE", "none")
    assert judge_settings("prefeval") is None
    monkeypatch.setenv("MIPO_BENCH_JUDGE_SCORING", "likert")
    monkeypatch.setenv("MIPO_BENCH_JUDGE", "x")
    with pytest.raises(ValueError, match="MIPO_BENCH_JUDGE_SCORING / judge_scoring must be one of text, logprob"):
        judge_settings("prefeval")


def _evaluate(model: str, task: str, tmp: Path, metadata: dict) -> tuple[dict, Path]:
    """lm-eval's own ``simple_evaluate`` on ``task`` (4 items, 12 new tokens), its samples written as lm-eval's CLI
    writes them; returns (the task's results, the samples file)."""
    import lm_eval

    from mipo_bench.evaluation.harness import task_manager

    results = lm_eval.simple_evaluate(
        model="hf",
        model_args={"pretrained": model, "dtype": "float32", "device": "cpu"},
        tasks=[task],
        task_manager=task_manager(metadata),  # as `lm_eval --metadata '{...}'` passes it
        limit=4,
        batch_size=4,
        log_samples=True,
        apply_chat_template=True,
        gen_kwargs="max_gen_toks=12",
    )
    samples = tmp / f"samples_{task}_x.jsonl"
    samples.write_text("".join(json.dumps(s, default=str) + "\n" for s in results["samples"][task]))
    return results["results"][task], samples


@pytest.mark.slow  # lm-eval and the judge twice over
def test_lm_eval_judges_community_alignment_as_mipo_bench_judge_does(tiny_model_dir, tmp_path, monkeypatch):
    """A hub-layout Community Alignment fixture, a tiny random policy and judge: the harness's win-rate, mean score
    and failures equal `mipo-bench judge`'s on lm-eval's own logged samples; the reference side is judged once."""
    ca = write_community_alignment(tmp_path / "data", n=12)
    monkeypatch.setenv("MIPO_BENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv(
        "MIPO_BENCH_CONTEXTS_COMMUNITY_ALIGNMENT", str(write_contexts(tmp_path / "ctx.jsonl", ca["ids"]))
    )
    data._load_cached.cache_clear()
    try:
        metadata = {"judge": tiny_model_dir, "judge_scoring": "logprob"}
        scores, samples = _evaluate(tiny_model_dir, "mipo_community_alignment", tmp_path, metadata)
        report = judge_samples(
            samples,
            tiny_model_dir,
            tmp_path / "judge",
            reference="dataset",
            dataset="community_alignment",
            scoring="logprob",
        )
        assert scores["win,judged"] == pytest.approx(report["win_rate"]["win_rate_ties_as_wins_all_n"], abs=1e-9)
        assert scores["judge_score,judged"] == pytest.approx(report["mean_score"], abs=1e-9)
        assert scores["judge_failed,judged"] == report["failed_items"] == 0  # logprob: a score for every call
        logged = [json.loads(line) for line in samples.read_text().splitlines()]
        assert all(s["filter"] == "judged" and s["filtered_resps"][0]["judged"] for s in logged)  # every verdict kept
        cache = tmp_path / "judge-cache" / "community_alignment"
        (reference_calls,) = [f.read_text().count("\n") for f in cache.rglob("reference_judgments.logprobs.jsonl")]
        assert reference_calls == report["reference"]["judgments"] == 8  # 4 items x 2 preferences each
        _evaluate(tiny_model_dir, "mipo_community_alignment", tmp_path, metadata)  # the same items again
        assert [f.read_text().count("\n") for f in cache.rglob("reference_judgments.logprobs.jsonl")] == [8]
    finally:
        data._load_cached.cache_clear()


@pytest.mark.smoke
def test_plain_lm_eval_prints_a_judged_prefeval_number_equal_to_mipo_bench(tmp_path, smollm2_dir):
    """The harness's own CLI on mipo_prefeval with the embedded judge (no --log_samples needed: before, a ValueError
    traceback), then `mipo-bench eval` + `mipo-bench judge` on the same greedy samples: the same mean score."""
    env = {**os.environ, "MIPO_BENCH_JUDGE_CACHE": str(tmp_path / "cache")}
    env.pop("MIPO_BENCH_JUDGE", None)
    tasks = str(Path(__file__).parents[1] / "tasks")
    common = ["--limit", "3"]
    gen = "do_sample=false,max_gen_toks=32"
    plain = subprocess.run(
        [sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args", f"pretrained={smollm2_dir},dtype=float32",
         "--include_path", tasks, "--tasks", "mipo_prefeval", "--apply_chat_template", "--gen_kwargs", gen,
         "--output_path", str(tmp_path / "plain"), "--log_samples", *common],
        capture_output=True, text=True, env=env, timeout=900,
    )  # fmt: skip
    assert plain.returncode == 0, plain.stderr[-3000:]
    assert "judge_score" in plain.stdout and "may be judging itself" in plain.stderr
    (results_file,) = (tmp_path / "plain").rglob("results_*.json")
    harness = json.loads(results_file.read_text())["results"]["mipo_prefeval"]
    ours = subprocess.run(
        [sys.executable, "-m", "mipo_bench.cli", "eval", "--model", smollm2_dir, "--tasks", "mipo_prefeval",
         "--gen-kwargs", gen, "--output", str(tmp_path / "ours"), *common],
        capture_output=True, text=True, env=env, timeout=900,
    )  # fmt: skip
    assert ours.returncode == 0, ours.stderr[-3000:]
    assert "generation only" in ours.stdout + ours.stderr  # mipo-bench eval does not judge inside the harness
    (samples,) = (tmp_path / "ours").rglob("samples_mipo_prefeval_*.jsonl")
    (plain_samples,) = (tmp_path / "plain").rglob("samples_mipo_prefeval_*.jsonl")
    responses = [[json.loads(line)["resps"] for line in f.read_text().splitlines()] for f in (samples, plain_samples)]
    assert responses[0] == responses[1]  # the same greedy samples
    judged = subprocess.run(
        [sys.executable, "-m", "mipo_bench.cli", "judge", str(samples), "--judge", smollm2_dir, "--scoring", "logprob",
         "--dataset", "prefeval", "--output", str(tmp_path / "judge")],
        capture_output=True, text=True, env=env, timeout=900,
    )  # fmt: skip
    assert judged.returncode == 0, judged.stderr[-3000:]
    summary = json.loads((tmp_path / "judge" / "judge_summary.json").read_text())
    assert harness["judge_score,judged"] == pytest.approx(summary["mean_score"], abs=1e-6)
    assert harness["judge_failed,judged"] == summary["failed_items"] == 0
