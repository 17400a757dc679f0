"""A stand-in for the vLLM API surface mipo-bench uses (LLM.chat, SamplingParams), for CPU-only tests."""

import os


class SamplingParams:
    def __init__(self, n=1, temperature=1.0, top_p=1.0, max_tokens=16, stop=None, seed=None):
        self.n, self.temperature, self.top_p, self.max_tokens, self.stop, self.seed = (
            n,
            temperature,
            top_p,
            max_tokens,
            stop,
            seed,
        )


class _Out:
    def __init__(self, text):
        self.text = text


class _Result:
    def __init__(self, outputs):
        self.outputs = outputs


class LLM:
    def __init__(
        self,
        model,
        dtype=None,
        tensor_parallel_size=1,
        gpu_memory_utilization=0.9,
        trust_remote_code=False,
        enable_prefix_caching=None,
    ):
        self.model, self.tp, self.enable_prefix_caching = model, tensor_parallel_size, enable_prefix_caching
        self.gpu = os.environ.get("CUDA_VISIBLE_DEVICES", "")

    def chat(self, messages, sampling_params, use_tqdm=True):
        assert len(messages) == len(sampling_params)
        return [
            _Result(
                [
                    _Out(
                        f"{m[-1]['content']}|gpu={self.gpu}|seed={sp.seed}|T={sp.temperature}|max={sp.max_tokens}"
                        f"\nSTOP tail"
                    )
                    for _ in range(sp.n)
                ]
            )
            for m, sp in zip(messages, sampling_params)
        ]
