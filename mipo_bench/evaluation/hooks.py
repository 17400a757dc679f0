"""The hooks that ``tasks/*.yaml`` reach through ``!function utils.<name>`` (tasks/utils.py imports ``__all__``).

Data comes through :mod:`mipo_bench.data`, so a task reads the local mirror when ``MIPO_BENCH_DATA`` is set
(or ``data_dir`` is passed with ``lm_eval --metadata``) and the hub otherwise.
"""

from __future__ import annotations

from .. import data
from ..data import extract, grading
from ..data.prompts import personalized_prompt, task_prompt
from . import judged_metric
from .judged_metric import judged_results, total  # hooks of the personalization tasks

# What `!function utils.<name>` can reach: tasks/utils.py imports exactly these (tests/test_tasks_yaml.py checks the
# list against the names the task YAML use, both ways).
__all__ = [
    "arc_loglik_text",
    "choice_flexible",
    "choice_paper",
    "choice_strict",
    "default_text",
    "doc_to_text",
    "gold_index",
    "judge_community_alignment",
    "judge_multibench",
    "judge_prefeval",
    "judge_prism",
    "judged_results",
    "load_docs",
    "mmlu_loglik_text",
    "number_flexible",
    "number_paper",
    "number_strict",
    "option_labels",
    "option_texts",
    "personalized_text",
    "total",
]


def load_docs(
    dataset: str,
    protocol: str = "paper",
    subject: str | None = None,
    data_dir: str | None = None,
    contexts: str | None = None,
    needs_context: bool = False,
    judge: str | None = None,
    judge_scoring: str | None = None,
    **_ignored,
):
    """``custom_dataset`` hook: a DatasetDict with one ``test`` split of normalized records.

    ``contexts`` (or ``$MIPO_BENCH_CONTEXTS_<DATASET>``) names a `mipo-bench contexts` output that fills the user
    contexts of PRISM / Community Alignment; ``needs_context`` keeps only records that have one. ``judge`` /
    ``judge_scoring`` (``--metadata``) name the judge of the personalization tasks (:mod:`.judged_metric`).
    """
    import datasets

    judged_metric.remember_metadata(dataset, judge, judge_scoring)

    from ..data.contexts import apply_contexts, contexts_path

    docs = data.eval_docs(dataset, protocol, data_dir)
    contexts = contexts_path(dataset, contexts)
    if contexts:
        docs = apply_contexts(docs, contexts)
    if needs_context:
        docs = [d for d in docs if d.get("context")]
        if not docs:
            raise ValueError(
                f"{dataset}: no item has a user context; run `mipo-bench contexts {dataset}` and pass "
                f"its output with --metadata '{{\"contexts\": PATH}}' or $MIPO_BENCH_CONTEXTS_{dataset.upper()}"
            )
    if subject is not None:
        docs = [d for d in docs if d["subject"] == subject]
        if not docs:
            raise ValueError(f"{dataset}/{subject}: no evaluation items (unknown subject?)")
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})


def doc_to_text(doc: dict) -> str:
    return task_prompt(doc)


def _per_response(fn):
    def apply(resps, docs):
        return [[fn(r, doc) or extract.INVALID for r in rs] for rs, doc in zip(resps, docs)]

    return apply


def _paper(response: str, doc: dict) -> str | None:
    """The scripts' first pass, graded as training grades it (:func:`mipo_bench.data.grading.grade`): a correct answer
    is reported as the doc's own ``answer`` (lm-eval's exact_match compares with it), any other as read."""
    graded = grading.grade(response, doc)
    return doc["answer"] if graded.correct else graded.found


number_paper = _per_response(_paper)
choice_paper = _per_response(_paper)
number_strict = _per_response(lambda r, doc: extract.number_strict(r))
number_flexible = _per_response(lambda r, doc: extract.number_flexible(r))
choice_strict = _per_response(lambda r, doc: extract.choice_strict(r, [c["label"] for c in doc["choices"]]))
choice_flexible = _per_response(lambda r, doc: extract.choice_flexible(r, doc["choices"]))


# --- loglikelihood multiple-choice scoring (the way lm-eval's built-in arc_easy / mmlu score) --------------


def gold_index(doc: dict) -> int:
    return [c["label"] for c in doc["choices"]].index(doc["answer"])


def arc_loglik_text(doc: dict) -> str:
    return f"Question: {doc['question']}\nAnswer:"


def option_texts(doc: dict) -> list[str]:
    return [c["text"] for c in doc["choices"]]


def mmlu_loglik_text(doc: dict) -> str:
    options = "\n".join(f"{c['label']}. {c['text']}" for c in doc["choices"])
    return f"{doc['question']}\n{options}\nAnswer:"


def option_labels(doc: dict) -> list[str]:
    return [c["label"] for c in doc["choices"]]


# --- personalization (judged inside lm-eval: the `judged` filter of each task, :mod:`.judged_metric`) ---------


def _judge(dataset: str):
    def judge(resps, docs):
        return judged_metric.judge_responses(dataset, resps, docs)

    judge.__name__ = f"judge_{dataset}"
    return judge


judge_prefeval = _judge("prefeval")
judge_prism = _judge("prism")
judge_community_alignment = _judge("community_alignment")
judge_multibench = _judge("multibench")


def personalized_text(doc: dict) -> str:
    """The paper's personalized prompt: the query plus the user's stated requirements (PROTOCOL.md §2.3)."""
    return personalized_prompt(doc["prompt"], doc["context"])


def default_text(doc: dict) -> str:
    """The paper's "default" rows: its base prompt, the query without the user's context."""
    return personalized_prompt(doc["prompt"], None)
