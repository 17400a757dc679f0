"""Pair strategies: what each side is generated from, reproducibility, resume and stage skipping."""

import json

import pytest

from mipo_bench.core.runs import read_jsonl
from mipo_bench.data.prompts import BASE_PROMPT, personalized_prompt
from mipo_bench.generation import Backend, SamplingParams, generate_cached
from mipo_bench.pairs import get_strategy, plan_pairs
from mipo_bench.pairs.build import build_pairs, load_pairs

PROMPTS = [{"id": f"q{i}", "prompt": f"question number {i}?"} for i in range(12)]
PERSONAL = [{"id": f"p{i}", "query": f"recommend a book #{i}", "context": f"I like genre {i % 4}"} for i in range(10)]


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


def test_missing_context_rejected_sees_the_base_prompt(tmp_path):
    build_pairs(PERSONAL, "missing", RecordingBackend(), SamplingParams(), tmp_path)
    for pair, item in zip(load_jsonl(tmp_path), PERSONAL):
        chosen_prompt = personalized_prompt(item["query"], item["context"])
        assert _sent_prompt(pair["chosen"][0]["content"]) == chosen_prompt
        assert "Please respect the following requirements made by the user: " + item["context"] in chosen_prompt
        # the paper's base prompt: the query wrapped without the user's requirements
        assert _sent_prompt(pair["rejected"][0]["content"]) == BASE_PROMPT.format(prompt=item["query"])
        assert pair["prompt"][0]["content"] == chosen_prompt


def test_random_context_uses_another_context(tmp_path):
    build_pairs(PERSONAL, "random", RecordingBackend(), SamplingParams(), tmp_path)
    for pair, item in zip(load_jsonl(tmp_path), PERSONAL):
        seen = _sent_prompt(pair["rejected"][0]["content"])
        other = seen.split("made by the user: ", 1)[1].removesuffix(" Respond with short 2-3 sentences.")
        assert seen == personalized_prompt(item["query"], other) and other != item["context"]
        assert other in {it["context"] for it in PERSONAL}


def test_random_context_prefers_the_prompts_eligible_contexts():
    items = [
        {"id": "a", "query": "x", "context": "c1", "eligible_contexts": ["c1", "c2"]},
        {"id": "b", "query": "y", "context": "c3", "eligible_contexts": ["c3", "c4"]},
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
        assert row["rejected_messages"][0]["content"] == personalized_prompt(other["query"], other["context"])


def test_personalized_strategies_need_contexts():
    with pytest.raises(ValueError, match="needs personalization items"):
        plan_pairs(PROMPTS, get_strategy("missing"))
    with pytest.raises(ValueError, match="needs a user context"):
        plan_pairs([{**PERSONAL[0], "context": None}, *PERSONAL[1:]], get_strategy("missing"))
    with pytest.raises(ValueError, match="either 'prompt'"):
        plan_pairs([{"id": "a", "prompt": "x", "query": "x"}], get_strategy("random_prompt"))
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


def test_an_append_after_a_torn_line_starts_a_new_row(tmp_path):
    """The next append was glued onto the torn fragment: every later read failed ("gen.jsonl:2: invalid JSON")."""
    from mipo_bench.core.runs import read_jsonl

    out = tmp_path / "gen.jsonl"
    requests = [{"id": "a", "messages": [{"role": "user", "content": "hi"}]}]
    generate_cached(RecordingBackend(), requests, SamplingParams(), out)
    with open(out, "a") as f:
        f.write('{"key": "half-writ')  # a crash in the middle of a write
    more = [*requests, {"id": "b", "messages": [{"role": "user", "content": "ho"}]}]
    generate_cached(RecordingBackend(), more, SamplingParams(), out)  # appends b's row
    rows = list(read_jsonl(out))
    assert [r["id"] for r in rows] == ["a", "b"] and out.read_text().endswith("\n")
    again = RecordingBackend()
    assert [r["id"] for r in generate_cached(again, more, SamplingParams(), out)] == ["a", "b"] and not again.sent


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
    from mipo_bench.workflows.pipeline import training_items
    from mipo_bench.workflows.recipe import load_recipe

    recipe = load_recipe("mipo_personalized", ["data.n_prompts=20"])
    items, source = training_items(recipe)
    held_out = {d["id"] for d in data.eval_docs("prefeval", "paper")}
    assert len(items) == 20 and not {it["id"] for it in items} & held_out  # never the eval items
    plan = plan_pairs(items, get_strategy(recipe.pairs.strategy), recipe.seed)
    for row, item in zip(plan, items):
        assert row["chosen_messages"][0]["content"] == personalized_prompt(item["query"], item["context"])
        assert row["rejected_messages"][0]["content"] == BASE_PROMPT.format(prompt=item["query"])


def test_n_samples_pair_sample_i_of_chosen_with_sample_i_of_rejected(tmp_path):
    manifest = build_pairs(PROMPTS[:4], "random_prompt", RecordingBackend(), SamplingParams(n=2), tmp_path, seed=5)
    pairs = load_jsonl(tmp_path)
    assert manifest["counts"]["pairs"] == 8 and [(p["id"], p["sample_index"]) for p in pairs] == [
        (item["id"], i) for item in PROMPTS[:4] for i in range(2)
    ]
    generated = {(r["id"], r["index"]): r["text"] for r in read_jsonl(tmp_path / "generations.jsonl")}
    plan = {row["id"]: row for row in plan_pairs(PROMPTS[:4], get_strategy("random_prompt"), seed=5)}
    for pair in pairs:
        x, i = pair["prompt"][0]["content"], pair["sample_index"]
        assert pair["chosen"][0]["content"] == generated[(f"{pair['id']}/chosen", i)]
        assert pair["rejected"][0]["content"] == generated[(f"{pair['id']}/rejected", i)]
        assert _sent_prompt(pair["chosen"][0]["content"]) == x  # never a chosen sample on the rejected side
        assert _sent_prompt(pair["rejected"][0]["content"]) == plan[pair["id"]]["rejected_messages"][0]["content"] != x
    assert len({p["chosen"][0]["content"] for p in pairs}) == 8  # the two samples of an item are distinct draws


def test_random_prompt_shuffle_is_a_seeded_derangement_of_the_chosen_responses(tmp_path):
    backend = RecordingBackend()
    build_pairs(PROMPTS, "random_prompt_shuffle", backend, SamplingParams(), tmp_path, seed=3)
    pairs = load_jsonl(tmp_path)
    assert len(backend.sent) == len(PROMPTS)  # chosen sides only: no second generation
    chosen_of = {p["id"]: p["chosen"][0]["content"] for p in pairs}
    for pair in pairs:
        x = pair["prompt"][0]["content"]
        assert _sent_prompt(pair["chosen"][0]["content"]) == x
        assert pair["rejected_from"] != pair["id"] and pair["rejected_reuses_chosen"]  # no fixed point
        assert pair["rejected"][0]["content"] == chosen_of[pair["rejected_from"]]  # another item's chosen response
        assert _sent_prompt(pair["rejected"][0]["content"]) != x
    assert sorted(p["rejected_from"] for p in pairs) == sorted(chosen_of)  # a permutation: each used once
    plans = [plan_pairs(PROMPTS, get_strategy("random_prompt_shuffle"), seed) for seed in (3, 3, 4)]
    assert plans[0] == plans[1] != plans[2]
    for seed in range(30):  # small sets too: never a fixed point
        plan = plan_pairs(PROMPTS[:2], get_strategy("random_prompt_shuffle"), seed)
        assert [row["rejected_from"] for row in plan] == ["q1", "q0"]


def test_random_prompt_shuffle_with_n_samples_reuses_the_same_sample_index(tmp_path):
    build_pairs(PROMPTS[:3], "random_prompt_shuffle", RecordingBackend(), SamplingParams(n=2), tmp_path, seed=1)
    pairs = load_jsonl(tmp_path)
    chosen = {(p["id"], p["sample_index"]): p["chosen"][0]["content"] for p in pairs}
    assert len(pairs) == 6
    for pair in pairs:
        assert pair["rejected"][0]["content"] == chosen[(pair["rejected_from"], pair["sample_index"])]


# --- training prompts (PROTOCOL.md §1.2) and contexts reaching the pairs stage ---------------------------------


def test_training_prompts_follow_the_released_scripts(mirror):
    from mipo_bench import data

    raw = [json.loads(line) for line in open(mirror / "gsm8k" / "train.jsonl")]
    gsm = data.train_prompts("gsm8k")
    kept = [i for i, r in enumerate(raw) if len(r["question"].split(".")[:-1]) >= 1]
    assert len(kept) < len(raw) and [r["id"] for r in gsm] == [f"gsm8k/train/{i + 1}" for i in kept]  # in order
    assert {r["dataset"] for r in gsm} == {"gsm8k"}
    svamp = data.train_prompts("svamp")
    assert len(svamp) == 1400 and [r["dataset"] for r in svamp] == ["svamp"] * 700 + ["gsm8k"] * 700
    assert [r["id"] for r in svamp[:700]] == [r["id"] for r in data.load("svamp", "train")]
    assert svamp[700:] == data.paper_sample(gsm, 700, 42)  # pandas sample(n=700, random_state=42)
    arc = data.train_prompts("arc_easy")
    assert [r["id"] for r in arc] == [r["id"] for r in data.load("arc_easy", "train")]
    assert len(data.train_prompts("gsm8k", 10)) == 10  # data.n_prompts still subsamples


def _prism_mirror(tmp_path, n_extra=4):
    """The PRISM fixture grown past the 200 eval rows: the rows after them are the training prompts."""
    from pathlib import Path

    fixture = Path(__file__).parent / "fixtures" / "personalization" / "prism" / "conversations.jsonl"
    template = json.loads(fixture.read_text().splitlines()[0])
    out = tmp_path / "mirror" / "personalization" / "prism" / "conversations.jsonl"
    out.parent.mkdir(parents=True)
    rows = []
    for k in range(200 + n_extra):
        row = json.loads(json.dumps(template).replace("opening prompt 0", f"opening prompt {k}"))
        rows.append({**row, "conversation_id": f"c{k}"})
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path / "mirror"


def test_missing_pairs_build_on_prism_once_contexts_are_given(tmp_path, monkeypatch):
    from mipo_bench import data
    from mipo_bench.workflows.pipeline import run_pairs, training_items
    from mipo_bench.workflows.recipe import load_recipe

    monkeypatch.setenv("MIPO_BENCH_DATA", str(_prism_mirror(tmp_path)))
    monkeypatch.delenv("MIPO_BENCH_CONTEXTS_PRISM", raising=False)
    data._load_cached.cache_clear()
    try:
        recipe = load_recipe("mipo_personalized", ["data.dataset=prism"])
        with pytest.raises(ValueError, match=r"data\.contexts or \$MIPO_BENCH_CONTEXTS_PRISM"):
            training_items(recipe)
        contexts = tmp_path / "ctx.jsonl"
        rows = [{"id": f"prism/c{k}", "value": {"tone": f"Be warm {k}."}, "failed": False} for k in range(200, 203)]
        rows.append({"id": "prism/c203", "value": None, "failed": True})  # a failed extraction: left out
        contexts.write_text("".join(json.dumps(r) + "\n" for r in rows))
        recipe = load_recipe("mipo_personalized", ["data.dataset=prism", f"data.contexts={contexts}"])
        items, source = training_items(recipe)
        assert [it["id"] for it in items] == ["prism/c200", "prism/c201", "prism/c202"]  # never the 200 eval rows
        assert items[0]["query"] == "opening prompt 200" and items[0]["context"] == "Be warm 200."
        assert source["contexts"]["path"] == str(contexts)
        manifest = run_pairs(recipe, tmp_path / "run", backend=RecordingBackend())
        assert manifest["counts"]["pairs"] == 3
        for pair, item in zip(load_jsonl(tmp_path / "run" / "pairs"), items):
            assert _sent_prompt(pair["chosen"][0]["content"]) == personalized_prompt(item["query"], item["context"])
            assert _sent_prompt(pair["rejected"][0]["content"]) == BASE_PROMPT.format(prompt=item["query"])
        monkeypatch.setenv("MIPO_BENCH_CONTEXTS_PRISM", str(contexts))  # the env var works as well
        assert training_items(load_recipe("mipo_personalized", ["data.dataset=prism"]))[0] == items
    finally:
        data._load_cached.cache_clear()


def test_rewritten_multibench_statements_replace_contexts_and_their_groups(tmp_path):
    from pathlib import Path

    from mipo_bench import data
    from mipo_bench.data.contexts import apply_contexts
    from mipo_bench.judging.contexts import apply_contexts as reexported

    records = data.load("multibench", "test", Path(__file__).parent / "fixtures")
    first = records[0]
    path = tmp_path / "ctx.jsonl"
    path.write_text(json.dumps({"id": first["id"], "value": "I want playful prose.", "failed": False}) + "\n")
    out = apply_contexts(records, path)
    assert out[0]["context"] == "I want playful prose." and out[0]["preferences"] == ["I want playful prose."]
    for rec in out[:4]:  # the same prompt's variants draw 'random' contexts among the rewritten statements
        assert "I want playful prose." in rec["eligible_contexts"] and first["context"] not in rec["eligible_contexts"]
    assert [r["context"] for r in out[1:]] == [r["context"] for r in records[1:]]  # the others keep theirs
    assert reexported is apply_contexts
