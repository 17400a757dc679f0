"""A stand-in for the vLLM API surface mipo-bench uses (LLM.chat, SamplingParams, the clean-up of parallel state), for
CPU-only tests. Like vLLM's V1 engine, an LLM starts a child process of its own (its engine core): a daemonic replica
process cannot. ``EVENTS`` records what happened in this process (engines built and freed, calls and their sizes)."""

import multiprocessing
import os

EVENTS: list = []


class SamplingParams:
    def __init__(
        self,
        n=1,
        temperature=1.0,
        top_p=1.0,
        max_tokens=16,
        stop=None,
        seed=None,
        top_k=0,
        repetition_penalty=1.0,
        logprobs=None,
    ):
        self.logprobs = logprobs
        self.n, self.temperature, self.top_p, self.max_tokens, self.stop, self.seed = (
            n,
            temperature,
            top_p,
            max_tokens,
            stop,
            seed,
        )
        self.top_k, self.repetition_penalty = top_k, repetition_penalty


class _Out:
    def __init__(self, text, logprobs=None):
        self.text, self.logprobs = text, logprobs


class Logprob:
    def __init__(self, logprob, rank, decoded_token):
        self.logprob, self.rank, self.decoded_token = logprob, rank, decoded_token


def _first_token_logprobs(content, k):
    """A made-up next-token distribution that depends on the prompt: " 4" and "4" split label 4, "x" is no label;
    a prompt containing "NOLABEL" has no label among its top tokens."""
    if "NOLABEL" in content:
        return [{0: Logprob(-0.1, 1, "x")}]
    top = [(" 4", -1.0), ("4", -1.5), ("3", -1.2 - 0.01 * len(content)), ("x", -2.0), ("5", -3.0)][:k]
    return [{i: Logprob(lp, i + 1, token) for i, (token, lp) in enumerate(top)}]


class _Result:
    def __init__(self, outputs):
        self.outputs = outputs


def _engine_core():
    pass


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
        core = multiprocessing.get_context("spawn").Process(target=_engine_core)
        core.start()  # "daemonic processes are not allowed to have children" inside a daemonic replica
        core.join()
        self.model, self.tp, self.enable_prefix_caching = model, tensor_parallel_size, enable_prefix_caching
        self.gpu = os.environ.get("CUDA_VISIBLE_DEVICES", "")
        EVENTS.append(("built", model))

    def __del__(self):
        EVENTS.append(("freed", self.model))

    def chat(self, messages, sampling_params, use_tqdm=True):
        assert len(messages) == len(sampling_params)
        EVENTS.append(("chat", len(messages)))
        if sampling_params and sampling_params[0].logprobs:
            first = [_first_token_logprobs(m[-1]["content"], sp.logprobs) for m, sp in zip(messages, sampling_params)]
            return [_Result([_Out("4", lp)]) for lp in first]
        return [
            _Result(
                [
                    _Out(
                        f"{m[-1]['content']}|gpu={self.gpu}|seed={sp.seed}|T={sp.temperature}|max={sp.max_tokens}"
                        f"|k={sp.top_k}|rep={sp.repetition_penalty}\nSTOP tail"
                    )
                    for _ in range(sp.n)
                ]
            )
            for m, sp in zip(messages, sampling_params)
        ]
