"""Pair strategies: what each side is generated from, reproducibility, resume and stage skipping."""

import json

import pytest

from mipo_bench.generation import Backend, SamplingParams, generate_cached
from mipo_bench.pairs import get_strategy, personalized_prompt, plan_pairs
from mipo_bench.pairs.build import build_pairs, load_pairs
from mipo_bench.runs import read_jsonl

PROMPTS = [{"id": f"q{i}", "prompt": f"question number {i}?"} for i in range(12)]
PERSONAL = [{"id": f"p{i}", "prompt": f"recommend a book #{i}", "context": f"I like genre {i % 4}"} for i in range(10)]


class RecordingBackend(Backend):
    """Answers with the prompt it was sent, so a pair's text reveals which chat produced it."""

    def __init__(self, fail_after_batches=None):
        super().__init__("recorder")
        self.sent, self.batches, self.fail_after = [], 0, fail_after_batches

    def generate(self, prompts, params, seeds=None):
        if self.fail_after is not None and self.batches >= self.fail_after:
            raise RuntimeError("simulated crash")
        self.batches += 1
        self.sent.extend(prompts)
        return [[f"reply to <{m[-1]['content']}> seed {s}"] for m, s in zip(prompts, seeds)]


def _sent_prompt(text):
    return text.split("<", 1)[1].rsplit(">", 1)[0]


def test_random_prompt_never_pairs_x_with_itself_and_is_seeded(tmp_path):
    backend = RecordingBackend()
    build_pairs(PROMPTS, "random_prompt", backend, SamplingParams(), tmp_path, seed=3, batch_size=5)
    pairs = [json.loads(line) for line in open(tmp_path / "pairs.jsonl")]
    assert len(pairs) == len(PROMPTS)
    for pair in pairs:
        x = pair["prompt"][0]["content"]
        assert _sent_prompt(pair["chosen"][0]["content"]) == x  # chosen saw x
        rejected_seen = _sent_prompt(pair["rejected"][0]["content"])
        assert rejected_seen != x and rejected_seen in {p["prompt"] for p in PROMPTS}  # rejected saw x' != x
    # every prompt the backend saw is one of the planned chats
    assert {m[-1]["content"] for m in backend.sent} <= {p["prompt"] for p in PROMPTS}
    plan_a = plan_pairs(PROMPTS, get_strategy("random_prompt"), seed=3)
    assert plan_a == plan_pairs(PROMPTS, get_strategy("random_prompt"), seed=3)
    assert plan_a != plan_pairs(PROMPTS, get_strategy("random_prompt"), seed=4)
    # an item's draw does not depend on the other items' order
    assert plan_pairs(PROMPTS[::-1], get_strategy("random_prompt"), seed=3)[::-1] == plan_a


def test_missing_context_rejected_sees_no_context(tmp_path):
    build_pairs(PERSONAL, "missing", RecordingBackend(), SamplingParams(), tmp_path)
    for pair, item in zip(load_jsonl(tmp_path), PERSONAL):
        assert _sent_prompt(pair["chosen"][0]["content"]) == personalized_prompt(item["prompt"], item["context"])
        assert _sent_prompt(pair["rejected"][0]["content"]) == item["prompt"]
        assert pair["prompt"][0]["content"] == personalized_prompt(item["prompt"], item["context"])


def test_random_context_uses_another_context(tmp_path):
    build_pairs(PERSONAL, "random", RecordingBackend(), SamplingParams(), tmp_path)
    for pair, item in zip(load_jsonl(tmp_path), PERSONAL):
        seen = _sent_prompt(pair["rejected"][0]["content"])
        assert seen.startswith(item["prompt"]) and item["context"] not in seen
        assert "Please respect the following requirements" in seen


def test_random_context_prefers_the_prompts_eligible_contexts():
    items = [
        {"id": "a", "prompt": "x", "context": "c1", "eligible_contexts": ["c1", "c2"]},
        {"id": "b", "prompt": "y", "context": "c3", "eligible_contexts": ["c3", "c4"]},
    ]
    for seed in range(10):
        plan = plan_pairs(items, get_strategy("random"), seed)
        assert [p["rejected_context"] for p in plan] == ["c2", "c4"]


def test_prompt_ablation_uses_another_prompt_with_its_context(tmp_path):
    plan = plan_pairs(PERSONAL, get_strategy("prompt"), seed=1)
    by_id = {it["id"]: it for it in PERSONAL}
    for row, item in zip(plan, PERSONAL):
        other = by_id[row["rejected_from"]]
        assert other["id"] != item["id"]
        assert row["rejected_messages"][0]["content"] == personalized_prompt(other["prompt"], other["context"])


def test_personalized_strategies_need_contexts():
    with pytest.raises(ValueError, match="needs a user context"):
        plan_pairs(PROMPTS, get_strategy("missing"))
    with pytest.raises(ValueError, match="unknown pair strategy"):
        get_strategy("nope")


def test_interrupted_generation_resumes_without_duplicates_or_losses(tmp_path):
    out = tmp_path / "gen.jsonl"
    requests = [{"id": p["id"], "messages": [{"role": "user", "content": p["prompt"]}]} for p in PROMPTS]
    crashing = RecordingBackend(fail_after_batches=2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        generate_cached(crashing, requests, SamplingParams(n=2), out, batch_size=5)
    assert len(list(read_jsonl(out))) == 10  # two batches of 5 survived the crash
    resumed = RecordingBackend()
    rows = generate_cached(resumed, requests, SamplingParams(n=2), out, batch_size=5)
    stored = list(read_jsonl(out))
    assert len(stored) == 24 and len({r["key"] for r in stored}) == 24  # no duplicated, no lost rows
    assert len(resumed.sent) == 14  # only the missing samples were generated
    assert [(r["id"], r["index"]) for r in rows] == [(p["id"], i) for p in PROMPTS for i in range(2)]


def test_torn_last_line_is_ignored_on_resume(tmp_path):
    out = tmp_path / "gen.jsonl"
    requests = [{"id": "a", "messages": [{"role": "user", "content": "hi"}]}]
    generate_cached(RecordingBackend(), requests, SamplingParams(), out)
    with open(out, "a") as f:
        f.write('{"key": "half-writ')  # a crash in the middle of a write
    again = RecordingBackend()
    assert generate_cached(again, requests, SamplingParams(), out)[0]["text"].startswith("reply to <hi>")
    assert again.sent == []


def test_unchanged_pairs_stage_is_skipped(tmp_path):
    first = build_pairs(PROMPTS, "random_prompt", RecordingBackend(), SamplingParams(), tmp_path, seed=1)
    idle = RecordingBackend(fail_after_batches=0)  # would crash if asked to generate
    assert build_pairs(PROMPTS, "random_prompt", idle, SamplingParams(), tmp_path, seed=1) == first
    changed = RecordingBackend()
    build_pairs(PROMPTS, "random_prompt", changed, SamplingParams(temperature=0.5), tmp_path, seed=1)
    assert changed.sent  # new sampling parameters: generated again
    manifest = json.loads((tmp_path / "pairs.manifest.json").read_text())
    assert manifest["counts"]["pairs"] == 12 and manifest["sampling"]["temperature"] == 0.5
    assert "torch" in manifest["versions"]


def test_load_pairs_names_bad_rows(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"prompt": [{"role": "user", "content": "x"}], "chosen": [], "rejected": []}) + "\n")
    with pytest.raises(ValueError, match=r"pairs.jsonl:1: missing or empty 'chosen'"):
        load_pairs(path)


def load_jsonl(folder):
    return [json.loads(line) for line in open(folder / "pairs.jsonl")]


def test_two_items_drawing_the_same_x_prime_get_independent_rejected_samples(tmp_path):
    # a and c share prompt x, so both must draw x' = y (b): without per-item salts they would share samples
    items = [{"id": "a", "prompt": "x"}, {"id": "b", "prompt": "y"}, {"id": "c", "prompt": "x"}]
    backend = RecordingBackend()
    build_pairs(items, "random_prompt", backend, SamplingParams(), tmp_path, seed=0)
    plan = plan_pairs(items, get_strategy("random_prompt"), seed=0)
    assert plan[0]["rejected_from"] == plan[2]["rejected_from"] == "b"
    rows = list(read_jsonl(tmp_path / "generations.jsonl"))
    assert len(rows) == 6 and len(backend.sent) == 6  # 3 chosen + 3 rejected, none shared


def test_personalized_recipe_plans_missing_context_pairs_on_prefeval(mirror):
    from mipo_bench import data
    from mipo_bench.pipeline import training_items
    from mipo_bench.recipe import load_recipe

    recipe = load_recipe("mipo_personalized", ["data.n_prompts=20"])
    items, source = training_items(recipe)
    held_out = {d["id"] for d in data.eval_docs("prefeval", "paper")}
    assert len(items) == 20 and not {it["id"] for it in items} & held_out  # never the eval items
    plan = plan_pairs(items, get_strategy(recipe.pairs["strategy"]), recipe.seed)
    for row, item in zip(plan, items):
        assert item["context"] in row["chosen_messages"][0]["content"]
        assert row["rejected_messages"][0]["content"] == item["prompt"]
