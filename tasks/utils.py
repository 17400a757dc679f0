"""lm-eval hooks for the mipo_* tasks; the code lives in mipo_bench.lm_eval_hooks."""

from mipo_bench.lm_eval_hooks import (  # noqa: F401
    choice_flexible,
    choice_strict,
    doc_to_text,
    load_docs,
    number_flexible,
    number_strict,
)
