"""One judge run over an lm-eval samples file: judge every response (and the reference side, when there is one) with
the same judge, template, decoding and seed, then the win-rate against the reference. Used by `mipo-bench judge` and
by `mipo-bench reproduce` for the judged tables; writes ``judgments.jsonl``, ``reference_judgments.jsonl`` and
``judge_summary.json`` under ``out`` (cached and resumable through the generation cache)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from .. import generation
from .calls import check_scoring, dump, judge_items, read_samples, reference_items, response_scores, summary
from .templates import load_template, template_decoding
from .winrate import compare


def judge_backend(name: str, judge: str, batch_size: int = 16, **options):
    """The judge's backend: on ``hf`` with the prefix cache on (a response's judge calls share everything up to the
    preference, encoded once; replies equal the uncached path's, tests/test_prefix_cache.py)."""
    if name == "hf":
        options = {"prefix_cache": True, **options}
    return generation.get_backend(name, judge, batch_size=batch_size, **options)


DEFAULT_TEMPLATE = "personalization_score"  # the suite's guarded template, for samples of no named dataset


def default_template(dataset: str | None) -> str:
    """The template a dataset's items are judged with (its spec's ``judge_template``: PRISM ``paper``, CA
    ``paper_ca``, Multi-Bench ``paper_mb``), or the suite's guarded one when no dataset is named."""
    if not dataset:
        return DEFAULT_TEMPLATE
    from ..data import dataset_spec

    return dataset_spec(dataset).judge_template


def judged_sides(
    samples: str | Path, reference: str | Path | None, dataset: str | None
) -> tuple[list[dict], list[dict] | None]:
    """The samples' items and the reference side's (see :func:`judge_samples`'s ``reference``), or None."""
    items = read_samples(samples)
    if reference == "dataset":  # the dataset's own reference (PRISM / CA: the human-chosen response)
        lookup = None
        if dataset:
            from .. import data

            lookup = {r["id"]: r.get("reference") for r in data.load(dataset, "test")}
        return items, reference_items(items, samples, lookup)
    return items, (read_samples(reference) if reference else None)


def judge_samples(
    samples: str | Path,
    judge: str,
    out: str | Path,
    template: str | None = None,
    backend: str = "hf",
    reference: str | Path | None = None,
    dataset: str | None = None,
    retries: int | None = None,
    max_new_tokens: int | None = None,
    seed: int = 0,
    batch_size: int = 16,
    scoring: str = "text",
    judge_choice: dict | None = None,
) -> dict:
    """Judge ``samples``; ``reference`` is another samples file, ``"dataset"`` (each item's reference response,
    looked up in ``dataset`` by id where the sample's doc lacks it) or None (scores only). ``dataset`` names the
    samples' dataset: its judge template is the default (:func:`default_template`). ``judge_choice`` (how the judge
    was chosen, e.g. :meth:`.judges.JudgeChoice.as_dict`) is recorded in the summary. ``scoring``: ``text`` (the
    reply parsed) or ``logprob`` (the expected label, :mod:`.judge`). Returns the summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    template = template or default_template(dataset)
    spec = load_template(template)
    check_scoring(scoring, spec)  # before any samples are read or a judge is loaded
    decoding = template_decoding(spec, max_new_tokens, retries, seed)
    items, ref_items = judged_sides(samples, reference, dataset)
    engine = judge_backend(backend, judge, batch_size)

    def run(judged: list[dict], name: str) -> list[dict]:
        """Samples and reference alike: the same judge, template, decoding and seed."""
        return judge_items(
            judged,
            engine,
            out / name,
            template,
            retries=decoding.retries,
            batch_size=batch_size,
            max_new_tokens=decoding.max_new_tokens,
            scoring=scoring,
            seed=seed,
        )

    try:
        rows = run(items, "judgments.jsonl")
        ref_rows = run(ref_items, "reference_judgments.jsonl") if ref_items is not None else None
    finally:
        engine.close()
    report = {
        "samples": str(samples),
        "judge": judge,
        "template": template,
        "template_path": spec["path"],
        "decoding": asdict(decoding),
        "scoring": scoring,
        **summary(rows),
    }
    if judge_choice is not None:
        report["judge_choice"] = judge_choice
    if ref_rows is not None:
        report["reference"] = {"source": str(reference), "dataset": dataset, **summary(ref_rows)}
        report["win_rate"] = compare(response_scores(rows), response_scores(ref_rows), seed=seed)
    dump(report, out / "judge_summary.json")
    return report
