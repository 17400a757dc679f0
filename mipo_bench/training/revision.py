"""SFT with revision (the paper's §5.1, L156): the model revises its own responses, then is fine-tuned on them.

Two methods, both consuming the pairs stage's output (the chosen side is the model's own response):

``sft_revision``           (i) *revision with ground truth*, Table 2's "SFT (Ground-truth)" row, verifiable tasks:
                           the model is shown the task prompt, its own answer (the chosen side) and the correct final
                           answer of the training item, and asked to revise its answer (``judges/revise_ground_truth``).
``sft_revision_examples``  (ii) *revision with examples*, Table 1's "SFT (Revision)" row, personalization: the model
                           is shown the user's attributes (the item's context), a good response (the chosen side,
                           generated with the right context) and a bad one (the rejected side, generated from a missing
                           or wrong context), and asked to improve the good one (``judges/revise_with_examples``).

The paper releases neither the revision prompts nor the revision code (PROTOCOL.md §6.5): the templates are ours,
written from the paper's description. ``prepare`` turns the pairs into SFT rows ``{"prompt": the chosen prompt,
"completion": [the revision]}`` through the cached, resumable generation stage, with the base model as the reviser;
the trainer is TRL's SFTTrainer with the loss on the completion only, as for the plain ``sft`` baseline.

Cleaning. A revision is stripped and cut at the task's stop strings. An empty revision is dropped. For (i), a revision
whose final answer (the paper's extraction: ``extract.number_paper`` / ``choice_paper``) is not the gold answer is
dropped too, unless ``keep_wrong``: the paper does not say whether it filtered; we do by default because SFT on a
revision that is still wrong is not training on the ground truth. Every drop is counted in the stage's manifest.

<run_dir>/revision/   generations.jsonl (the generation cache), revisions.jsonl (every pair's revision, its
                      extracted answer and whether it was kept), revision.manifest.json
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from ..core.chat import user_chat
from ..core.runs import absolute, content_hash, file_hash, read_jsonl, write_jsonl
from ..core.stage import Stage
from ..data import grading
from ..generation.base import truncate_at_stop
from .base import PAIRS, register_method
from .sft import SFTSettings, build_sft

GROUND_TRUTH, WITH_EXAMPLES = "ground_truth", "with_examples"
DEFAULT_TEMPLATES = {GROUND_TRUTH: "revise_ground_truth", WITH_EXAMPLES: "revise_with_examples"}


@dataclass
class RevisionSettings(SFTSettings):
    """The SFT settings (every field of :class:`SFTSettings`, the plain-text format included)
    plus how the revisions are generated. The paper gives no revision sampling: by default the reviser samples as the
    pairs were sampled (the recipe's effective pair-generation settings, i.e. the paper's for the dataset).

    Args:
        template: a ``judges/`` template name or a path; None = the method's own (``revise_ground_truth`` for
            ``sft_revision``, ``revise_with_examples`` for ``sft_revision_examples``).
        revision_temperature: the reviser's sampling temperature (0 = greedy); None = the pairs' temperature.
        revision_top_p: the reviser's nucleus mass; None = the pairs' top_p.
        revision_max_new_tokens: the reviser's token budget; None = the pairs' budget.
        keep_wrong: ``sft_revision`` only: also train on revisions whose extracted final answer is not the correct
            one (default False: they are dropped and counted as ``dropped_wrong``).
    """

    template: str | None = None
    revision_temperature: float | None = None
    revision_top_p: float | None = None
    revision_max_new_tokens: int | None = None
    keep_wrong: bool = False


def revision_settings(recipe) -> RevisionSettings:
    """The recipe's ``train`` section, which ``load_recipe`` types as :class:`RevisionSettings` for these methods."""
    if not isinstance(recipe.train, RevisionSettings):
        raise TypeError(f"the revision methods read RevisionSettings, not {type(recipe.train).__name__}")
    return recipe.train


# --- what the reviser is told ----------------------------------------------------------------------------------------


def training_records(recipe) -> dict[str, dict]:
    """Every training record of the recipe's dataset by id (contexts applied), the superset of any ``n_prompts`` draw
    the pairs were built from: the correct answers (i) and the user contexts (ii) come from here."""
    from .. import data

    dataset = recipe.data.dataset
    records = data.train_prompts(dataset, sys.maxsize, recipe.seed, contexts=recipe.data.contexts)
    return {r["id"]: r for r in records}


def shown_answer(record: dict) -> str:
    """The correct final answer as the reviser sees it: the number, or the letter with its option text."""
    if grading.kind_of(record) == "number":
        return str(record["answer"])
    text = next((c["text"] for c in record["choices"] if c["label"] == record["answer"]), "")
    return f"{record['answer']}: {text}".strip().rstrip(":")


def _user_text(messages, where: str) -> str:
    users = [m.get("content") for m in messages if m.get("role") == "user"] if isinstance(messages, list) else []
    if not users:
        raise ValueError(f"{where}: 'prompt' is not a message list with a user message")
    return users[-1]


def _text(messages, key: str, where: str) -> str:
    if not isinstance(messages, list) or not messages or "content" not in messages[-1]:
        raise ValueError(f"{where}: missing or empty {key!r} message list")
    return messages[-1]["content"]


def _render(template: dict, **values) -> list[dict]:
    try:
        user = template["user"].format(**values)
    except (KeyError, IndexError) as e:
        raise ValueError(f"{template['path']}: unknown placeholder {e} (known: {', '.join(sorted(values))})") from None
    return user_chat(user, template.get("system", "").strip())


def revision_request(variant: str, template: dict, row: dict, record: dict, where: str) -> list[dict]:
    """The reviser's chat for one pair row."""
    prompt = _user_text(row.get("prompt"), where)
    own = _text(row.get("chosen"), "chosen", where)
    if variant == GROUND_TRUTH:
        if record.get("answer") in (None, ""):
            raise ValueError(
                f"{where}: training record {record['id']!r} has no correct answer: sft_revision needs a verifiable "
                "dataset (gsm8k, svamp, mmlu, arc_*); personalization datasets use sft_revision_examples"
            )
        return _render(template, prompt=prompt, response=own, reference=shown_answer(record))
    if not record.get("context"):
        raise ValueError(f"{where}: training record {record['id']!r} has no user context (set data.contexts)")
    return _render(
        template,
        prompt=prompt,
        query=record.get("prompt", ""),
        context=record["context"],
        chosen=own,
        rejected=_text(row.get("rejected"), "rejected", where),
    )


# --- the revision stage ----------------------------------------------------------------------------------------------


def _pair_key(row: dict) -> str:
    return f"{row['id']}#{row.get('sample_index', 0)}"


def _records_for(rows: list[dict], recipe) -> dict[str, dict]:
    """The training record of every pair row, looked up by the row's ``id``; a clear error for a row without one."""
    for i, row in enumerate(rows, 1):
        if "id" not in row:
            raise ValueError(f"pairs row {i}: no 'id' (the revision looks up the item's answer / context by it)")
    records = training_records(recipe)
    missing = sorted({row["id"] for row in rows if row["id"] not in records})
    if missing:
        raise ValueError(
            f"pairs ids {missing[:5]} are not training items of {recipe.data.dataset!r} "
            f"({len(missing)} in all): were the pairs built from another dataset or contexts file?"
        )
    return records


def _make_backend(recipe):
    from ..generation import BACKEND_OPTIONS, get_backend

    engine = {k: getattr(recipe.pairs, k) for k in BACKEND_OPTIONS if getattr(recipe.pairs, k) is not None}
    return get_backend(recipe.pairs.backend or "hf", recipe.model, batch_size=recipe.pairs.batch_size, **engine)


def revision_sampling(recipe, settings: RevisionSettings):
    """The reviser's sampling: the settings' values, else the recipe's pair-generation sampling (the paper's for the
    dataset); one sample per pair; the task's stop strings (plus the recipe's)."""
    from dataclasses import replace

    pairs = recipe.sampling()
    return replace(
        pairs,
        n=1,
        temperature=pairs.temperature if settings.revision_temperature is None else settings.revision_temperature,
        top_p=pairs.top_p if settings.revision_top_p is None else settings.revision_top_p,
        max_new_tokens=pairs.max_new_tokens
        if settings.revision_max_new_tokens is None
        else settings.revision_max_new_tokens,
    )


def clean_revision(text: str, stop) -> str:
    """The revision as trained on: cut at the first stop string, stripped."""
    return truncate_at_stop(text, tuple(stop)).strip()


def prepare_revisions(variant: str, recipe, run_dir, rows: list[dict], backend=None) -> list[dict]:
    """Revise the chosen side of every pair row and return the SFT rows of the kept revisions.

    Skipped (rows read back from ``revisions.jsonl``) when the requests, the reviser's weights, the sampling, the
    template and ``keep_wrong`` are unchanged; otherwise the generations come from / go to the resumable cache.
    """
    from ..generation import generate_cached
    from ..judging.templates import load_template

    settings = revision_settings(recipe)
    template = load_template(settings.template or DEFAULT_TEMPLATES[variant])
    records = _records_for(rows, recipe)
    params = revision_sampling(recipe, settings)
    requests = [
        {
            "id": _pair_key(row),
            "messages": revision_request(variant, template, row, records[row["id"]], f"pairs row {i} ({row['id']})"),
            "salt": f"revision:{_pair_key(row)}",
        }
        for i, row in enumerate(rows, 1)
    ]
    out_dir = Path(run_dir) / "revision"
    built = backend is None
    backend = backend or _make_backend(recipe)
    params = params.with_model_defaults(backend.model_defaults())  # the scripts' model.generate defaults
    keep_wrong = settings.keep_wrong and variant == GROUND_TRUTH
    inputs_hash = content_hash(
        {
            "variant": variant,
            "template": file_hash(template["path"]),
            "model": backend.fingerprint(),
            "sampling": params.to_dict(),
            "requests": content_hash(requests),
            "pairs": content_hash(rows),
            "keep_wrong": keep_wrong,
        }
    )
    stage = Stage(out_dir, "revision", inputs_hash, outputs=("revisions.jsonl",))
    if stage.is_current():
        return _sft_rows(read_jsonl(out_dir / "revisions.jsonl"))
    stage.start()
    batch_size = recipe.pairs.batch_size
    try:
        generated = generate_cached(backend, requests, params, out_dir / "generations.jsonl", batch_size)
    finally:
        if built:
            backend.close()
    revisions = [
        _judge_revision(variant, row, records[row["id"]], gen["text"], params.stop, keep_wrong)
        for row, gen in zip(rows, generated)
    ]
    write_jsonl(out_dir / "revisions.jsonl", revisions)
    counts = {"pairs": len(rows), "kept": 0, "dropped_empty": 0, "dropped_wrong": 0, "kept_wrong": 0}
    for r in revisions:
        counts[r["status"]] += 1
        counts["kept_wrong"] += r["status"] == "kept" and r["correct"] is False
    stage.finish(
        variant=variant,
        template=template["path"],
        template_hash=file_hash(template["path"]),
        model=absolute(backend.model),
        model_fingerprint=backend.fingerprint(),
        sampling=params.to_dict(),
        pairs_hash=content_hash(rows),
        keep_wrong=keep_wrong,
        counts=counts,
        generated=backend.count_tokens([gen["text"] for gen in generated]),
        dropped_ids=[r["id"] for r in revisions if r["status"] != "kept"][:100],
    )
    return _sft_rows(revisions)


def _judge_revision(variant: str, row: dict, record: dict, text: str, stop, keep_wrong: bool) -> dict:
    """One pair's revision with its verdict: ``status`` kept / dropped_empty / dropped_wrong."""
    revised = clean_revision(text, stop)
    found = correct = None
    if variant == GROUND_TRUTH and revised:
        graded = grading.grade(revised, record)  # the grader the evaluation and the RLVR reward call
        found, correct = graded.found, graded.correct
    if not revised:
        status = "dropped_empty"
    elif correct is False and not keep_wrong:
        status = "dropped_wrong"
    else:
        status = "kept"
    return {
        "id": _pair_key(row),
        "prompt": row["prompt"],
        "original": row["chosen"][-1]["content"],
        "revision": revised,
        "gold": grading.gold_answer(record) if variant == GROUND_TRUTH else None,
        "extracted": found,
        "correct": correct,
        "status": status,
    }


def _sft_rows(revisions) -> list[dict]:
    return [
        {"prompt": r["prompt"], "completion": [{"role": "assistant", "content": r["revision"]}]}
        for r in revisions
        if r["status"] == "kept"
    ]


def prepare_ground_truth(recipe, run_dir, rows: list[dict], backend=None) -> list[dict]:
    """``sft_revision``'s input: the model's revisions of its own answers given the correct final answer."""
    return prepare_revisions(GROUND_TRUTH, recipe, run_dir, rows, backend)


def prepare_with_examples(recipe, run_dir, rows: list[dict], backend=None) -> list[dict]:
    """``sft_revision_examples``' input: the good responses improved given the user's context and a bad response."""
    return prepare_revisions(WITH_EXAMPLES, recipe, run_dir, rows, backend)


# --- the trainer ------------------------------------------------------------------------------------------------------


@register_method("sft_revision", consumes=PAIRS, settings=RevisionSettings, prepare=prepare_ground_truth)
@register_method("sft_revision_examples", consumes=PAIRS, settings=RevisionSettings, prepare=prepare_with_examples)
def build_revision_trainer(policy, tokenizer, rows, settings: RevisionSettings, ctx):
    """TRL's SFTTrainer on the revisions (loss on the completion only), as the plain ``sft`` baseline."""
    if not rows:
        raise ValueError(
            "no revision survived cleaning, nothing to train on: see the counts in revision/revision.manifest.json "
            "(train.keep_wrong=true keeps revisions whose final answer is wrong)"
        )
    return build_sft(policy, tokenizer, rows, settings, ctx)


__all__ = ["RevisionSettings", "build_revision_trainer", "prepare_ground_truth", "prepare_with_examples"]
