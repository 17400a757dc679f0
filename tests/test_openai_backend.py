"""The OpenAI-compatible backend against a fake endpoint on loopback (bounded: a handful of requests)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mipo_bench.generation import SamplingParams, get_backend


class FakeChat(BaseHTTPRequestHandler):
    seen = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeChat.seen.append((self.path, self.headers.get("Authorization"), body))
        text = f"echo: {body['messages'][-1]['content']}\nSTOP here"
        reply = {"choices": [{"message": {"role": "assistant", "content": text}} for _ in range(body["n"])]}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeChat)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_openai_backend_sends_explicit_sampling(endpoint, monkeypatch):
    monkeypatch.setenv("MIPO_BENCH_API_BASE", endpoint)
    monkeypatch.setenv("MIPO_BENCH_API_KEY", "secret")
    FakeChat.seen.clear()
    backend = get_backend("openai", "judge-model", concurrency=3)
    chats = [[{"role": "user", "content": f"q{i}"}] for i in range(5)]
    out = backend.generate(chats, SamplingParams(n=2, temperature=0.3, max_new_tokens=7, stop=("\nSTOP",)), [1] * 5)
    assert out == [[f"echo: q{i}"] * 2 for i in range(5)]  # order kept, stop string cut
    path, auth, body = FakeChat.seen[0]
    assert path == "/v1/chat/completions" and auth == "Bearer secret"
    assert body["temperature"] == 0.3 and body["max_tokens"] == 7 and body["stop"] == ["\nSTOP"] and body["seed"] == 1


def test_openai_backend_needs_a_base_url(monkeypatch):
    monkeypatch.delenv("MIPO_BENCH_API_BASE", raising=False)
    with pytest.raises(ValueError, match="MIPO_BENCH_API_BASE"):
        get_backend("openai", "m")


def test_generate_cached_sends_each_request_its_own_seed(endpoint, monkeypatch, tmp_path):
    from mipo_bench.generation import generate_cached
    from mipo_bench.generation.base import request_seed, row_key

    monkeypatch.setenv("MIPO_BENCH_API_BASE", endpoint)
    FakeChat.seen.clear()
    backend = get_backend("openai", "judge-model")
    assert backend.fingerprint() == "api:judge-model"  # a served model: its name, no local weights to hash
    chats = [[{"role": "user", "content": f"q{i}"}] for i in range(3)]
    params = SamplingParams(temperature=0.3, max_new_tokens=7, seed=5)
    generate_cached(backend, [{"id": str(i), "messages": c} for i, c in enumerate(chats)], params, tmp_path / "g.jsonl")
    seeds = {body["messages"][-1]["content"]: body["seed"] for _, _, body in FakeChat.seen}
    assert seeds == {c[0]["content"]: request_seed(5, row_key("api:judge-model", c, params, 0)) for c in chats}
    assert len(set(seeds.values())) == 3
