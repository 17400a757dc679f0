"""The vllm backend against a stand-in module (tests/fake_vllm): explicit sampling, seeds, and one replica per GPU."""

import os
import sys
from pathlib import Path

import pytest

from mipo_bench.generation import SamplingParams, get_backend

FAKE = str(Path(__file__).parent / "fake_vllm")


@pytest.fixture
def fake_vllm(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(FAKE)
    monkeypatch.setenv("PYTHONPATH", FAKE + os.pathsep + os.environ.get("PYTHONPATH", ""))  # for replica processes
    sys.modules.pop("vllm", None)
    yield str(tmp_path)  # any local directory is a valid model spec
    sys.modules.pop("vllm", None)


CHATS = [[{"role": "user", "content": f"q{i}"}] for i in range(5)]
PARAMS = SamplingParams(n=2, temperature=0.5, max_new_tokens=9, stop=("\nSTOP",))


def test_single_engine_passes_explicit_sampling(fake_vllm):
    backend = get_backend("vllm", fake_vllm)
    out = backend.generate(CHATS, PARAMS, seeds=[10, 11, 12, 13, 14])
    assert out[3] == ["q3|gpu=|seed=13|T=0.5|max=9"] * 2  # stop string cut, seed per request


def test_one_replica_per_gpu_shards_prompts_and_keeps_order(fake_vllm):
    backend = get_backend("vllm", fake_vllm, data_parallel_size=2)
    try:
        out = backend.generate(CHATS, PARAMS, seeds=[1, 2, 3, 4, 5])
    finally:
        backend.close()
    assert [o[0].split("|")[0] for o in out] == [f"q{i}" for i in range(5)]
    assert {o[0].split("|")[1] for o in out} == {"gpu=0", "gpu=1"}  # both replicas served a shard
    assert out[0][0].split("|")[1] == "gpu=0" and out[1][0].split("|")[1] == "gpu=1"


def test_missing_vllm_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(ImportError, match=r"mipo-bench\[vllm\]"):
        get_backend("vllm", str(tmp_path))


def test_generate_cached_sends_each_request_its_own_seed(fake_vllm, tmp_path):
    from mipo_bench.generation import generate_cached
    from mipo_bench.generation.base import request_seed, row_key

    (Path(fake_vllm) / "model.safetensors").write_bytes(b"weights")  # the cache key hashes the weights
    backend = get_backend("vllm", fake_vllm)
    requests = [{"id": f"r{i}", "messages": chat} for i, chat in enumerate(CHATS)]
    params = SamplingParams(temperature=0.5, max_new_tokens=9, stop=("\nSTOP",), seed=7)
    by_batch = [generate_cached(backend, requests, params, tmp_path / f"{b}.jsonl", batch_size=b) for b in (1, 2, 5)]
    assert by_batch[0] == by_batch[1] == by_batch[2]  # batching changes nothing
    for chat, row in zip(CHATS, by_batch[0]):
        seed = request_seed(7, row_key(backend.fingerprint(), chat, params, 0))
        assert row["text"] == f"{chat[0]['content']}|gpu=|seed={seed}|T=0.5|max=9"
    assert len({row["text"] for row in by_batch[0]}) == len(CHATS)
