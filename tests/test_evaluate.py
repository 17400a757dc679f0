"""`mipo-bench eval`: the paper's re-ask pass, lm-eval's output format, and the results table."""

from __future__ import annotations

import copy
import json
import sys

import pytest

from mipo_bench.core.runs import read_jsonl
from mipo_bench.data.extract import INVALID
from mipo_bench.data.prompts import reask_prompt
from mipo_bench.evaluation import reask
from mipo_bench.evaluation.harness import format_failures, results_table, run_eval
from mipo_bench.generation import Backend


class StubBackend(Backend):
    """Replies "7" when the re-asked response says SEVEN, "no idea" otherwise; records every chat it gets."""

    def __init__(self):
        super().__init__("stub-model")
        self.seen = []

    def fingerprint(self) -> str:
        return "stub-model"

    def generate(self, prompts, params, seeds=None):
        self.seen.extend(prompts)
        return [["The number is 7." if "SEVEN" in m[0]["content"] else "no idea"] for m in prompts]


class FailingBackend(StubBackend):
    def generate(self, prompts, params, seeds=None):
        raise AssertionError("the re-ask replies should have come from the cache")


def _sample(doc_id, response, first_pass, answer, filt="paper_noreask", **doc):
    correct = float(first_pass == answer)
    return {
        "doc_id": doc_id,
        "doc": {"id": f"x/{doc_id}", "answer": answer, **doc},
        "target": answer,
        "arguments": [["prompt", {}]],
        "resps": [[response]],
        "filtered_resps": [first_pass],
        "filter": filt,
        "metrics": ["exact_match"],
        "doc_hash": "d",
        "prompt_hash": "p",
        "target_hash": "t",
        "exact_match": correct,
    }


def _results():
    """GSM8K: one answer after ####; one without, whose re-ask finds the number; one whose re-ask finds nothing;
    one negative answer the scripts score sign-less (paper_answer). SVAMP: one item, re-asked."""
    gsm = [
        _sample(0, "4 + 8 = 12\n#### 12", "12", "12"),
        _sample(1, "she ends with SEVEN apples", INVALID, "7"),
        _sample(2, "I am not sure", INVALID, "3"),
        _sample(3, "the temperature drops to SEVEN below", INVALID, "-7", paper_answer="7"),
    ]
    gsm += [{**copy.deepcopy(s), "filter": "strict"} for s in gsm]
    svamp = [_sample(0, "so SEVEN", INVALID, "7")]
    tasks = {"mipo_gsm8k": ("gsm8k", gsm), "mipo_svamp": ("svamp", svamp)}
    results = {
        "results": {t: {"alias": t, "exact_match,paper_noreask": 0.25} for t in tasks},
        "configs": {t: {"dataset_kwargs": {"dataset": d}} for t, (d, _) in tasks.items()},
        "samples": {t: s for t, (_, s) in tasks.items()},
        "n-samples": {"mipo_gsm8k": {"effective": 4}, "mipo_svamp": {"effective": 1}},
        "group_subtasks": {"mipo_reasoning": ["mipo_gsm8k", "mipo_svamp", "mipo_mmlu", "mipo_arc_easy", "a_c"]},
    }
    for name, value in (("mipo_mmlu", 0.5), ("mipo_arc_easy", 0.25), ("a_c", 0.0)):
        results["results"][name] = {"exact_match,paper": value, "exact_match,strict": 0.0}
    results["results"]["mipo_reasoning"] = {"exact_match,strict": 0.0}
    results["groups"] = {"mipo_reasoning": {"exact_match,strict": 0.0}}
    return results


def test_reask_pass_scores_the_paper_filter(tmp_path):
    from lm_eval.api.metrics import mean_stderr

    results, backend = _results(), StubBackend()
    counts = reask.add_paper_filter(results, backend, tmp_path / "reask.jsonl", seed=1)
    assert counts == {"mipo_gsm8k": 3, "mipo_svamp": 1}
    # one verbatim re-ask message per item without a number after ####, with the dataset's own wording
    asked = [m[0]["content"] for m in backend.seen]
    assert sorted(asked) == sorted(
        [
            reask_prompt("gsm8k", "she ends with SEVEN apples"),
            reask_prompt("gsm8k", "I am not sure"),
            reask_prompt("gsm8k", "the temperature drops to SEVEN below"),
            reask_prompt("svamp", "so SEVEN"),
        ]
    )
    assert all(len(m) == 1 and m[0]["role"] == "user" for m in backend.seen)
    paper = {s["doc_id"]: s for s in results["samples"]["mipo_gsm8k"] if s["filter"] == "paper"}
    assert [paper[i]["exact_match"] for i in range(4)] == [1.0, 1.0, 0.0, 1.0]
    assert paper[0]["reask_reply"] is None and paper[1]["reask_reply"] == "The number is 7."
    assert paper[2]["filtered_resps"] == [INVALID] and paper[3]["filtered_resps"] == ["-7"]
    gsm = results["results"]["mipo_gsm8k"]
    assert gsm["exact_match,paper"] == pytest.approx(0.75)
    assert gsm["exact_match_stderr,paper"] == pytest.approx(mean_stderr([1.0, 1.0, 0.0, 1.0]))
    assert results["results"]["mipo_svamp"]["exact_match,paper"] == 1.0
    assert results["results"]["mipo_svamp"]["exact_match_stderr,paper"] == "N/A"  # one item, as lm-eval says
    # the paper's Avg.: the unweighted mean over the five tasks
    avg = (0.75 + 1.0 + 0.5 + 0.25 + 0.0) / 5
    assert results["results"]["mipo_reasoning"]["exact_match,paper"] == pytest.approx(avg)
    assert results["groups"]["mipo_reasoning"]["exact_match,paper"] == pytest.approx(avg)
    assert format_failures(results["samples"]["mipo_gsm8k"]) == {
        "paper_noreask": 3,
        "strict": 3,
        "placeholder": 0,
        "paper": 1,
    }
    # resumable: a second pass takes every reply from the cache
    again = _results()
    reask.add_paper_filter(again, FailingBackend(), tmp_path / "reask.jsonl", seed=1)
    assert again["results"]["mipo_gsm8k"]["exact_match,paper"] == pytest.approx(0.75)
    assert len(list(read_jsonl(tmp_path / "reask.jsonl"))) == 4


def test_reask_pass_leaves_groups_without_all_five_tasks(tmp_path):
    results = _results()
    del results["results"]["mipo_mmlu"]
    reask.add_paper_filter(results, StubBackend(), tmp_path / "reask.jsonl", seed=1)
    assert "exact_match,paper" not in results["results"]["mipo_reasoning"]


def test_results_table_puts_paper_first_and_shows_every_metric(tmp_path):
    results = _results()
    reask.add_paper_filter(results, StubBackend(), tmp_path / "reask.jsonl", seed=1)
    results["results"]["mipo_arc_easy_loglik"] = {"acc,none": 0.5, "acc_norm,none": 1.0, "acc_stderr,none": 0.5}
    results["results"]["mipo_prefeval"] = {"bypass,none": 999, "bypass_stderr,none": "N/A"}
    table = results_table(results)
    headers = [c.header for c in table.columns]
    assert headers[:6] == ["task", "n", "paper", "strict", "paper_noreask", "acc"]
    assert "acc_norm" in headers and "bypass" not in headers
    cells = {c.header: list(c._cells) for c in table.columns}
    gsm = cells["task"].index("mipo_gsm8k")
    assert cells["paper"][gsm].startswith("75.0") and cells["re-asked"][gsm] == "3"
    assert cells["no answer (paper)"][gsm] == "1" and cells["no answer (strict)"][gsm] == "3"
    loglik = cells["task"].index("mipo_arc_easy_loglik")
    assert cells["acc"][loglik] == "50.0 ± 50.0" and cells["acc_norm"][loglik] == "100.0"
    assert "mipo_prefeval" in table.caption


def _lm_eval_cli(monkeypatch, model_dir, out, task):
    """lm-eval's own CLI, in process, with the settings run_eval uses."""
    from lm_eval.__main__ import cli_evaluate

    from mipo_bench.core.resources import tasks_dir

    argv = ["lm_eval", "run", "--model", "hf", "--model_args", f"pretrained={model_dir},dtype=float32"]
    argv += ["--device", "cpu", "--tasks", task, "--include_path", str(tasks_dir()), "--apply_chat_template"]
    argv += ["--limit", "1"]
    argv += ["--gen_kwargs", "max_gen_toks=4", "--output_path", str(out), "--log_samples", "--batch_size", "2"]
    monkeypatch.setattr(sys, "argv", argv)
    cli_evaluate()
    return json.loads(next(out.rglob("results_*.json")).read_text())


@pytest.mark.slow  # a whole lm-eval run with the re-ask pass
def test_run_eval_reasks_and_writes_lm_eval_format(tiny_model_dir, mirror, tmp_path, monkeypatch):
    """The tiny model never writes ####: both items are re-asked, `paper` rows land in the samples file, and the
    results JSON is lm-eval's (no samples in it, the CLI's top-level keys, readable by lm-eval's make_table)."""
    from lm_eval.utils import get_results_filenames, get_sample_results_filenames, make_table

    out = tmp_path / "ours"
    results = run_eval(tiny_model_dir, ["mipo_gsm8k"], limit=2, output=out, batch_size=2, gen_kwargs="max_gen_toks=8")
    assert results["mipo_bench"]["reasked"] == {"mipo_gsm8k": 2}
    assert results["mipo_bench"]["reask_sampling"] == {"temperature": 0.1, "top_p": 0.9, "max_new_tokens": 8}
    assert isinstance(results["results"]["mipo_gsm8k"]["exact_match,paper"], float)
    files = [str(p) for p in out.rglob("*")]
    [results_file] = get_results_filenames(files)
    [samples_file] = get_sample_results_filenames(files)
    assert "samples_mipo_gsm8k_" in samples_file
    saved = json.loads(open(results_file).read())
    assert "samples" not in saved and saved["results"]["mipo_gsm8k"]["exact_match,paper"] is not None
    assert saved["task_hashes"]["mipo_gsm8k"]  # computed from the samples, as the CLI does
    # parity with lm_eval (issue 17): the chat template choice is recorded; the model is named as the user typed it
    assert saved["mipo_bench"]["apply_chat_template"] is True and saved["config"]["model_name"] == tiny_model_dir
    rows = [json.loads(line) for line in open(samples_file)]
    paper = [r for r in rows if r["filter"] == "paper"]
    assert len(paper) == 2 and all(isinstance(r["reask_reply"], str) for r in paper)
    assert {r["filter"] for r in rows} == {"paper", "paper_noreask", "strict", "flexible"}
    assert len(list(read_jsonl(out / "reask_generations.jsonl"))) == 2
    assert "mipo_gsm8k" in make_table(saved)
    cli = _lm_eval_cli(monkeypatch, tiny_model_dir, tmp_path / "cli", "mipo_gsm8k")
    assert set(saved) - {"mipo_bench"} == set(cli)
