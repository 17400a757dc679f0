"""Per-request seeded sampling, shared by the hf backend and its prefix-cached path: every sample draws its tokens
from its own ``torch.Generator``, so a text does not depend on the batch it fell in nor on where a run resumed."""

from __future__ import annotations

import random


def sample_seed(seed: int, index: int) -> int:
    """Seed of sample ``index`` of a request seeded ``seed`` (sample 0 uses ``seed`` itself, so n=1 and the first
    of n samples agree)."""
    return seed if index == 0 else random.Random(f"{seed}:{index}").getrandbits(63)


def make_sampler(seeds: list[int], temperature: float, top_p: float, device, top_k: int | None = None):
    """A logits processor that samples each row's next token with that row's generator and returns a score row that
    is 0 at the drawn token and -inf elsewhere, so HF's own token selection (its warpers then a multinomial over a
    one-hot distribution) takes exactly that token.

    Temperature, top-k (the model's own default, when its generation config sets one) and top-p are HF's own
    warpers, applied row by row before the draw in HF's order.
    """
    import torch
    from transformers import LogitsProcessor, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    warpers = [TemperatureLogitsWarper(temperature)]
    if top_k:
        warpers.append(TopKLogitsWarper(top_k))
    if top_p < 1.0:
        warpers.append(TopPLogitsWarper(top_p))
    generators = [torch.Generator(device=device).manual_seed(s) for s in seeds]

    class PerRowSampler(LogitsProcessor):
        def __call__(self, input_ids, scores):
            if scores.shape[0] != len(generators):
                raise RuntimeError(f"sampler has {len(generators)} generators for {scores.shape[0]} rows")
            for warp in warpers:
                scores = warp(input_ids, scores)
            probs = torch.softmax(scores.float(), dim=-1)
            picked = torch.stack([torch.multinomial(p, 1, generator=g)[0] for p, g in zip(probs, generators)])
            out = torch.full_like(scores, float("-inf"))
            return out.scatter_(1, picked[:, None], 0.0)

    return PerRowSampler()
