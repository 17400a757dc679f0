"""Table 6: how well a critic (the judge the RLAIF methods use as their reward) agrees with human preference labels.

Each labelled record — a query, the user's preference (their context), the human-chosen and a rejected response — is
scored 1-5 on both sides with the same judge, template (``rlaif_critic``, the paper's RLAIF instruction), decoding and
seed. Strict accuracy = % of pairs with score(chosen) > score(rejected); tie-tolerant = % with >=, both over the pairs
judged on both sides; pairs with a failed side are counted, never dropped silently. Paper: n = 200 per dataset.

    mipo-bench critic-accuracy --judge SPEC --dataset prism --limit 200
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.runs import write_json
from ..judging.judge import judge_items, response_scores


def labelled_items(records: list[dict], source: str) -> tuple[list[dict], list[dict]]:
    """(chosen items, rejected items) for the judge; a record without both responses or without a preference is an
    error naming the source and the row (PRISM / CA contexts come from `mipo-bench contexts`)."""
    chosen, rejected = [], []
    for row, r in enumerate(records, 1):
        if not r.get("chosen") or not r.get("rejected"):
            raise ValueError(f"{source}: row {row} (id {r.get('id')!r}) has no chosen/rejected pair to judge")
        prefs = list(r.get("preferences") or ([r["context"]] if r.get("context") else []))
        if not prefs:
            raise ValueError(
                f"{source}: row {row} (id {r.get('id')!r}) has no user preference: write the contexts with "
                "`mipo-bench contexts` and point $MIPO_BENCH_CONTEXTS_<DATASET> at them"
            )
        base = {"id": r["id"], "query": r["prompt"], "preferences": prefs}
        chosen.append({**base, "response": r["chosen"]})
        rejected.append({**base, "response": r["rejected"]})
    return chosen, rejected


def accuracy(chosen: dict[str, float | None], rejected: dict[str, float | None], seed: int = 0) -> dict:
    """Strict and tie-tolerant accuracy (%) with 95% bootstrap CIs over the pairs judged on both sides."""
    ids = [i for i in chosen if chosen[i] is not None and rejected.get(i) is not None]
    c = np.array([chosen[i] for i in ids], dtype=float)
    r = np.array([rejected[i] for i in ids], dtype=float)
    out = {"n": len(chosen), "judged": len(ids), "unjudged": len(chosen) - len(ids)}
    rng = np.random.default_rng(seed)
    for name, hits in (("strict", c > r), ("tie_tolerant", c >= r)):
        if not len(ids):
            out[name], out[f"{name}_ci"] = None, None
            continue
        boots = hits[rng.integers(0, len(hits), size=(2000, len(hits)))].mean(axis=1)
        out[name] = 100 * float(hits.mean())
        out[f"{name}_ci"] = [100 * float(np.percentile(boots, 2.5)), 100 * float(np.percentile(boots, 97.5))]
    out["ties"] = int((c == r).sum())
    return out


def critic_accuracy(
    records: list[dict],
    backend,
    out: str | Path,
    source: str,
    template: str = "rlaif_critic",
    seed: int = 0,
    batch_size: int = 16,
) -> dict:
    """Judge both sides of every labelled record with ``backend``; writes the judgments and ``critic.json``."""
    out = Path(out)
    chosen_items, rejected_items = labelled_items(records, source)
    kwargs = {"template": template, "seed": seed, "batch_size": batch_size}
    chosen = response_scores(judge_items(chosen_items, backend, out / "chosen_judgments.jsonl", **kwargs))
    rejected = response_scores(judge_items(rejected_items, backend, out / "rejected_judgments.jsonl", **kwargs))
    result = {"source": source, "template": template, "seed": seed, **accuracy(chosen, rejected, seed)}
    write_json(out / "critic.json", result)
    return result


def critic_table(spec, scale: dict, judge: str, out: Path, backend_name: str = "hf") -> dict:
    """Table 6 for one critic: strict / tie-tolerant accuracy per dataset of the spec."""
    from rich.table import Table

    from .. import data
    from ..core.console import console
    from ..data.contexts import apply_contexts, contexts_path
    from ..judging.run import judge_backend

    backend = judge_backend(backend_name, judge, scale.get("batch_size", 16))
    table = Table(title=f"{spec.title} — critic {judge}")
    table.add_column("dataset")
    for col in ("n", "strict acc.", "tie-tolerant acc.", "unjudged"):
        table.add_column(col, justify="right")
    results = {}
    for key, dataset in spec.tasks.items():
        records = data.eval_docs(dataset, "paper")  # the paper's evaluation items, with the contexts where written
        if contexts_path(dataset):
            records = apply_contexts(records, contexts_path(dataset))
        records = records[: scale.get("limit")] if scale.get("limit") else records
        res = critic_accuracy(records, backend, out / key, source=f"{dataset} (test)", template=spec.judge_template)
        results[key] = res

        def pct(name, res=res):
            if res[name] is None:
                return "n/a"
            low, high = res[name + "_ci"]
            return f"{res[name]:.1f} [{low:.0f}, {high:.0f}]"

        table.add_row(key, str(res["n"]), pct("strict"), pct("tie_tolerant"), str(res["unjudged"]))
    console.print(table)
    summary = {"table": spec.name, "judge": judge, "results": results}
    write_json(out / "reproduce_summary.json", summary)
    return summary
