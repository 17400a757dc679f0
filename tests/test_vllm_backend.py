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
