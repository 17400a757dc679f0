"""lm-eval hooks for the mipo_* tasks (`!function utils.<name>` in the YAML); the code, and the list of hooks
(``__all__``), live in mipo_bench.evaluation.hooks."""

from mipo_bench.evaluation.hooks import *  # noqa: F403
from mipo_bench.evaluation.hooks import __all__  # noqa: F401
