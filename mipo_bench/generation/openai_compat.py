"""Any OpenAI-compatible chat-completions endpoint (vLLM's server, a router in front of many vLLM replicas,
``transformers serve``, a hosted judge) through the official ``openai`` client, requests sent concurrently.

Nothing is contacted unless the user names this backend; ``openai`` is imported on first use
(``pip install 'mipo-bench[serve]'``). Options (``get_backend("openai", model, **options)``), else the environment:

- ``base_url`` / ``$MIPO_BENCH_API_BASE`` (required, e.g. ``http://127.0.0.1:8000/v1``).
- ``api_key`` / ``$MIPO_BENCH_API_KEY`` (optional). Without one the placeholder ``EMPTY`` is sent (vLLM's convention
  for a server started without ``--api-key``); ``$OPENAI_API_KEY`` is never read, so a local server never receives
  the user's OpenAI key.
- ``max_concurrency`` (alias ``concurrency``) / ``$MIPO_BENCH_API_CONCURRENCY``, default 8: requests in flight at
  once (an asyncio semaphore around every attempt). A caller's batch bounds it too (``generate_cached`` sends one
  batch at a time): raise both for a router in front of many replicas.
- ``timeout`` / ``$MIPO_BENCH_API_TIMEOUT``, default 120: seconds per request attempt.
- ``model_defaults`` / ``$MIPO_BENCH_API_MODEL_DEFAULTS``: how the top-k and repetition penalty the released scripts'
  ``model.generate`` applied (:mod:`.model_defaults`; known when the served model's files are on this machine) are
  sent: ``vllm`` (default: vLLM's extra sampling parameters ``top_k`` / ``repetition_penalty``), ``transformers``
  (``transformers serve``'s ``generation_config`` field, which refuses unknown fields) or ``off`` (the server's own
  defaults: vLLM applies the model's generation_config.json but not transformers' top-k 50).

Retries, in two layers, both only for failures that a later attempt can cure — connection errors, timeouts, HTTP
408 / 429 and 5xx:

- ``max_retries`` (default 2): the ``openai`` client's own, immediately around each call (0.5-8 s backoff, honours
  ``Retry-After``); they cover a dropped connection or one overloaded replica.
- ``retries`` (default 3): ours, once the client has given up, sleeping ``backoff`` · 2^k seconds (default 1 s,
  capped at ``max_backoff``, 30 s; each delay drawn in [½, 1] of that so clients that failed together do not retry
  together); they ride out a server restart or a router replacing a replica. Each of our attempts is a fresh call
  with the client's retries, so a request is sent at most (``retries`` + 1) · (``max_retries`` + 1) times.

Any other refusal (400 bad request, 401 bad key, 404 unknown model, 422 unsupported field) is not retried:
:class:`EndpointRefused` names the endpoint, the model and the server's message. Out of retries,
:class:`EndpointUnavailable` says how many attempts were made and the last error.

Each request carries its own ``seed`` (see :class:`~mipo_bench.generation.base.SamplingParams`); replies are cut at
the first stop string here as well, for servers that return it.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from concurrent.futures import ThreadPoolExecutor

from ..core.resources import import_optional
from .base import TOP_LOGPROBS, Backend, Messages, SamplingParams, labels_among, truncate_at_stop

MODEL_DEFAULTS_MODES = ("vllm", "transformers", "off")
RETRYABLE_STATUS = frozenset({408, 429})
"""Status codes worth another attempt, besides every 5xx."""


class EndpointRefused(ValueError):
    """The endpoint answered with an error that a retry would not cure (bad request, key, model name)."""


class EndpointUnavailable(ConnectionError):
    """The endpoint kept failing (connection refused, timeouts, 5xx) through every retry."""


def _import_openai():
    return import_optional("openai", "serve", "the openai backend (the official client)")


def _option(options: dict, names: tuple[str, ...], env: str | None, default, kind: type):
    """The first of ``options[names...]``, ``$env``, ``default``, converted to ``kind`` (a clear error if it fails)."""
    for name in names:
        if options.get(name) is not None:
            source, value = f"option {name!r}", options[name]
            break
    else:
        if env and os.environ.get(env):
            source, value = f"${env}", os.environ[env]
        else:
            return default
    try:
        return kind(value)
    except (TypeError, ValueError) as e:
        wanted = "an integer" if kind is int else "a number"
        raise ValueError(f"openai backend: {source} must be {wanted}, got {value!r}") from e


def _retryable(openai, error: Exception) -> bool:
    if isinstance(error, openai.APIConnectionError):  # refused / reset connections and timeouts alike
        return True
    status = getattr(error, "status_code", None)
    return isinstance(status, int) and (status in RETRYABLE_STATUS or status >= 500)


def _run(coroutine):
    """Run ``coroutine`` to completion from synchronous code, even when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(1) as pool:  # inside a running loop (a notebook, an async caller): a thread of its own
        return pool.submit(asyncio.run, coroutine).result()


class OpenAICompatBackend(Backend):
    def __init__(self, model: str, options: dict | None = None):
        super().__init__(model, dict(options or {}))
        opts = self.options
        self.base_url = (opts.get("base_url") or os.environ.get("MIPO_BENCH_API_BASE") or "").rstrip("/")
        if not self.base_url:
            raise ValueError("the openai backend needs a base URL: set MIPO_BENCH_API_BASE (e.g. http://host:8000/v1)")
        self.api_key = opts.get("api_key") or os.environ.get("MIPO_BENCH_API_KEY", "")
        self.max_concurrency = _option(opts, ("max_concurrency", "concurrency"), "MIPO_BENCH_API_CONCURRENCY", 8, int)
        self.timeout = _option(opts, ("timeout",), "MIPO_BENCH_API_TIMEOUT", 120.0, float)
        self.max_retries = _option(opts, ("max_retries",), None, 2, int)
        self.retries = _option(opts, ("retries",), None, 3, int)
        self.backoff = _option(opts, ("backoff",), None, 1.0, float)
        self.max_backoff = _option(opts, ("max_backoff",), None, 30.0, float)
        self.send_defaults = _option(opts, ("model_defaults",), "MIPO_BENCH_API_MODEL_DEFAULTS", "vllm", str)
        if self.send_defaults not in MODEL_DEFAULTS_MODES:
            raise ValueError(
                f"openai backend: model_defaults must be one of {', '.join(MODEL_DEFAULTS_MODES)}, not "
                f"{self.send_defaults!r}"
            )
        if self.max_concurrency < 1 or self.timeout <= 0 or min(self.max_retries, self.retries) < 0:
            raise ValueError(
                f"openai backend: max_concurrency must be >= 1, timeout > 0 and retries >= 0 (got max_concurrency="
                f"{self.max_concurrency}, timeout={self.timeout}, max_retries={self.max_retries}, "
                f"retries={self.retries})"
            )

    def fingerprint(self) -> str:
        """A served model has no local weights to hash: its name is what identifies it."""
        return f"api:{self.model}"

    def retry_delay(self, attempt: int) -> float:
        """Seconds to wait after our ``attempt``-th failed attempt (0-based): exponential, capped, jittered."""
        return min(self.max_backoff, self.backoff * 2**attempt) * random.uniform(0.5, 1.0)

    def generate(self, prompts: list[Messages], params: SamplingParams, seeds=None) -> list[list[str]]:
        seeds = list(seeds) if seeds is not None else [params.seed] * len(prompts)
        if len(seeds) != len(prompts):
            raise ValueError(f"openai backend: {len(seeds)} seeds for {len(prompts)} prompts")
        if not prompts:
            return []
        params = params.with_model_defaults(self.model_defaults())  # as generate_cached does, for direct calls
        requests = [self._request(chat, params, seed) for chat, seed in zip(prompts, seeds)]
        replies = _run(self._send_all(requests))
        return [self._texts(reply, params) for reply in replies]

    def label_logprobs(self, prompts: list[Messages], labels: list[str]) -> list[dict[str, float]]:
        """The labels among the first reply token's ``top_logprobs`` (:data:`TOP_LOGPROBS`; greedy, one token).

        A server that ignores ``logprobs`` (``transformers serve`` does, with a warning in its log) is a clear error.
        """
        if not prompts:
            return []
        ask = {"temperature": 0.0, "max_tokens": 1, "seed": 0, "logprobs": True, "top_logprobs": TOP_LOGPROBS}
        replies = _run(self._send_all([{"model": self.model, "messages": chat, **ask} for chat in prompts]))
        out = []
        for reply in replies:
            content = getattr(reply.choices[0].logprobs, "content", None) if reply.choices else None
            if not content:
                raise EndpointRefused(
                    f"{self.base_url} (model {self.model!r}) returned no log-probabilities: the server ignores "
                    "`logprobs` (transformers serve does); judge with scoring: text, or serve the judge with vLLM"
                )
            out.append(labels_among([(t.token, t.logprob) for t in content[0].top_logprobs or []], labels))
        return out

    async def _send_all(self, requests: list[dict]) -> list:
        """Every request, at most ``max_concurrency`` in flight; the replies in order."""
        openai = _import_openai()
        in_flight = asyncio.Semaphore(self.max_concurrency)
        client = openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=self.api_key or "EMPTY",
            timeout=self.timeout,
            max_retries=self.max_retries,
        )
        async with client:
            tasks = [asyncio.ensure_future(self._ask(openai, client, in_flight, request)) for request in requests]
            try:
                return await asyncio.gather(*tasks)
            except BaseException:  # one request failed for good: stop the others before the client closes
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise

    def _request(self, messages: Messages, params: SamplingParams, seed: int) -> dict:
        """Every sampling parameter, explicitly (never the server's defaults)."""
        request = {
            "model": self.model,
            "messages": messages,
            "temperature": params.temperature,
            "top_p": params.top_p if params.temperature > 0 else 1.0,
            "max_tokens": params.max_new_tokens,
            "seed": seed,
        }
        if params.n > 1:  # sent only when needed: some servers (transformers serve) ignore it
            request["n"] = params.n
        if params.stop:
            request["stop"] = list(params.stop)
        neutral = {"top_k": 0, "repetition_penalty": 1.0}  # values that change nothing are not sent
        extras = {k: getattr(params, k) for k in neutral if getattr(params, k) not in (None, neutral[k])}
        if extras and self.send_defaults == "vllm":
            request["extra_body"] = extras
        elif extras and self.send_defaults == "transformers":
            request["extra_body"] = {"generation_config": json.dumps(extras)}
        return request

    def model_defaults(self) -> dict:
        """The model's defaults as :class:`Backend` reads them, or ``{}`` when they are not sent (``off``)."""
        return {} if self.send_defaults == "off" else super().model_defaults()

    async def _ask(self, openai, client, in_flight, request: dict):
        for attempt in range(self.retries + 1):
            try:
                async with in_flight:
                    reply = await client.chat.completions.create(**request)
                break
            except openai.APIError as error:
                where = f"{self.base_url} (model {self.model!r})"
                if not _retryable(openai, error):
                    hint = ""
                    if getattr(error, "status_code", None) == 422 and self.send_defaults == "vllm":
                        hint = (
                            " (a transformers serve? it takes the model's sampling defaults in its own field: "
                            "MIPO_BENCH_API_MODEL_DEFAULTS=transformers)"
                        )
                    raise EndpointRefused(f"{where} refused the request: {error}{hint}") from error
                if attempt == self.retries:
                    raise EndpointUnavailable(
                        f"{where} failed {attempt + 1} time(s) in a row, each after the client's own "
                        f"{self.max_retries} retries (timeout {self.timeout:g} s per attempt): {error!r}"
                    ) from error
                await asyncio.sleep(self.retry_delay(attempt))
        return reply

    def _texts(self, reply, params: SamplingParams) -> list[str]:
        """The reply's completions in order, cut at the first stop string; a server that ignored ``n`` is an error."""
        choices = sorted(reply.choices, key=lambda choice: choice.index or 0)
        texts = [truncate_at_stop(choice.message.content or "", params.stop) for choice in choices]
        if len(texts) != params.n:
            raise EndpointRefused(
                f"{self.base_url} (model {self.model!r}) returned {len(texts)} completion(s) for n={params.n}: the "
                "server ignores n; ask for n=1 (generate_cached always does)"
            )
        return texts
