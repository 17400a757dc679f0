"""Any OpenAI-compatible chat-completions endpoint (a vLLM server, a hosted judge, …), requests sent concurrently.

Configuration from the environment: ``MIPO_BENCH_API_BASE`` (e.g. ``http://127.0.0.1:8000/v1``) and
``MIPO_BENCH_API_KEY`` (optional), or the ``base_url`` / ``api_key`` options. Nothing is contacted unless the
user names this backend.
"""

from __future__ import annotations

import json
import os
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from .base import Backend, Messages, SamplingParams, truncate_at_stop


class OpenAICompatBackend(Backend):
    def __init__(self, model: str, options: dict | None = None):
        super().__init__(model, dict(options or {}))
        self.base_url = (self.options.get("base_url") or os.environ.get("MIPO_BENCH_API_BASE") or "").rstrip("/")
        if not self.base_url:
            raise ValueError("the openai backend needs a base URL: set MIPO_BENCH_API_BASE (e.g. http://host:8000/v1)")
        self.api_key = self.options.get("api_key") or os.environ.get("MIPO_BENCH_API_KEY", "")
        self.concurrency = int(self.options.get("concurrency", 8))
        self.timeout = float(self.options.get("timeout", 120))

    def fingerprint(self) -> str:
        """A served model has no local weights to hash: its name is what identifies it."""
        return f"api:{self.model}"

    def _one(self, messages: Messages, params: SamplingParams, seed: int) -> list[str]:
        body = {
            "model": self.model,
            "messages": messages,
            "n": params.n,
            "temperature": params.temperature,
            "top_p": params.top_p if params.temperature > 0 else 1.0,
            "max_tokens": params.max_new_tokens,
            "seed": seed,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(f"{self.base_url}/chat/completions", json.dumps(body).encode(), headers)
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # the user's own endpoint
            reply = json.loads(response.read())
        return [truncate_at_stop(c["message"]["content"] or "", params.stop) for c in reply["choices"]]

    def generate(self, prompts: list[Messages], params: SamplingParams, seeds=None) -> list[list[str]]:
        seeds = seeds or [params.seed] * len(prompts)
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(lambda args: self._one(args[0], params, args[1]), zip(prompts, seeds)))
