"""The judged personalization tasks score inside lm-eval: ``lm_eval --include_path tasks --tasks mipo_prism`` prints
the paper's judged metric (PRISM, CA, Multi-Bench: the win-rate against the dataset's reference response, ties as
wins and failed calls as losses, as the scripts count them; beside it the mean 1-5 score and the failed items;
PrefEval, which has no reference response: the mean score).

How: the tasks' filter ``judged`` (``filter_fn: !function utils.judge_<dataset>``) receives every response of the
task at once and judges them in batches with :func:`mipo_bench.judging.calls.judge_items` — the template, decoding,
retries and seed that `mipo-bench judge` uses, so both give the same numbers on the same samples — and the reference
responses the same way; ``process_results`` (:func:`judged_results`) turns each item's verdict into its scores by the
one rule (:func:`mipo_bench.judging.winrate.item_scores`). With ``--log_samples`` each sample's ``filtered_resps``
holds its verdict (its score per preference, the reference's, whether a call failed).

Which judge (first found):

1. ``--metadata '{"judge": SPEC}'`` (or ``judge:`` in the task YAML's ``dataset_kwargs``);
2. ``$MIPO_BENCH_JUDGE``;
3. the embedded SmolLM2-135M, with a warning: it may be judging itself, and its numbers are a demo's.

A SPEC is an HF id, a local path, or an OpenAI-compatible endpoint (``http://host:8000/v1``, its one served model;
``MODEL@http://…`` names one). ``none`` judges nothing: the task only generates (`mipo-bench eval` sets it, and
`mipo-bench judge` / `reproduce` judge afterwards). The scoring (``text`` parses the reply, ``logprob`` takes the
expected rating; :mod:`mipo_bench.judging.calls`) comes from ``judge_scoring`` / ``$MIPO_BENCH_JUDGE_SCORING``, by
default ``text`` (the paper's) for a named judge and ``logprob`` for the embedded one (a 135M judge rarely writes a
parseable score). Judgments and their caches live under ``$MIPO_BENCH_JUDGE_CACHE`` (default
``~/.cache/mipo_bench/judge``), one folder per (dataset, judge, template, scoring): the reference side, the same for
every model, is judged once.
"""

from __future__ import annotations

import logging
import math
import os
from contextlib import contextmanager
from pathlib import Path

from ..core.models import DEFAULT_MODEL
from ..core.runs import content_hash

JUDGE_ENV, SCORING_ENV, CACHE_ENV = "MIPO_BENCH_JUDGE", "MIPO_BENCH_JUDGE_SCORING", "MIPO_BENCH_JUDGE_CACHE"
NO_JUDGE = "none"
_METADATA: dict[str, dict] = {}
"""dataset -> the ``judge`` / ``judge_scoring`` its task's metadata gave (recorded by the ``load_docs`` hook, which
lm-eval calls with the task's metadata before any response is filtered)."""
log = logging.getLogger("mipo_bench.judged")


@contextmanager
def judge_in_harness(judge: str):
    """``$MIPO_BENCH_JUDGE`` set to ``judge`` for the duration (``none``: the judged tasks only generate)."""
    before = os.environ.get(JUDGE_ENV)
    os.environ[JUDGE_ENV] = judge
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(JUDGE_ENV, None)
        else:
            os.environ[JUDGE_ENV] = before


def remember_metadata(dataset: str, judge: str | None = None, judge_scoring: str | None = None) -> None:
    _METADATA[dataset] = {"judge": judge, "judge_scoring": judge_scoring}


def judge_settings(dataset: str) -> dict | None:
    """``{"judge", "backend", "options", "scoring", "embedded"}`` for ``dataset``'s task, or None (``none``)."""
    from ..judging.calls import SCORINGS

    given = _METADATA.get(dataset, {})
    spec = given.get("judge") or os.environ.get(JUDGE_ENV) or None
    if spec is not None and str(spec).strip().lower() == NO_JUDGE:
        return None
    embedded = spec is None
    spec = str(spec or DEFAULT_MODEL)
    backend, options = "hf", {}
    model, at, url = spec.rpartition("@") if "@http" in spec else ("", "", spec)
    if url.startswith(("http://", "https://")):
        backend, options = "openai", {"base_url": url.rstrip("/")}
        spec = model or _served_model(url)
    scoring = given.get("judge_scoring") or os.environ.get(SCORING_ENV) or ("logprob" if embedded else "text")
    if scoring not in SCORINGS:
        raise ValueError(f"{SCORING_ENV} / judge_scoring must be one of {', '.join(SCORINGS)}, not {scoring!r}")
    if embedded:
        log.warning(
            "%s: judged by the embedded %s (scoring %s), which may be judging itself: a demo's numbers. Name a judge "
            "with $%s or --metadata '{\"judge\": SPEC}' (an HF id, a path, an OpenAI-compatible URL; none: no judging)",
            dataset,
            DEFAULT_MODEL,
            scoring,
            JUDGE_ENV,
        )
    return {"judge": spec, "backend": backend, "options": options, "scoring": scoring, "embedded": embedded}


def _served_model(url: str) -> str:
    """The one model an OpenAI-compatible server serves (several: name one as MODEL@URL)."""
    from ..core.resources import import_optional

    openai = import_optional("openai", "serve", "judging with an OpenAI-compatible endpoint")
    names = [
        m.id for m in openai.OpenAI(base_url=url, api_key=os.environ.get("MIPO_BENCH_API_KEY") or "EMPTY").models.list()
    ]
    if len(names) != 1:
        raise ValueError(
            f"{JUDGE_ENV}={url}: the server serves {len(names)} models ({', '.join(names)}): name one as MODEL@{url}"
        )
    return names[0]


def cache_dir(dataset: str, settings: dict, template: str) -> Path:
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "mipo_bench" / "judge").expanduser()
    key = content_hash({k: settings[k] for k in ("judge", "backend", "scoring")} | {"template": template})
    return (root / dataset / key).resolve()


def judge_responses(dataset: str, resps: list, docs: list[dict]) -> list[dict]:
    """The ``judged`` filter: one verdict per instance (``{"judged": False}`` when no judge is asked for)."""
    settings = judge_settings(dataset)
    if settings is None:
        return [{"judged": False} for _ in docs]
    from ..data import dataset_spec
    from ..judging.calls import judge_items, response_scores, sample_item
    from ..judging.samples import judge_backend

    spec = dataset_spec(dataset)
    template = spec.judge_template
    items = [sample_item(doc, rs) for doc, rs in zip(docs, resps)]
    references = (
        [{**it, "response": it["reference"]} for it in items if it.get("reference")] if spec.has_reference else None
    )
    folder = cache_dir(dataset, settings, template)
    folder.mkdir(parents=True, exist_ok=True)
    engine = judge_backend(settings["backend"], settings["judge"], 16, **settings["options"])
    try:
        rows = judge_items(items, engine, folder / "judgments.jsonl", template, scoring=settings["scoring"])
        ref_rows = (
            judge_items(references, engine, folder / "reference_judgments.jsonl", template, scoring=settings["scoring"])
            if references is not None
            else None
        )
    finally:
        engine.close()
    mine = response_scores(rows)
    theirs = response_scores(ref_rows) if ref_rows is not None else None
    by_item: dict[str, list] = {}
    for row in rows:
        by_item.setdefault(row["item_id"], []).append(row["score"])
    verdicts = []
    for it in items:
        verdict = {
            "judged": True,
            "judge": settings["judge"],
            "scoring": settings["scoring"],
            "score": mine.get(it["id"]),
        }
        verdict["preference_scores"] = by_item.get(it["id"], [])
        if theirs is not None:
            verdict["reference_score"] = theirs.get(it["id"])
        verdicts.append(verdict)
    return verdicts


def judged_results(doc: dict, results: list) -> dict:
    """``process_results``: the item's scores by the one rule (:func:`mipo_bench.judging.winrate.item_scores`);
    PrefEval (no reference side) reports ``judge_score`` and ``judge_failed`` only; nothing when not judged."""
    from ..judging.winrate import item_scores

    verdict = results[0]
    if not verdict.get("judged"):
        return {}
    if "reference_score" not in verdict:
        score = verdict["score"]
        return {"judge_score": math.nan if score is None else float(score), "judge_failed": float(score is None)}
    scores = item_scores(verdict["score"], verdict["reference_score"])
    return {"judge_score": math.nan, **scores}


def total(values: list[float]) -> float:
    """lm-eval aggregation: the sum (the number of failed items)."""
    return float(sum(values))
