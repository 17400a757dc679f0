"""Shared fixtures: the real data mirror, a per-session model cache, and tiny random models."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MIRROR = REPO.parent / "shared" / "data"


def pytest_configure(config):
    # The mirror is the real data (never copied into the repo); CI exports MIPO_BENCH_DATA=../shared/data.
    if not os.environ.get("MIPO_BENCH_DATA") and DEFAULT_MIRROR.is_dir():
        os.environ["MIPO_BENCH_DATA"] = str(DEFAULT_MIRROR)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# What takes minutes, not seconds: a test with one of these markers, or one that loads the real SmolLM2, is also
# `slow`, so `pytest -m "not slow"` (the fast loop, docs/development.md) leaves it out without a second marker.
SLOW_KINDS = ("smoke", "wheel", "browser")


def pytest_collection_modifyitems(config, items):
    for item in items:
        # a run of the real SmolLM2 asks for it by name (tiny models only borrow its tokenizer through a fixture)
        function = getattr(item, "function", None)
        real_model = function is not None and "smollm2_dir" in inspect.signature(function).parameters
        slow_kind = any(item.get_closest_marker(kind) for kind in SLOW_KINDS)
        if (real_model or slow_kind) and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def mirror() -> Path:
    root = os.environ.get("MIPO_BENCH_DATA")
    if not root or not Path(root).is_dir():
        raise RuntimeError("these tests need the data mirror: export MIPO_BENCH_DATA=/path/to/shared/data")
    return Path(root)


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    """One model cache per test session (or $MIPO_BENCH_CACHE when set, to reuse a converted GGUF)."""
    path = Path(os.environ.get("MIPO_BENCH_CACHE") or tmp_path_factory.mktemp("mipo-cache"))
    os.environ["MIPO_BENCH_CACHE"] = str(path)
    return path


@pytest.fixture(scope="session")
def smollm2_dir(model_cache) -> str:
    from mipo_bench.core.models import resolve_model_path

    return resolve_model_path("smollm2-135m-instruct")


@pytest.fixture(scope="session")
def smollm2_tokenizer_dir(model_cache) -> str:
    """SmolLM2's tokenizer and chat template, read from the GGUF without converting its weights (~6 s, not ~20 s)."""
    from mipo_bench.core.models import tokenizer_path

    return tokenizer_path("smollm2-135m-instruct")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, smollm2_tokenizer_dir) -> str:
    """A 2-layer, hidden-64 random Llama with SmolLM2's tokenizer and chat template (~0.2 s per DPO pair)."""
    from tests.paper_scale_fixtures import tiny_model

    return tiny_model("smollm2", smollm2_tokenizer_dir, tmp_path_factory.mktemp("tiny-llama"))
