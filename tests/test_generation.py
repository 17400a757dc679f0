"""Generation on a tiny random model: per-request seeds, stop strings during generation, caches keyed on weights."""

import json
import shutil

import pytest
import torch

from mipo_bench.core.runs import read_jsonl
from mipo_bench.generation import Backend, SamplingParams, generate_cached, get_backend
from mipo_bench.generation.base import request_seed, row_key

# same token length: every chat lands in the same padding bucket, so only the batch composition changes
CHATS = [[{"role": "user", "content": f"Tell me about item {i}"}] for i in range(8)]
SAMPLING = SamplingParams(temperature=1.0, top_p=0.95, max_new_tokens=10, seed=3)


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    return get_backend("hf", tiny_model_dir, batch_size=8, device="cpu")


def _texts(rows):
    return {(r["id"], r["index"]): r["text"] for r in rows}


def test_a_sample_does_not_depend_on_its_batch_neighbours(backend):
    seeds = [11, 12, 13, 14, 15, 16]
    full = backend.generate(CHATS[:6], SAMPLING, seeds)
    assert backend.generate([CHATS[0], CHATS[6], CHATS[7]], SAMPLING, [11, 99, 98])[0] == full[0]
    assert backend.generate([CHATS[7], CHATS[3]], SAMPLING, [98, 14])[1] == full[3]
    assert backend.generate([CHATS[3]], SAMPLING, [14]) == [full[3]]
    assert backend.generate([CHATS[0]], SAMPLING, [12]) != [full[0]]  # the seed is what decides (visible here)
    assert len({t[0] for t in full}) == 6


def test_batch_size_and_resume_do_not_change_samples(backend, tmp_path):
    requests = [{"id": f"r{i}", "messages": chat} for i, chat in enumerate(CHATS)]
    reference = _texts(generate_cached(backend, requests, SAMPLING, tmp_path / "a.jsonl", batch_size=8))
    four = get_backend("hf", backend.model, batch_size=4, model_obj=backend.lm, tokenizer_obj=backend.tokenizer)
    assert _texts(generate_cached(four, requests, SAMPLING, tmp_path / "b.jsonl", batch_size=4)) == reference

    calls = []

    def crash_after_one_batch(prompts, params, seeds=None):
        if calls:
            raise RuntimeError("simulated crash")
        calls.append(len(prompts))
        return backend.generate(prompts, params, seeds)

    flaky = Backend(backend.model)
    flaky.generate = crash_after_one_batch
    with pytest.raises(RuntimeError, match="simulated crash"):
        generate_cached(flaky, requests, SAMPLING, tmp_path / "c.jsonl", batch_size=3)
    assert len(list(read_jsonl(tmp_path / "c.jsonl"))) == 3
    resumed = generate_cached(backend, requests, SAMPLING, tmp_path / "c.jsonl", batch_size=8)
    assert _texts(resumed) == reference


class SeedRecorder(Backend):
    def __init__(self):
        super().__init__("seed-recorder")
        self.seeds = {}

    def generate(self, prompts, params, seeds=None):
        for m, s in zip(prompts, seeds):
            self.seeds.setdefault(m[-1]["content"], set()).add(s)
        return [[f"seed {s}"] for s in seeds]


def test_generate_cached_gives_each_request_its_own_seed_whatever_the_batching(tmp_path):
    requests = [{"id": f"r{i}", "messages": chat} for i, chat in enumerate(CHATS)]
    recorder = SeedRecorder()
    for k, batch_size in enumerate((1, 3, 8)):
        generate_cached(recorder, requests, SAMPLING, tmp_path / f"{k}.jsonl", batch_size=batch_size)
    assert all(len(seeds) == 1 for seeds in recorder.seeds.values())  # same seed in every batch composition
    assert len({next(iter(s)) for s in recorder.seeds.values()}) == len(CHATS)  # and a different one per request
    key = row_key(recorder.fingerprint(), CHATS[0], SAMPLING, 0)
    assert recorder.seeds[CHATS[0][0]["content"]] == {request_seed(SAMPLING.seed, key)}


class _Biased(torch.nn.Module):
    """An output head that strongly favours a few tokens (a tiny model that writes "\\nExample " often)."""

    def __init__(self, head, bias):
        super().__init__()
        self.head, self.bias = head, bias

    def forward(self, hidden):
        return self.head(hidden) + self.bias


def test_pairs_stop_where_the_math_eval_stops(tiny_model_dir, tmp_path, mirror):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mipo_bench.workflows.pipeline import run_pairs
    from mipo_bench.workflows.recipe import load_recipe

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    bias = torch.zeros(len(tokenizer))
    bias[tokenizer("\nExample ", add_special_tokens=False).input_ids] = 20.0
    model.lm_head = _Biased(model.lm_head, bias)
    new_tokens = []
    generate = model.generate

    def spy(**kwargs):
        out = generate(**kwargs)
        new_tokens.append(out.shape[1] - kwargs["input_ids"].shape[1])
        return out

    model.generate = spy
    backend = get_backend("hf", tiny_model_dir, batch_size=4, model_obj=model, tokenizer_obj=tokenizer)
    recipe = load_recipe(
        "mipo",
        ["data.dataset=gsm8k", "data.n_prompts=3", "pairs.temperature=1.0", "pairs.max_new_tokens=200"]
        + ["pairs.strategy=random_prompt"],  # both sides generated: 6 generations
    )
    manifest = run_pairs(recipe, tmp_path, backend=backend)
    pairs = [json.loads(line) for line in open(tmp_path / "pairs" / "pairs.jsonl")]
    assert manifest["sampling"]["stop"] == ["\nExample ", "\nNew question:", "\nQuestion:"]
    assert new_tokens and max(new_tokens) < 200  # every row stopped during generation, long before the budget
    generated = [row["text"] for row in read_jsonl(tmp_path / "pairs" / "generations.jsonl")]
    paired = [p[side][0]["content"] for p in pairs for side in ("chosen", "rejected")]
    assert len(generated) == 6 and not any("\nExample " in t for t in generated + paired)


def test_retrained_model_at_the_same_path_is_not_served_from_cache(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    requests = [{"id": f"r{i}", "messages": chat} for i, chat in enumerate(CHATS[:2])]
    greedy = SamplingParams(temperature=0, max_new_tokens=4)
    cache = tmp_path / "gen.jsonl"
    first = generate_cached(get_backend("hf", str(model_dir), device="cpu"), requests, greedy, cache)

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    torch.manual_seed(1)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param))
    model.save_pretrained(model_dir)  # "retrained": new weights at the same path

    retrained = get_backend("hf", str(model_dir), device="cpu")
    sent = []
    generate = retrained.generate
    retrained.generate = lambda prompts, params, seeds=None: sent.extend(prompts) or generate(prompts, params, seeds)
    second = generate_cached(retrained, requests, greedy, cache)
    assert len(sent) == 2 and len(list(read_jsonl(cache))) == 4  # generated again, not read from the cache
    assert first[0]["model"] == second[0]["model"] == str(model_dir)  # the spec is kept for humans
    assert first[0]["model_fingerprint"] != second[0]["model_fingerprint"]

    unchanged = get_backend("hf", str(model_dir), device="cpu")
    unchanged.generate = lambda *a, **k: pytest.fail("unchanged weights must be served from the cache")
    assert _texts(generate_cached(unchanged, requests, greedy, cache)) == _texts(second)


def test_hf_backend_applies_the_models_own_top_k_and_repetition_penalty(tiny_model_dir, tmp_path):
    """Fix 12: the released scripts call model.generate with do_sample / temperature / top_p only, so the model's
    generation_config.json defaults (Qwen2.5: top_k 20, repetition_penalty 1.05) still apply; the backend ignored
    them. With the model's top_k = 1, sampling at T=1 must give the greedy text for every seed."""
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    config_file = model_dir / "generation_config.json"
    config = json.loads(config_file.read_text()) if config_file.exists() else {}
    config_file.write_text(json.dumps({**config, "top_k": 1, "repetition_penalty": 1.3}))
    chat = [[{"role": "user", "content": "Tell me a story about a fox."}]]
    sampled = SamplingParams(n=3, temperature=1.0, top_p=1.0, max_new_tokens=8, seed=5)
    greedy = SamplingParams(n=1, temperature=0.0, top_p=1.0, max_new_tokens=8, seed=5)

    backend = get_backend("hf", str(model_dir), device="cpu")
    assert backend.model_defaults() == {
        "top_k": 1,
        "repetition_penalty": 1.3,
        "source": dict.fromkeys(("top_k", "repetition_penalty"), "the model's generation_config.json"),
    }
    applied = sampled.with_model_defaults(backend.model_defaults())
    assert backend._generation_config(applied, 3).repetition_penalty == 1.3
    texts = backend.generate(chat, sampled)[0]
    assert texts == backend.generate(chat, greedy)[0] * 3  # top_k 1: every draw is the argmax


def test_a_model_that_sets_no_top_k_samples_with_transformers_default_of_50(tiny_model_dir, tmp_path):
    """Before: Llama-3's generation_config.json has no top_k, and the scripts' model.generate applied transformers'
    global top_k=50; the hf backend read only the model's file, so Llama pairs at T=1.0 were drawn without top-k."""
    from mipo_bench.generation.model_defaults import FROM_TRANSFORMERS

    model_dir = tmp_path / "llama-like"
    shutil.copytree(tiny_model_dir, model_dir)
    (model_dir / "generation_config.json").write_text(json.dumps({"do_sample": True, "temperature": 0.6}))
    backend = get_backend("hf", str(model_dir), device="cpu")
    assert backend.model_defaults()["top_k"] == 50 and backend.model_defaults()["repetition_penalty"] == 1.0
    assert backend.model_defaults()["source"]["top_k"] == FROM_TRANSFORMERS
    requests = [{"id": "a", "messages": [{"role": "user", "content": "Tell me a story about a fox."}]}]
    rows = generate_cached(backend, requests, SamplingParams(temperature=1.0, max_new_tokens=4), tmp_path / "g")
    assert rows[0]["sampling"]["top_k"] == 50  # applied, and in the cache key and the row
