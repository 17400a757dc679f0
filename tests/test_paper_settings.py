"""Every row trains on what the paper's row trained on: each table is resolved at paper scale (the plan `reproduce`
runs) and every setting its YAML states for the paper — strategy, epochs, update passes, learning rate, beta, batch,
rollout batch, max length, sampling, prompts, evaluation items, each with its source — is compared with what the row
will train on. A departure is either declared once in the table, with its reason, or a failure here."""

from __future__ import annotations

import math

import pytest

from mipo_bench import data
from mipo_bench.analysis.tables import load_table
from mipo_bench.workflows.table_plan import compare_with_paper, resolve_table

TABLES = ["1", "2", "3", "5"]
MODELS = ["Qwen/Qwen2.5-1.5B-Instruct", "meta-llama/Llama-3.2-1B-Instruct"]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("table", TABLES)
def test_every_paper_setting_is_followed_or_declared(table, model, mirror):
    plan = resolve_table(table, model, "paper", seeds=3)
    entries = compare_with_paper(plan)
    trained = {r.name for r in plan.spec.rows if r.method}
    assert trained and all(plan.spec.row(name).paper for name in trained), "a trained row states no paper settings"
    assert {e["row"] for e in entries} >= trained
    undeclared = [e for e in entries if not e["same"] and not e["declared"]]
    assert not undeclared, [(e["task"], e["row"], e["setting"], e["paper"], e["plan"]) for e in undeclared]
    compared = {(e["row"], e["setting"]) for e in entries} | {(None, e["setting"]) for e in entries}
    for d in plan.differences:  # a declared difference of a compared setting must really differ somewhere
        if (d.get("row"), d["setting"]) in compared:
            assert any(e["declared"] is d for e in entries), f"stale declared difference: {d}"
    for e in entries:
        assert e["source"].strip(), e


def test_sft_revision_reads_pairs_whose_bad_side_has_another_users_context():
    """Before: a row had its own input folder only when it had row overrides, so Table 1's SFT (Revision) read the
    folder the other rows filled with missing-context pairs (MIPO's, written last): its "bad response" had no
    context at all, where §5.1 has one written for another user's context."""
    plan = resolve_table("1", MODELS[0], "paper", seeds=1)
    by_row = {(c.task, c.row): c for c in plan.rows}
    for task in plan.spec.tasks:
        revision, mipo, sft, infonce = (by_row[(task, r)] for r in ("sft_revision", "mipo", "sft", "infonce"))
        assert revision.recipe.pairs.strategy == "random" and mipo.recipe.pairs.strategy == "missing"
        assert revision.input_dir != mipo.input_dir  # keyed by what produces the input
        assert sft.input_dir == mipo.input_dir == infonce.input_dir  # SFT and InfoNCE read MIPO's pairs
    online = {c.input_dir for c in plan.rows if c.online}
    assert len(online) == len(plan.spec.tasks)  # the three online rows of a task share its prompts


def test_rlvr_makes_the_released_commands_optimizer_steps(mirror):
    """Before: the released --max_epochs 2 was mapped to 2 passes over the prompts: GSM8K 7.4k optimizer steps on
    29.6k rollouts, where the released command made ~3.7k steps on 7.4k rollouts (max_epochs = update passes over
    each rollout batch, OpenRLHF's; num_episodes 1 = one pass over the prompts)."""
    plan = resolve_table("2", MODELS[0], "paper", seeds=1, tasks=["gsm8k"])
    rlvr = next(c for c in plan.rows if c.row == "rlvr")
    t = rlvr.recipe.train
    prompts = len(data.train_prompts("gsm8k"))
    rollouts = prompts * t.num_generations * t.num_train_epochs
    steps = math.ceil(rollouts * t.num_iterations / t.global_batch_size)
    released = math.ceil(prompts / 8) * 2 * 2  # rollout batches of 8 prompts, 2 steps of 4 each, 2 passes
    assert (t.num_train_epochs, t.num_iterations, rlvr.setting("global_batch"), rlvr.setting("rollout_batch")) == (
        1,
        2,
        4,
        8,
    )
    assert abs(steps - released) <= 2 and rollouts == 2 * prompts  # G = 2 doubles the rollouts, declared


def test_table2_trains_on_the_released_shuffled_pairs_and_sft_on_mipos_chosen_side(mirror):
    """Before: Table 2 built random_prompt pairs (a fresh sample for x') where the released scripts permute the
    chosen responses (random_prompt_shuffle), and nothing said so."""
    plan = resolve_table("2", MODELS[0], "paper", seeds=1, tasks=["arc_easy"])
    offline = [c for c in plan.rows if not c.online]
    assert {c.recipe.pairs.strategy for c in offline} == {"random_prompt_shuffle"}
    assert len({c.input_dir for c in offline}) == 1


def test_the_mi_meter_and_figure_rows_are_declared_in_the_table():
    """Before: the MI meter and Figure 3 were hard-coded to the row named "mipo"."""
    spec = load_table("2")
    assert spec.mi == ["mipo"] and spec.figure == "entropy" and spec.figure_rows == ["mipo"]
    plan = resolve_table("2", MODELS[0], "paper", seeds=2, tasks=["arc_easy"])
    assert [(m["row"], m["seed"]) for m in plan.mi] == [("base", None), ("mipo", 42), ("mipo", 43)]
