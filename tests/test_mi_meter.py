"""The MI meter (mipo_bench.measuring.mi_meter): values against hand computations with LogProbScorer, the x' draw, a
constructed reference under which MI must be positive, the cache, bad input, the CLI verb, and a real SmolLM2 run."""

import json
import math

import pytest
import torch

from mipo_bench.core.runs import write_json, write_jsonl
from mipo_bench.data.prompts import BASE_PROMPT, personalized_prompt
from mipo_bench.measuring.mi_meter import draw_contrasts, load_items, measure_mi, score_items
from mipo_bench.rewards.mutual_information import LogProbScorer

COLORS = ("red", "blue", "green")


def chat(text):
    return [{"role": "user", "content": text}]


def hand_scorer(model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    return LogProbScorer(AutoTokenizer.from_pretrained(model_dir), model, batch_size=1)


def logp(scorer, prompt, text):
    return scorer.logprobs([prompt], [text])[0]


@pytest.fixture
def general_file(tmp_path):
    path = tmp_path / "prompts" / "prompts.jsonl"
    questions = ["What is rain?", "Name a planet.", "Why is the sky blue?", "Count to three."]
    write_jsonl(path, [{"id": f"q{i}", "dataset": "arc_easy", "prompt": chat(q)} for i, q in enumerate(questions)])
    return path


def test_general_value_is_the_hand_computation(tiny_model_dir, general_file, tmp_path):
    result = measure_mi(
        tiny_model_dir,
        tiny_model_dir,
        general_file,
        tmp_path / "mi",
        n=None,
        max_new_tokens=6,
        contrasts=2,
        device="cpu",
    )
    prompts = {r["id"]: r["prompt"] for r in map(json.loads, general_file.read_text().splitlines())}
    scorer = hand_scorer(tiny_model_dir)
    assert result["n"] == 4 and result["kinds"] == ["general"]
    assert any(it["samples"][0]["text"] for it in result["items"])
    for item in result["items"]:
        text = item["samples"][0]["text"]
        assert len(item["contrast_ids"]) == 2
        contrast = [logp(scorer, prompts[c], text) for c in item["contrast_ids"]]
        expected = logp(scorer, prompts[item["id"]], text) - sum(contrast) / 2
        assert item["mi"] == pytest.approx(expected, abs=1e-3)
    assert result["mean"] == pytest.approx(sum(it["mi"] for it in result["items"]) / 4)
    assert result["ci_low"] <= result["mean"] <= result["ci_high"]
    stored = json.loads((tmp_path / "mi" / "mi.json").read_text())
    assert stored["mean"] == result["mean"] and stored["ref_fingerprint"].startswith("dir:")


def test_personalization_pairs_file_uses_the_base_prompt(tiny_model_dir, tmp_path):
    """A pairs.jsonl (no base_prompt, no dataset column): the dataset comes from its manifest, x from the paper's
    personalized prompt with the context removed; rows of one item count once."""
    pairs_dir = tmp_path / "pairs"
    queries = {"p0": ("Suggest a drink.", "I avoid caffeine."), "p1": ("Plan a trip.", "I love mountains.")}
    rows = [
        {
            "id": i,
            "sample_index": k,
            "prompt": chat(personalized_prompt(q, c)),
            "chosen": chat("a"),
            "rejected": chat("b"),
        }
        for i, (q, c) in queries.items()
        for k in range(2)
    ]
    write_jsonl(pairs_dir / "pairs.jsonl", rows)
    write_json(pairs_dir / "pairs.manifest.json", {"stage": "pairs", "source": {"dataset": "prism"}})
    result = measure_mi(
        tiny_model_dir,
        tiny_model_dir,
        pairs_dir / "pairs.jsonl",
        tmp_path / "mi",
        n=None,
        samples=2,
        max_new_tokens=5,
        device="cpu",
    )
    scorer = hand_scorer(tiny_model_dir)
    assert result["n"] == 2 and result["kinds"] == ["personalization"]
    for item in result["items"]:
        query, context = queries[item["id"]]
        assert len(item["samples"]) == 2
        for sample in item["samples"]:
            with_context = logp(scorer, chat(personalized_prompt(query, context)), sample["text"])
            without = logp(scorer, chat(BASE_PROMPT.format(prompt=query)), sample["text"])
            assert sample["mi"] == pytest.approx(with_context - without, abs=1e-3)
        assert item["mi"] == pytest.approx(sum(s["mi"] for s in item["samples"]) / 2)


def test_contrasts_are_other_prompts_and_reproducible():
    items = [{"id": f"x{i}", "kind": "general", "prompt": chat(f"question {i}")} for i in range(8)]
    items.append({"id": "twin", "kind": "general", "prompt": chat("question 0")})  # same text as x0
    drawn = draw_contrasts(items, 3, seed=7)
    for it in items:
        assert len(drawn[it["id"]]) == 3 and len(set(drawn[it["id"]])) == 3
        assert it["id"] not in drawn[it["id"]]
    assert "twin" not in drawn["x0"] and "x0" not in drawn["twin"]  # never x itself, even under another id
    assert draw_contrasts(list(reversed(items)), 3, seed=7) == drawn  # order does not matter
    assert draw_contrasts(items, 3, seed=8) != drawn
    assert len(draw_contrasts(items[:3], 5, seed=7)["x1"]) == 2  # fewer when the set has fewer
    with pytest.raises(ValueError, match="two distinct prompts"):
        draw_contrasts([items[0], items[-1]], 2, seed=0)


@pytest.fixture(scope="module")
def color_ref(tiny_model_dir, tmp_path_factory):
    """The tiny model trained (plain torch loop) to answer "ctx: <color>" with "<color> <color> <color>" and
    "Name a color." with any of the three: under it a colour's answer is far more likely with its context."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    scorer = LogProbScorer(tokenizer, model)
    examples = [(f"ctx: {c}", c) for c in COLORS] + [("Name a color.", c) for c in COLORS]
    sequences = []
    for prompt, color in examples:
        prompt_ids = scorer.prompt_ids(chat(prompt))
        response = scorer.response_ids(f"{color} {color} {color}") + [tokenizer.eos_token_id]
        sequences.append((torch.tensor([prompt_ids + response]), len(prompt_ids)))
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(60):
        optimizer.zero_grad()
        for ids, start in sequences:
            labels = ids.clone()
            labels[:, :start] = -100
            model(input_ids=ids, labels=labels).loss.backward()
        optimizer.step()
    path = tmp_path_factory.mktemp("color-ref")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def test_mi_is_positive_when_the_context_makes_the_response_likely(color_ref, tmp_path):
    general = tmp_path / "general.jsonl"
    write_jsonl(general, [{"id": c, "dataset": "arc_easy", "prompt": chat(f"ctx: {c}")} for c in COLORS])
    result = measure_mi(
        color_ref,
        color_ref,
        general,
        tmp_path / "g",
        n=None,
        max_new_tokens=8,
        contrasts=2,
        temperature=0.0,
        device="cpu",
    )
    assert [it["samples"][0]["text"].strip() for it in result["items"]] == [f"{c} {c} {c}" for c in COLORS]
    assert result["ci_low"] > 2.0  # each contrast x' makes the response unlikely
    # the same response under a context it does not answer has negative MI: the meter rewards context-dependence
    scorer = hand_scorer(color_ref)
    mismatched = (
        logp(scorer, chat("ctx: blue"), "red red red")
        - (logp(scorer, chat("ctx: red"), "red red red") + logp(scorer, chat("ctx: green"), "red red red")) / 2
    )
    assert mismatched < 0 < result["items"][0]["mi"] - 2.0

    personal = tmp_path / "personal.jsonl"
    rows = [
        {"id": c, "dataset": "prism", "prompt": chat(f"ctx: {c}"), "base_prompt": chat("Name a color.")} for c in COLORS
    ]
    write_jsonl(personal, rows)
    result = measure_mi(
        color_ref, color_ref, personal, tmp_path / "p", n=None, max_new_tokens=8, temperature=0.0, device="cpu"
    )
    # without the context the answer is one colour of three: MI near log 3
    assert result["ci_low"] > 0.3
    assert result["mean"] == pytest.approx(math.log(3), abs=0.6)


def test_second_call_reuses_the_result_and_the_generations(tiny_model_dir, general_file, tmp_path):
    from mipo_bench.generation import get_backend

    backend = get_backend("hf", tiny_model_dir, device="cpu", batch_size=8)
    calls = []
    generate = backend.generate
    backend.generate = lambda prompts, params, seeds=None: (
        calls.append(len(prompts)) or generate(prompts, params, seeds)
    )
    out = tmp_path / "mi"

    def measure():
        return measure_mi(
            tiny_model_dir, tiny_model_dir, general_file, out, n=3, max_new_tokens=4, backend=backend, device="cpu"
        )

    first = measure()
    assert sum(calls) == 3
    assert measure() == first and sum(calls) == 3  # stored result, nothing generated or scored
    (out / "mi.manifest.json").unlink()  # a crash before the manifest: generations come from the cache
    again = measure()
    assert sum(calls) == 3
    assert [it["mi"] for it in again["items"]] == pytest.approx([it["mi"] for it in first["items"]], abs=1e-5)
    changed = measure_mi(
        tiny_model_dir, tiny_model_dir, general_file, out, n=3, max_new_tokens=5, backend=backend, device="cpu"
    )
    assert sum(calls) == 6 and changed["settings"]["max_new_tokens"] == 5


def test_bad_rows_name_the_file_and_row(tmp_path):
    path = tmp_path / "prompts.jsonl"
    write_jsonl(path, [{"id": "a", "dataset": "arc_easy", "prompt": chat("x")}, {"id": "b", "dataset": "arc_easy"}])
    with pytest.raises(ValueError, match=f"{path}:2: 'prompt' must be"):
        load_items(path, None, 0)
    write_jsonl(path, [{"id": "a", "dataset": "prism", "prompt": chat("no context form")}])
    with pytest.raises(ValueError, match=f"{path}:1: a personalization row needs 'base_prompt'"):
        load_items(path, None, 0)
    write_jsonl(path, [{"id": "a", "prompt": chat("x")}])
    with pytest.raises(ValueError, match=f"{path}:1: no 'dataset'"):
        load_items(path, None, 0)
    assert load_items(path, None, 0, dataset="gsm8k")[0][0]["dataset"] == "gsm8k"
    write_jsonl(path, [{"id": "a", "dataset": "nope", "prompt": chat("x")}])
    with pytest.raises(ValueError, match=f"{path}:1: dataset 'nope'"):
        load_items(path, None, 0)
    with pytest.raises(FileNotFoundError):
        load_items(tmp_path / "missing.jsonl", None, 0)


def test_dataset_name_gives_the_pipelines_training_prompts(mirror):
    from mipo_bench import data
    from mipo_bench.data.prompts import task_prompt

    items, source = load_items("arc_easy", 5, 3, prompts="train")
    expected = data.train_prompts("arc_easy", 5, 3)
    assert [it["id"] for it in items] == [r["id"] for r in expected]
    assert [it["prompt"] for it in items] == [chat(task_prompt(r)) for r in expected]
    assert {it["kind"] for it in items} == {"general"} and source["dataset"] == "arc_easy"
    with pytest.raises(ValueError, match="did you mean 'arc_easy'"):
        load_items("arc_eassy", 5, 3)


def test_dataset_name_reads_held_out_eval_items_by_default(mirror):
    """Fix 12: the meter read the training prompts, the very ones a trained model was fitted on."""
    from mipo_bench import data

    items, source = load_items("arc_easy", 5, 3)
    evaluated = {d["id"] for d in data.eval_docs("arc_easy", "paper")}
    assert len(items) == 5 and {it["id"] for it in items} <= evaluated and source["split"] == "eval"
    assert not {it["id"] for it in items} & {r["id"] for r in data.train_prompts("arc_easy")}


def test_per_token_mi_divides_each_response_by_its_length():
    """Fix 12: a summed MI grows with response length; the per-token reading compares across lengths."""

    class Scorer:
        def logprobs(self, prompts, texts):
            return [-1.0 if p[-1]["content"] == "x" else -3.0 for p in prompts]

        def response_ids(self, text):
            return text.split()

    items = [{"id": "a", "dataset": "arc_easy", "kind": "general", "prompt": chat("x")}]
    items.append({"id": "b", "dataset": "arc_easy", "kind": "general", "prompt": chat("y")})
    responses = {"a": ["one two three four"], "b": ["five"]}
    summed = score_items(Scorer(), items, responses, {"a": ["b"], "b": ["a"]})
    per_token = score_items(Scorer(), items, responses, {"a": ["b"], "b": ["a"]}, per_token=True)
    assert [it["mi"] for it in summed] == [2.0, -2.0]
    assert [it["mi"] for it in per_token] == [0.5, -2.0] and per_token[0]["samples"][0]["tokens"] == 4


def test_cli_verb(tiny_model_dir, general_file, tmp_path, capsys):
    from mipo_bench.cli.main import main

    out = tmp_path / "cli"
    argv = ["mi", "--model", tiny_model_dir, "--ref", tiny_model_dir, "--data", str(general_file), "--n", "2"]
    assert main(argv + ["--max-new-tokens", "3", "--contrasts", "1", "--device", "cpu", "--output", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["n"] == 2 and printed["mean"] == json.loads((out / "mi.json").read_text())["mean"]
    bad = tmp_path / "bad.jsonl"
    write_jsonl(bad, [{"id": "a", "dataset": "arc_easy"}])
    assert main(["mi", "--model", tiny_model_dir, "--ref", tiny_model_dir, "--data", str(bad)]) == 2
    assert f"{bad}:1" in capsys.readouterr().err


@pytest.mark.smoke
def test_smollm2_reading(smollm2_dir, mirror, tmp_path):
    result = measure_mi(
        "smollm2-135m-instruct",
        "smollm2-135m-instruct",
        "arc_easy",
        tmp_path / "mi",
        n=4,
        max_new_tokens=32,
        device="cpu",
    )
    assert result["n"] == 4 and result["empty_responses"] == 0
    assert all(math.isfinite(it["mi"]) and len(it["contrast_ids"]) == 3 for it in result["items"])
    assert result["ci_low"] <= result["mean"] <= result["ci_high"]
    assert result["model_fingerprint"] == result["ref_fingerprint"]
    assert json.loads((tmp_path / "mi" / "mi.manifest.json").read_text())["stage"] == "mi"


def test_a_reading_is_a_function_of_weights_reference_data_and_seed(tiny_model_dir, tmp_path):
    """Issue 17: two readings of MIPO differed between runs (+51.09 vs +53.1). The meter itself is deterministic:
    fresh runs and another batch size (other batch composition and padding) agree to the item; a reading records
    the fingerprint of the weights it read (reproduce prints it), so a difference can be traced to the checkpoint."""

    def reading(where, batch_size):
        return measure_mi(
            tiny_model_dir, tiny_model_dir, "arc_easy", tmp_path / where, n=6, max_new_tokens=8, contrasts=2,
            batch_size=batch_size, device="cpu",
        )  # fmt: skip

    first, again, rebatched = reading("a", 8), reading("b", 8), reading("c", 3)
    for other in (again, rebatched):
        assert [s["text"] for it in other["items"] for s in it["samples"]] == [
            s["text"] for it in first["items"] for s in it["samples"]
        ]
        assert [it["mi"] for it in other["items"]] == pytest.approx([it["mi"] for it in first["items"]], abs=1e-4)
        assert other["mean"] == pytest.approx(first["mean"], abs=1e-4)
    assert first["model_fingerprint"] == again["model_fingerprint"]


def test_training_twice_writes_the_same_weights(tiny_model_dir, tmp_path):
    """The other half of a reproducible reading: the same recipe, pairs and seed train the same checkpoint."""
    import hashlib

    from mipo_bench.training import MipoSettings, train

    pairs = tmp_path / "pairs.jsonl"
    rows = [
        {"prompt": chat(f"Say {w}."), "chosen": [{"role": "assistant", "content": w}],
         "rejected": [{"role": "assistant", "content": "no"}]}
        for w in ("red", "blue", "green", "gold")
    ]  # fmt: skip
    write_jsonl(pairs, rows)
    digests = []
    for run in ("one", "two"):
        settings = MipoSettings(learning_rate=1e-3, global_batch_size=2, num_train_epochs=1)
        train("mipo", pairs, tiny_model_dir, tmp_path / run, settings, seed=0, device="cpu")
        digests.append(hashlib.sha256((tmp_path / run / "model" / "model.safetensors").read_bytes()).hexdigest())
    assert digests[0] == digests[1]
