"""The package list, which pyproject.toml alone cannot express.

Every package under ``mipo_bench/`` is *found* (so a new subpackage ships without touching this file), and the
top-level ``tasks/``, ``judges/`` and ``recipes/`` folders are added as ``mipo_bench.tasks`` / ``.judges`` /
``.recipes``. ``[tool.setuptools.packages.find]`` cannot do both: it names packages after their folders, so it
would drop the three mapped ones. Their folder mapping and package data stay in pyproject.toml.
"""

from setuptools import find_packages, setup

SHIPPED_FOLDERS = ["mipo_bench.tasks", "mipo_bench.judges", "mipo_bench.recipes"]

setup(packages=find_packages(include=["mipo_bench", "mipo_bench.*"]) + SHIPPED_FOLDERS)
