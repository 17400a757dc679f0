"""The ``ray`` backend on a real local Ray cluster of 2 CPUs and the tiny model: the texts of the single-process run,
and a worker that dies mid-run loses nothing (its shard is retried, or the run stops and a rerun resumes)."""

import os
import sys
from pathlib import Path

import pytest
import ray

from mipo_bench.core.runs import read_jsonl
from mipo_bench.generation import BACKENDS, SamplingParams, generate_cached, get_backend
from mipo_bench.generation.base import request_seed, row_key
from mipo_bench.generation.hf import HFBackend

pytestmark = pytest.mark.slow  # a local Ray cluster: ~35 s in all

CHATS = [[{"role": "user", "content": f"Tell me about item {i}"}] for i in range(12)]
REQUESTS = [{"id": f"r{i}", "messages": chat} for i, chat in enumerate(CHATS)]
SAMPLING = SamplingParams(temperature=1.0, top_p=0.95, max_new_tokens=8, seed=5)
SHARD = 3  # generate_cached's batch_size: 12 requests -> 4 shards over 2 workers


class LoggingBackend(HFBackend):
    """The hf backend, plus what the tests need to see inside the workers: every chat it generates is logged with the
    worker's pid to ``calls_log``; on the chat ``poison`` the worker process exits at once (as if killed) or, with
    ``poison_raises``, the backend raises; ``poison_once`` (a marker file) makes the exit happen only once."""

    def generate(self, prompts, params, seeds=None):
        poison, marker = self.options.get("poison"), self.options.get("poison_once")
        if any(m[0]["content"] == poison for m in prompts):
            if self.options.get("poison_raises"):
                raise ValueError(f"cannot generate {poison!r}")
            if marker is None or not os.path.exists(marker):
                if marker is not None:
                    Path(marker).touch()
                os._exit(1)
        out = super().generate(prompts, params, seeds)
        with open(self.options["calls_log"], "a") as log:
            log.writelines(f"{os.getpid()}\t{m[0]['content']}\n" for m in prompts)
        return out


@pytest.fixture(scope="module")
def cluster():
    """A local 2-CPU Ray cluster; this module's classes travel to the workers by value (no import path needed)."""
    ray.init(num_cpus=2, include_dashboard=False)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    BACKENDS.register("logging_hf")(lambda: LoggingBackend)
    yield
    BACKENDS.pop("logging_hf")
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    ray.shutdown()


@pytest.fixture(scope="module")
def reference(tiny_model_dir, tmp_path_factory):
    """The single-process run: text per request id."""
    single = get_backend("hf", tiny_model_dir, batch_size=4, device="cpu")
    rows = generate_cached(single, REQUESTS, SAMPLING, tmp_path_factory.mktemp("single") / "g.jsonl", SHARD)
    return {r["id"]: r["text"] for r in rows}


@pytest.fixture
def ray_backend(cluster, tiny_model_dir):
    """Ray backends of two logging hf workers on the tiny model; their workers are stopped after the test (a test
    that failed half-way must not leave the cluster's 2 CPUs taken)."""
    made = []

    def make(log: Path, **options):
        workers = {"ray_backend": "logging_hf", "workers": 2, "batch_size": 4, "device": "cpu"}
        made.append(get_backend("ray", tiny_model_dir, calls_log=str(log), **workers, **options))
        return made[-1]

    yield make
    for backend in made:
        backend.close()


def _calls(log: Path) -> list[tuple[str, str]]:
    return [tuple(line.split("\t")) for line in log.read_text().splitlines()] if log.exists() else []


def test_ray_run_gives_the_single_process_texts(ray_backend, tiny_model_dir, reference, tmp_path):
    log, cache = tmp_path / "calls.log", tmp_path / "g.jsonl"
    backend = ray_backend(log)
    rows = generate_cached(backend, REQUESTS, SAMPLING, cache, SHARD)
    assert [r["id"] for r in rows] == [r["id"] for r in REQUESTS]
    assert {r["id"]: r["text"] for r in rows} == reference
    assert len(set(reference.values())) > 6  # sampled texts, not one repeated reply
    calls = _calls(log)
    assert sorted(chat for _, chat in calls) == sorted(c[0]["content"] for c in CHATS)  # each request generated once
    assert len({pid for pid, _ in calls}) == 2 and str(os.getpid()) not in {pid for pid, _ in calls}  # both workers
    fingerprint = get_backend("hf", tiny_model_dir).fingerprint()
    assert backend.fingerprint() == fingerprint  # one cache for the Ray and the single-process runs
    applied = SAMPLING.with_model_defaults(backend.model_defaults())  # the model's top-k, as every backend applies
    assert applied.top_k == 50 and {r["sampling"]["top_k"] for r in read_jsonl(cache)} == {50}
    assert {r["key"] for r in read_jsonl(cache)} == {row_key(fingerprint, c, applied, 0) for c in CHATS}
    cached = ray_backend(log)
    assert generate_cached(cached, REQUESTS, SAMPLING, cache, SHARD) == rows
    assert cached.workers == [] and len(_calls(log)) == len(CHATS)  # a cached stage starts no worker

    # direct calls (outside the cache) split the prompts over the workers and keep their order
    seeds = [request_seed(SAMPLING.seed, row_key(fingerprint, c, applied, 0)) for c in CHATS[:5]]
    assert [t[0] for t in backend.generate(CHATS[:5], SAMPLING, seeds)] == [reference[f"r{i}"] for i in range(5)]


def test_a_worker_that_dies_mid_shard_has_its_shard_retried_on_another(ray_backend, reference, tmp_path):
    log, marker = tmp_path / "calls.log", tmp_path / "died-once"
    backend = ray_backend(log, poison=CHATS[4][0]["content"], poison_once=str(marker))
    rows = generate_cached(backend, REQUESTS, SAMPLING, tmp_path / "g.jsonl", SHARD)
    assert marker.exists() and len(backend.workers) == 1  # one worker died and was dropped
    assert {r["id"]: r["text"] for r in rows} == reference
    assert sorted(chat for _, chat in _calls(log)) == sorted(c[0]["content"] for c in CHATS)


def test_when_every_worker_dies_a_rerun_generates_only_what_is_missing(ray_backend, reference, tmp_path):
    log, cache = tmp_path / "calls.log", tmp_path / "g.jsonl"
    poison = CHATS[4][0]["content"]  # in the second shard: the first is still finished and cached
    with pytest.raises(RuntimeError, match="every ray worker died"):
        generate_cached(ray_backend(log, poison=poison), REQUESTS, SAMPLING, cache, SHARD)
    cached = {r["messages"][0]["content"]: r["text"] for r in read_jsonl(cache)}
    assert 0 < len(cached) < len(CHATS) and poison not in cached
    generated_before = len(_calls(log))

    rerun = ray_backend(log)
    rows = generate_cached(rerun, REQUESTS, SAMPLING, cache, SHARD)
    assert {r["id"]: r["text"] for r in rows} == reference
    regenerated = [chat for _, chat in _calls(log)[generated_before:]]
    assert sorted(regenerated) == sorted(c[0]["content"] for c in CHATS if c[0]["content"] not in cached)
    assert len(list(read_jsonl(cache))) == len(CHATS)  # nothing generated twice


def test_a_backend_error_stops_the_run_after_the_shards_in_flight(ray_backend, reference, tmp_path):
    log, cache = tmp_path / "calls.log", tmp_path / "g.jsonl"
    backend = ray_backend(log, poison=CHATS[4][0]["content"], poison_raises=True)
    with pytest.raises(ValueError, match="cannot generate"):
        generate_cached(backend, REQUESTS, SAMPLING, cache, SHARD)
    assert len(backend.workers) == 2  # a raising backend is not a dead worker
    cached = {r["id"]: r["text"] for r in read_jsonl(cache)}
    assert cached and "r4" not in cached and all(reference[k] == v for k, v in cached.items())


def test_workers_default_to_the_cluster_and_a_request_beyond_it_is_refused(cluster, tiny_model_dir):
    backend = get_backend("ray", tiny_model_dir)
    try:
        assert len(backend.start()) == 2 and backend.backend_name == "hf"  # 2 CPUs, no GPU: two hf workers
    finally:
        backend.close()
    with pytest.raises(ValueError, match="3 ray workers"):
        get_backend("ray", tiny_model_dir, workers=3).start()
    with pytest.raises(ValueError, match="not ray"):
        get_backend("ray", tiny_model_dir, ray_backend="ray")
