"""`mipo-bench reproduce`: every stage of a table on the tiny model, the table, the MI meter, the entropy figure and the
leaderboard page; a rerun reuses every stage, and a run that crashed mid-way resumes where it stopped."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image
import pytest
import yaml

from mipo_bench.analysis.leaderboard.store import ResultsStore
from mipo_bench.analysis.tables import load_table
from mipo_bench.workflows.recipe import find_recipe
from tests.test_pipeline import _forbid_every_stage


def tiny_spec(tmp_path, model_dir) -> str:
    """Table 2's spec with a ``tiny`` scale: base + SFT + MIPO on ARC-Easy, a handful of items and tokens."""
    raw = yaml.safe_load(open(load_table("2").path))
    raw["scales"]["tiny"] = {
        "recipe": str(find_recipe("demo")),
        "rows": ["base", "sft", "mipo"],
        "tasks": ["arc_easy"],
        "overrides": [
            "data.n_prompts=4",
            "pairs.max_new_tokens=6",
            "pairs.batch_size=4",
            "train.max_length=256",
            "train.num_train_epochs=1",
            "train.gradient_accumulation_steps=2",
        ],
        "eval": {"limit": 3, "batch_size": 3, "gen_kwargs": "max_gen_toks=24"},
        "mi": {"n": 3, "max_new_tokens": 6, "contrasts": 2},
    }
    path = tmp_path / "table2_tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


@pytest.mark.slow  # a whole reproduce run on a tiny model, three times
def test_reproduce_runs_every_stage_and_resumes(tmp_path, tiny_model_dir, monkeypatch, capsys):
    import mipo_bench.training
    from mipo_bench.workflows.reproduce import reproduce

    spec = tiny_spec(tmp_path, tiny_model_dir)
    out = tmp_path / "run"
    real_train = mipo_bench.training.train

    def crash_on_mipo(method, *args, **kwargs):
        if method == "mipo":
            raise RuntimeError("simulated crash while training mipo")
        return real_train(method, *args, **kwargs)

    monkeypatch.setattr(mipo_bench.training, "train", crash_on_mipo)
    with pytest.raises(RuntimeError, match="simulated crash"):
        reproduce(spec, tiny_model_dir, seeds=2, scale="tiny", run_dir=out)
    sft_model = out / "arc_easy" / "seed42" / "sft" / "model" / "config.json"
    assert sft_model.exists()  # what finished before the crash is kept
    stamp = sft_model.stat().st_mtime_ns
    monkeypatch.setattr(mipo_bench.training, "train", real_train)

    capsys.readouterr()
    summary = reproduce(spec, tiny_model_dir, seeds=2, scale="tiny", run_dir=out)
    printed = capsys.readouterr()
    # stdout is the result (`reproduce ... > table.md` keeps the table); TRL's step logs and the stages are stderr
    assert printed.out.startswith("**Table 2: math and multiple-choice accuracy (%)**") and "'loss'" not in printed.out
    assert "'loss'" in printed.err and "[1/15]" not in printed.out
    # "stage k of n" counts them right: 1 base eval, per seed 1 input (SFT and MIPO read the same pairs), 2 trainings
    # and 2 evals, 3 MI readings, the figure
    assert len(summary["stage_seconds"]) == summary["stages_planned"] == 15
    assert sft_model.stat().st_mtime_ns == stamp  # resumed: SFT of seed 42 was not trained again
    plan = json.loads((out / "plan.json").read_text())
    for seed in (42, 43):
        for row in ("sft", "mipo"):
            manifest = json.loads((out / "arc_easy" / f"seed{seed}" / row / "train.manifest.json").read_text())
            assert manifest["method"] == row and manifest["seed"] == seed
            card = manifest["card"]  # the row's card from the plan, beside the data file it read and its hash
            assert card in plan["trained"] and Path(manifest["data"]).parent.parent == Path(card["input"]["dir"])
            assert card["input"]["strategy"] == "random_prompt_shuffle" and manifest["data_hash"]

    table = (out / "table.md").read_text()
    assert "+ MIPO (Ours)" in table and "+ SFT" in table and " ± " in table  # two seeds: mean ± std
    assert table.startswith("**Table 2: math and multiple-choice accuracy (%)** (scale tiny)")
    assert "n = arc_easy 3 items" in table and "**bold**: a change of more than 3 points" in table
    from mipo_bench.cli.main import main

    capsys.readouterr()
    assert main(["report", str(out), "--table", spec, "--format", "markdown"]) == 0
    assert capsys.readouterr().out == table  # `report` on the run directory builds the table `reproduce` wrote
    assert (out / "table.csv").exists() and "\\begin{tabular}" in (out / "table.tex").read_text()

    mi = summary["mi"]
    assert {"arc_easy/base", "arc_easy/mipo/seed42", "arc_easy/mipo/seed43"} <= set(mi)
    assert all(r["n"] == 3 and r["low"] <= r["mean"] <= r["high"] for r in mi.values())

    figure = summary["figures"]["arc_easy"]["path"]
    assert matplotlib.image.imread(figure).shape[0] > 100

    page = (out / "leaderboard.html").read_text()
    assert "mipo" in page and "sft" in page and "<table" in page
    # what the page shows of its table, the grid, its MI meter and entropy figure, and what the costs are
    assert "tiny scale: 2 seeds per trained row" in page
    assert "rows: 3 of the table&#x27;s 5 (base, sft, mipo); not run at this scale: sft_revision, rlvr" in page
    assert "tasks: 1 of the table&#x27;s 5 (arc_easy)" in page and "the first 3 items of each task" in page
    assert "Scores: model × task" in page and "<h2>MI meter</h2>" in page and "entropy arc easy" in page
    assert page.count('src="data:image/png;base64,') >= 3  # gains (overall, task) and the entropy figure
    assert "chat template on" in page and "≤ 24 new tokens" in page
    with ResultsStore(out / "leaderboard.sqlite") as store:
        trained = [e for e in store.entries() if e.method == "mipo"]
    assert trained and all(e.cost["train_cpu_seconds"] > 0 for e in trained)
    pairs = json.loads(next((out / "arc_easy" / "seed42" / "inputs").glob("*/pairs/pairs.manifest.json")).read_text())
    assert pairs["generated"]["counter"] == "tokenizer" and pairs["generated"]["tokens"] > 0
    assert all(e.cost["train_generated_tokens"] == pairs["generated"]["tokens"] for e in trained[:1])
    assert summary["leaderboard"]["db"].endswith("leaderboard.sqlite")

    _forbid_every_stage(monkeypatch)  # a third run: every stage is current, nothing is computed again
    import mipo_bench.measuring.entropy as entropy_pass

    monkeypatch.setattr(entropy_pass, "item_entropies", lambda *a, **k: pytest.fail("figures recomputed"))
    again = reproduce(spec, tiny_model_dir, seeds=2, scale="tiny", run_dir=out)
    assert again["mi"] == summary["mi"] and again["figures"] == summary["figures"]
    # the rerun keeps the seconds each stage took when it was computed, says which it reused, and logs both runs
    assert again["stage_seconds"] == summary["stage_seconds"]
    assert set(again["reused_stages"]) == set(summary["stage_seconds"]) and len(again["runs"]) == 2


def test_unknown_task_and_table_are_one_line_errors(tmp_path, tiny_model_dir):
    from mipo_bench.workflows.reproduce import reproduce

    with pytest.raises(ValueError, match="unknown task"):
        reproduce("2", tiny_model_dir, tasks=["arc_eazy"], run_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown table '9'"):
        reproduce("9", tiny_model_dir, run_dir=tmp_path)


def test_table4_runs_table3s_stages_in_table3s_run_directory(tmp_path, tiny_model_dir, monkeypatch):
    """`reproduce table4` is Table 3 (the same runs, shared run directory), only its title is Table 4's."""
    import mipo_bench.workflows.reproduce as reproduce_module

    calls = []

    class Stop(Exception):
        pass

    def first_eval(model_path, task, where, ev, label):
        calls.append((task, where, label))
        raise Stop

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(reproduce_module, "_eval", first_eval)
    for table in ("table3", "table4"):
        with pytest.raises(Stop):
            reproduce_module.reproduce(table, tiny_model_dir, scale="demo")
    expected = ("mipo_prefeval", Path("runs/reproduce/table3-demo/prefeval/eval/personalized"), "personalized")
    assert calls == [expected, expected]


def test_a_kind_with_its_own_runner_skips_the_run_stages(tmp_path, monkeypatch):
    """Table 6 (critic accuracy) is made by its kind's runner, with the judge as the critic."""
    import mipo_bench.measuring.critic_accuracy
    from mipo_bench.workflows.reproduce import reproduce

    seen = {}

    def fake_critic_table(spec, scale, judge, out):
        seen.update(table=spec.name, tasks=list(spec.tasks), limit=scale["limit"], judge=judge, out=out)
        return {"table": spec.name}

    monkeypatch.setattr(mipo_bench.measuring.critic_accuracy, "critic_table", fake_critic_table)
    assert reproduce("table6", "some-model", run_dir=tmp_path, judge="some-judge") == {"table": "6"}
    assert seen == {"table": "6", "tasks": ["prism"], "limit": 16, "judge": "some-judge", "out": tmp_path}


def test_set_values_reach_the_right_place_and_typos_are_one_line():
    from mipo_bench.workflows.run_settings import for_method, split_settings

    recipe, run = split_settings(["train.extra.max_steps=3", "eval.limit=4", "mi.n=2", "judge.max_new_tokens=8"])
    assert recipe == ["train.extra.max_steps=3"]
    assert run == {"eval": {"limit": 4}, "mi": {"n": 2}, "judge": {"max_new_tokens": 8}}
    given = ["train.max_completion_length=8", "train.beta=0.2", "pairs.max_new_tokens=8"]
    assert for_method("sft", given) == ["pairs.max_new_tokens=8"]  # neither key is an SFT setting
    assert for_method("rlvr", given) == given  # GRPO has both
    for bad, message in (("train.betta=1", "no training method has a setting 'betta'"), ("eval.limt=1", "eval. takes")):
        with pytest.raises(ValueError, match=message):
            split_settings([bad])
