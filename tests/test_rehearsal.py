"""The users' path, rehearsed on CPU: `reproduce table2 --scale paper` and `reproduce table1 --scale paper` end to
end on tiny random-weight models of the paper's two families (Qwen2.5 and Llama-3 architectures, 2 layers, the
embedded tokenizer, each family's generation_config defaults), every training run under one `accelerate launch` of 2
CPU processes at the paper's global batch of 4. The tables' own paper-scale specs, recipes, prompts (8-shot math),
max length (15360), judge templates and hub-layout data (tests/paper_scale_fixtures.py); only counts and lengths are
cut (`SHORT`) and, for CI's time, two of Table 2's five tasks run here (GSM8K: 8-shot; ARC-Challenge: multiple
choice).
`benchmarks/rehearse_paper_scale.py` runs both whole tables, at the paper's evaluation item counts, with stage times."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.paper_scale_fixtures import tiny_model, write_hub_datasets

SHORT = [  # the only departures from the paper scale: counts and generation lengths
    "data.n_prompts=8",
    "pairs.max_new_tokens=8",
    "pairs.batch_size=8",
    "train.revision_max_new_tokens=8",
    "train.max_completion_length=8",
    "train.judge_max_new_tokens=4",
    "train.keep_wrong=true",  # random weights never answer right: keep their revisions (else none is left)
    "eval.limit=4",
    "eval.gen_kwargs=max_gen_toks=8",
    "mi.n=4",
    "mi.max_new_tokens=8",
    "judge.max_new_tokens=4",
]


def _train_manifests(out: Path) -> dict[str, dict]:
    return {str(p.parent.relative_to(out)): json.loads(p.read_text()) for p in out.rglob("train.manifest.json")}


def _assert_paper_batches(manifests: dict[str, dict], n_prompts: int = 8) -> None:
    """Every run trained in 2 processes at global batch 4: accumulation 2 per process, n / 4 steps an epoch."""
    for where, manifest in manifests.items():
        assert manifest["status"] == "complete", where
        assert (manifest["processes"], manifest["global_batch"]) == (2, 4), where
        assert manifest["settings"]["global_batch_size"] == 4, where


def _steps(out: Path, where: str) -> int:
    log = (out / where / "train_log.jsonl").read_text().splitlines()
    return len([row for row in map(json.loads, log) if "loss" in row])


@pytest.mark.slow
def test_table2_at_paper_scale_on_a_tiny_qwen2_in_two_processes(tmp_path, smollm2_dir, mirror):
    from mipo_bench.workflows.reproduce import reproduce

    model = tiny_model("qwen2", smollm2_dir, tmp_path / "tiny-qwen2.5-family")
    out = tmp_path / "table2"
    tasks = ["gsm8k", "arc_challenge"]
    summary = reproduce("table2", model, tasks=tasks, scale="paper", run_dir=out, settings=SHORT, num_processes=2)

    rows = ("sft", "mipo", "sft_revision", "rlvr")
    manifests = _train_manifests(out)
    assert sorted(manifests) == sorted(f"{t}/seed42/{r}" for t in tasks for r in rows)
    _assert_paper_batches(manifests)
    for task in tasks:  # 8 pairs / global batch 4 = 2 optimizer steps; RLVR: 16 completions x 2 epochs / 4 = 8
        assert [_steps(out, f"{task}/seed42/{r}") for r in rows] == [2, 2, 2, 8]
    gsm8k = manifests["gsm8k/seed42/mipo"]["lengths"]  # 8-shot prompts: longer than the old 1024 cut, none cut now
    assert gsm8k["max_length"] == 15360 and gsm8k["truncated_rows"] == 0 and gsm8k["longest"] > 900
    pairs = json.loads((out / "gsm8k" / "seed42" / "pairs" / "pairs.manifest.json").read_text())
    defaults = pairs["model_generation_defaults"]  # Qwen2.5's, applied, and where they came from
    assert (defaults["top_k"], defaults["repetition_penalty"]) == (20, 1.05)
    assert pairs["sampling"]["top_k"] == 20 and pairs["sampling"]["repetition_penalty"] == 1.05

    table = (out / "table.md").read_text()
    for label in ("+ SFT", "+ MIPO (Ours)", "+ SFT (Ground-truth; wrong revisions dropped)", "+ RLVR (Ground-truth)"):
        assert label in table
    assert set(summary["mi"]) >= {"gsm8k/base", "gsm8k/mipo/seed42", "arc_challenge/mipo/seed42"}
    assert Path(summary["figures"]["arc_challenge"]["path"]).is_file()
    assert "train: 8 runs, 2 processes" in summary["stage_seconds"]
    assert len(summary["stage_seconds"]) == summary["stages_planned"]
    jobs = out / "train_jobs.json"
    assert json.loads(jobs.read_text())["jobs"][0]["out"].startswith("/")

    stamp = jobs.stat().st_mtime_ns  # a rerun: every stage current, no accelerate launch, the first timings kept
    again = reproduce("table2", model, tasks=tasks, scale="paper", run_dir=out, settings=SHORT, num_processes=2)
    assert jobs.stat().st_mtime_ns == stamp and again["stage_seconds"] == summary["stage_seconds"]
    assert "train: 8 runs, 2 processes" in again["reused_stages"]


@pytest.mark.slow
def test_table1_at_paper_scale_on_a_tiny_llama_with_hub_layout_data(tmp_path, smollm2_dir, monkeypatch, capfd):
    from mipo_bench import data
    from mipo_bench.workflows.reproduce import reproduce

    for key, value in write_hub_datasets(tmp_path / "hub").items():
        monkeypatch.setenv(key, value)
    data._load_cached.cache_clear()
    model = tiny_model("llama", smollm2_dir, tmp_path / "tiny-llama3-family")
    out = tmp_path / "table1"
    tasks = ["community_alignment", "prism", "multibench"]
    summary = reproduce(
        "table1", model, tasks=tasks, scale="paper", run_dir=out, settings=SHORT, num_processes=2, judge=model
    )
    err = capfd.readouterr().err
    assert "community_alignment.csv: skipped 1 malformed row(s)" in err  # the empty preferred response
    assert "conversations.jsonl: skipped 1 malformed row(s)" in err  # the "EMPTY STRING" chosen response

    rows = ("sft", "sft_revision", "mi_rl", "rlaif", "rlaif_mi", "infonce", "mipo")
    manifests = _train_manifests(out)
    assert sorted(manifests) == sorted(f"{t}/seed42/{r}" for t in tasks for r in rows)
    _assert_paper_batches(manifests)
    assert {m["method"] for m in manifests.values()} == {"sft", "sft_revision_examples", *rows[2:]}

    judge = summary["judge"]
    assert judge["judge"] == model and judge["self_judging"]
    assert judge["templates"] == {"community_alignment": "paper_ca", "prism": "paper", "multibench": "paper_mb"}
    for task in tasks:  # Multi-Bench trains its 2 epochs (appendix D): twice the steps
        assert _steps(out, f"{task}/seed42/mipo") == (4 if task == "multibench" else 2)
    table = (out / "table.md").read_text()
    assert "+ SFT (Revision)" in table and "+ PPO (MI)" in table and "+ RLAIF (MI)" in table
    assert "†" in table  # a random judge's replies do not parse: failed items count against, marked
    judged = json.loads((out / "prism" / "seed42" / "eval" / "mipo" / "judge" / "judge_summary.json").read_text())
    assert judged["judge_choice"]["self_judging"] and judged["decoding"]["max_new_tokens"] == 4
    assert judged["win_rate"]["n"] == 4 and judged["win_rate"]["failed"] == judged["failed_items"]
