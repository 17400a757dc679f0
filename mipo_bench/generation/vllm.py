"""vLLM backend (GPU): ``LLM.chat`` with explicit ``SamplingParams``, one seed per request.

Options: ``tensor_parallel_size`` (shard a big model over GPUs), ``data_parallel_size`` (one replica per GPU for
small models: prompts are sharded over replicas, each a process pinned to one GPU with ``CUDA_VISIBLE_DEVICES``),
``gpu_memory_utilization``, ``dtype``, ``enable_prefix_caching`` (default true: vLLM's automatic prefix caching, so
prompts beginning alike, e.g. a judged response asked about each of its preferences, reuse the prefix's key/value
blocks; false turns it off). vLLM is imported lazily; install it with ``pip install 'mipo-bench[vllm]'``
on a GPU machine.
"""

from __future__ import annotations

import multiprocessing as mp
import os

from ..core.resources import import_optional
from .base import Backend, Messages, SamplingParams, truncate_at_stop


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

    def generate(self, prompts: list[Messages], params: dict, seeds: list[int]) -> list[list[str]]:
        p = SamplingParams(**{**params, "stop": tuple(params["stop"])})
        sampling = [
            self.vllm.SamplingParams(
                n=p.n,
                temperature=p.temperature,
                top_p=p.top_p if p.temperature > 0 else 1.0,
                max_tokens=p.max_new_tokens,
                stop=list(p.stop) or None,
                seed=seed,
            )
            for seed in seeds
        ]
        outputs = self.llm.chat(prompts, sampling, use_tqdm=False)
        return [[truncate_at_stop(o.text, p.stop) for o in out.outputs] for out in outputs]


def _replica(gpu: int, path: str, options: dict, conn) -> None:
    os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)  # before vLLM initializes CUDA
    try:
        engine = _Engine(path, options)
        conn.send(("ready", None))
    except BaseException as e:  # report start-up failures to the parent instead of hanging it
        conn.send(("error", repr(e)))
        return
    while True:
        job = conn.recv()
        if job is None:
            return
        try:
            conn.send(("ok", engine.generate(*job)))
        except BaseException as e:
            conn.send(("error", repr(e)))


class VLLMBackend(Backend):
    def __init__(self, model: str, options: dict | None = None):
        super().__init__(model, dict(options or {}))
        from ..core.models import resolve_model_path

        path = resolve_model_path(model)
        self.replicas = int(self.options.get("data_parallel_size", 1))
        if self.replicas <= 1:
            self.engine = _Engine(path, self.options)
            return
        _import_vllm()  # fail fast with the install hint
        ctx = mp.get_context("spawn")
        self.workers = []
        for gpu in range(self.replicas):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_replica, args=(gpu, path, self.options, child), daemon=True)
            proc.start()
            self.workers.append((proc, parent))
        for gpu, (_, conn) in enumerate(self.workers):
            status, detail = conn.recv()
            if status != "ready":
                self.close()
                raise RuntimeError(f"vLLM replica on GPU {gpu} failed to start: {detail}")

    def generate(self, prompts: list[Messages], params: SamplingParams, seeds=None) -> list[list[str]]:
        seeds = seeds or [params.seed] * len(prompts)
        if self.replicas <= 1:
            return self.engine.generate(prompts, params.to_dict(), seeds)
        shards = [list(range(i, len(prompts), self.replicas)) for i in range(self.replicas)]
        for (_, conn), idx in zip(self.workers, shards):
            conn.send(([prompts[i] for i in idx], params.to_dict(), [seeds[i] for i in idx]))
        out: list[list[str] | None] = [None] * len(prompts)
        for (_, conn), idx in zip(self.workers, shards):
            status, result = conn.recv()
            if status != "ok":
                raise RuntimeError(f"vLLM replica failed: {result}")
            for i, texts in zip(idx, result):
                out[i] = texts
        return out  # type: ignore[return-value]

    def close(self) -> None:
        for proc, conn in getattr(self, "workers", []):
            try:
                conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            proc.join(timeout=30)
