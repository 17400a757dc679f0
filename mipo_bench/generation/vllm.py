"""vLLM backend (GPU): ``LLM.chat`` with explicit ``SamplingParams``, one seed per request.

Options: ``tensor_parallel_size`` (shard a big model over GPUs), ``data_parallel_size`` (one replica per visible GPU for
small models: prompts are sharded over replicas), ``gpu_memory_utilization``, ``dtype``, ``enable_prefix_caching``
(default true: vLLM's automatic prefix caching, so prompts beginning alike, e.g. a judged response asked about each of
its preferences, reuse the prefix's key/value blocks; false turns it off). vLLM is imported lazily; install it with
``pip install 'mipo-bench[vllm]'`` on a GPU machine.

How it lives in a ``reproduce`` run, where one process builds pairs, revisions, judgments and readings in turn:

- The engine is built on the first :meth:`VLLMBackend.generate`, never in the constructor: a stage whose outputs are
  cached builds none.
- One engine per (model, options) per process (:data:`_ENGINES`), reused by every backend that asks for the same; an
  engine for another model first frees the one held (each takes ``gpu_memory_utilization`` of the card), and
  :meth:`VLLMBackend.close` frees it (the stages that build a backend close it when they are done).
- Replicas (``data_parallel_size`` > 1) are ordinary, non-daemon processes (vLLM's V1 engine starts an engine-core
  process of its own, which a daemonic process may not), one per GPU of the parent's ``CUDA_VISIBLE_DEVICES`` mask (GPU
  ``i`` of the mask, never physical GPU ``i``), stopped by :meth:`close` and at exit.
- Every call hands vLLM all of its requests (``takes_whole_list``: ``generate_cached`` sends one batch), for vLLM's
  own continuous batching; nothing is split into the small batches the hf backend needs.
"""

from __future__ import annotations

import atexit
import gc
import multiprocessing as mp
import os

from ..core.resources import import_optional
from .base import TOP_LOGPROBS, Backend, Messages, SamplingParams, labels_among, truncate_at_stop


def _import_vllm():
    return import_optional("vllm", "vllm", "the vllm backend (GPU only)")


class _Engine:
    """One vLLM engine (in this process or in a replica process)."""

    def __init__(self, path: str, options: dict):
        self.vllm = _import_vllm()
        self.llm = self.vllm.LLM(
            model=path,
            dtype=options.get("dtype", "bfloat16"),
            tensor_parallel_size=int(options.get("tensor_parallel_size", 1)),
            gpu_memory_utilization=float(options.get("gpu_memory_utilization", 0.85)),
            trust_remote_code=bool(options.get("trust_remote_code", False)),
            enable_prefix_caching=bool(options.get("enable_prefix_caching", True)),
        )

    def free(self) -> None:
        """Drop the engine and give its GPU memory back (vLLM's own clean-up where it has one)."""
        self.llm = None
        gc.collect()
        try:
            from vllm.distributed.parallel_state import cleanup_dist_env_and_memory
        except ImportError:
            cleanup_dist_env_and_memory = None
        if cleanup_dist_env_and_memory is not None:
            cleanup_dist_env_and_memory()

    def generate(self, prompts: list[Messages], params: dict, seeds: list[int]) -> list[list[str]]:
        p = SamplingParams(**{**params, "stop": tuple(params["stop"])})
        defaults = {}  # the model's defaults the scripts' model.generate applied (filled in by generate_cached)
        if p.top_k and p.temperature > 0:
            defaults["top_k"] = p.top_k
        if p.repetition_penalty is not None:
            defaults["repetition_penalty"] = p.repetition_penalty
        sampling = [
            self.vllm.SamplingParams(
                n=p.n,
                temperature=p.temperature,
                top_p=p.top_p if p.temperature > 0 else 1.0,
                max_tokens=p.max_new_tokens,
                stop=list(p.stop) or None,
                seed=seed,
                **defaults,
            )
            for seed in seeds
        ]
        outputs = self.llm.chat(prompts, sampling, use_tqdm=False)
        return [[truncate_at_stop(o.text, p.stop) for o in out.outputs] for out in outputs]

    def label_logprobs(self, prompts: list[Messages], labels: list[str]) -> list[dict[str, float]]:
        """The labels among the first reply token's top :data:`TOP_LOGPROBS` log-probabilities (greedy, one token)."""
        sampling = self.vllm.SamplingParams(n=1, temperature=0.0, max_tokens=1, logprobs=TOP_LOGPROBS, seed=0)
        outputs = self.llm.chat(prompts, [sampling] * len(prompts), use_tqdm=False)
        out = []
        for result in outputs:
            first = (result.outputs[0].logprobs or [{}])[0]  # token id -> Logprob(logprob, rank, decoded_token)
            out.append(labels_among([(lp.decoded_token, lp.logprob) for lp in first.values()], labels))
        return out


def _replica(gpu: str, path: str, options: dict, conn) -> None:
    os.environ["CUDA_VISIBLE_DEVICES"] = gpu  # before vLLM initializes CUDA: the parent's GPU, as the child sees it
    try:
        engine = _Engine(path, options)
        conn.send(("ready", None))
    except BaseException as e:  # report start-up failures to the parent instead of hanging it
        conn.send(("error", repr(e)))
        return
    while True:
        job = conn.recv()
        if job is None:
            engine.free()
            return
        method, args = job
        try:
            conn.send(("ok", getattr(engine, method)(*args)))
        except BaseException as e:
            conn.send(("error", repr(e)))


def visible_gpus(count: int) -> list[str]:
    """The GPUs ``count`` replicas run on: the first ``count`` of the parent's ``CUDA_VISIBLE_DEVICES`` (ids or UUIDs,
    as given), else ``0 .. count-1``; an error when the mask has fewer."""
    mask = os.environ.get("CUDA_VISIBLE_DEVICES")
    gpus = [g.strip() for g in mask.split(",") if g.strip()] if mask is not None else [str(i) for i in range(count)]
    if len(gpus) < count:
        raise ValueError(
            f"vllm: data_parallel_size={count} replicas, but CUDA_VISIBLE_DEVICES={mask!r} shows {len(gpus)}"
        )
    return gpus[:count]


class _Replicas:
    """``data_parallel_size`` replica processes, one per visible GPU, each holding one engine."""

    def __init__(self, path: str, options: dict, count: int):
        _import_vllm()  # fail fast with the install hint
        ctx = mp.get_context("spawn")
        self.workers = []
        for gpu in visible_gpus(count):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_replica, args=(gpu, path, options, child), daemon=False)
            proc.start()
            self.workers.append((proc, parent))
        atexit.register(self.free)
        for gpu, (_, conn) in zip(visible_gpus(count), self.workers):
            status, detail = conn.recv()
            if status != "ready":
                self.free()
                raise RuntimeError(f"vLLM replica on GPU {gpu} failed to start: {detail}")

    def generate(self, prompts: list[Messages], params: dict, seeds: list[int]) -> list[list[str]]:
        return self._sharded("generate", prompts, lambda idx: (params, [seeds[i] for i in idx]))

    def label_logprobs(self, prompts: list[Messages], labels: list[str]) -> list[dict[str, float]]:
        return self._sharded("label_logprobs", prompts, lambda idx: (labels,))

    def _sharded(self, method: str, prompts: list[Messages], rest) -> list:
        """``method`` of every replica on its share of ``prompts`` (``rest(indices)``: its other arguments)."""
        shards = [list(range(i, len(prompts), len(self.workers))) for i in range(len(self.workers))]
        for (_, conn), idx in zip(self.workers, shards):
            conn.send((method, ([prompts[i] for i in idx], *rest(idx))))
        out: list = [None] * len(prompts)
        for (_, conn), idx in zip(self.workers, shards):
            status, result = conn.recv()
            if status != "ok":
                raise RuntimeError(f"vLLM replica failed: {result}")
            for i, value in zip(idx, result):
                out[i] = value
        return out

    def free(self) -> None:
        for _, conn in self.workers:
            try:
                conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        for proc, _ in self.workers:
            proc.join(timeout=60)
            if proc.is_alive():
                proc.terminate()
        self.workers = []


_ENGINES: dict[str, object] = {}
"""The engine (or replica set) of this process, by (model path, options): at most one is held at a time."""


def _engine_key(path: str, options: dict) -> str:
    return repr((path, sorted((k, repr(v)) for k, v in options.items())))


def release_engines() -> None:
    """Free every engine this process holds."""
    while _ENGINES:
        _, engine = _ENGINES.popitem()
        engine.free()


class VLLMBackend(Backend):
    takes_whole_list = True

    def __init__(self, model: str, options: dict | None = None):
        super().__init__(model, dict(options or {}))
        _import_vllm()  # fail fast with the install hint; the engine itself is built on first use
        self.replicas = int(self.options.get("data_parallel_size", 1))

    def _engine_options(self) -> tuple[str, dict, str]:
        """The model path, the engine's options, and the key of its engine in :data:`_ENGINES`."""
        from ..core.models import resolve_model_path

        path = str(resolve_model_path(self.model))
        options = {k: v for k, v in self.options.items() if k not in ("data_parallel_size", "batch_size", "device")}
        return path, options, _engine_key(path, {**options, "replicas": self.replicas})

    def _engine(self):
        path, options, key = self._engine_options()
        if key not in _ENGINES:
            release_engines()  # one engine at a time: another model's takes the card's memory first
            _ENGINES[key] = _Replicas(path, options, self.replicas) if self.replicas > 1 else _Engine(path, options)
        return _ENGINES[key]

    def generate(self, prompts: list[Messages], params: SamplingParams, seeds=None) -> list[list[str]]:
        seeds = seeds or [params.seed] * len(prompts)
        if not prompts:
            return []
        params = params.with_model_defaults(self.model_defaults())  # as generate_cached does, for direct calls
        return self._engine().generate(prompts, params.to_dict(), seeds)

    def label_logprobs(self, prompts: list[Messages], labels: list[str]) -> list[dict[str, float]]:
        return self._engine().label_logprobs(prompts, labels) if prompts else []

    def close(self) -> None:
        """Free the engine of this backend's model and options, if one is held (built again on the next use)."""
        engine = _ENGINES.pop(self._engine_options()[2], None)
        if engine is not None:
            engine.free()
