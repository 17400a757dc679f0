"""Every mipo_* task loads through lm-eval's TaskManager and scores answers through its filters."""

import pytest
from lm_eval import simple_evaluate
from lm_eval.api.model import LM

from mipo_bench import data
from mipo_bench.data.prompts import task_prompt
from mipo_bench.evaluation.harness import format_failures, task_manager
from tests.conftest import REPO

REASONING = ["gsm8k", "svamp", "mmlu", "arc_easy", "arc_challenge"]


@pytest.fixture(scope="module")
def tm():
    return task_manager()


def test_all_tasks_are_indexed(tm):
    names = set(tm.all_tasks)
    for name in REASONING:
        assert f"mipo_{name}" in names and f"mipo_{name}_full" in names
    assert {"mipo_reasoning", "mipo_reasoning_full"} <= names


def _leaves(tree):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value)
        else:
            yield key, value


@pytest.mark.parametrize("protocol", ["", "_full"])
def test_reasoning_group_loads_with_right_sizes(mirror, tm, protocol):
    tasks = dict(_leaves(tm.load_task_or_group([f"mipo_reasoning{protocol}"])))
    assert len(tasks) == 5  # five leaves: lm-eval's group mean is the paper's unweighted Avg. over the benchmarks
    sizes = {name: len(list(task.test_docs())) for name, task in tasks.items()}
    if protocol == "":
        assert sizes["mipo_gsm8k"] == 200 and sizes["mipo_svamp"] == 300 and sizes["mipo_arc_easy"] == 500
        assert sizes["mipo_mmlu"] == 200
    else:
        assert sizes["mipo_gsm8k_full"] == 1319 and sizes["mipo_arc_challenge_full"] == 1172
        assert sizes["mipo_mmlu_full"] == 14042
    gsm = tasks[f"mipo_gsm8k{protocol}"]
    doc = next(iter(gsm.test_docs()))
    prompt = gsm.doc_to_text(doc)
    assert prompt.startswith("You are a helpful math assistant") and prompt.count("####") == 9
    assert "\n\nNew question: " in prompt and not prompt.endswith("Answer:")
    assert gsm.config.generation_kwargs["do_sample"] is (protocol == "")


class AnswerKeyLM(LM):
    """A fake model that answers every prompt from a table: exercises filters, metrics and groups."""

    def __init__(self, replies):
        super().__init__()
        self.replies = replies

    def generate_until(self, requests, disable_tqdm=False):
        return [self.replies[req.args[0]] for req in requests]

    def loglikelihood(self, requests, disable_tqdm=False):
        raise NotImplementedError

    def loglikelihood_rolling(self, requests, disable_tqdm=False):
        raise NotImplementedError


def _replies(style):
    replies = {}
    for name in REASONING:
        for doc in data.eval_docs(name, "paper"):
            if doc["choices"]:
                replies[task_prompt(doc)] = {
                    "right": f"Thinking.\nThe answer is: {doc['answer']}",
                    "placeholder": "Thinking.\nThe answer is: X.",
                    "text": "The answer is " + next(c["text"] for c in doc["choices"] if c["label"] == doc["answer"]),
                }[style]
            else:
                replies[task_prompt(doc)] = {
                    "right": f"So it is {doc['answer']}.\n#### {doc['answer']}",
                    "placeholder": "I do not know.",
                    "text": f"So the answer is {doc['answer']}.",
                }[style]
    return replies


def _run(tm, style, tasks, limit=None):
    return simple_evaluate(
        model=AnswerKeyLM(_replies(style)),
        tasks=tasks,
        task_manager=tm,
        limit=limit,
        log_samples=True,
        apply_chat_template=False,
    )


def test_right_answers_score_one_on_every_filter(mirror, tm):
    out = _run(tm, "right", ["mipo_reasoning"])
    for name in ["mipo_gsm8k", "mipo_svamp", "mipo_arc_easy", "mipo_arc_challenge", "mipo_mmlu", "mipo_reasoning"]:
        assert out["results"][name]["exact_match,strict"] == pytest.approx(1.0), name
        assert out["results"][name]["exact_match,flexible"] == pytest.approx(1.0), name
    for name in ["mipo_arc_easy", "mipo_arc_challenge", "mipo_mmlu"]:
        assert out["results"][name]["exact_match,paper"] == pytest.approx(1.0), name
    for name in ["mipo_gsm8k", "mipo_svamp"]:
        assert out["results"][name]["exact_match,paper_noreask"] == pytest.approx(1.0), name


def test_items_with_numeric_answer_keys_are_scored_by_position(mirror, tm):
    """The scripts compare the raw answerKey ("1"-"4") with a letter, so those items can never be right; the suite
    letters options by position and scores the letter at the key's position (PROTOCOL.md, decided)."""
    out = _run(tm, "right", ["mipo_arc_easy", "mipo_arc_challenge"])
    for name in ("mipo_arc_easy", "mipo_arc_challenge"):
        numeric = [
            s
            for s in out["samples"][name]
            if s["filter"] == "paper" and s["doc"]["released_answer"] not in ("A", "B", "C", "D")
        ]
        assert numeric, name  # the sample has such items (17 in ARC-Easy's, 9 in ARC-Challenge's)
        assert all(s["exact_match"] == 1.0 for s in numeric)


def test_placeholder_scores_zero_and_is_counted(mirror, tm):
    out = _run(tm, "placeholder", ["mipo_arc_easy", "mipo_gsm8k"], limit=20)
    assert out["results"]["mipo_arc_easy"]["exact_match,strict"] == 0
    assert out["results"]["mipo_arc_easy"]["exact_match,flexible"] == 0
    fails = format_failures(out["samples"]["mipo_arc_easy"])
    assert fails["strict"] == 20 and fails["flexible"] == 20 and fails["placeholder"] == 20


def test_option_text_only_counts_under_flexible(mirror, tm):
    out = _run(tm, "text", ["mipo_arc_challenge", "mipo_svamp"], limit=30)
    arc = out["results"]["mipo_arc_challenge"]
    assert arc["exact_match,strict"] < 0.2 and arc["exact_match,flexible"] > 0.8
    svamp = out["results"]["mipo_svamp"]
    assert svamp["exact_match,strict"] == 0 and svamp["exact_match,flexible"] == pytest.approx(1.0)


def test_loglik_sanity_tasks_use_the_same_items(mirror, tm):
    for name, dataset in (("mipo_arc_easy_loglik", "arc_easy"), ("mipo_mmlu_loglik", "mmlu")):
        task = dict(_leaves(tm.load_task_or_group([name])))[name]
        docs = list(task.test_docs())
        assert [d["id"] for d in docs] == [d["id"] for d in data.eval_docs(dataset, "paper")]
        doc = docs[0]
        assert task.doc_to_choice(doc)[task.doc_to_target(doc)] in (
            doc["answer"],
            next(c["text"] for c in doc["choices"] if c["label"] == doc["answer"]),
        )


def test_personalization_tasks_on_fixtures(tm, monkeypatch, tmp_path):
    """PRISM / CA / Multi-Bench tasks load on the schema fixtures; PRISM needs extracted contexts first."""
    from pathlib import Path

    from mipo_bench.core.runs import write_jsonl

    monkeypatch.setenv("MIPO_BENCH_DATA", str(Path(__file__).parent / "fixtures"))
    data._load_cached.cache_clear()
    try:
        tasks = dict(_leaves(tm.load_task_or_group(["mipo_multibench"])))
        mb = list(tasks["mipo_multibench"].test_docs())
        assert len(mb) == 5 and "Please respect the following requirements" in tasks["mipo_multibench"].doc_to_text(
            mb[0]
        )
        for task in ("mipo_prism", "mipo_prism_default"):  # the Default row answers the personalized row's items
            with pytest.raises(ValueError, match="mipo-bench contexts prism"):
                tm.load_task_or_group([task])
        write_jsonl(tmp_path / "ctx.jsonl", [{"id": "prism/c1", "value": {"tone": "Be warm."}, "failed": False}])
        monkeypatch.setenv("MIPO_BENCH_CONTEXTS_PRISM", str(tmp_path / "ctx.jsonl"))
        loaded = dict(_leaves(tm.load_task_or_group(["mipo_prism", "mipo_prism_default"])))
        prism, prism_default = loaded["mipo_prism"], loaded["mipo_prism_default"]
        docs = list(prism.test_docs())
        assert [d["id"] for d in docs] == [d["id"] for d in prism_default.test_docs()] == ["prism/c1"]
        assert prism.doc_to_text(docs[0]).endswith(
            "Please respect the following requirements made by the user: Be warm. Respond with short 2-3 sentences."
        )
        assert prism_default.doc_to_text(docs[0]) == (
            "Give me short 2-3 sentence answers to the following prompt: opening prompt 1 Respond with short 2-3 "
            "sentences."
        )
    finally:
        data._load_cached.cache_clear()


# --- the paper protocol's prompts, character by character (../shared/PROTOCOL.md §2) -----------------------------

PROTOCOL = __import__("pathlib").Path(__file__).resolve().parents[2] / "shared" / "PROTOCOL.md"


def _spec_block(after: str) -> str:
    """The first fenced block after the line that starts with ``after`` in PROTOCOL.md."""
    text = PROTOCOL.read_text(encoding="utf-8")
    start = text.index("```", text.index(after)) + len("```\n")
    return text[start : text.index("\n```", start)]


def _first_paper_item(tm, task_name):
    task = dict(_leaves(tm.load_task_or_group([task_name])))[task_name]
    doc = next(iter(task.test_docs()))
    return task, doc


def _raw_rows(path):
    import json

    return [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]


@pytest.mark.parametrize("name", ["gsm8k", "svamp"])
def test_math_prompt_matches_the_spec_character_by_character(mirror, tm, name):
    import json

    task, doc = _first_paper_item(tm, f"mipo_{name}")
    if name == "gsm8k":
        raw = _raw_rows(mirror / "gsm8k" / "test.jsonl")[int(doc["id"].rsplit("/", 1)[1]) - 1]
        question = raw["question"]
    else:
        raw = next(r for r in json.loads((mirror / "svamp" / "SVAMP.json").read_text()) if r["ID"] == doc["id"])
        question = raw["Body"] + " " + raw["Question"]  # ChilleD's question_concat
    expected = _spec_block("Exact rendered user message (`{question}`").replace("{question}", question).strip()
    assert task.doc_to_text(doc) == expected


@pytest.mark.parametrize("name", ["arc_easy", "arc_challenge", "mmlu"])
def test_mcq_prompt_matches_the_spec_character_by_character(mirror, tm, name):
    import csv

    task, doc = _first_paper_item(tm, f"mipo_{name}")
    if name == "mmlu":
        _, subject, split, line = doc["id"].split("/")
        row = list(csv.reader(open(mirror / "mmlu" / "test" / f"{subject}_test.csv", newline="")))[int(line) - 1]
        question, choices = row[0], row[1:5]
    else:
        file = "ARC-Easy-Test.jsonl" if name == "arc_easy" else "ARC-Challenge-Test.jsonl"
        raw = next(r for r in _raw_rows(mirror / "arc" / file) if r["id"] == doc["id"])
        question, choices = raw["question"]["stem"], [c["text"] for c in raw["question"]["choices"]]
    assert len(choices) == 4  # the spec shows the 4-option case
    expected = _spec_block("Exact rendered user message (4-option case)").replace("{question}", question)
    for i, text in enumerate(choices):
        expected = expected.replace(f"{{choice_{i}}}", text)
    assert task.doc_to_text(doc) == expected


def test_paper_sample_is_pandas_sample_with_seed_42(mirror):
    """The scripts: ``test_df.sample(n=500, replace=False, random_state=42)`` in the order pandas returns."""
    import pandas as pd

    raw = pd.DataFrame(_raw_rows(mirror / "arc" / "ARC-Easy-Test.jsonl"))
    expected = raw.sample(n=500, replace=False, random_state=42)["id"].tolist()
    assert [d["id"] for d in data.eval_docs("arc_easy", "paper")] == expected
    gsm = pd.DataFrame(_raw_rows(mirror / "gsm8k" / "test.jsonl"))
    expected = gsm.sample(n=200, replace=False, random_state=42)["question"].str.strip().tolist()
    assert [d["question"] for d in data.eval_docs("gsm8k", "paper")] == expected


def test_personalized_and_base_prompts_are_the_scripts(mirror, tm):
    block = _spec_block("Personalized (augmented) prompt:")
    base = _spec_block("Base (no-context) prompt:")
    tasks = dict(_leaves(tm.load_task_or_group(["mipo_prefeval", "mipo_prefeval_default"])))
    doc = next(iter(tasks["mipo_prefeval"].test_docs()))
    assert tasks["mipo_prefeval"].doc_to_text(doc) == block.format(prompt=doc["prompt"], request=doc["context"])
    assert tasks["mipo_prefeval_default"].doc_to_text(doc) == base.format(prompt=doc["prompt"])


def test_the_hooks_utils_exports_are_exactly_those_the_yaml_use():
    """tasks/utils.py imports evaluation.hooks.__all__: a hook a YAML names but the list lacks, or a listed hook no
    YAML uses, fails here (it used to be a hand-kept import list in tasks/utils.py)."""
    import re

    from mipo_bench.evaluation import hooks

    tasks = REPO / "tasks"
    text = "".join(f.read_text() for f in tasks.rglob("*") if f.is_file() and f.suffix in {".yaml", ""})
    used = set(re.findall(r"!function utils\.(\w+)", text))
    assert used == set(hooks.__all__)
    assert all(callable(getattr(hooks, name)) for name in hooks.__all__)
