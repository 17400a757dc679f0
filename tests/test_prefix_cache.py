"""Prefix-cached judging: a response's shared prefix is encoded once, and the replies equal the uncached run."""

import os
import sys
from pathlib import Path

import pytest

from mipo_bench.generation import SamplingParams, get_backend
from mipo_bench.generation.prefix_cache import (
    generate_shared_prefixes,
    prefix_order,
    shared_prefix_groups,
    supports_prefix_cache,
)
from mipo_bench.judging.calls import judge_items, judge_messages, load_template

GREEDY = SamplingParams(temperature=0, max_new_tokens=12)
SENTENCE = "The museum opens at nine, and the guided tour of the west wing takes about two hours. "
# responses of different lengths (prefixes of different lengths in one batch), 2 to 4 preferences each
ITEMS = [
    {
        "id": "short",
        "query": "When should I visit?",
        "response": SENTENCE,
        "preferences": ["I like quiet mornings.", "I travel with a toddler who naps after lunch every day."],
    },
    {
        "id": "medium",
        "query": "Plan my day at the museum.",
        "response": SENTENCE * 3,
        "preferences": ["Keep it brief.", "I use a wheelchair.", "I love modern art and sculpture gardens."],
    },
    {
        "id": "long",
        "query": "What is there to see?",
        "response": SENTENCE * 6,
        "preferences": ["No crowds.", "I am vegan.", "Budget is tight this month.", "I only speak Spanish."],
    },
]


def _chats(items=ITEMS, template="personalization_score"):
    tmpl = load_template(template)
    return [judge_messages(tmpl, it["query"], it["response"], p) for it in items for p in it["preferences"]]


@pytest.fixture(scope="module")
def backends(tiny_model_dir):
    """A tiny random Llama behind a prefix-cached and an uncached hf backend (batches of 4: groups span batches).

    Weights drawn 10x wider than the default init: the default tiny model's greedy reply is the same string for every
    prompt (its residual stream just echoes the last token), which would make "equal replies" prove nothing; this
    one's replies depend on the whole prompt.
    """
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    config = LlamaConfig.from_pretrained(tiny_model_dir)
    config.initializer_range = 0.2
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    cached = get_backend("hf", "tiny-llama", batch_size=4, prefix_cache=True, model_obj=model, tokenizer_obj=tokenizer)
    uncached = get_backend(
        "hf", "tiny-llama", batch_size=4, prefix_cache=False, model_obj=model, tokenizer_obj=tokenizer
    )
    return cached, uncached


def _prefill_tokens(backend, run):
    """Tokens the model encodes in its prefill calls (more than one position at once) while ``run()`` runs."""
    counted = []

    def count(module, args, kwargs):
        ids = kwargs.get("input_ids")
        if ids is not None and ids.shape[1] > 1:
            counted.append(ids.numel())

    handle = backend.lm.register_forward_pre_hook(count, with_kwargs=True)
    try:
        result = run()
    finally:
        handle.remove()
    return result, sum(counted)


def test_groups_follow_the_longest_shared_prefixes():
    system = list(range(100))  # every prompt begins with these 100 tokens (a system message)
    a = [system + [500] * 200 + [600 + k] * (k + 1) for k in range(3)]  # one response, three preferences
    b = [system + [700] * 80 + [800 + k] for k in range(2)]
    lone = [system[:10] + [900] * 50]
    twins = [system + [950] * 40] * 2  # identical prompts: each still keeps one token of its own
    ids = a + lone + b + twins
    groups = {g.members: g.length for g in shared_prefix_groups(ids, min_prefix=64)}
    assert groups == {(0, 1, 2): 300, (4, 5): 180, (6, 7): 139}
    assert shared_prefix_groups(ids, min_prefix=200) == [shared_prefix_groups(ids, 64)[0]]  # only a's 300 is enough
    assert shared_prefix_groups([a[0]], min_prefix=1) == []


def test_cached_replies_equal_uncached_on_the_tiny_model(backends):
    cached, uncached = backends
    chats = _chats()
    ids = [
        cached.tokenizer(
            cached.tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True),
            add_special_tokens=False,
        ).input_ids
        for c in chats
    ]
    shared = generate_shared_prefixes(cached, ids, GREEDY, [0] * len(chats))
    assert sorted(shared) == list(range(len(chats)))  # every call went through the shared-prefix path
    reference = uncached.generate(chats, GREEDY)
    assert [shared[i] for i in range(len(chats))] == reference
    assert cached.generate(chats, GREEDY) == reference
    assert len({r[0] for r in reference}) == len(chats)  # replies that tell the calls apart


def test_each_shared_prefix_is_encoded_once(backends):
    cached, uncached = backends
    fresh = get_backend(
        "hf", "tiny-llama", batch_size=4, prefix_cache=True, model_obj=cached.lm, tokenizer_obj=cached.tokenizer
    )
    chats = _chats()
    replies, with_cache = _prefill_tokens(fresh, lambda: fresh.generate(chats, GREEDY))
    reference, without = _prefill_tokens(uncached, lambda: uncached.generate(chats, GREEDY))
    assert replies == reference
    assert with_cache < 0.4 * without
    # the next call finds the common root (system message) already encoded, and answers the same
    again, next_call = _prefill_tokens(fresh, lambda: fresh.generate(chats, GREEDY))
    assert again == reference and next_call < with_cache


def test_sampled_rows_keep_their_seeds(backends):
    cached, uncached = backends
    chats = _chats()
    sampling = SamplingParams(n=2, temperature=1.0, top_p=0.95, max_new_tokens=8)
    seeds = [100 + i for i in range(len(chats))]
    out = cached.generate(chats, sampling, seeds)
    assert out == uncached.generate(chats, sampling, seeds)
    assert all(a != b for a, b in out)  # the two samples of a call differ: each row drew from its own seed
    assert cached.generate(chats[:1], sampling, [101]) != [out[0]]  # and the seed is what decides


def test_judged_scores_and_replies_equal_uncached(backends, tmp_path):
    cached, uncached = backends
    for template in ("personalization_score", "paper", "rlaif_critic"):
        kwargs = {"template": template, "retries": 1, "max_new_tokens": 6, "batch_size": 5}
        with_cache = judge_items(ITEMS, cached, tmp_path / f"{template}-c.jsonl", **kwargs)
        without = judge_items(ITEMS, uncached, tmp_path / f"{template}-u.jsonl", **kwargs)
        assert with_cache == without, template
        assert len(with_cache) == sum(len(it["preferences"]) for it in ITEMS)


def test_a_response_s_calls_are_sent_together():
    requests = [{"id": f"{it['id']}#{k}", "messages": m} for it in ITEMS for k, m in enumerate(_chats([it]))]
    shuffled = requests[::2] + requests[1::2]
    ordered = [r["id"].split("#")[0] for r in prefix_order(shuffled)]
    runs = [ordered[0]] + [b for a, b in zip(ordered, ordered[1:]) if a != b]
    assert sorted(runs) == sorted(it["id"] for it in ITEMS)  # each response's calls form one run


def test_models_without_a_plain_cache_take_the_plain_path(tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer, MistralConfig, MistralForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    config = MistralConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        sliding_window=64,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = MistralForCausalLM(config).eval()
    assert not supports_prefix_cache(model)
    backend = get_backend("hf", "tiny-mistral", model_obj=model, tokenizer_obj=tokenizer, prefix_cache=True)
    plain = get_backend("hf", "tiny-mistral", model_obj=model, tokenizer_obj=tokenizer, prefix_cache=False)
    chats = _chats()[:3]
    assert backend.generate(chats, GREEDY) == plain.generate(chats, GREEDY)


FAKE_VLLM = str(Path(__file__).parent / "fake_vllm")


@pytest.mark.parametrize("option, expected", [({}, True), ({"enable_prefix_caching": False}, False)])
def test_vllm_engine_caches_prefixes_unless_told_not_to(monkeypatch, tmp_path, option, expected):
    monkeypatch.syspath_prepend(FAKE_VLLM)
    monkeypatch.setenv("PYTHONPATH", FAKE_VLLM + os.pathsep + os.environ.get("PYTHONPATH", ""))
    sys.modules.pop("vllm", None)
    try:
        backend = get_backend("vllm", str(tmp_path), **option)
        assert backend._engine().llm.enable_prefix_caching is expected
        backend.close()
    finally:
        for name in [m for m in sys.modules if m == "vllm" or m.startswith("vllm.")]:
            sys.modules.pop(name)


@pytest.mark.smoke
def test_smollm2_judges_the_same_with_and_without_the_prefix_cache(smollm2_dir, mirror, tmp_path):
    from mipo_bench import data

    docs = data.eval_docs("prefeval", "full")
    pool = [d["preferences"][0] for d in docs]
    items = [
        {
            "id": d["id"],
            "query": d["prompt"],
            "response": d["explanation"],
            "preferences": [pool[(j + 250 * m) % len(pool)] for m in range(3)],  # its own + two other topics'
        }
        for j, d in enumerate(docs[:4])
    ]
    cached = get_backend("hf", smollm2_dir, batch_size=6, device="cpu", prefix_cache=True)
    uncached = get_backend(
        "hf", smollm2_dir, batch_size=6, prefix_cache=False, model_obj=cached.lm, tokenizer_obj=cached.tokenizer
    )
    with_cache, encoded = _prefill_tokens(cached, lambda: judge_items(items, cached, tmp_path / "c.jsonl"))
    without, full = _prefill_tokens(uncached, lambda: judge_items(items, uncached, tmp_path / "u.jsonl"))
    assert with_cache == without
    assert len(with_cache) == 12 and all(row["replies"][0].strip() for row in with_cache)
    assert encoded < 0.6 * full


def test_generation_outside_judging_does_not_share_prefixes():
    """Pairs and evaluation generations keep their batch-independent text: the cache is the judge's opt-in."""
    from mipo_bench.judging.samples import judge_backend

    assert get_backend("hf", "tiny-llama").prefix_cache is False
    assert judge_backend("hf", "tiny-llama").prefix_cache is True
