"""``mipo-bench mi``: the pointwise mutual information MIPO claims to raise, measured under a fixed reference model.

Responses y ~ pi_model(. | prompt) are sampled with the generation stage (cached, resumable) and scored under the
REFERENCE model pi_ref with :class:`~mipo_bench.rewards.mutual_information.LogProbScorer` (chat template plus
generation prompt, response log-probs summed over its tokens). Per item:

* personalization (a ``prompt`` with the user's context c, a ``base_prompt`` without it):
  ``log pi_ref(y | x, c) - log pi_ref(y | x)``;
* general tasks: ``log pi_ref(y | x) - mean_j log pi_ref(y | x'_j)``, the x'_j ``contrasts`` other prompts of the
  same set (a different prompt text, never x itself), drawn without replacement per item by a RNG seeded with
  (seed, item id), so a draw does not depend on the order or number of the other items.

The contrast term is the mean of log-probs, i.e. the log of the GEOMETRIC mean of pi_ref(y | x'), not
``logmeanexp`` (the log of the arithmetic mean, a plug-in estimate of log pi_ref(y)). Why: (1) its expectation over
the draw is exactly that of the one-x' quantity MIPO optimizes (a random-prompt pair, the MI reward), for any number
of contrasts: ``contrasts`` only lowers the variance. logmeanexp's bias depends on the number of contrasts, and with
sequence log-probs tens of nats apart it is dominated by its largest term, a max over a handful of draws. (2) By
Jensen, E_x' log pi(y|x') <= log E_x' pi(y|x') = log pi(y) (the marginal over the set), so the reading is, in
expectation, an upper bound on the pointwise MI log pi(y|x) - log pi(y): the same bound for every model measured under
the same reference. Each sample's per-contrast log-probs are in ``mi.json``: logmeanexp needs no rerun.

A response is scored as its generated text (cut at the task's stop strings, re-tokenized, no end-of-turn token): both
terms of the difference score exactly the same tokens. An empty response scores 0. With ``samples`` > 1 an item's
value is the mean over its samples; the 95% CI is a percentile bootstrap over items (prompts), seeded.

Inputs (``data``): a dataset name (training prompts as the online methods' PROMPTS stage builds them,
:func:`mipo_bench.data.prompt_rows`, for the paper protocol's selection subsampled to ``n`` under ``seed``), or a
``prompts.jsonl`` / ``pairs.jsonl`` written by the pipeline (``n`` items drawn under ``seed``; a pairs file's rows of
one item count once). Outputs in ``out_dir``: ``generations.jsonl`` (the cache), ``mi.json`` and ``mi.manifest.json``;
a call whose inputs (items, contrasts, both models' weights, settings) are unchanged returns the stored result.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..core.chat import is_chat
from ..core.runs import content_hash, file_hash, read_jsonl, write_json
from ..core.stage import Stage

PERSONALIZATION = "personalization"
GENERAL = "general"
ESTIMATOR = "mean_log_contrasts"  # recorded with every reading; part of the cache key


# --------------------------------------------------------------------------------------------------- the prompt set
def load_items(
    data: str | Path,
    n: int | None,
    seed: int,
    dataset: str | None = None,
    contexts: str | None = None,
    prompts: str = "eval",
):
    """``(items, source)``: items ``{id, dataset, kind, prompt, base_prompt?}`` (chats) from a dataset name (its
    held-out evaluation items, or with ``prompts="train"`` its training prompts) or a pipeline JSONL file, and a
    description of where they came from."""
    path = Path(data)
    if path.exists():
        return _items_from_file(path, n, seed, dataset)
    if path.suffix in (".jsonl", ".json") or len(path.parts) > 1:
        raise FileNotFoundError(f"no prompts/pairs file {path}")
    return _items_from_dataset(str(data), n, seed, contexts, prompts)


def _items_from_dataset(name: str, n: int | None, seed: int, contexts: str | None, prompts: str):
    from .. import data as datasets

    datasets.dataset_spec(name)  # unknown name: an error with the known ones
    rows, source = datasets.prompt_rows(name, n, seed, contexts, split=prompts)
    items = [_item(row, row["dataset"], f"{name} row {i}") for i, row in enumerate(rows, 1)]
    return items, {"dataset": name, **source}


def _items_from_file(path: Path, n: int | None, seed: int, dataset: str | None):
    from ..data import sample

    fallback = dataset or _manifest_dataset(path)
    items, seen = [], set()
    for i, row in enumerate(read_jsonl(path), 1):
        where = f"{path}:{i}"
        if "id" not in row:
            raise ValueError(f"{where}: no 'id'")
        if str(row["id"]) in seen:  # pairs: one row per sample of an item, all with the item's prompt
            continue
        name = dataset or row.get("dataset") or fallback
        if not name:
            raise ValueError(
                f"{where}: no 'dataset' in the row nor in a manifest next to the file (it selects the sampling and "
                "stop strings): pass dataset= (CLI --dataset)"
            )
        seen.add(str(row["id"]))
        items.append(_item(row, name, where))
    if not items:
        raise ValueError(f"{path}: no rows")
    chosen = sample(items, n, seed)
    return chosen, {"path": str(path), "file_hash": file_hash(path), "n": len(chosen), "rows": len(items)}


def _manifest_dataset(path: Path) -> str | None:
    """The dataset a pipeline file was built from, from its stage manifest (``pairs`` / ``prompts``)."""
    for manifest in sorted(path.parent.glob("*.manifest.json")):
        source = json.loads(manifest.read_text()).get("source") or {}
        if source.get("dataset"):
            return source["dataset"]
    return None


def _item(row: dict, dataset: str, where: str) -> dict:
    from ..data.spec import DATASETS

    if dataset not in DATASETS:
        raise ValueError(f"{where}: dataset {dataset!r} has no sampling settings; known: {', '.join(DATASETS)}")
    prompt = row.get("prompt")
    if not is_chat(prompt):
        raise ValueError(f"{where}: 'prompt' must be a non-empty chat (a list of {{role, content}} messages)")
    item = {"id": str(row["id"]), "dataset": dataset, "kind": GENERAL, "prompt": prompt}
    if DATASETS[dataset].personalized:
        base = row.get("base_prompt") or _base_from_personalized(prompt)
        if not is_chat(base):
            raise ValueError(
                f"{where}: a personalization row needs 'base_prompt' (the chat without the user's context) or a "
                "prompt in the paper's personalized form"
            )
        item.update(kind=PERSONALIZATION, base_prompt=base)
    return item


def _base_from_personalized(prompt: list[dict]) -> list[dict] | None:
    """The paper's base prompt of a one-message personalized prompt (pairs rows carry no ``base_prompt``)."""
    from ..data.prompts import BASE_PROMPT, PERSONALIZED_PROMPT

    if len(prompt) != 1:
        return None
    pattern = re.escape(PERSONALIZED_PROMPT).replace(r"\{prompt\}", "(?P<q>.*?)").replace(r"\{request\}", "(?P<c>.*)")
    match = re.fullmatch(pattern, prompt[0]["content"], flags=re.DOTALL)
    if not match:
        return None
    return [{**prompt[0], "content": BASE_PROMPT.format(prompt=match["q"])}]


def draw_contrasts(items: list[dict], k: int, seed: int) -> dict[str, list[str]]:
    """For each general item, ``k`` ids of other items whose prompt differs from its own (fewer when the set has
    fewer): the suite's one draw of x' (:func:`mipo_bench.data.sampling.draw_others`), so the first contrast of an
    item is the x' its random-prompt pair and its MI reward were given."""
    from ..data.sampling import draw_others

    general = [it for it in items if it["kind"] == GENERAL]
    drawn = draw_others(general, k, seed, key=lambda it: json.dumps(it["prompt"], sort_keys=True))
    if any(not others for others in drawn.values()):
        raise ValueError("general-task MI needs at least two distinct prompts (x' is another prompt of the set)")
    return {item_id: [o["id"] for o in others] for item_id, others in drawn.items()}


# ------------------------------------------------------------------------------------------- sampling and scoring
def sampling_for(dataset: str, samples: int, max_new_tokens: int, seed: int, temperature: float | None):
    """The paper's pair-generation temperature / top-p for the dataset (``temperature`` overrides), its eval task's
    stop strings, ``max_new_tokens`` and ``samples`` per prompt."""
    from ..data.protocol import pair_sampling, stop_strings
    from ..generation import SamplingParams

    paper = pair_sampling(dataset)
    return SamplingParams(
        n=samples,
        temperature=paper.temperature if temperature is None else temperature,
        top_p=paper.top_p,
        max_new_tokens=max_new_tokens,
        stop=stop_strings(dataset),
        seed=seed,
    )


def sample_responses(backend, items, params_by_dataset, out_path, batch_size, progress=None) -> dict[str, list[str]]:
    """item id -> its sampled response texts, through the resumable generation cache."""
    from ..generation import generate_cached

    texts: dict[str, list[str]] = {}
    for name, params in params_by_dataset.items():
        requests = [
            {"id": it["id"], "messages": it["prompt"], "salt": f"mi:{it['id']}"}
            for it in items
            if it["dataset"] == name
        ]
        for row in generate_cached(backend, requests, params, out_path, batch_size, progress):
            texts.setdefault(row["id"], []).append(row["text"])
    return texts


def score_items(scorer, items: list[dict], responses: dict, contrasts: dict, per_token: bool = False) -> list[dict]:
    """Per item: each sample's log-probs under the reference and its MI (``per_token``: divided by the response's
    token count under the reference's tokenizer), and the item's mean MI (one batched call)."""
    by_id = {it["id"]: it for it in items}
    prompts, texts = [], []
    for it in items:
        conditions = [it["prompt"]] + (
            [it["base_prompt"]] if it["kind"] == PERSONALIZATION else [by_id[c]["prompt"] for c in contrasts[it["id"]]]
        )
        for text in responses[it["id"]]:
            prompts += conditions
            texts += [text] * len(conditions)
    logps = iter(scorer.logprobs(prompts, texts))
    out = []
    for it in items:
        record = {"id": it["id"], "dataset": it["dataset"], "kind": it["kind"], "samples": []}
        if it["kind"] == GENERAL:
            record["contrast_ids"] = contrasts[it["id"]]
        for text in responses[it["id"]]:
            given_prompt = next(logps)
            if it["kind"] == PERSONALIZATION:
                given_base = next(logps)
                sample = {"text": text, "logp_given_prompt": given_prompt, "logp_given_base": given_base}
                sample["mi"] = given_prompt - given_base
            else:
                given_contrasts = [next(logps) for _ in contrasts[it["id"]]]
                sample = {"text": text, "logp_given_prompt": given_prompt, "logp_given_contrasts": given_contrasts}
                sample["mi"] = given_prompt - sum(given_contrasts) / len(given_contrasts)
            if per_token:
                tokens = len(scorer.response_ids(text))
                sample.update(tokens=tokens, mi=sample["mi"] / tokens if tokens else 0.0)
            record["samples"].append(sample)
        record["mi"] = sum(s["mi"] for s in record["samples"]) / len(record["samples"])
        out.append(record)
    return out


def summarize(values: list[float], seed: int) -> dict:
    """Mean, sample std and a 95% percentile-bootstrap CI over items (``stats.bootstrap_mean``; no CI with
    fewer than two items)."""
    import statistics

    from ..stats.paired import bootstrap_mean

    ci = bootstrap_mean(values, n_resamples=10_000, seed=seed)
    low, high = (ci.low, ci.high) if len(values) > 1 else (None, None)
    return {
        "mean": ci.mean,
        "std": statistics.stdev(values) if len(values) > 1 else None,
        "ci_low": low,
        "ci_high": high,
        "ci": "95% percentile bootstrap over items, 10000 resamples",
    }


def item_scores(result: dict) -> dict[str, float]:
    """item id -> MI of a reading, for paired statistics between two readings (``stats.paired_bootstrap``)."""
    return {item["id"]: item["mi"] for item in result["items"]}


# ------------------------------------------------------------------------------------------------- the measurement
def measure_mi(
    model: str,
    ref: str,
    data: str | Path,
    out_dir: str | Path,
    n: int | None = 32,
    samples: int = 1,
    max_new_tokens: int = 128,
    seed: int = 0,
    contrasts: int = 4,
    batch_size: int = 8,
    temperature: float | None = None,
    dataset: str | None = None,
    contexts: str | None = None,
    device: str | None = None,
    backend=None,
    backend_name: str = "hf",
    prompts: str = "eval",
    per_token: bool = False,
) -> dict:
    """Measure the MI of ``model``'s responses under ``ref`` on ``data``; returns (and writes ``out_dir/mi.json``)
    ``{mean, std, ci_low, ci_high, n, kinds, items, settings, model, model_fingerprint, ref, ref_fingerprint, ...}``.

    Compare models only under the SAME ``ref`` (and data, seed, settings): the reference defines the measure.
    ``backend``: a generation backend for ``model`` (default: ``backend_name``'s, built here). ``prompts``: a dataset's
    held-out evaluation items (default: what a trained model never saw) or its training prompts. ``per_token``: each
    response's MI divided by its length, comparable across response lengths (default: Eq. 13's sum).
    """
    from ..core.console import console
    from ..core.models import load_model, model_fingerprint
    from ..generation import get_backend
    from ..rewards.mutual_information import LogProbScorer

    out_dir = Path(out_dir)
    items, source = load_items(data, n, seed, dataset, contexts, prompts)
    contrast_ids = draw_contrasts(items, contrasts, seed)
    params = {
        name: sampling_for(name, samples, max_new_tokens, seed, temperature)
        for name in dict.fromkeys(it["dataset"] for it in items)
    }
    options = {"batch_size": batch_size, **({"device": device} if device else {})}
    built = backend is None
    backend = backend or get_backend(backend_name, model, **options)
    params = {name: p.with_model_defaults(backend.model_defaults()) for name, p in params.items()}
    settings = {"n": n, "samples": samples, "max_new_tokens": max_new_tokens, "seed": seed, "contrasts": contrasts}
    settings.update(temperature=temperature, estimator=ESTIMATOR, sampling={k: p.to_dict() for k, p in params.items()})
    settings.update(prompts=prompts, per_token=per_token)
    identity = {"model": backend.fingerprint(), "ref": model_fingerprint(ref)}
    inputs_hash = content_hash({"items": items, "contrasts": contrast_ids, "settings": settings, **identity})
    stage = Stage(out_dir, "mi", inputs_hash, outputs=("mi.json",))
    if stage.is_current():
        result = json.loads((out_dir / "mi.json").read_text())
        console.print(f"mi: unchanged, reusing {out_dir / 'mi.json'}")
        console.print(summary_line(result))
        return result

    from ..core.console import progress_bar

    stage.start()

    try:
        with progress_bar() as progress:
            responses = sample_responses(backend, items, params, out_dir / "generations.jsonl", batch_size, progress)
    finally:
        if built:  # the sampler's memory goes before the reference model is loaded
            backend.close()
    ref_model, tokenizer = load_model(ref, device=device)
    scorer = LogProbScorer(tokenizer, ref_model, batch_size)
    per_item = score_items(scorer, items, responses, contrast_ids, per_token)
    kinds = sorted({it["kind"] for it in per_item})
    result = {
        **summarize([it["mi"] for it in per_item], seed),
        "n": len(per_item),
        "kinds": kinds,
        "empty_responses": sum(not s["text"] for it in per_item for s in it["samples"]),
        "model": model,
        "model_fingerprint": identity["model"],
        "ref": ref,
        "ref_fingerprint": identity["ref"],
        "ref_dtype": str(next(ref_model.parameters()).dtype).replace("torch.", ""),
        "data": {"spec": str(data), **source},
        "settings": settings,
        "items": per_item,
    }
    write_json(out_dir / "mi.json", result)
    recorded = ("model", "model_fingerprint", "ref", "ref_fingerprint", "settings", "data")
    stage.finish(**{k: result[k] for k in recorded}, result_hash=content_hash(result))
    console.print(summary_line(result))
    return result


def summary_line(result: dict) -> str:
    """One line: the mean MI with its CI, n, the kinds of items, and the models."""
    ci = "" if result["ci_low"] is None else f" [95% CI {result['ci_low']:+.2f}, {result['ci_high']:+.2f}]"
    return (
        f"MI {result['mean']:+.3f} nats{ci} over {result['n']} prompts ({', '.join(result['kinds'])}): "
        f"responses of {result['model']} scored under {result['ref']}"
    )
