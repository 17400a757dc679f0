"""The ``ray`` backend: shard generation over a Ray cluster, each worker running one of the existing backends.

Any stage that takes a backend name (pairs and revisions through ``pairs.backend``, ``judge --backend``,
``mi --backend``) can name ``ray``. The driver starts one Ray actor per worker; each actor builds the worker
backend (``hf`` on CPU, ``vllm`` on GPU) from its name, the model and the options. :func:`generate_cached` hands the
not-yet-cached requests over in shards of ``batch_size`` (in cache order), and :meth:`RayBackend.generate_batches`
yields each shard as it finishes (``ray.wait``), so its rows are appended to the same JSONL cache at once: a worker
that dies loses at most the shard it was running, which goes back to the queue for the surviving workers; when none
is left the run stops, and a rerun resumes from the cache. Each request carries its own seed, so the texts are
those of a single-process run with the same worker backend.

Options (the rest go to every worker's backend, e.g. ``batch_size``, ``dtype``, ``device``):

- ``ray_backend``: the worker backend's registered name; default ``$MIPO_BENCH_RAY_BACKEND``, else ``vllm`` when
  the cluster has GPUs and ``hf`` when it has none. The driver resolves the name, so a backend registered from
  outside (in the driver) runs on the workers too.
- ``workers``: how many actors (``data_parallel_size``, the recipe's replica count, is read the same way); default
  ``$MIPO_BENCH_RAY_WORKERS``, else as many as the cluster's GPUs (or CPUs) hold.
- ``num_cpus`` / ``num_gpus``: Ray resources per worker; default 1 CPU, and on GPU clusters
  ``tensor_parallel_size`` GPUs (default 1).
- ``address``: the cluster; default Ray's own lookup (``$RAY_ADDRESS``, else the cluster ``ray start`` started on
  this machine, else a new local one). A Ray session already initialized in this process is used as it is.

Ray is an optional extra (``pip install 'mipo-bench[ray]'``), imported on first use.
"""

from __future__ import annotations

import os
from collections import deque
from typing import Iterator

from ..core.resources import import_optional
from .base import BACKENDS, Backend, Messages, SamplingParams

RAY_OPTIONS = ("ray_backend", "workers", "data_parallel_size", "num_cpus", "num_gpus", "address")


def _import_ray():
    return import_optional("ray", "ray", "the ray backend")


class _Worker:
    """One Ray actor: builds its backend once and generates the shards it is sent."""

    def __init__(self, backend_class: type, model: str, options: dict):
        self.backend = backend_class(model, options)

    def generate(self, prompts: list[Messages], params: SamplingParams, seeds: list[int]) -> list[list[str]]:
        return self.backend.generate(prompts, params, seeds)


class RayBackend(Backend):
    """A backend whose :meth:`generate_batches` runs shards on Ray actors; see the module docstring for options."""

    def __init__(self, model: str, options: dict | None = None):
        super().__init__(model, dict(options or {}))
        self.worker_options = {k: v for k, v in self.options.items() if k not in RAY_OPTIONS}
        backend = self.options.get("ray_backend") or os.environ.get("MIPO_BENCH_RAY_BACKEND")
        if backend == "ray":
            raise ValueError("ray_backend: the workers need a backend that generates (hf, vllm, ...), not ray")
        self.backend_name = backend  # None: chosen from the cluster's resources when the workers start
        self.workers: list = []  # the live actors, started on first use

    def fingerprint(self) -> str:
        """The worker backend's own fingerprint (computed here, on the driver), so a Ray run and a single-process
        run of the same backend share one cache."""
        if getattr(self, "_fingerprint", None) is None:
            worker_class = BACKENDS.get(self.backend_name or "hf")()
            self._fingerprint = worker_class.fingerprint(self)  # hf / vllm: the weights' hash (Backend's own)
        return self._fingerprint

    def _resources(self, ray) -> tuple[int, float, float]:
        """(workers, CPUs per worker, GPUs per worker), from the options, the environment and the cluster."""
        cluster = ray.cluster_resources()
        gpus_in_cluster = int(cluster.get("GPU", 0))
        if self.backend_name is None:
            self.backend_name = "vllm" if gpus_in_cluster else "hf"
        num_cpus = float(self.options.get("num_cpus", 1))
        default_gpus = int(self.options.get("tensor_parallel_size", 1)) if gpus_in_cluster else 0
        num_gpus = float(self.options.get("num_gpus", default_gpus))
        workers = self.options.get("workers") or self.options.get("data_parallel_size")
        workers = workers or os.environ.get("MIPO_BENCH_RAY_WORKERS")
        if not workers:
            workers = int(gpus_in_cluster // num_gpus) if num_gpus else int(cluster.get("CPU", 1) // num_cpus)
        workers = int(workers)
        if workers < 1:
            raise ValueError(f"the ray backend needs at least one worker (cluster resources: {cluster})")
        needed = {"CPU": workers * num_cpus, "GPU": workers * num_gpus}
        short = {k: v for k, v in needed.items() if v > cluster.get(k, 0)}
        if short:  # Ray would leave the actors pending forever
            raise ValueError(
                f"{workers} ray workers x ({num_cpus} CPU, {num_gpus} GPU) need {short}; the cluster has {cluster}"
            )
        return workers, num_cpus, num_gpus

    def start(self) -> list:
        """Connect to (or start) Ray and start the workers, once."""
        if self.workers:
            return self.workers
        ray = _import_ray()
        if not ray.is_initialized():
            ray.init(address=self.options.get("address"), log_to_driver=False)
        workers, num_cpus, num_gpus = self._resources(ray)
        worker_class = BACKENDS.get(self.backend_name)()
        actor = ray.remote(_Worker).options(num_cpus=num_cpus, num_gpus=num_gpus, max_restarts=0)
        self.workers = [actor.remote(worker_class, self.model, self.worker_options) for _ in range(workers)]
        return self.workers

    def generate_batches(
        self, batches: list[tuple[list[Messages], list[int]]], params: SamplingParams
    ) -> Iterator[tuple[int, list[list[str]]]]:
        """``(index, outputs)`` for each ``(prompts, seeds)`` batch, in the order the workers finish them.

        A batch whose worker dies is sent again to another worker; a batch whose backend raises stops the
        dispatch, the batches in flight are still yielded, then the error is raised. When every worker has died the
        run stops with the batches left ungenerated (a rerun resumes from the cache).
        """
        if not batches:  # a fully cached stage starts no cluster
            return
        ray = _import_ray()
        from ray.exceptions import NodeDiedError, ObjectLostError, RayActorError, WorkerCrashedError

        lost_worker = (RayActorError, WorkerCrashedError, NodeDiedError, ObjectLostError)
        pending = deque(range(len(batches)))
        idle = list(self.start())
        running: dict = {}  # ObjectRef -> (batch index, worker)
        failure: BaseException | None = None
        while pending or running:
            while idle and pending and failure is None:
                worker, index = idle.pop(), pending.popleft()
                prompts, seeds = batches[index]
                running[worker.generate.remote(prompts, params, seeds)] = (index, worker)
            if not running:
                break
            (ref,), _ = ray.wait(list(running), num_returns=1)
            index, worker = running.pop(ref)
            try:
                outputs = ray.get(ref)
            except lost_worker as e:  # the worker died mid-batch: nothing of it was written; retry elsewhere
                self.workers = [w for w in self.workers if w is not worker]
                pending.appendleft(index)
                if not self.workers and failure is None:
                    failure = RuntimeError(
                        f"every ray worker died ({len(pending)} of {len(batches)} batches not generated; the "
                        f"finished ones are cached: rerun to resume). Last error: {e}"
                    )
                continue
            except Exception as e:  # the backend itself failed: finish what is in flight, then raise
                failure = failure or e
                idle.append(worker)
                continue
            idle.append(worker)
            yield index, outputs
        if failure is not None:
            raise failure

    def generate(self, prompts: list[Messages], params: SamplingParams, seeds=None) -> list[list[str]]:
        """All of ``prompts`` at once, split evenly over the workers (for callers outside :func:`generate_cached`)."""
        seeds = list(seeds) if seeds is not None else [params.seed] * len(prompts)
        size = max(1, -(-len(prompts) // len(self.start())))
        shards = [(prompts[s : s + size], seeds[s : s + size]) for s in range(0, len(prompts), size)]
        out: list = [None] * len(shards)
        for index, outputs in self.generate_batches(shards, params):
            out[index] = outputs
        return [texts for shard in out for texts in shard]

    def close(self) -> None:
        """Stop the workers (Ray itself is left running: it may serve other stages of this process)."""
        if self.workers:
            ray = _import_ray()
            for worker in self.workers:
                ray.kill(worker)
        self.workers = []
