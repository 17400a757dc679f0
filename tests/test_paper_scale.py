"""Regressions on the users' path at paper scale (8-shot math prompts, hub-format personalization data), each on
the tiny model or the fixtures laid out as the hub publishes the data."""

from __future__ import annotations

import json

import pytest

from mipo_bench import data
from mipo_bench.data.prompts import task_prompt


def _user(text):
    return [{"role": "user", "content": text}]


def _assistant(text):
    return [{"role": "assistant", "content": text}]


def _gsm8k_pairs(path, n=4):
    """MIPO pairs on 8-shot GSM8K prompts (~900 tokens) whose responses are worked solutions ending in #### N."""
    records = data.train_prompts("gsm8k", n, 0)
    rows = [
        {
            "prompt": _user(task_prompt(r)),
            "chosen": _assistant(r["solution"]),
            "rejected": _assistant(records[(i + 1) % n]["solution"]),
        }
        for i, r in enumerate(records)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


@pytest.mark.slow  # GSM8K's 8-shot pairs at paper length
def test_math_pairs_keep_their_whole_response_and_cuts_are_counted(tiny_model_dir, mirror, tmp_path, capfd):
    """Fix 1: train.max_length was 1024, under an 8-shot prompt plus its solution, so TRL cut the responses (and
    their #### N) silently. The default is now the dataset's (the released --max_len 15360); cuts are counted."""
    from mipo_bench.workflows.pipeline import run_train
    from mipo_bench.workflows.recipe import load_recipe

    pairs = tmp_path / "pairs.jsonl"
    _gsm8k_pairs(pairs)
    overrides = [f"model={tiny_model_dir}", "data.dataset=gsm8k", "seed=0", "train.learning_rate=1e-4"]
    manifest = run_train(load_recipe("mipo", overrides), tmp_path / "run", pairs)
    lengths = manifest["lengths"]
    assert lengths["max_length"] == data.dataset_spec("gsm8k").train_max_length == 15360
    assert lengths["longest"] > 1024, "the old default would have cut these rows"
    assert lengths["truncated_rows"] == 0 and lengths["sequences"] == 8

    cut = run_train(load_recipe("mipo", overrides + ["train.max_length=1024"]), tmp_path / "cut", pairs)["lengths"]
    assert cut["max_length"] == 1024 and cut["truncated_rows"] >= 1
    assert f"{cut['truncated_rows']} of 4 rows exceed max_length=1024" in capfd.readouterr().err


CA_HEADER = (
    "conversation_id,annotator_id,assigned_lang,annotator_country,first_turn_prompt,first_turn_response_a,"
    "first_turn_response_b,first_turn_response_c,first_turn_response_d,first_turn_preferred_response,"
    "first_turn_feedback\n"
)
CA_ROWS = (
    "0,a0,en,US,Name a fruit.,Apple.,A banana is a fruit.,Grapes.,Kiwi.,response_b,\n"  # numeric id 0: a valid row
    "1,a1,en,US,Name a color.,,Red.,Blue.,,response_a,\n"  # empty preferred response: malformed, skipped
    "2,a2,en,US,Name a planet.,Mars.,Venus.,Earth.,Jupiter.,response_d,\n"
    "3,a3,en,US,Name a fruit.,Pear.,Plum.,Fig.,Lime.,response_c,\n"  # the prompt of row 0 again (another annotator)
)


def _write_ca(root):
    path = root / "personalization" / "community_alignment" / "community_alignment.csv"
    path.parent.mkdir(parents=True)
    path.write_text(CA_HEADER + CA_ROWS)
    return path


def test_community_alignment_reads_todays_hub_split_and_skips_a_malformed_row(tmp_path, monkeypatch, capfd):
    """Fix 4: the loader asked the hub for split "filtered" (v1.0 only; today one CSV served as "train"), one bad
    row aborted the whole load, and conversation id 0 read as missing."""
    import datasets

    from mipo_bench.data import community_alignment

    csv_path = _write_ca(tmp_path)
    asked = {}

    def hub(name, split=None, revision=None, **kwargs):  # the hub's CSV through datasets' own csv builder
        asked.update(name=name, split=split, revision=revision)
        return real_load("csv", data_files=str(csv_path), split=split)

    real_load = datasets.load_dataset
    monkeypatch.setattr(datasets, "load_dataset", hub)
    records = community_alignment.from_hub()
    assert asked == {"name": community_alignment.HUB_ID, "split": "train", "revision": community_alignment.HUB_REVISION}
    assert [r["id"] for r in records] == ["ca/0", "ca/2", "ca/3"]
    assert "skipped 1 malformed row(s) (line 3: the preferred response first_turn_response_a is empty)" in (
        capfd.readouterr().err
    )
    mirror = community_alignment.from_mirror(tmp_path)
    assert [r["id"] for r in mirror] == ["ca/0", "ca/2", "ca/3"] and mirror[0]["chosen"] == "A banana is a fruit."


def test_community_alignment_rejected_is_not_always_the_first_other_slot(tmp_path):
    """Fix 12: the rejected side was always the first non-preferred slot (response_a, or b when a won)."""
    from mipo_bench.data import community_alignment

    rows = [
        {"conversation_id": i, "first_turn_prompt": f"q{i}", "first_turn_preferred_response": "response_d"}
        | {f"first_turn_response_{c}": f"{c}{i}" for c in "abcd"}
        for i in range(40)
    ]
    rejected = [community_alignment.to_record(row, "ca.csv", i)["rejected"][0] for i, row in enumerate(rows)]
    assert set(rejected) == {"a", "b", "c"}  # every other slot serves, seeded per conversation
    again = [community_alignment.to_record(row, "ca.csv", i)["rejected"][0] for i, row in enumerate(rows)]
    assert again == rejected


def test_eval_prompts_asked_again_by_other_annotators_are_not_training_prompts(tmp_path, monkeypatch):
    """Fix 12: CA prompts repeat across annotators; held out by id only, eval prompts reappeared in training."""
    from mipo_bench.data import spec as spec_module

    _write_ca(tmp_path)
    ca = data.dataset_spec("community_alignment")
    monkeypatch.setitem(spec_module.DATASETS, "community_alignment", __import__("dataclasses").replace(ca, eval_size=1))
    data._load_cached.cache_clear()
    evaluated = data.eval_docs("community_alignment", "paper", tmp_path)
    train = data.train_prompts("community_alignment", data_dir=tmp_path)
    assert len(evaluated) == 1
    assert not {r["prompt"] for r in evaluated} & {r["prompt"] for r in train}
    assert len(train) == 3 - 1 - (evaluated[0]["prompt"] == "Name a fruit.")


def test_prism_empty_string_is_no_response(tmp_path, capfd):
    """Fix 4: PRISM writes empty texts as the literal "EMPTY STRING", which the loader took as a response."""
    from mipo_bench.data import prism

    def turn(content, chosen, score):
        return {"turn": 0, "role": "model", "content": content, "if_chosen": chosen, "score": score}

    rows = [
        {
            "conversation_id": "e0",
            "user_id": "u",
            "opening_prompt": "hi",
            "conversation_history": [
                turn("Hello!", True, 90),
                turn("EMPTY STRING", False, 10),
                turn("Hey there.", False, 40),
            ],
        },
        {
            "conversation_id": "e1",
            "user_id": "u",
            "opening_prompt": "yo",
            "conversation_history": [turn("EMPTY STRING", True, 90), turn("Yo.", False, 10)],
        },
    ]
    path = tmp_path / "personalization" / "prism" / "conversations.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    records = prism.from_mirror(tmp_path)
    assert [r["id"] for r in records] == ["prism/e0"] and records[0]["rejected"] == "Hey there."
    assert "skipped 1 malformed row(s) (line 2: the chosen first-turn response is empty)" in capfd.readouterr().err


def test_multibench_trains_its_epochs_unless_the_recipe_pins_them():
    """Fix 9: appendix D's 2-3 epochs on Multi-Bench were never applied (every recipe pinned 1)."""
    from mipo_bench.workflows.pipeline import with_dataset_defaults
    from mipo_bench.workflows.recipe import load_recipe

    for recipe_name in ("mipo_personalized", "sft_personalized", "infonce_personalized", "sft_revision_personalized"):
        mb = with_dataset_defaults(load_recipe(recipe_name, ["data.dataset=multibench"])).train
        prism = with_dataset_defaults(load_recipe(recipe_name, ["data.dataset=prism"])).train
        assert (mb.num_train_epochs, prism.num_train_epochs) == (2.0, 1.0), recipe_name
        assert mb.max_length == 15360
    pinned = with_dataset_defaults(
        load_recipe("mipo_personalized", ["data.dataset=multibench", "train.num_train_epochs=1"])
    )
    assert pinned.train.num_train_epochs == 1.0


@pytest.mark.parametrize("prompt_format", ["plain", "chat"])
def test_sft_trains_on_the_released_plain_text_unless_asked_for_the_chat_template(
    prompt_format, tiny_model_dir, tmp_path
):
    """Fix 9: SFT trained on the chat template; the released SFT command trains on "User: {}\\nAssistant: " text
    (no --apply_chat_template), the response after it, then EOS."""
    from transformers import AutoTokenizer

    from mipo_bench.training.common import build_trainer
    from mipo_bench.training.sft import SFTSettings

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        json.dumps({"prompt": _user("Name a fruit."), "chosen": _assistant("A pear."), "rejected": _assistant("No.")})
        + "\n"
    )
    settings = SFTSettings(prompt_format=prompt_format, max_length=64)
    trainer = build_trainer("sft", pairs, tiny_model_dir, tmp_path / "out", settings, 0, "cpu")
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    text = tokenizer.decode(trainer.train_dataset[0]["input_ids"])
    if prompt_format == "plain":
        assert text == "User: Name a fruit.\nAssistant: A pear." + tokenizer.eos_token
    else:
        assert text.startswith(tokenizer.apply_chat_template(_user("Name a fruit."), tokenize=False)[:20])
        assert "User: " not in text


def test_sft_revision_bad_response_comes_from_an_incorrect_context(mirror):
    """Fix 10: "SFT (Revision)" built its bad response with the context missing; §5.1: from an incorrect context."""
    from mipo_bench.pairs import get_strategy, plan_pairs
    from mipo_bench.workflows.pipeline import training_items
    from mipo_bench.workflows.recipe import load_recipe

    recipe = load_recipe("sft_revision_personalized", ["data.n_prompts=6"])
    items, _ = training_items(recipe)
    plan = plan_pairs(items, get_strategy(recipe.pairs.strategy), recipe.seed)
    for item, row in zip(items, plan):
        rejected = row["rejected_messages"][0]["content"]
        assert "Please respect the following requirements made by the user:" in rejected  # a context, not none
        assert item["context"] not in rejected  # and not the user's own


def test_prism_conversations_opened_in_another_language_are_left_out_and_counted(tmp_path, capfd):
    """Fix 12: ~1% of PRISM's conversations open in another language; the loader took them as English prompts."""
    from mipo_bench.data import prism
    from mipo_bench.data.language import looks_english

    def row(i, prompt):
        turns = [
            {"turn": 0, "role": "model", "content": f"Answer {i}.", "if_chosen": True, "score": 90},
            {"turn": 0, "role": "model", "content": f"Other {i}.", "if_chosen": False, "score": 10},
        ]
        return {"conversation_id": f"c{i}", "user_id": "u", "opening_prompt": prompt, "conversation_history": turns}

    prompts = [
        "What should I cook tonight?",
        "Wie geht es dir heute, mein Freund?",
        "hi",  # too short to tell: kept
        "¿Cuál es la mejor manera de aprender a programar?",
        "Tell me a joke",  # langdetect says Finnish; its English words keep it
        "你好，今天天气怎么样？",
    ]
    path = tmp_path / "personalization" / "prism" / "conversations.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(row(i, p)) + "\n" for i, p in enumerate(prompts)))
    records = prism.from_mirror(tmp_path)
    assert [r["prompt"] for r in records] == ["What should I cook tonight?", "hi", "Tell me a joke"]
    assert "left out 3 row(s): not English" in capfd.readouterr().err
    assert all(looks_english(p) == (p in {"What should I cook tonight?", "hi", "Tell me a joke"}) for p in prompts)


@pytest.mark.parametrize(
    "text,english",
    [
        ("Was ist der Sinn des Lebens?", False),  # "was": one English-looking word is not English
        ("Wat is de beste manier om te leren programmeren?", False),  # "is"
        ("Ich bin ein Berliner und das ist gut", False),
        ("Recommend a good sci-fi novel", True),
        ("Summarize the French revolution", True),
        ("Write a poem about autumn leaves", True),
    ],
)
def test_one_shared_word_does_not_make_a_prompt_english(text, english):
    """Before: any common English word kept a prompt ("Was ist der Sinn des Lebens?" passed as English)."""
    from mipo_bench.data.language import looks_english

    assert looks_english(text) is english


@pytest.mark.parametrize("dataset", ["prism", "community_alignment", "multibench"])
def test_the_default_row_answers_the_items_the_personalized_row_answers(dataset, tmp_path, monkeypatch):
    """Before: the personalized tasks dropped the items without a user context and `_default` kept them, so the
    paper's "Default" row and its personalized prompting were scored on two different item sets."""
    from mipo_bench.data.protocol import task_config
    from mipo_bench.evaluation.hooks import load_docs
    from tests.paper_scale_fixtures import write_community_alignment, write_contexts, write_multibench, write_prism

    written = {"prism": write_prism, "community_alignment": write_community_alignment}.get(dataset, write_multibench)
    ids = written(tmp_path).get("ids")
    monkeypatch.setenv("MIPO_BENCH_DATA", str(tmp_path))
    if ids:  # every tenth item without a context (its verbalization failed)
        contexts = write_contexts(tmp_path / "contexts.jsonl", [i for k, i in enumerate(ids) if k % 10])
        monkeypatch.setenv(f"MIPO_BENCH_CONTEXTS_{dataset.upper()}", str(contexts))
    data._load_cached.cache_clear()
    try:
        docs = {
            task: load_docs(**task_config(task)["dataset_kwargs"])["test"]["id"]
            for task in (f"mipo_{dataset}", f"mipo_{dataset}_default")
        }
    finally:
        data._load_cached.cache_clear()
    assert docs[f"mipo_{dataset}"] == docs[f"mipo_{dataset}_default"]
