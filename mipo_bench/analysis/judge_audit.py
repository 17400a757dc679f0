"""Can this judge be trusted? An audit of one judgment (`mipo-bench judge` / `reproduce`'s ``judge/`` folder), from
its own files, no further judge call:

- parse failures: the share of judge calls whose reply gave no score (and of items left unjudged);
- length bias: Spearman's rank correlation of the judge's score with the response's length (words), over the
  judged responses and references together, with its p-value;
- length-controlled win-rate, in the spirit of AlpacaEval 2's LC (Dubois et al., 2024): a logistic regression of
  "response >= reference" on tanh of the standardized length difference; the LC rate is its prediction at equal
  lengths, beside the raw rate on the same items;
- self-judging: the judge is the evaluated model's own base model (flagged), or of the same family (noted);
- position bias: only a pairwise template has an order to swap; the shipped templates score one response at a time;
- agreement with human labels: a `mipo-bench critic-accuracy` summary (Table 6's machinery on PRISM / CA chosen vs
  rejected) when one is given; a dataset without human labels (PrefEval) says so.

    mipo-bench judge-audit runs/reproduce/table1-demo/prefeval/seed42/eval/mipo [--agreement critic.json]
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..core.runs import read_jsonl, write_json
from ..judging.folders import find_judgment

FAMILIES = ("qwen", "llama", "smollm", "mistral", "gemma", "phi")


def audit(
    eval_dir: str | Path, task: str | None = None, agreement: str | Path | None = None, write: bool = True
) -> dict:
    """The audit of the judgment in ``eval_dir`` (an eval directory or its ``judge/`` folder); returns it and (with
    ``write``) writes ``judge_audit.json`` beside ``judge_summary.json``."""
    folder = find_judgment(Path(eval_dir), task)
    summary = json.loads((folder / "judge_summary.json").read_text())
    samples = _samples(Path(summary.get("samples", "")), folder)
    _reference_texts(samples, (summary.get("reference") or {}).get("source"))
    mine = list(read_jsonl(folder / "judgments.jsonl"))
    theirs = (
        list(read_jsonl(folder / "reference_judgments.jsonl"))
        if (folder / "reference_judgments.jsonl").is_file()
        else []
    )
    report = {
        "judge": summary.get("judge"),
        "template": summary.get("template"),
        "parse_failures": _failures(mine + theirs),
        "length_bias": _length_bias(mine, theirs, samples),
        "length_controlled": _length_controlled(mine, theirs, samples),
        "self_judging": _self_judging(summary, samples),
        "position_bias": _position_bias(folder),
        "human_agreement": _agreement(agreement, summary),
    }
    if write:
        write_json(folder / "judge_audit.json", report)
    return report


def _samples(path: Path, folder: Path) -> dict[str, dict]:
    """Item id -> {response, reference} texts, from the judged samples file (its docs hold the reference)."""
    if not path.is_file():
        return {}
    out = {}
    for row in read_jsonl(path):
        doc = row.get("doc") or {}
        resp = row["resps"][0][0] if isinstance(row["resps"][0], list) else row["resps"][0]
        out[doc.get("id")] = {"response": resp, "reference": doc.get("reference") or ""}
    return out


def _reference_texts(samples: dict[str, dict], source) -> None:
    """Where the reference is another run's samples file (PrefEval: personalized prompting), its responses are the
    reference texts (the dataset's reference otherwise, from the docs)."""
    if not source or source == "dataset" or not Path(str(source)).is_file():
        return
    for item_id, texts in _samples(Path(str(source)), Path(str(source)).parent).items():
        if item_id in samples:
            samples[item_id]["reference"] = texts["response"]


def _failures(rows: list[dict]) -> dict:
    failed = sum(bool(r.get("failed")) for r in rows)
    return {"calls": len(rows), "failed": failed, "rate": failed / len(rows) if rows else None}


def _item_scores(rows: list[dict]) -> dict[str, float]:
    from ..judging.calls import response_scores

    return {k: v for k, v in response_scores(rows).items() if v is not None}


def _words(text: str) -> int:
    return len(str(text).split())


def _length_bias(mine, theirs, samples) -> dict:
    from scipy.stats import spearmanr

    pairs = [(_words(samples[k]["response"]), s) for k, s in _item_scores(mine).items() if k in samples]
    pairs += [(_words(samples[k]["reference"]), s) for k, s in _item_scores(theirs).items() if k in samples]
    if len(pairs) < 3 or len({s for _, s in pairs}) < 2 or len({n for n, _ in pairs}) < 2:
        return {"n": len(pairs), "spearman": None, "p": None, "why": "too few judged responses or no spread"}
    rho, p = spearmanr([n for n, _ in pairs], [s for _, s in pairs])
    return {"n": len(pairs), "spearman": float(rho), "p": float(p)}


def _length_controlled(mine, theirs, samples) -> dict:
    """Logistic regression of win (>=) on tanh(length difference / its std); LC = the fit at equal length."""
    from scipy.optimize import minimize

    a, b = _item_scores(mine), _item_scores(theirs)
    keys = [k for k in a if k in b and k in samples]
    if len(keys) < 5:
        return {"n": len(keys), "raw": None, "lc": None, "why": "fewer than 5 items judged on both sides"}
    y = np.array([float(a[k] >= b[k]) for k in keys])
    diff = np.array([_words(samples[k]["response"]) - _words(samples[k]["reference"]) for k in keys], dtype=float)
    x = np.tanh(diff / (diff.std() or 1.0))

    def loss(beta):  # negative log-likelihood, with a small ridge so separable data stays finite
        z = beta[0] + beta[1] * x
        return float(np.sum(np.logaddexp(0, z) - y * z) + 0.01 * np.sum(beta**2))

    beta = minimize(loss, np.zeros(2), method="BFGS").x
    return {"n": len(keys), "raw": float(y.mean()), "lc": float(1 / (1 + math.exp(-beta[0]))), "slope": float(beta[1])}


def _position_bias(folder: Path) -> dict:
    """The pairwise comparison's flip rate, when ``--compare`` has run (judge_compare.json)."""
    compared = folder / "judge_compare.json"
    if not compared.is_file():
        return {"applies": False, "why": "pointwise template: each response is scored alone (--compare asks pairwise)"}
    pairwise = json.loads(compared.read_text())["pairwise"]
    rate = pairwise["position_flip_rate"]
    shown = "-" if rate is None else f"{100 * rate:.1f}%"
    return {"applies": True, "flip_rate": rate, "why": f"pairwise, both orders: {pairwise['ties']} flips ({shown})"}


def _family(name: str) -> str | None:
    lowered = str(name).lower()
    return next((f for f in FAMILIES if f in lowered), None)


def _self_judging(summary: dict, samples: dict) -> dict:
    choice = summary.get("judge_choice") or {}
    policy = choice.get("policy")
    judge = str(summary.get("judge"))
    same = bool(choice.get("self_judging"))
    family = _family(judge)
    return {
        "flag": same,
        "judge": judge,
        "same_family_as_policy": None if policy is None else family is not None and family == _family(policy),
        "why": choice.get("reason"),
    }


def _agreement(path, summary: dict) -> dict:
    if path:
        data = json.loads(Path(path).read_text())
        results = data.get("results", data)
        return {"source": str(path), "results": results}
    return {
        "source": None,
        "why": "no human labels given: run `mipo-bench critic-accuracy --judge "
        f"{summary.get('judge')} --dataset prism` (or community_alignment; PrefEval has none) and pass --agreement",
    }


def audit_lines(report: dict) -> list[tuple[str, str]]:
    """(check, finding) rows for a table or a page."""
    pf, lb, lc = report["parse_failures"], report["length_bias"], report["length_controlled"]
    rate = "-" if pf["rate"] is None else f"{100 * pf['rate']:.1f}%"
    bias = lb.get("why") or f"Spearman ρ = {lb['spearman']:+.2f} (p = {lb['p']:.2g}, n = {lb['n']})"
    lcw = lc.get("why") or f"LC {100 * lc['lc']:.1f}% vs raw {100 * lc['raw']:.1f}% (n = {lc['n']})"
    sj = report["self_judging"]
    self_text = "yes: the judge is the policy's own model" if sj["flag"] else "no"
    agreement = report["human_agreement"]
    agree = agreement.get("why") or json.dumps(agreement["results"])[:200]
    return [
        ("parse failures", f"{pf['failed']} of {pf['calls']} calls ({rate})"),
        ("length bias", bias),
        ("length-controlled win-rate", lcw),
        ("self-judging", self_text),
        ("position bias", report["position_bias"]["why"]),
        ("human-label agreement", agree),
    ]
