"""vLLM backend (GPU): ``LLM.chat`` with explicit ``SamplingParams``, one seed per request.

Options: ``tensor_parallel_size`` (shard a big model over GPUs), ``gpu_memory_utilization``, ``dtype``.
vLLM is imported lazily; install it with ``pip install 'mipo-bench[vllm]'`` on a GPU machine.
"""

from __future__ import annotations

from .base import Backend, Messages, SamplingParams, truncate_at_stop


class VLLMBackend(Backend):
    def __init__(self, model: str, options: dict | None = None):
        super().__init__(model, dict(options or {}))
        try:
            import vllm
        except ImportError as e:
            raise ImportError("the vllm backend needs vLLM (GPU only): pip install 'mipo-bench[vllm]'") from e
        from ..models import resolve_model_path

        self._vllm = vllm
        self.llm = vllm.LLM(
            model=resolve_model_path(model),
            dtype=self.options.get("dtype", "bfloat16"),
            tensor_parallel_size=int(self.options.get("tensor_parallel_size", 1)),
            gpu_memory_utilization=float(self.options.get("gpu_memory_utilization", 0.85)),
            trust_remote_code=bool(self.options.get("trust_remote_code", False)),
        )

    def generate(self, prompts: list[Messages], params: SamplingParams, seeds=None) -> list[list[str]]:
        seeds = seeds or [params.seed] * len(prompts)
        sampling = [
            self._vllm.SamplingParams(
                n=params.n,
                temperature=params.temperature,
                top_p=params.top_p if params.temperature > 0 else 1.0,
                max_tokens=params.max_new_tokens,
                stop=list(params.stop) or None,
                seed=seed,
            )
            for seed in seeds
        ]
        outputs = self.llm.chat(prompts, sampling, use_tqdm=False)
        return [[truncate_at_stop(o.text, params.stop) for o in out.outputs] for out in outputs]
