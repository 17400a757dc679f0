"""Table 6: how well a critic (a judge scoring personalization 1-5) agrees with human preference labels.

Each labelled record — a query, the user's preference (their context), the human-chosen and a rejected response — is
scored 1-5 on both sides with the same judge, template, decoding and seed. Strict accuracy = % of pairs with
score(chosen) > score(rejected); tie-tolerant = % with >=, both over every labelled pair: a pair whose critic call
failed on either side is a miss, as in the scripts (prism.py ``evaluate``: a side with no parsed score is NaN, and a
NaN comparison is false), and is counted (``unjudged``). Paper: n = 200 per dataset.

Which messages the critic sees (the output names them):

- default: each dataset's judge template (its ``DatasetSpec.judge_template``: PRISM ``paper``, CA ``paper_ca``), one
  call per itemized preference — the paper's evaluation-judge messages, which made Table 6 (prism.py ``evaluate``,
  PROTOCOL.md §5.4);
- ``rlaif_reward``: the critic RLAIF trains with (the recipes' ``judge_template: paper``): the RLAIF reward's own
  message, decoding and parser (:class:`mipo_bench.rewards.critic.CriticReward`), once per response with the whole
  context, the reply budget RLAIF's recipes give it (32 tokens);
- any ``judges/`` template, e.g. ``rlaif_critic`` (the guarded RLAIF variant a recipe may train with).

    mipo-bench critic-accuracy --judge SPEC --dataset prism --limit 200 [--template rlaif_reward]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.runs import write_json
from ..judging.calls import judge_items, response_scores
from ..stats import bootstrap_mean


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
        if r.get("context"):  # the whole context: a `query: personalized` template's prompt, the RLAIF reward's
            base["context"] = r["context"]
        chosen.append({**base, "response": r["chosen"]})
        rejected.append({**base, "response": r["rejected"]})
    return chosen, rejected


def accuracy(chosen: dict[str, float | None], rejected: dict[str, float | None], seed: int = 0) -> dict:
    """Strict and tie-tolerant accuracy (%) with 95% bootstrap CIs over every pair; a pair with a failed side (no
    score) is a miss, the scripts' rule (a NaN score compares false), and is counted in ``unjudged``."""
    ids = list(chosen)
    c = np.array([np.nan if chosen[i] is None else chosen[i] for i in ids], dtype=float)
    r = np.array([np.nan if rejected.get(i) is None else rejected[i] for i in ids], dtype=float)
    judged = ~(np.isnan(c) | np.isnan(r))
    out = {"n": len(ids), "judged": int(judged.sum()), "unjudged": int((~judged).sum())}
    with np.errstate(invalid="ignore"):
        hits_by_name = (("strict", c > r), ("tie_tolerant", c >= r))  # NaN compares false: a miss
    for name, hits in hits_by_name:
        if not len(ids):
            out[name], out[f"{name}_ci"] = None, None
            continue
        rate = bootstrap_mean(hits.astype(float), seed=seed)
        out[name], out[f"{name}_ci"] = 100 * rate.mean, [100 * rate.low, 100 * rate.high]
    out["ties"] = int((c[judged] == r[judged]).sum())
    return out


RLAIF_REWARD = "rlaif_reward"  # the RLAIF reward's own message (not a judges/ template)
RLAIF_REWARD_MAX_NEW_TOKENS = 32  # recipes/rlaif.yaml's judge_max_new_tokens


def reward_scores(items: list[dict], backend, seed: int = 0, batch_size: int = 16) -> dict[str, float | None]:
    """Each item's 1-5 score from the critic RLAIF trains with (its reward: score / 5, 0.0 for a failed reply), read
    back as a score (None: failed); the reward sees the whole context, once per response."""
    from ..rewards.critic import PAPER, CriticReward

    reward = CriticReward(
        backend, template=PAPER, max_new_tokens=RLAIF_REWARD_MAX_NEW_TOKENS, seed=seed, batch_size=batch_size
    )
    columns = {
        "context": [it.get("context") or " ".join(it["preferences"]) for it in items],
        "query": [it["query"] for it in items],
    }
    rewards = reward.score([it["query"] for it in items], [it["response"] for it in items], None, columns)
    return {it["id"]: (None if not r else 5 * r) for it, r in zip(items, rewards)}


def critic_accuracy(
    records: list[dict],
    backend,
    out: str | Path,
    source: str,
    template: str = "paper",
    seed: int = 0,
    batch_size: int = 16,
) -> dict:
    """Judge both sides of every labelled record with ``backend`` and ``template`` (a ``judges/`` template, or
    :data:`RLAIF_REWARD`); writes the judgments and ``critic.json``."""
    out = Path(out)
    chosen_items, rejected_items = labelled_items(records, source)
    if template == RLAIF_REWARD:
        chosen = reward_scores(chosen_items, backend, seed, batch_size)
        rejected = reward_scores(rejected_items, backend, seed, batch_size)
    else:
        kwargs = {"template": template, "seed": seed, "batch_size": batch_size}
        chosen = response_scores(judge_items(chosen_items, backend, out / "chosen_judgments.jsonl", **kwargs))
        rejected = response_scores(judge_items(rejected_items, backend, out / "rejected_judgments.jsonl", **kwargs))
    result = {"source": source, "template": template, "seed": seed, **accuracy(chosen, rejected, seed)}
    write_json(out / "critic.json", result)
    return result


def critic_table(spec, scale: dict, judge: str, out: Path, backend_name: str = "hf") -> dict:
    """Table 6 for one critic: strict / tie-tolerant accuracy per dataset of the spec, each with the spec's
    ``judge_template`` (the user's ``--template``) or else the dataset's own judge template."""
    from rich.table import Table
    from rich.text import Text

    from .. import data
    from ..core.console import show_table
    from ..data.contexts import apply_contexts, contexts_path
    from ..judging.samples import judge_backend

    backend = judge_backend(backend_name, judge, scale.get("batch_size", 16))
    table = Table(title=Text(f"{spec.title} — critic {judge}"))
    table.add_column("dataset")
    table.add_column("template")
    for col in ("n", "strict acc.", "tie-tolerant acc.", "unjudged"):
        table.add_column(col, justify="right")
    results = {}
    for key, dataset in spec.tasks.items():
        template = spec.judge_template or data.dataset_spec(dataset).judge_template
        records = data.eval_docs(dataset, "paper")  # the paper's evaluation items, with the contexts where written
        if contexts_path(dataset):
            records = apply_contexts(records, contexts_path(dataset))
        records = records[: scale.get("limit")] if scale.get("limit") else records
        res = critic_accuracy(records, backend, out / key, source=f"{dataset} (test)", template=template)
        results[key] = res

        def pct(name, res=res):
            if res[name] is None:
                return "n/a"
            low, high = res[name + "_ci"]
            return f"{res[name]:.1f} [{low:.0f}, {high:.0f}]"

        cells = (key, template, str(res["n"]), pct("strict"), pct("tie_tolerant"), str(res["unjudged"]))
        table.add_row(*(Text(c) for c in cells))
    show_table(table)
    templates = {key: res["template"] for key, res in results.items()}
    summary = {"table": spec.name, "judge": judge, "templates": templates, "results": results}
    write_json(out / "reproduce_summary.json", summary)
    return summary
