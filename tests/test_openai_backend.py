"""The OpenAI-compatible backend: against a scripted stub on loopback (retries, timeouts, concurrency, errors), and
against a real `transformers serve` of SmolLM2 started and stopped by a fixture (smoke)."""

import asyncio
import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mipo_bench.core.runs import read_jsonl
from mipo_bench.generation import SamplingParams, generate_cached, get_backend
from mipo_bench.generation.openai_compat import EndpointRefused, EndpointUnavailable


class Stub:
    """What a stub server does and saw. ``script`` says what each arriving request gets, in order: an int is an HTTP
    error status, a float a stall of that many seconds before answering, ``"one"`` a single choice whatever ``n``
    asks; once the script is used up, every request is answered after ``delay`` seconds."""

    def __init__(self):
        self.url = ""
        self.seen: list = []  # (path, Authorization header, body) per request
        self.script: list = []
        self.delay = 0.0
        self.in_flight = 0
        self.peak = 0  # the most requests in flight at once
        self.lock = threading.Lock()
        self.logprobs = True  # answer a request's `logprobs` (False: ignore it, as transformers serve does)


class FakeChat(BaseHTTPRequestHandler):
    """A chat-completions endpoint answering ``echo: <last message>`` (with a stop string after it)."""

    def do_POST(self):  # noqa: N802 (http.server's naming)
        stub = self.server.stub
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with stub.lock:
            stub.seen.append((self.path, self.headers.get("Authorization"), body))
            step = stub.script.pop(0) if stub.script else None
            stub.in_flight += 1
            stub.peak = max(stub.peak, stub.in_flight)
        try:
            time.sleep(step if isinstance(step, float) else stub.delay)
            if isinstance(step, int):
                self.reply(step, {"error": {"message": f"scripted {step}"}})
            else:
                text = f"echo: {body['messages'][-1]['content']}\nSTOP here"
                choices = [
                    {"index": k, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
                    for k in range(1 if step == "one" else body.get("n", 1))
                ]
                if body.get("logprobs") and stub.logprobs:  # label 2 as " 2" and "2", then a non-label token
                    top = [
                        {"token": t, "logprob": v, "bytes": None} for t, v in ((" 2", -0.7), ("2", -1.4), ("ok", -2))
                    ]
                    first = {"token": " 2", "logprob": -0.7, "bytes": None, "top_logprobs": top}
                    choices[0]["logprobs"] = {"content": [first]}
                completion = {"id": "c", "object": "chat.completion", "created": 0, "model": body["model"]}
                self.reply(200, {**completion, "choices": choices})
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up on a stalled request
        finally:
            with stub.lock:
                stub.in_flight -= 1

    def reply(self, status: int, payload: dict):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("retry-after-ms", "10")  # keeps the client's own retries quick here
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def stub():
    """A fresh stub server on loopback; ``stub.url`` is its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeChat)
    server.stub = Stub()
    server.stub.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.stub
    server.shutdown()
    server.server_close()


def chats(k: int) -> list[list[dict]]:
    return [[{"role": "user", "content": f"q{i}"}] for i in range(k)]


def test_openai_backend_sends_explicit_sampling(stub, monkeypatch):
    monkeypatch.setenv("MIPO_BENCH_API_BASE", stub.url)
    monkeypatch.setenv("MIPO_BENCH_API_KEY", "secret")
    backend = get_backend("openai", "judge-model", concurrency=3)
    out = backend.generate(chats(5), SamplingParams(n=2, temperature=0.3, max_new_tokens=7, stop=("\nSTOP",)), [1] * 5)
    assert out == [[f"echo: q{i}"] * 2 for i in range(5)]  # order kept, stop string cut
    path, auth, body = stub.seen[0]
    assert path == "/v1/chat/completions" and auth == "Bearer secret"
    assert body["temperature"] == 0.3 and body["max_tokens"] == 7 and body["stop"] == ["\nSTOP"] and body["seed"] == 1
    assert body["n"] == 2 and body["top_p"] == 0.9 and body["model"] == "judge-model"


@pytest.mark.parametrize(
    "mode,sent",
    [
        ("vllm", {"top_k": 20, "repetition_penalty": 1.05}),
        ("transformers", {"generation_config": '{"top_k": 20, "repetition_penalty": 1.05}'}),
        ("off", None),
    ],
)
def test_the_models_sampling_defaults_reach_the_server(stub, monkeypatch, tmp_path, mode, sent):
    """Before: a served model sampled pairs without the top-k / repetition penalty the scripts' model.generate applied
    (Qwen2.5's 20 / 1.05 from its generation_config.json), so pairs depended on the backend."""
    (tmp_path / "generation_config.json").write_text(json.dumps({"top_k": 20, "repetition_penalty": 1.05}))
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    monkeypatch.setenv("MIPO_BENCH_API_MODEL_DEFAULTS", mode)
    backend = get_backend("openai", str(tmp_path), base_url=stub.url)
    generate_cached(backend, [{"id": "a", "messages": chats(1)[0]}], SamplingParams(temperature=0.5), tmp_path / "g")
    body = stub.seen[0][2]
    assert {k: body[k] for k in ("top_k", "repetition_penalty", "generation_config") if k in body} == (sent or {})
    row = next(read_jsonl(tmp_path / "g"))
    expected = (None, None) if mode == "off" else (20, 1.05)
    assert (row["sampling"]["top_k"], row["sampling"]["repetition_penalty"]) == expected


def test_without_a_key_the_users_openai_key_is_never_sent(stub, monkeypatch):
    monkeypatch.setenv("MIPO_BENCH_API_BASE", stub.url)
    monkeypatch.delenv("MIPO_BENCH_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-private")
    get_backend("openai", "m").generate(chats(1), SamplingParams(temperature=0.0, max_new_tokens=4))
    _, auth, body = stub.seen[0]
    assert auth == "Bearer EMPTY"  # vLLM's placeholder for a server without --api-key
    assert "n" not in body and body["top_p"] == 1.0  # greedy: no nucleus; n=1 left to the server's default


def test_openai_backend_needs_a_base_url(monkeypatch):
    monkeypatch.delenv("MIPO_BENCH_API_BASE", raising=False)
    with pytest.raises(ValueError, match="MIPO_BENCH_API_BASE"):
        get_backend("openai", "m")


def test_bad_options_are_clear_errors(monkeypatch):
    monkeypatch.setenv("MIPO_BENCH_API_BASE", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("MIPO_BENCH_API_CONCURRENCY", "lots")
    with pytest.raises(ValueError, match=r"\$MIPO_BENCH_API_CONCURRENCY must be an integer, got 'lots'"):
        get_backend("openai", "m")
    monkeypatch.setenv("MIPO_BENCH_API_CONCURRENCY", "4")
    assert get_backend("openai", "m").max_concurrency == 4
    assert get_backend("openai", "m", max_concurrency=2).max_concurrency == 2  # an option beats the environment
    with pytest.raises(ValueError, match="max_concurrency must be >= 1"):
        get_backend("openai", "m", max_concurrency=0)


def test_generate_cached_sends_each_request_its_own_seed(stub, monkeypatch, tmp_path):
    from mipo_bench.generation.base import request_seed, row_key

    monkeypatch.setenv("MIPO_BENCH_API_BASE", stub.url)
    backend = get_backend("openai", "judge-model")
    assert backend.fingerprint() == "api:judge-model"  # a served model: its name, no local weights to hash
    params = SamplingParams(temperature=0.3, max_new_tokens=7, seed=5)
    generate_cached(backend, [{"id": str(i), "messages": c} for i, c in enumerate(chats(3))], params, tmp_path / "g")
    seeds = {body["messages"][-1]["content"]: body["seed"] for _, _, body in stub.seen}
    assert seeds == {c[0]["content"]: request_seed(5, row_key("api:judge-model", c, params, 0)) for c in chats(3)}
    assert len(set(seeds.values())) == 3


def test_never_more_requests_in_flight_than_max_concurrency(stub):
    stub.delay = 0.05
    backend = get_backend("openai", "m", base_url=stub.url, max_concurrency=3)
    out = backend.generate(chats(12), SamplingParams(temperature=0.0, max_new_tokens=4))
    assert out == [[f"echo: q{i}\nSTOP here"] for i in range(12)]
    assert stub.peak == 3  # concurrent, and bounded


def test_server_errors_are_retried_with_backoff(stub):
    """A server that fails twice then answers: our retries (the client's own turned off) carry the request through."""
    stub.script = [500, 503]
    backend = get_backend("openai", "m", base_url=stub.url, max_retries=0, retries=2, backoff=0.01)
    assert backend.generate(chats(1), SamplingParams(temperature=0.0)) == [["echo: q0\nSTOP here"]]
    assert len(stub.seen) == 3


def test_the_clients_own_retries_come_first(stub):
    stub.script = [502, 500]
    backend = get_backend("openai", "m", base_url=stub.url, max_retries=2, retries=0)
    assert backend.generate(chats(1), SamplingParams(temperature=0.0)) == [["echo: q0\nSTOP here"]]
    assert len(stub.seen) == 3


def test_out_of_retries_is_a_clear_error(stub):
    stub.script = [500] * 4
    backend = get_backend("openai", "m", base_url=stub.url, max_retries=1, retries=1, backoff=0.01)
    with pytest.raises(EndpointUnavailable, match=r"failed 2 time\(s\) in a row, each after the client's own 1"):
        backend.generate(chats(1), SamplingParams(temperature=0.0))
    assert len(stub.seen) == 4  # (retries + 1) * (max_retries + 1)


def test_a_refused_request_is_not_retried(stub):
    stub.script = [400]
    backend = get_backend("openai", "m", base_url=stub.url, backoff=0.01)
    with pytest.raises(EndpointRefused, match=r"/v1 \(model 'm'\) refused the request.*400"):
        backend.generate(chats(1), SamplingParams(temperature=0.0))
    assert len(stub.seen) == 1


def test_a_stalled_request_times_out_and_is_retried(stub):
    stub.script = [1.5]
    backend = get_backend("openai", "m", base_url=stub.url, timeout=0.3, max_retries=0, retries=1, backoff=0.01)
    start = time.monotonic()
    assert backend.generate(chats(1), SamplingParams(temperature=0.0)) == [["echo: q0\nSTOP here"]]
    assert time.monotonic() - start < 1.2 and len(stub.seen) == 2  # gave up on the stall, asked again


def test_a_request_that_keeps_timing_out_fails(stub):
    stub.script = [1.5]
    backend = get_backend("openai", "m", base_url=stub.url, timeout=0.3, max_retries=0, retries=0)
    with pytest.raises(EndpointUnavailable, match="timed out"):
        backend.generate(chats(1), SamplingParams(temperature=0.0))


def test_backoff_doubles_up_to_its_cap(monkeypatch):
    monkeypatch.setenv("MIPO_BENCH_API_BASE", "http://127.0.0.1:9/v1")
    backend = get_backend("openai", "m", backoff=1.0, max_backoff=5.0)
    for attempt, full in enumerate([1.0, 2.0, 4.0, 5.0, 5.0]):
        delays = [backend.retry_delay(attempt) for _ in range(50)]
        assert all(full / 2 <= d <= full for d in delays) and len(set(delays)) > 1  # jittered within [1/2, 1]


def test_a_server_that_ignores_n_is_an_error(stub):
    stub.script = ["one"]
    backend = get_backend("openai", "m", base_url=stub.url)
    with pytest.raises(EndpointRefused, match="returned 1 completion.*n=2"):
        backend.generate(chats(1), SamplingParams(n=2, temperature=0.5))


def test_generate_works_inside_a_running_event_loop(stub):
    backend = get_backend("openai", "m", base_url=stub.url)

    async def caller():
        return backend.generate(chats(2), SamplingParams(temperature=0.0))

    assert asyncio.run(caller()) == [["echo: q0\nSTOP here"], ["echo: q1\nSTOP here"]]


# --- a real server: `transformers serve` of SmolLM2 on CPU ------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served_smollm2(smollm2_dir, tmp_path_factory):
    """`transformers serve SMOLLM2_DIR` (pinned to that model, CPU, fp32) on a free port; its base URL.

    Ready when ``/health`` answers: the pinned model is loaded before the server listens. (``/v1/models`` is no
    readiness probe: offline it scans the hub cache.)"""
    port = free_port()
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    command = [sys.executable, "-m", "transformers.cli.transformers", "serve", smollm2_dir]
    command += ["--host", "127.0.0.1", "--port", str(port), "--device", "cpu", "--dtype", "float32"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_UPDATE_CHECK": "1"}
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 240
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"transformers serve exited ({server.returncode}):\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"transformers serve not ready after 240 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.mark.smoke
def test_real_server_answers_concurrent_requests_repeatably(served_smollm2, smollm2_dir):
    backend = get_backend("openai", smollm2_dir, base_url=served_smollm2, max_concurrency=2)
    questions = ["What is 2 + 2?", "Name a colour.", "Say hello to Ada."]
    prompts = [[{"role": "user", "content": q}] for q in questions]
    greedy = SamplingParams(temperature=0.0, max_new_tokens=12, seed=3)
    first = backend.generate(prompts, greedy, [3, 4, 5])
    assert [len(texts) for texts in first] == [1, 1, 1]
    assert all(isinstance(texts[0], str) and texts[0].strip() for texts in first)
    assert backend.generate(prompts[:2], greedy, [3, 4]) == first[:2]  # a seeded request at T=0 is repeatable


@pytest.mark.smoke
def test_real_server_generation_cache_resumes(served_smollm2, smollm2_dir, tmp_path, monkeypatch):
    backend = get_backend("openai", smollm2_dir, base_url=served_smollm2, max_concurrency=2)
    sent, generate = [], backend.generate
    monkeypatch.setattr(backend, "generate", lambda prompts, *a: sent.append(len(prompts)) or generate(prompts, *a))
    questions = ["What is 3 + 4?", "Name a fruit.", "What colour is the sky?"]
    requests = [{"id": str(i), "messages": [{"role": "user", "content": q}]} for i, q in enumerate(questions)]
    params = SamplingParams(temperature=0.0, max_new_tokens=8, seed=1)
    first = generate_cached(backend, requests[:2], params, tmp_path / "gen.jsonl")
    again = generate_cached(backend, requests, params, tmp_path / "gen.jsonl")
    assert sent == [2, 1]  # the second run asks only for what the first did not generate
    assert [r["text"] for r in again[:2]] == [r["text"] for r in first] and again[2]["text"].strip()
    assert len(list(read_jsonl(tmp_path / "gen.jsonl"))) == 3


@pytest.mark.smoke
def test_real_server_judges_end_to_end(served_smollm2, smollm2_dir, tmp_path, monkeypatch):
    from mipo_bench.judging.samples import judge_samples

    monkeypatch.setenv("MIPO_BENCH_API_BASE", served_smollm2)
    monkeypatch.setenv("MIPO_BENCH_API_MODEL_DEFAULTS", "transformers")  # its generation_config field: accepted
    samples = tmp_path / "samples.jsonl"
    with open(samples, "w") as f:
        for k, (query, response) in enumerate([("Plan a dinner.", "Lentil curry."), ("A pet?", "A cat.")]):
            doc = {"id": f"u{k}", "prompt": query, "preferences": ["I am vegan"]}
            f.write(json.dumps({"doc_id": k, "doc": doc, "resps": [[response]], "filtered_resps": [response]}) + "\n")
    report = judge_samples(samples, smollm2_dir, tmp_path / "judge", backend="openai", retries=0, max_new_tokens=8)
    assert report["items"] == 2 and report["judgments"] == 2
    rows = list(read_jsonl(tmp_path / "judge" / "judgments.jsonl"))
    assert len(rows) == 2 and all(r["replies"] and isinstance(r["replies"][0], str) for r in rows)
    assert all((r["score"] is None) == r["failed"] and r["score"] in (None, 1, 2, 3, 4, 5) for r in rows)
    cached = list(read_jsonl(tmp_path / "judge" / "judgments.generations.jsonl"))
    assert len(cached) == 2 and {r["model_fingerprint"] for r in cached} == {f"api:{smollm2_dir}"}


def test_label_logprobs_from_a_servers_top_logprobs(stub):
    """`scoring: logprob` on a server: one greedy token with top_logprobs; " 2" and "2" are one label, summed."""
    backend = get_backend("openai", "judge-model", base_url=stub.url)
    (dist,) = backend.label_logprobs([[{"role": "user", "content": "rate"}]], ["1", "2", "3", "4", "5"])
    assert set(dist) == {"2"} and dist["2"] == pytest.approx(math.log(math.exp(-0.7) + math.exp(-1.4)))
    body = stub.seen[-1][2]
    assert body["logprobs"] is True and body["top_logprobs"] == 20 and body["max_tokens"] == 1
    assert body["temperature"] == 0


def test_a_server_that_ignores_logprobs_is_a_clear_error(stub):
    stub.logprobs = False
    backend = get_backend("openai", "judge-model", base_url=stub.url)
    with pytest.raises(EndpointRefused, match="returned no log-probabilities.*scoring: text"):
        backend.label_logprobs([[{"role": "user", "content": "rate"}]], ["1", "2"])


@pytest.mark.smoke
def test_transformers_serve_returns_no_logprobs_and_says_so(served_smollm2, smollm2_dir, tmp_path):
    """The real server: transformers serve ignores `logprobs` / `top_logprobs` (it lists them as unused fields), so
    logprob judging through it stops with one line naming the way out, before anything is written."""
    from mipo_bench.judging.calls import judge_items

    backend = get_backend("openai", smollm2_dir, base_url=served_smollm2)
    items = [{"id": "u0", "query": "A pet?", "preferences": ["I am allergic to cats"], "response": "A cat."}]
    with pytest.raises(EndpointRefused, match="ignores `logprobs` \\(transformers serve does\\)"):
        judge_items(items, backend, tmp_path / "j.jsonl", scoring="logprob")
    assert not (tmp_path / "j.jsonl").exists()
