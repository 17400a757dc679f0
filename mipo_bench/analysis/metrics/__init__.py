"""Metrics computed from finished runs' texts.

- :mod:`.self_bleu` — Self-BLEU-4 the way Texygen computes it (Tables 3-4), settings carried with every value.

Answer entropy (Figures 2-3) is a model pass: :mod:`mipo_bench.measuring.entropy`. The statistics (bootstrap CIs,
paired and seed-level tests) are :mod:`mipo_bench.stats`.
"""

from .self_bleu import SelfBleu, self_bleu

__all__ = ["SelfBleu", "self_bleu"]
