"""One registry style for everything that is chosen by name: pair strategies, training methods, generation backends,
datasets, judge parsers.

    STRATEGIES = Registry("pair strategy")

    @STRATEGIES.register("random_prompt")
    class RandomPrompt: ...

    STRATEGIES.get("random_promt")
    # ValueError: unknown pair strategy 'random_promt' (did you mean 'random_prompt'?); known: …

Code outside the package registers the same way (``from mipo_bench.training import METHODS``), so a new method,
strategy or backend is one module plus one ``register`` line, never an edit of the core.
"""

from __future__ import annotations

import difflib
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class Registry(dict, Generic[T]):
    """A name -> object mapping whose lookups fail with the known names and a did-you-mean."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def register(self, name: str, *, replace: bool = False) -> Callable[[T], T]:
        """Decorator: ``@REGISTRY.register("name")``. Registering a taken name is an error unless ``replace``."""

        def wrap(obj: T) -> T:
            if name in self and not replace and self[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is already registered ({self[name]!r})")
            self[name] = obj
            return obj

        return wrap

    def get(self, name: str, default=None) -> T:  # type: ignore[override]
        if name in self:
            return self[name]
        if default is not None:
            return default
        raise ValueError(unknown_name(self.kind, name, list(self)))


def did_you_mean(name: str, known) -> str:
    """`` (did you mean 'y'?)`` when one of ``known`` is close to ``name``, else ""."""
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_name(kind: str, name: str, known: list[str]) -> str:
    """``unknown <kind> 'x' (did you mean 'y'?); known: a, b, c`` (the did-you-mean only when one is close)."""
    return f"unknown {kind} {name!r}{did_you_mean(name, known)}; known: {', '.join(sorted(known))}"
