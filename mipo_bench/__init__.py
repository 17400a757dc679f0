"""mipo-bench: a benchmark suite for Mutual Information Preference Optimization (MIPO).

Flow: data -> pairs -> train -> generate/eval (lm-eval) -> judge -> report.
"""

__version__ = "0.1.0"
