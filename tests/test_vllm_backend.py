"""The vllm backend against a stand-in module (tests/fake_vllm, whose LLM starts an engine-core child process as vLLM's
V1 engine does): explicit sampling with the model's defaults, seeds, a lazy engine held once per process and freed,
replicas on the parent's visible GPUs, and every request handed over in one call."""

import json
import os
import sys
from pathlib import Path

import pytest

from mipo_bench.generation import SamplingParams, generate_cached, get_backend

FAKE = str(Path(__file__).parent / "fake_vllm")


@pytest.fixture
def fake_vllm(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(FAKE)
    monkeypatch.setenv("PYTHONPATH", FAKE + os.pathsep + os.environ.get("PYTHONPATH", ""))  # for replica processes
    sys.modules.pop("vllm", None)
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"weights")  # the cache key hashes the weights
    yield str(model)  # any local directory is a valid model spec
    from mipo_bench.generation.vllm import release_engines

    release_engines()
    for name in [m for m in sys.modules if m == "vllm" or m.startswith("vllm.")]:
        sys.modules.pop(name)


def events():
    import vllm

    return vllm.EVENTS


CHATS = [[{"role": "user", "content": f"q{i}"}] for i in range(5)]
PARAMS = SamplingParams(n=2, temperature=0.5, max_new_tokens=9, stop=("\nSTOP",))


def test_single_engine_passes_explicit_sampling(fake_vllm):
    backend = get_backend("vllm", fake_vllm)
    out = backend.generate(CHATS, PARAMS, seeds=[10, 11, 12, 13, 14])
    # stop string cut, seed per request; a model whose generation_config.json sets no top_k: transformers' 50
    assert out[3] == ["q3|gpu=|seed=13|T=0.5|max=9|k=50|rep=1.0"] * 2


def test_the_engine_is_built_on_first_use_held_once_and_freed(fake_vllm, tmp_path):
    """Before: an engine was built in the constructor of every backend (a cached pairs stage built one too) and
    never freed, so the next stage's engine asked for another 85% of the card."""
    requests = [{"id": f"r{i}", "messages": chat} for i, chat in enumerate(CHATS)]
    params = SamplingParams(temperature=0.5, max_new_tokens=9, seed=7)
    first = get_backend("vllm", fake_vllm)
    assert not [e for e in events() if e[0] == "built"]  # nothing built until something is generated
    generate_cached(first, requests, params, tmp_path / "g.jsonl")
    cached = get_backend("vllm", fake_vllm)
    generate_cached(cached, requests, params, tmp_path / "g.jsonl")  # all cached: no engine, no call
    again = get_backend("vllm", fake_vllm)
    again.generate(CHATS[:1], params)  # the same model and options: the engine held is reused
    assert [e[0] for e in events()] == ["built", "chat", "chat"]
    other = tmp_path / "other"
    other.mkdir()
    (other / "model.safetensors").write_bytes(b"other weights")
    get_backend("vllm", str(other)).generate(CHATS[:1], params)  # another model: the first engine goes first
    assert [e[0] for e in events()][3:] == ["freed", "cleanup", "built", "chat"]
    get_backend("vllm", str(other)).close()
    assert [e[0] for e in events()][-2:] == ["freed", "cleanup"]


def test_every_request_is_handed_over_in_one_call(fake_vllm, tmp_path):
    """Before: vLLM was handed 16 (the batch size) prompts at a time."""
    requests = [{"id": f"r{i}", "messages": [{"role": "user", "content": f"x{i}"}]} for i in range(40)]
    generate_cached(get_backend("vllm", fake_vllm), requests, PARAMS, tmp_path / "g.jsonl", batch_size=16)
    assert [e for e in events() if e[0] == "chat"] == [("chat", 80)]  # 40 chats x 2 samples, one call


def test_replicas_run_on_the_parents_visible_gpus_as_processes_vllm_accepts(fake_vllm, monkeypatch):
    """Before: replicas were daemon processes (vLLM's V1 engine starts a child process, which a daemon may not) on
    physical GPUs 0..n-1 whatever CUDA_VISIBLE_DEVICES the parent had."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    backend = get_backend("vllm", fake_vllm, data_parallel_size=2)
    try:
        out = backend.generate(CHATS, PARAMS, seeds=[1, 2, 3, 4, 5])
    finally:
        backend.close()
    assert [o[0].split("|")[0] for o in out] == [f"q{i}" for i in range(5)]
    assert [o[0].split("|")[1] for o in out] == ["gpu=3", "gpu=5", "gpu=3", "gpu=5", "gpu=3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    with pytest.raises(ValueError, match="shows 1"):
        get_backend("vllm", fake_vllm, data_parallel_size=2).generate(CHATS, PARAMS)


def test_missing_vllm_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(ImportError, match=r"mipo-bench\[vllm\]"):
        get_backend("vllm", str(tmp_path))


def test_generate_cached_sends_each_request_its_own_seed_and_the_models_defaults(fake_vllm, tmp_path):
    """Before: vLLM sampled without the model's top-k / repetition penalty that the scripts' model.generate applied
    (Qwen2.5: 20 / 1.05; Llama-3.2: transformers' top-k 50), so pairs depended on the backend."""
    from mipo_bench.generation.base import request_seed, row_key

    Path(fake_vllm, "generation_config.json").write_text(json.dumps({"top_k": 20, "repetition_penalty": 1.05}))
    backend = get_backend("vllm", fake_vllm)
    requests = [{"id": f"r{i}", "messages": chat} for i, chat in enumerate(CHATS)]
    params = SamplingParams(temperature=0.5, max_new_tokens=9, stop=("\nSTOP",), seed=7)
    by_batch = [generate_cached(backend, requests, params, tmp_path / f"{b}.jsonl", batch_size=b) for b in (1, 2, 5)]
    assert by_batch[0] == by_batch[1] == by_batch[2]  # batching changes nothing
    applied = params.with_model_defaults(backend.model_defaults())
    assert (applied.top_k, applied.repetition_penalty) == (20, 1.05)
    for chat, row in zip(CHATS, by_batch[0]):
        seed = request_seed(7, row_key(backend.fingerprint(), chat, applied, 0))
        assert row["text"] == f"{chat[0]['content']}|gpu=|seed={seed}|T=0.5|max=9|k=20|rep=1.05"
    assert len({row["text"] for row in by_batch[0]}) == len(CHATS)
