"""Shared-prefix generation for the hf backend: the tokens several prompts begin with are encoded once.

Judging asks one call per (item, itemized preference), and the paper's judge messages put the query and the
response first and the preference last, so the 3-5 calls of a response differ only in their last few dozen tokens.
The hf backend groups the prompts of a :meth:`~mipo_bench.generation.hf.HFBackend.generate` call by the token ids
they begin with (:func:`shared_prefix_groups`; no template knowledge: the chat-templated ids themselves), encodes
each group's shared prefix once into a key/value cache (a transformers ``DynamicCache``), and generates every
member's reply from that cache with only its own suffix left to encode. Groups' prefixes that themselves begin
alike (the judge's system message) are encoded once too (:func:`_root_length`), and that root is kept for the
backend's next call.

The tokens, their positions and what each attends to are those of the uncached path, so the logits are equal up to
float rounding (another summation order), and greedy replies are the same but for a near-exact tie between two
tokens; ``tests/test_prefix_cache.py`` checks that judges' scores match. Sampled re-asks draw each row from its own
seed as the plain path does (``sample_seed``), so the seeds/sampling semantics are unchanged.

Layout of one batch row (prefixes and suffixes of different lengths share a batch)::

    [pad ... | shared prefix of the row's group | pad ... | the row's own suffix]   -> generate
     '---- in the cache, zeros where padded ----'   '----- encoded by generate -----'

The attention mask is 0 on both pad runs; position ids are the mask's cumulative sum (transformers' own rule in
``generate``), so the suffix continues at the prefix's length as it does unpadded.

What is shared is whatever the templates put first. ``paper``, ``paper_ca`` and ``personalization_score`` put the
query and the response before the preference: a response's calls share all but the preference line. ``rlaif_critic``
puts the preference first, so its calls share only the system message (and the preference, across responses judged
against the same one); ``paper_mb`` and ``rubric_grade`` have no per-preference calls. No template is reordered.

Which prompts share a prefix is decided per call, so a prompt's float rounding can depend on its batch neighbours
(as it already could through batch size: see :class:`~mipo_bench.generation.base.SamplingParams`). Models whose
cache is not plain full attention (sliding windows, recurrent layers) use the plain path.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from .base import truncate_at_stop

DEFAULT_MIN_SHARED_PREFIX = 64
"""Fewest shared tokens worth a group of their own: below this, the extra forward call costs more than it saves."""

_WINDOW = 256  # longest run of sorted prompts one group may span (keeps the grouping linear in the prompt count)


@dataclass(frozen=True)
class PrefixGroup:
    """Prompts (indices into the call's prompts) whose token ids all begin with the same ``length`` tokens."""

    members: tuple[int, ...]
    length: int


def prefix_order(requests: list[dict]) -> list[dict]:
    """``generate_cached`` requests sorted by their messages, so chats that begin alike are adjacent: they land in one
    call of the hf backend, and go out back to back to a server whose own prefix cache can then hit (vLLM's
    automatic prefix caching, also within one scheduling step). Results are keyed per request: order changes nothing
    else."""
    return sorted(requests, key=lambda r: [(m["role"], m["content"]) for m in r["messages"]])


def common_prefix_length(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def shared_prefix_groups(ids: list[list[int]], min_prefix: int = DEFAULT_MIN_SHARED_PREFIX) -> list[PrefixGroup]:
    """Groups of prompts sharing at least ``min_prefix`` leading tokens, chosen to skip the most prefill tokens.

    Sorted token lists put the prompts with the longest common prefixes next to each other; a dynamic programme cuts
    that order into runs maximising the tokens not re-encoded, ``sum((size - 1) * shared length)``: a response's
    preferences form one group (long shared prefix) rather than merging with other responses through the system
    message they all share (short prefix). Every member keeps at least one token of its own after the prefix.
    Prompts in no group (returned nowhere) take the plain path.
    """
    order = sorted(range(len(ids)), key=lambda i: ids[i])
    adjacent = [common_prefix_length(ids[a], ids[b]) for a, b in zip(order, order[1:])]
    best = [0] * (len(order) + 1)  # best[j]: most tokens saved over the first j prompts of the sorted order
    start = list(range(len(order) + 1))  # start[j]: where the last run of that best split begins (j - 1: a single)
    for j in range(1, len(order) + 1):
        best[j], start[j] = best[j - 1], j - 1
        shared, shortest = None, len(ids[order[j - 1]])
        for i in range(j - 2, max(-1, j - 1 - _WINDOW), -1):  # the run order[i:j]
            shared = adjacent[i] if shared is None else min(shared, adjacent[i])
            shortest = min(shortest, len(ids[order[i]]))
            length = min(shared, shortest - 1)
            if length < min_prefix:
                break  # a longer run only shares less
            if best[i] + (j - 1 - i) * length > best[j]:
                best[j], start[j] = best[i] + (j - 1 - i) * length, i
    groups, j = [], len(order)
    while j > 0:
        i = start[j]
        if j - i > 1:
            members = tuple(order[i:j])
            shared = min(adjacent[i : j - 1])
            groups.append(PrefixGroup(members, min(shared, min(len(ids[m]) for m in members) - 1)))
        j = i
    return groups[::-1]


def _root_length(prefixes: list[list[int]], min_prefix: int) -> int:
    """Tokens that all groups' prefixes begin with (the system message, say), when worth encoding once; else 0."""
    if len(prefixes) < 2:
        return 0
    root = min(common_prefix_length(prefixes[0], p) for p in prefixes[1:])
    root = min(root, min(len(p) for p in prefixes) - 1)
    return root if root >= min_prefix else 0


def _root_cache(backend, root: list[int]):
    """The cache of ``root`` (None if empty), kept on the backend for the next call while its root is the same
    (the judge's system message, typically): a cache of the same tokens is the same cache, so reuse is exact."""
    if not root:
        return None
    kept = getattr(backend, "_shared_root", None)
    if kept is None or kept[0] != tuple(root):
        kept = backend._shared_root = (tuple(root), _encode(backend.lm, root))
    return kept[1]


def supports_prefix_cache(lm) -> bool:
    """Whether ``lm`` keeps a plain full-attention ``DynamicCache`` (the cache this module pads and stacks)."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    if getattr(lm.config, "is_encoder_decoder", False):
        return False
    return all(type(layer) is DynamicLayer for layer in DynamicCache(config=lm.config).layers)


def _encode(lm, ids: list[int], past=None):
    """The key/value cache of ``ids`` (one row), continuing ``past`` (a cache of a prefix of ``ids``) if given."""
    import torch
    from transformers import DynamicCache

    start = past.get_seq_length() if past is not None else 0
    # DynamicLayer.update concatenates into new tensors, so the copy never writes into ``past``
    cache = DynamicCache(config=lm.config) if past is None else DynamicCache([(k, v) for k, v, _ in past])
    # the logits are not needed: keep one position's (a prefix of 300 tokens would otherwise pay 300 vocab products)
    keep = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(lm.forward).parameters else {}
    with torch.inference_mode():
        lm(input_ids=torch.tensor([ids[start:]], device=lm.device), cache=cache, use_cache=True, **keep)
    return cache


def _stacked_cache(row_caches: list, width: int):
    """One batch cache from one-row caches of different lengths, each left-padded with zeros to ``width``."""
    import torch
    from transformers import DynamicCache

    layers = []
    with torch.inference_mode():
        for per_row in zip(*[[(k, v) for k, v, _ in cache] for cache in row_caches]):
            stacked = []
            for part in (0, 1):  # keys, values: [1, heads, length, head_dim] each
                first = per_row[0][part]
                out = first.new_zeros((len(per_row), first.shape[1], width, first.shape[3]))
                for r, kv in enumerate(per_row):
                    out[r, :, width - kv[part].shape[2] :] = kv[part][0]
                stacked.append(out)
            layers.append(tuple(stacked))
    return DynamicCache(layers)


def generate_shared_prefixes(
    backend, ids: list[list[int]], params, seeds: list[int], min_prefix: int = DEFAULT_MIN_SHARED_PREFIX
) -> dict[int, list[str]]:
    """Replies (``params.n`` each) of the prompts that share a prefix with others, by prompt index.

    ``backend`` is an :class:`~mipo_bench.generation.hf.HFBackend` (its model, tokenizer, generation config, stop
    criteria and ``batch_size``); ``ids`` are the chat-templated token ids of the call's prompts, ``seeds`` one per
    prompt. Prompts absent from the result share nothing worth caching: the caller generates them as usual. Rows are
    taken a few batches at a time (only those batches' prefix caches are held), in full batches of suffixes of like
    lengths: on CPU, one more ``generate`` call (8 decoding steps for a judge) costs more than a few pads.
    """
    from .sampling import sample_seed

    groups = shared_prefix_groups(ids, min_prefix)
    if not groups or not supports_prefix_cache(backend.lm):
        return {}
    prefixes = [ids[g.members[0]][: g.length] for g in groups]
    root = _root_cache(backend, prefixes[0][: _root_length(prefixes, min_prefix)])
    # rows: (group, prompt, sample index); a group's rows are adjacent, longest prefixes first
    by_length = sorted(range(len(groups)), key=lambda g: -groups[g].length)
    rows = [(g, i, k) for g in by_length for i in groups[g].members for k in range(params.n)]
    rows_left = {g: len(groups[g].members) * params.n for g in by_length}
    caches: dict[int, object] = {}
    texts: dict[tuple[int, int], str] = {}
    chunk_size = 4 * backend.batch_size
    for chunk_start in range(0, len(rows), chunk_size):
        chunk = sorted(rows[chunk_start : chunk_start + chunk_size], key=lambda r: len(ids[r[1]]) - groups[r[0]].length)
        for batch_start in range(0, len(chunk), backend.batch_size):
            batch = chunk[batch_start : batch_start + backend.batch_size]
            for g, _, _ in batch:
                if g not in caches:
                    caches[g] = _encode(backend.lm, prefixes[g], root)
            rows_in = [(caches[g], groups[g].length, ids[i], sample_seed(seeds[i], k)) for g, i, k in batch]
            for (g, i, k), text in zip(batch, _generate_rows(backend, rows_in, params)):
                texts[i, k] = text
                rows_left[g] -= 1
                if not rows_left[g]:
                    del caches[g]  # its last row is done
    return {i: [texts[i, k] for k in range(params.n)] for g in groups for i in g.members}


def _generate_rows(backend, rows: list[tuple], params) -> list[str]:
    """One reply per row ``(prefix cache, prefix length, prompt ids, sample seed)``, in one ``generate`` call."""
    import torch

    from .sampling import make_sampler

    lm, pad = backend.lm, backend.tokenizer.pad_token_id
    prefix_width = max(length for _, length, _, _ in rows)
    suffix_width = max(len(ids) - length for _, length, ids, _ in rows)
    input_ids, mask = [], []
    for _, length, ids, _ in rows:
        gaps = (prefix_width - length, suffix_width - (len(ids) - length))
        input_ids.append([pad] * gaps[0] + ids[:length] + [pad] * gaps[1] + ids[length:])
        mask.append([0] * gaps[0] + [1] * length + [0] * gaps[1] + [1] * (len(ids) - length))
    processors = []
    if params.temperature > 0:
        seeds, top_k = [seed for *_, seed in rows], params.top_k
        processors.append(make_sampler(seeds, params.temperature, params.top_p, lm.device, top_k))
    input_ids = torch.tensor(input_ids, device=lm.device)
    with torch.inference_mode():
        gen = lm.generate(
            input_ids=input_ids,
            attention_mask=torch.tensor(mask, device=lm.device),
            cache=_stacked_cache([cache for cache, *_ in rows], prefix_width),
            generation_config=backend._generation_config(params, 1),  # one row per sample already
            logits_processor=processors,
            stopping_criteria=backend._stopping(tuple(params.stop)),
        )
    texts = backend.tokenizer.batch_decode(gen[:, input_ids.shape[1] :], skip_special_tokens=True)
    return [truncate_at_stop(t, params.stop) for t in texts]
