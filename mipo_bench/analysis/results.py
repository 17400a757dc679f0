"""Evaluation entries read from run directories: what the leaderboard and the reports rank.

An evaluation is a directory holding ``eval.manifest.json`` (status ``complete``) and ``eval_results.json`` (see
:func:`..workflows.pipeline.run_eval_stage`). When the evaluated model was trained by mipo-bench, the model directory
``<train_dir>/model`` has ``train.manifest.json`` and ``train_log.jsonl`` beside it: they give the method, the base
model, the seed and the training time. A model without them (the base model, an external checkpoint) is method
``base``.

:func:`collect` turns each (evaluation, task) into one :class:`EvalEntry`; a directory that is not a finished
evaluation is no entry and is named, with the reason, in its second return value.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..core.models import EMBEDDED, ModelSpecError, embedded_gguf, gguf_cache_dir, locate_model
from ..core.runs import content_hash, read_jsonl
from ..evaluation.harness import headline_label, score_label
from .judged import judged_scores
from .report import per_item_scores, score_pairs

BASE_METHOD = "base"
JUDGMENT_FILES = ("judgments.jsonl", "reference_judgments.jsonl", "critic_judgments.jsonl")


@dataclass
class EvalEntry:
    """One model's evaluation on one task, with its per-item scores and its cost."""

    eval_dir: Path
    task: str
    method: str  # "base" when the evaluated model was not trained by mipo-bench
    model: str  # the BASE model spec (the train manifest's base_model; the eval's model spec for a base run)
    seed: int | None
    label: str  # display name: the method, or a user label
    scores: dict[str, dict[int, float]]  # score label ("paper", "strict", "acc") -> doc_id -> score
    headline: str  # the score label that ranks (the paper extraction where the task has it)
    cost: dict  # generated_tokens, token_counter, train_seconds, judge_calls, hardware (None where unknown)
    manifest: dict  # {"eval": ..., "train": ... or None, "judge": the judge's identity (judged tasks) or None}
    judgments: list[dict] = field(default_factory=list)  # judged tasks: each preference's score (judged.py)


class NotAnEvaluation(ValueError):
    """A directory with an eval manifest that is not a finished, readable evaluation."""


def collect(paths: list[Path], label: str | None = None) -> tuple[list[EvalEntry], list[str]]:
    """Every evaluation under ``paths`` (each a run or eval directory, searched recursively): the entries, and one
    line per directory that was skipped, naming it and why. ``label`` replaces the method as display name."""
    entries, skipped = [], []
    for root in map(Path, paths):
        if not root.is_dir():
            skipped.append(f"{root}: not a directory")
            continue
        manifests = sorted(root.rglob("eval.manifest.json"))
        if not manifests:
            skipped.append(f"{root}: no eval.manifest.json under it (not an evaluation or run directory)")
        for manifest in manifests:
            try:
                entries.extend(read_evaluation(manifest.parent, label))
            except NotAnEvaluation as e:
                skipped.append(f"{manifest.parent}: {e}")
            except (ValueError, KeyError, TypeError) as e:  # one unreadable run never stops the others
                skipped.append(f"{manifest.parent}: unreadable ({type(e).__name__}: {e})")
    return entries, skipped


def read_evaluation(eval_dir: Path, label: str | None = None) -> list[EvalEntry]:
    """The entries (one per task) of one finished evaluation; :class:`NotAnEvaluation` when it is not one."""
    eval_manifest = _read_json(eval_dir / "eval.manifest.json", "eval manifest")
    if eval_manifest.get("status") != "complete":
        raise NotAnEvaluation(f"eval.manifest.json status is {eval_manifest.get('status')!r}, not 'complete'")
    results = _read_json(eval_dir / "eval_results.json", "eval_results.json")
    if not isinstance(results.get("samples"), dict):
        raise NotAnEvaluation("eval_results.json has no 'samples' (written by an older mipo-bench?)")
    model_spec = str(eval_manifest.get("model") or results.get("mipo_bench", {}).get("model_spec") or "")
    if not model_spec:
        raise NotAnEvaluation("neither eval.manifest.json nor eval_results.json names the evaluated model")
    train_dir = Path(model_spec).parent
    train_manifest = _train_manifest(train_dir)
    method = train_manifest.get("method", BASE_METHOD) if train_manifest else BASE_METHOD
    label = label or eval_manifest.get("label") or (recipe_label(train_manifest) if train_manifest else None)
    base_spec = str(train_manifest.get("base_model") or model_spec) if train_manifest else model_spec
    counter = token_counter(model_spec, base_spec)
    cost = {
        "train_seconds": train_seconds(train_dir, train_manifest) if train_manifest else None,
        "judge_calls": judge_calls(eval_dir),
        "hardware": eval_manifest.get("hardware") or (train_manifest or {}).get("hardware"),
        "token_counter": counter.name,
        **training_costs(train_manifest),
    }
    entries = []
    for task in eval_manifest.get("tasks") or list(results["samples"]):
        if task not in results["samples"]:
            raise NotAnEvaluation(f"eval_results.json has no samples for task {task!r} named in the manifest")
        _check_samples(results["samples"][task], task)
        pairs = score_pairs(results, task)
        scores = {score_label(m, f): per_item_scores(results, task, f, m) for m, f in pairs}
        try:
            judged = judged_scores(eval_dir, task)
        except ValueError as e:
            raise NotAnEvaluation(str(e)) from None
        judge, judgments = None, []
        if judged is not None:  # a judged task ranks by its win-rate against the reference
            scores.update(judged[0])
            judge, judgments = judged[1], judged[2]
            judge["audit"] = judge_audit(eval_dir, task)
        headline = headline_label(task, scores) or ""  # the task's declared headline; "": generation only
        entries.append(
            EvalEntry(
                eval_dir=eval_dir,
                task=task,
                method=method,
                model=canonical_model(base_spec),
                seed=train_manifest.get("seed") if train_manifest else None,
                label=label or method,
                scores=scores,
                headline=headline,
                cost={**cost, "generated_tokens": sum(map(counter, response_texts(results["samples"][task])))},
                manifest={"eval": eval_manifest, "train": train_manifest, "judge": judge},
                judgments=judgments,
            )
        )
    return entries


def recipe_label(train_manifest: dict) -> str | None:
    """A trained run's row name: the name of the recipe it trained (``ipo``, not its method ``mipo``), when the run
    trained that recipe's own method; None otherwise (a recipe run with ``method=…`` is named by that method)."""
    import yaml

    path = Path(str(train_manifest.get("recipe") or ""))
    try:
        raw = yaml.safe_load(path.read_text()) if path.suffix in (".yaml", ".yml") else None
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(raw, dict) or raw.get("method") != train_manifest.get("method"):
        return None
    return str(raw.get("name") or path.stem)


def settings_fingerprint(train_manifest: dict | None) -> str | None:
    """What a trained row's settings are, hashed (its method and resolved training settings; not its seed): two
    runs of one recipe name with other settings are other rows."""
    if not train_manifest:
        return None
    return content_hash({"method": train_manifest.get("method"), "settings": train_manifest.get("settings")})[:6]


def _check_samples(samples, task: str) -> None:
    """Every sample has ``doc_id`` and ``filter``, and no score under its metric names is a string; else the
    evaluation is named and skipped (one bad run must not blank another's row or abort the whole add)."""
    if not isinstance(samples, list):
        raise NotAnEvaluation(f"eval_results.json: samples of {task} are not a list")
    for k, sample in enumerate(samples, 1):
        missing = [key for key in ("doc_id", "filter") if not isinstance(sample, dict) or key not in sample]
        if missing:
            raise NotAnEvaluation(f"eval_results.json: {task} sample {k} has no {' / '.join(missing)}")
        for metric in sample.get("metrics") or []:
            value = sample.get(metric)
            if isinstance(value, str):  # a score written as text would be read as no score at all
                where = f"eval_results.json: {task} sample {k} (doc {sample['doc_id']})"
                raise NotAnEvaluation(f"{where}: {metric} is {value!r}, a string, not a number")


def judge_audit(eval_dir: Path, task: str) -> dict:
    """The judge audit of a judged task (:mod:`.judge_audit`), computed from its files (nothing written)."""
    from .judge_audit import audit

    try:
        return audit(eval_dir, task, write=False)
    except (ValueError, FileNotFoundError, KeyError) as e:
        return {"error": str(e)}


def _read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise NotAnEvaluation(f"{path.name} is missing")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise NotAnEvaluation(f"{path.name} is not valid JSON (torn write?): {e}") from None
    if not isinstance(obj, dict):
        raise NotAnEvaluation(f"{path.name}: expected a JSON object ({what})")
    return obj


def _train_manifest(train_dir: Path) -> dict | None:
    """The complete train manifest beside the evaluated model, else None (the model was not trained here)."""
    try:
        manifest = _read_json(train_dir / "train.manifest.json", "train manifest")
    except NotAnEvaluation:
        return None
    return manifest if manifest.get("status") == "complete" else None


def train_seconds(train_dir: Path, train_manifest: dict) -> float | None:
    """TRL's ``train_runtime`` from the last log row that has it, else from the train manifest."""
    try:
        rows = [r for r in read_jsonl(train_dir / "train_log.jsonl") if "train_runtime" in r]
    except ValueError:
        rows = []
    if rows:
        return float(rows[-1]["train_runtime"])
    value = train_manifest.get("train_runtime")
    return float(value) if isinstance(value, (int, float)) else None


def training_costs(train_manifest: dict | None) -> dict:
    """``train_cpu_seconds`` (CPU seconds of the training, all processes) and ``train_generated_tokens`` (the tokens
    the method generated to train: its pairs' samples, self-revisions, rollouts and critic replies) from a train
    manifest; None where the manifest predates them or there was no training."""
    if not train_manifest or "generation" not in train_manifest:
        return {"train_cpu_seconds": None, "train_generated_tokens": None}
    generation = dict(train_manifest.get("generation") or {})
    generation.pop("critic_calls", None)
    data = train_manifest.get("data_manifest") or {}
    pairs = (data.get("generated") or {}).get("tokens")
    unknown = (data.get("stage") == "pairs" and pairs is None) or generation.get("revision_tokens", 0) is None
    if unknown:  # pairs (or revisions) built before their generation was counted: unknown, not zero
        return {"train_cpu_seconds": train_manifest.get("cpu_seconds"), "train_generated_tokens": None}
    parts = [pairs, *generation.values()]
    return {
        "train_cpu_seconds": train_manifest.get("cpu_seconds"),
        "train_generated_tokens": sum(int(v) for v in parts if isinstance(v, (int, float))),
    }


def judge_calls(eval_dir: Path) -> int:
    """Judge model calls made for this evaluation, in the eval directory or its ``judge/`` folder (where
    ``reproduce`` judges): every reply (retries included) in the judgment files, else the ``judgments`` counts of
    ``judge_summary.json``, else 0."""
    return sum(_judge_calls_in(folder) for folder in (eval_dir, eval_dir / "judge"))


def _judge_calls_in(folder: Path) -> int:
    calls = 0
    for name in JUDGMENT_FILES:
        try:
            calls += sum(len(r.get("replies") or [None]) for r in read_jsonl(folder / name))
        except ValueError:
            continue
    if calls:
        return calls
    summary_path = folder / "judge_summary.json"
    try:
        summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    except json.JSONDecodeError:
        return 0
    return int(summary.get("judgments") or 0) + int((summary.get("reference") or {}).get("judgments") or 0)


def response_texts(samples: list[dict]) -> list[str]:
    """The text the model generated for each item: its response (once, not once per filter) and the paper re-ask
    reply. Loglikelihood tasks generate nothing."""
    texts, seen = [], set()
    for s in samples:
        if s["doc_id"] not in seen:
            seen.add(s["doc_id"])
            texts += [r for resp in s.get("resps") or [] for r in resp if isinstance(r, str)]
        if isinstance(s.get("reask_reply"), str):
            texts.append(s["reask_reply"])
    return texts


class _Counter:
    """Counts tokens of a text: with a tokenizer (``name`` = ``tokenizer:<path>``) or by whitespace."""

    def __init__(self, name: str, tokenizer=None):
        self.name, self.tokenizer = name, tokenizer

    def __call__(self, text: str) -> int:
        if self.tokenizer is None:
            return len(text.split())
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])


def token_counter(*specs: str) -> _Counter:
    """The first of ``specs`` whose tokenizer loads offline without converting anything; whitespace words else."""
    for spec in specs:
        path = _local_tokenizer_path(spec)
        if path:
            tokenizer = _load_tokenizer(path)
            if tokenizer is not None:
                return _Counter(f"tokenizer:{path}", tokenizer)
    return _Counter("whitespace")


def _local_tokenizer_path(spec: str) -> str | None:
    try:
        found = locate_model(spec)
    except ModelSpecError:
        return None
    if isinstance(found, Path):  # a GGUF: only its converted cache directory, never a fresh conversion
        converted = gguf_cache_dir(found.resolve())
        return str(converted) if (converted / "config.json").is_file() else None
    return found


@functools.lru_cache(maxsize=16)
def _load_tokenizer(path: str):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError):
        return None


CONVERTED_GGUF = re.compile(r"(?P<stem>.+)-(?P<digest>[0-9a-f]{16})")


def canonical_model(spec: str) -> str:
    """One name per base model, so that a trained model's ``base_model`` (``smollm2-135m-instruct``) and the base
    model's own evaluation (its converted cache directory ``…/models/SmolLM2-135M-Instruct.Q4_1-<digest>``) match:
    a converted or plain GGUF whose content is an embedded model's is that model's name; other specs are kept."""
    if spec in EMBEDDED:
        return spec
    path = Path(spec)
    match = CONVERTED_GGUF.fullmatch(path.name)
    digest = None
    if match and path.parent.name == "models":
        digest = match["digest"]
    elif spec.endswith(".gguf") and path.is_file():
        digest = gguf_cache_dir(path.resolve()).name.rsplit("-", 1)[-1]
    if digest:
        for name in EMBEDDED:
            try:
                if gguf_cache_dir(embedded_gguf(name).resolve()).name.endswith(digest):
                    return name
            except ModelSpecError:
                continue
    return spec
