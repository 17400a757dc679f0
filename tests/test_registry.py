"""One registry style for everything chosen by name: strategies, methods, backends, datasets, parsers, rewards."""

import pytest

from mipo_bench.analysis.tables import FORMATS, KINDS
from mipo_bench.core.registry import Registry
from mipo_bench.data import DATASETS
from mipo_bench.generation import BACKENDS
from mipo_bench.judging.parse import PARSERS
from mipo_bench.pairs import STRATEGIES
from mipo_bench.rewards import REWARDS
from mipo_bench.training import METHODS

ALL = {
    "pair strategy": (STRATEGIES, "random_prompt"),
    "training method": (METHODS, "mipo"),
    "generation backend": (BACKENDS, "vllm"),
    "dataset": (DATASETS, "gsm8k"),
    "score parser": (PARSERS, "tolerant"),
    "reward": (REWARDS, "rlvr_exact_match"),
    "table kind": (KINDS, "accuracy"),
    "table format": (FORMATS, "latex"),
}


@pytest.mark.parametrize("kind", sorted(ALL))
def test_every_registry_fails_a_typo_with_a_did_you_mean(kind):
    registry, name = ALL[kind]
    assert isinstance(registry, Registry) and registry.kind == kind and name in registry
    with pytest.raises(ValueError, match=rf"unknown {kind} '{name}x' \(did you mean '{name}'\?\); known: "):
        registry.get(name + "x")


def test_a_taken_name_is_not_silently_replaced():
    registry = Registry("thing")
    registry.register("a")(1)
    with pytest.raises(ValueError, match="thing 'a' is already registered"):
        registry.register("a")(2)
    registry.register("a", replace=True)(2)
    assert registry.get("a") == 2


def test_a_backend_registered_from_outside_is_found_by_get_backend():
    from mipo_bench.generation import Backend, get_backend

    class EchoBackend(Backend):
        def generate(self, prompts, params, seeds=None):
            return [[p[-1]["content"]] * params.n for p in prompts]

    BACKENDS.register("echo")(lambda: EchoBackend)
    try:
        backend = get_backend("echo", "any-model")
        assert isinstance(backend, EchoBackend) and backend.model == "any-model"
    finally:
        BACKENDS.pop("echo")
