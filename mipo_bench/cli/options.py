"""Arguments several verbs share, with their choices read from the registries rather than spelled out, so a backend,
method or recipe added in one place shows up in every verb's choices and help."""

from __future__ import annotations

import argparse
import shutil
import textwrap
from typing import Callable, Iterable

from ..core.registry import unknown_name
from ..generation import BACKENDS

DATA_HELP = "local data mirror (default: $MIPO_BENCH_DATA, else the HF hub)"


class CliParser(argparse.ArgumentParser):
    """An ArgumentParser that also takes ``epilog_fn``: it builds the epilog when the help is formatted, not when the
    parser is built (the recipe verbs list the training methods, and importing them loads TRL and torch: seconds)."""

    def __init__(self, *args, epilog_fn: Callable[[], str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.epilog_fn = epilog_fn

    def format_help(self) -> str:
        if self.epilog_fn is not None:
            self.epilog, self.epilog_fn = self.epilog_fn(), None
        return super().format_help()


def one_of(kind: str, names: Iterable[str]) -> Callable[[str], str]:
    """An argparse ``type`` accepting one of ``names``; anything else fails with the registry's did-you-mean."""
    known = sorted(names)

    def check(value: str) -> str:
        if value not in known:
            raise argparse.ArgumentTypeError(unknown_name(kind, value, known))
        return value

    return check


def add_backend(
    p: argparse.ArgumentParser, names: Iterable[str] | None = None, kind: str = "generation backend", **kwargs
) -> None:
    """``--backend``, one of ``names`` (default: every registered generation backend), ``hf`` by default."""
    choices = sorted(BACKENDS) if names is None else sorted(names)
    p.add_argument("--backend", default="hf", choices=choices, type=one_of(kind, choices), **kwargs)


def registered_names() -> str:
    """The epilog of the recipe verbs: what a recipe (or a ``key=value`` override) can name, one wrapped line each."""
    from ..core.resources import recipes_dir
    from ..data import DATASETS
    from ..pairs import STRATEGIES
    from ..training import METHODS

    names = {
        "shipped recipes": sorted(p.stem for p in recipes_dir().glob("*.yaml")),
        "methods (method=NAME)": sorted(METHODS),
        "pair strategies (pairs.strategy=NAME)": sorted(STRATEGIES),
        "generation backends (pairs.backend=NAME)": sorted(BACKENDS),
        "datasets (data.dataset=NAME)": sorted(DATASETS),
    }
    width = max(shutil.get_terminal_size().columns - 2, 40)
    return "\n".join(
        textwrap.fill(f"{what}: {', '.join(values)}", width, subsequent_indent="  ", break_on_hyphens=False)
        for what, values in names.items()
    )
