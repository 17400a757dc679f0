"""The backend interface, sampling parameters, and the resumable JSONL cache."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ..core.registry import Registry
from ..core.runs import append_jsonl, content_hash, read_jsonl

Messages = list[dict]


@dataclass(frozen=True)
class SamplingParams:
    """Every generation parameter, stated explicitly (never the model's generation-config defaults).

    Args:
        n: samples per prompt.
        temperature: 0 means greedy decoding.
        top_p: nucleus sampling mass (ignored when greedy).
        max_new_tokens: generation budget per sample.
        stop: strings that end a sample: generation stops there and the string is cut from the returned text.
        top_k: keep the k most likely tokens (0: off); None = the model's default as the released scripts'
            ``model.generate`` applied it (its generation_config.json, else transformers' 50), filled in by
            :func:`generate_cached` from the backend (:mod:`.model_defaults`) and part of every cache key.
        repetition_penalty: likewise (Qwen2.5: 1.05; 1.0 = off).
        seed: base seed. Through :func:`generate_cached`, sample ``i`` of a chat depends only on (model weights,
            chat, these parameters, ``i``): each request gets its own seed derived from its cache key, and every
            backend samples each request from its own seed (the hf backend with one ``torch.Generator`` per row,
            vLLM and OpenAI-compatible servers with a per-request ``seed``), whatever the batch it lands in or the
            point a run resumed from. What is not guaranteed: bit-identical logits across different padded
            lengths or batch sizes (float rounding in batched kernels), which can flip a near-tie token; the hf
            backend pads each prompt to a length bucket of its own so that batch size does not change padding.
    """

    n: int = 1
    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int = 0
    top_k: int | None = None
    repetition_penalty: float | None = None

    def to_dict(self) -> dict:
        return {**asdict(self), "stop": list(self.stop)}

    def with_model_defaults(self, defaults: dict) -> "SamplingParams":
        """These settings with ``top_k`` / ``repetition_penalty`` left None filled from ``defaults`` (a backend's
        :meth:`Backend.model_defaults`: what the released scripts' ``model.generate`` applied). Greedy decoding
        takes no top-k."""
        from dataclasses import replace

        fill = {k: defaults[k] for k in ("top_k", "repetition_penalty") if getattr(self, k) is None and k in defaults}
        if self.temperature <= 0:
            fill.pop("top_k", None)
        return replace(self, **fill) if fill else self


@dataclass
class Backend:
    """A generation backend. Subclasses implement :meth:`generate`."""

    model: str
    options: dict = field(default_factory=dict)
    takes_whole_list = False  # True: generate_cached hands it every request at once (vLLM batches them itself)

    def close(self) -> None:
        """Free what the backend holds (a vLLM engine, GPU memory); a stage that built a backend closes it."""

    def fingerprint(self) -> str:
        """What the model *is*, for cache keys (computed once): the content hash of its weights
        (:func:`..core.models.model_fingerprint`), so a retrained checkpoint at the same path is a new model."""
        if getattr(self, "_fingerprint", None) is None:
            from ..core.models import model_fingerprint

            self._fingerprint = model_fingerprint(self.model)
        return self._fingerprint

    def generate(
        self, prompts: list[Messages], params: SamplingParams, seeds: list[int] | None = None
    ) -> list[list[str]]:
        """For each chat, ``params.n`` completions (texts only, cut at the first stop string).

        ``seeds`` (one per prompt) make sampling reproducible; default: ``params.seed`` for all.
        """
        raise NotImplementedError

    def label_logprobs(self, prompts: list[Messages], labels: list[str]) -> list[dict[str, float]]:
        """For each chat, the log-probability of each label (e.g. "1".."5") as the first token of the assistant's
        reply: the whole distribution's value on ``hf``; on vLLM and OpenAI-compatible servers, the labels among the
        top :data:`TOP_LOGPROBS` next tokens (a label not among them is absent). Used by ``scoring: logprob``."""
        raise NotImplementedError(
            f"the {type(self).__name__} backend cannot read next-token log-probabilities: judge with scoring: text"
        )

    def model_defaults(self) -> dict:
        """The sampling defaults the released scripts' ``model.generate`` applied for this model (``top_k``,
        ``repetition_penalty`` and their sources, :mod:`.model_defaults`), read from its files; ``{}`` when the model
        is not on this machine. The pairs, revision and MI stages record it in their manifests."""
        if getattr(self, "_model_defaults", None) is None:
            from .model_defaults import model_defaults

            self._model_defaults = model_defaults(self.model)
        return self._model_defaults

    def count_tokens(self, texts: list[str]) -> dict:
        """``{"tokens", "counter"}``: the generated tokens of ``texts`` for cost accounting, by the model's tokenizer
        (``counter: "tokenizer"``: the tokenizer of the model spec, loaded as every stage loads it), else, where
        it cannot be loaded (a served model's name), whitespace words (``counter: "words"``)."""
        from ..core.models import load_tokenizer

        if not hasattr(self, "_count_tokenizer"):  # loaded once per backend (the critic counts every rollout batch)
            try:
                self._count_tokenizer = load_tokenizer(self.model)
            except Exception:  # noqa: BLE001 - a cost figure must never fail the stage that generated
                self._count_tokenizer = None
        tokenizer = self._count_tokenizer
        if tokenizer is not None:
            return {
                "tokens": sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts),
                "counter": "tokenizer",
            }
        return {"tokens": sum(len(t.split()) for t in texts), "counter": "words"}


TOP_LOGPROBS = 20
"""How many next-token log-probabilities a server is asked for (OpenAI's maximum ``top_logprobs``; vLLM's default
``max_logprobs``)."""


def labels_among(top: list[tuple[str, float]], labels: list[str]) -> dict[str, float]:
    """The labels' log-probabilities among a server's top next tokens ``(token, logprob)``: a token is a label when it
    is one with its surrounding spaces stripped ("4", " 4" and "4 " are all label "4", their probabilities summed);
    a label not among them is left out."""
    out: dict[str, float] = {}
    for token, logprob in top:
        label = (token or "").strip()
        if label in labels:
            out[label] = float(logprob) if label not in out else math.log(math.exp(out[label]) + math.exp(logprob))
    return out


# Engine options a recipe's pairs section may pass to any backend's constructor (each backend takes what it knows).
BACKEND_OPTIONS = ("tensor_parallel_size", "data_parallel_size", "gpu_memory_utilization", "dtype", "device")
BACKENDS: Registry[Callable[[], type]] = Registry("generation backend")
"""name -> a function returning the backend class (imported on use: vLLM is an optional GPU extra)."""


@BACKENDS.register("hf")
def _hf() -> type:
    from .hf import HFBackend

    return HFBackend


@BACKENDS.register("vllm")
def _vllm() -> type:
    from .vllm import VLLMBackend

    return VLLMBackend


@BACKENDS.register("openai")
def _openai() -> type:
    from .openai_compat import OpenAICompatBackend

    return OpenAICompatBackend


@BACKENDS.register("ray")
def _ray() -> type:
    from .ray_exec import RayBackend

    return RayBackend


def get_backend(name: str, model: str, **options) -> Backend:
    """A backend by its registered name (``hf``, ``vllm``, ``openai``, or one registered from outside)."""
    return BACKENDS.get(name)()(model, options)


def truncate_at_stop(text: str, stop: tuple[str, ...] | list[str]) -> str:
    cut = min((text.find(s) for s in stop if s and s in text), default=-1)
    return text[:cut] if cut >= 0 else text


UNSET_OK = ("top_k", "repetition_penalty")  # left out of a key while None: keys made before they existed still match


def row_key(model: str, messages: Messages, params: SamplingParams, index: int, salt: str = "") -> str:
    """Cache key of one sample; ``model`` is the backend's :meth:`Backend.fingerprint` (weights, not a path);
    ``salt`` keeps independent draws apart (e.g. a chosen and a rejected side that happen to share a prompt)."""
    sampling = {k: v for k, v in params.to_dict().items() if k != "n" and not (k in UNSET_OK and v is None)}
    return content_hash({"model": model, "messages": messages, "sampling": sampling, "index": index, "salt": salt})


def request_seed(seed: int, key: str) -> int:
    """The seed of one request: the base seed plus a number derived from its cache key."""
    return seed + int(key[:8], 16) % 1_000_003


def generate_batches(backend: Backend, batches: list[tuple[list[Messages], list[int]]], params: SamplingParams):
    """``(index, outputs)`` for each ``(prompts, seeds)`` batch as it finishes: one after another, or, for a backend
    with its own ``generate_batches`` (``ray``: batches run on several workers at once), in the order they finish."""
    concurrent = getattr(backend, "generate_batches", None)
    if concurrent is not None:
        yield from concurrent(batches, params)
        return
    for index, (prompts, seeds) in enumerate(batches):
        yield index, backend.generate(prompts, params, seeds)


def generate_cached(
    backend: Backend,
    requests: list[dict],
    params: SamplingParams,
    out_path: str | Path,
    batch_size: int = 32,
    progress=None,
) -> list[dict]:
    """Generate for ``requests`` (dicts with ``id``, ``messages``, optional ``salt``), appending to ``out_path``.

    Rows already in the file (same key) are reused; the rest are generated in batches and appended after each
    batch. Keys hash the model's weights (:meth:`Backend.fingerprint`), so a retrained model at the same path is
    generated afresh. ``params``' open ``top_k`` / ``repetition_penalty`` are filled from the backend's model defaults
    first (:meth:`SamplingParams.with_model_defaults`), so they are in every key and row. Each sample is drawn with
    its own seed, derived from (``params.seed``, its key): it does not
    depend on ``batch_size``, on its batch neighbours or on where a run resumed. Returns, in request order, one row
    per (request, sample index): ``{key, id, index, messages, text, model, model_fingerprint, sampling}``.
    """
    fingerprint = backend.fingerprint()
    params = params.with_model_defaults(backend.model_defaults())  # what the scripts' model.generate applied
    done = {row["key"]: row for row in read_jsonl(out_path)}
    todo, queued = [], set()
    for req in requests:
        for i in range(params.n):
            key = row_key(fingerprint, req["messages"], params, i, req.get("salt", ""))
            if key not in done and key not in queued:  # identical requests are generated once
                queued.add(key)
                todo.append((key, req, i))
    one = SamplingParams(**{**params.to_dict(), "n": 1, "stop": tuple(params.stop)})
    task = progress.add_task("generating", total=len(todo)) if progress is not None and todo else None
    if backend.takes_whole_list:  # one call with every request: the engine batches them itself
        batch_size = max(len(todo), 1)
    batches = [todo[start : start + batch_size] for start in range(0, len(todo), batch_size)]
    inputs = [([req["messages"] for _, req, _ in b], [request_seed(one.seed, key) for key, _, _ in b]) for b in batches]
    for index, outputs in generate_batches(backend, inputs, one):
        batch, texts = batches[index], [t[0] for t in outputs]
        rows = [
            {
                "key": key,
                "id": req["id"],
                "index": i,
                "messages": req["messages"],
                "text": text,
                "model": backend.model,  # the spec, for humans; the key holds the weights' fingerprint
                "model_fingerprint": fingerprint,
                "sampling": one.to_dict(),
            }
            for (key, req, i), text in zip(batch, texts)
        ]
        append_jsonl(out_path, rows)
        done.update((r["key"], r) for r in rows)
        if task is not None:
            progress.advance(task, len(batch))
    # identical requests share one generated row; each gets it back under its own id
    return [
        {**done[row_key(fingerprint, req["messages"], params, i, req.get("salt", ""))], "id": req["id"]}
        for req in requests
        for i in range(params.n)
    ]
