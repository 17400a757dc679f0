"""The sampling settings a bare ``model.generate(do_sample, temperature, top_p, max_new_tokens)`` still applied in the
released scripts (PROTOCOL.md §0), so that every backend samples pairs, judgments and readings the way they did.

The scripts passed four settings; ``generate`` filled the rest from the model's ``generation_config.json`` and, where
that file sets nothing, from transformers' own defaults (``GenerationConfig()`` in the scripts' 4.48.3;
``GenerationConfig._get_default_generation_params`` in transformers 5): ``top_k`` 50 and ``repetition_penalty`` 1.0.
So Qwen2.5 sampled with top-k 20 and a repetition penalty of 1.05 (its file's), Llama-3.2 with top-k 50 (its file has
none: transformers' default). The hf backend applies them in its own sampler, the vllm backend in vLLM's
``SamplingParams``, the openai backend sends them to the server; each records them, with where each value came from,
in the manifest of what it generated.
"""

from __future__ import annotations

import json
from pathlib import Path

KEYS = ("top_k", "repetition_penalty")
TRANSFORMERS_DEFAULTS = {"top_k": 50, "repetition_penalty": 1.0}
FROM_MODEL = "the model's generation_config.json"
FROM_TRANSFORMERS = "transformers' default (the model's generation_config.json sets none)"


def applied_defaults(own: dict) -> dict:
    """``{"top_k", "repetition_penalty", "source": {key: where}}`` from the model's own settings ``own`` (a
    ``generation_config.json`` as a dict; a missing or null key takes transformers' default)."""
    values, sources = {}, {}
    for key in KEYS:
        value = own.get(key)
        values[key] = TRANSFORMERS_DEFAULTS[key] if value is None else value
        sources[key] = FROM_TRANSFORMERS if value is None else FROM_MODEL
    return {**values, "source": sources}


def model_defaults(model: str) -> dict:
    """:func:`applied_defaults` of the model ``model`` (a spec: path, embedded name or cached hub id), read from its
    ``generation_config.json`` without loading its weights; ``{}`` when the model is not on this machine (a served
    model's name): then nobody here knows what its file says."""
    from ..core.models import ModelSpecError, resolve_model_path

    try:
        path = Path(resolve_model_path(model))
    except (ModelSpecError, OSError, ValueError):
        return {}
    config = path / "generation_config.json" if path.is_dir() else None
    if config is None:
        return {}
    try:
        own = json.loads(config.read_text()) if config.is_file() else {}
    except ValueError:
        own = {}
    return applied_defaults(own)


def sampling_values(defaults: dict) -> dict:
    """The values alone (``{"top_k": 20, "repetition_penalty": 1.05}``), without their sources."""
    return {k: defaults[k] for k in KEYS if defaults.get(k) is not None}
