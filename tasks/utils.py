"""lm-eval hooks for the mipo_* tasks; the code lives in mipo_bench.evaluation.hooks."""

from mipo_bench.evaluation.hooks import (  # noqa: F401
    arc_loglik_text,
    choice_flexible,
    choice_paper,
    choice_strict,
    default_text,
    doc_to_text,
    gold_index,
    load_docs,
    mmlu_loglik_text,
    number_flexible,
    number_paper,
    number_strict,
    option_labels,
    option_texts,
    personalized_text,
)
