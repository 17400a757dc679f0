"""One home per concept: the draw of another prompt x', grading an answer, and a task's headline score are each
defined once and every caller gets the same answer from it (eval and training cannot disagree on what is correct,
pairs and the MI reward on what x' is, the reports on which number is a task's)."""

from __future__ import annotations

import pytest

from mipo_bench import data
from mipo_bench.core.chat import user_chat
from mipo_bench.data import grading
from mipo_bench.data.prompts import task_prompt


def test_another_prompt_is_one_draw_for_pairs_mi_reward_and_mi_meter(mirror):
    """Before: the MI reward's base prompt x' was drawn by its own rule (any other id, unsorted records), so an
    online MI row and the MIPO pairs of the same prompts and seed contrasted different x'."""
    from mipo_bench.data.prompt_rows import prompt_rows
    from mipo_bench.measuring.mi_meter import GENERAL, draw_contrasts
    from mipo_bench.pairs.base import get_strategy, plan_pairs

    seed = 3
    records = data.train_prompts("arc_easy", 40, seed)
    items = [{"id": r["id"], "prompt": task_prompt(r)} for r in records]
    plan = {row["id"]: row for row in plan_pairs(items, get_strategy("random_prompt"), seed)}
    rows, _ = prompt_rows("arc_easy", 40, seed)
    assert {r["id"]: r["base_prompt"] for r in rows} == {i: row["rejected_messages"] for i, row in plan.items()}

    meter_items = [{"id": it["id"], "kind": GENERAL, "prompt": user_chat(it["prompt"])} for it in items]
    first = {i: ids[0] for i, ids in draw_contrasts(meter_items, 3, seed).items()}
    assert first == {i: row["rejected_from"] for i, row in plan.items()}
    assert all(row["rejected_from"] != i for i, row in plan.items())


ITEMS = {  # (record, response, correct?)
    "math": ({"answer": "18", "paper_answer": "18"}, "16 - 3 - 4 = 9, 9 * 2 = 18\n#### 18", True),
    "math sign dropped as the scripts read it": ({"answer": "-5", "paper_answer": "5"}, "#### -5", True),
    "math no marker": ({"answer": "18", "paper_answer": "18"}, "The answer is 18.", False),
    "choice": (
        {"answer": "C", "choices": [{"label": x, "text": x.lower()} for x in "ABCD"]},
        "Reasoning... The answer is: C",
        True,
    ),
    "choice, 5 options, gold E": (
        {"answer": "E", "choices": [{"label": x, "text": x.lower()} for x in "ABCDE"]},
        "The answer is: E",
        True,
    ),
    "choice, 3 options, reads D as the scripts' [ABCD] does": (
        {"answer": "C", "choices": [{"label": x, "text": x.lower()} for x in "ABC"]},
        "The answer is D, not C",
        False,
    ),
    "choice placeholder": (
        {"answer": "A", "choices": [{"label": x, "text": x.lower()} for x in "ABCD"]},
        "The answer is: <X>",
        False,
    ),
}


@pytest.mark.parametrize("case", list(ITEMS))
def test_eval_filter_rlvr_reward_and_revision_filter_grade_alike(case):
    """Before: three graders with three option counts (lm-eval's filter, the RLVR reward, the revision filter)."""
    from mipo_bench.evaluation import hooks
    from mipo_bench.rewards.verifiable import ExactMatchReward
    from mipo_bench.training.revision import _judge_revision

    record, response, correct = ITEMS[case]
    assert grading.grade(response, record).correct is correct
    hook = hooks.choice_paper if record.get("choices") else hooks.number_paper
    assert (hook([[response]], [record])[0][0] == record["answer"]) is correct
    columns = {k: [record.get(k)] for k in ("answer", "paper_answer", "choices")}
    assert ExactMatchReward().score([user_chat("q")], [response], None, columns) == [float(correct)]
    row = {"id": "i", "prompt": user_chat("q"), "chosen": [{"role": "assistant", "content": "y"}]}
    verdict = _judge_revision("ground_truth", row, {"id": "i", **record}, response, (), keep_wrong=False)
    assert verdict["correct"] is correct


def test_a_tasks_headline_is_declared_in_its_yaml_and_every_caller_reads_it():
    """Before: the headline was the first score in a display order, guessed in four places."""
    from mipo_bench.data.protocol import primary_metric
    from mipo_bench.evaluation.harness import headline_label

    assert primary_metric("mipo_gsm8k") == ("exact_match,paper", "exact_match,paper_noreask")
    assert primary_metric("mipo_arc_challenge") == ("exact_match,paper",)
    assert primary_metric("mipo_prism") == ("win,judged", "win,none")  # judged in lm-eval, or by `mipo-bench judge`
    assert primary_metric("mipo_prefeval") == ("judge_score,judged", "win,none")  # no reference response in lm-eval
    assert primary_metric("mipo_mmlu_loglik") == ("acc,none",)
    # the first declared that is there, whatever order the scores come in
    assert headline_label("mipo_gsm8k", ["strict", "flexible", "paper_noreask", "paper"]) == "paper"
    assert headline_label("mipo_gsm8k", ["strict", "paper_noreask"]) == "paper_noreask"  # plain lm_eval
    assert headline_label("mipo_prism", ["judge_score", "win_ties_half", "win"]) == "win"
    assert headline_label("mipo_prism", ["judge_score judged", "win judged"]) == "win judged"
    assert headline_label("my_plugin_task", ["b", "a"]) == "b"  # none declared: the display order's first
