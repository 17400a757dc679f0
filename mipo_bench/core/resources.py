"""Where the shipped YAML lives: tasks/, judges/ and recipes/ (inside the wheel as mipo_bench.<name>)."""

from __future__ import annotations

import importlib.resources
from pathlib import Path


def resource_dir(name: str) -> Path:
    if name not in ("tasks", "judges", "recipes"):
        raise ValueError(name)
    return Path(str(importlib.resources.files(f"mipo_bench.{name}")))


def tasks_dir() -> Path:
    return resource_dir("tasks")


def recipes_dir() -> Path:
    return resource_dir("recipes")


def import_optional(module: str, extra: str, what: str):
    """``import module``, or an ImportError that says which extra installs it (``pip install 'mipo-bench[extra]'``)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"{what} needs {module}: pip install 'mipo-bench[{extra}]'") from e
