"""Generation backends behind one interface: chat messages in, texts out, explicit sampling parameters.

``generate_cached`` adds the JSONL cache: every output row is keyed by a hash of (model, messages, sampling,
sample index), appended as soon as its batch finishes, and skipped on a re-run.
"""

from __future__ import annotations

from .base import BACKEND_OPTIONS, BACKENDS, Backend, SamplingParams, generate_cached, get_backend

__all__ = ["BACKEND_OPTIONS", "BACKENDS", "Backend", "SamplingParams", "generate_cached", "get_backend"]
