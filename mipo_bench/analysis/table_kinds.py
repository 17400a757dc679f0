"""Table kinds: what a spec's ``kind:`` means to the code that builds, renders and reproduces the table.

    KINDS.get("self_bleu").lower_is_better   # True: a drop is the improvement

The builder (:mod:`mipo_bench.analysis.tables`), the renderer and ``reproduce`` read a kind's attributes instead of
comparing kind names, so a new kind of table is one :class:`TableKind` and one ``register`` line here (or in a
plugin), never an edit of the code that uses it. Registered:

- ``accuracy`` (Table 2): the headline score of the task (the paper's extraction) ×100;
- ``win_rate`` (Tables 1, 5): the judge stage's win-rate, ties as wins (the paper's), ×100, over ALL items: an item
  the judge failed on (or with no counterpart) counts as a loss, as in the scripts (PRISM: a NaN mean loses; CA/MB: a
  failed call scores 0); the count is shown beside the cell — from ``<eval dir>/judge/judge_summary.json``;
  ``reproduce`` runs the judge stage for it;
- ``self_bleu`` (Tables 3-4): self-BLEU-4 of the evaluation responses (:func:`mipo_bench.analysis.metrics.self_bleu`),
  lower = more diverse;
- ``critic`` (Table 6): built by its own runner (the critic's accuracy on human labels), not from run directories.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..core.registry import Registry


@dataclass(frozen=True)
class TableKind:
    """How a table kind's cells are read and shown, and how ``reproduce`` makes them.

    ``value(entry)``: a cell's value from one evaluation entry (:class:`mipo_bench.analysis.results.EvalEntry`), None
    while the entry has none (e.g. not judged yet). ``lower_is_better``: a drop is the improvement (self-BLEU), which
    flips the paper's blue/red. ``digits``: decimals printed. ``points``: the factor that turns a difference into
    points for the 3-point highlight (self-BLEU is on 0-1). ``judged``: ``reproduce`` must run the judge stage before
    the table has values. ``runner(spec, scale, model, out) -> summary``: a kind built by its own runner rather than
    from run directories (``value`` is then None). ``info(entry) -> dict``: what a cell's value rests on, shown beside
    the table (``unjudged`` / ``items``: items counted as losses because unjudged, of all items; ``judge``,
    ``template``, ``self_judging``); None: the kind has nothing to add.
    """

    name: str
    value: Callable[[Any], float | None] | None = None
    lower_is_better: bool = False
    digits: int = 2
    points: float = 1.0
    judged: bool = False
    runner: Callable[..., dict] | None = None
    info: Callable[[Any], dict] | None = None

    def __post_init__(self):
        if (self.value is None) == (self.runner is None):
            raise ValueError(f"table kind {self.name!r}: give exactly one of value (cells from runs) or runner")

    @property
    def built_from_runs(self) -> bool:
        """True when the table is built from evaluation run directories (``mipo-bench report --table``)."""
        return self.runner is None


KINDS: Registry[TableKind] = Registry("table kind")


def register_kind(kind: TableKind, *, replace: bool = False) -> TableKind:
    """Register ``kind`` under its name (as ``register_dataset`` does; a taken name is an error unless ``replace``)."""
    return KINDS.register(kind.name, replace=replace)(kind)


def entry_responses(entry) -> list[str]:
    """The generated response of each item of an evaluation entry (one per doc id)."""
    data = json.loads((Path(entry.eval_dir) / "eval_results.json").read_text())
    out: dict[int, str] = {}
    for s in data["samples"].get(entry.task, []):
        text = s["resps"][0][0] if s.get("resps") else None
        if isinstance(text, str):
            out.setdefault(s["doc_id"], text)
    return [out[k] for k in sorted(out)]


def accuracy_value(entry) -> float | None:
    """The headline score's mean over items, ×100."""
    scores = entry.scores.get(entry.headline) or {}
    return 100 * sum(scores.values()) / len(scores) if scores else None


def judge_summary(entry) -> dict | None:
    """The entry's ``judge/judge_summary.json`` (None before it is judged)."""
    path = Path(entry.eval_dir) / "judge" / "judge_summary.json"
    return json.loads(path.read_text()) if path.exists() else None


def win_rate_value(entry) -> float | None:
    """The judge stage's win-rate with ties as wins (the paper's), ×100, over all items: an unjudged or unmatched item
    counts as a loss, as the scripts count a failed judge call against the model; None before the entry is judged."""
    w = (judge_summary(entry) or {}).get("win_rate") or {}
    if not w.get("n"):
        return None
    rate = w.get("win_rate_ties_as_wins_all_n")
    if rate is None:  # a summary written before the all-n rate existed
        rate = (w["wins"] + w["ties"]) / w["n"]
    return 100 * rate


def win_rate_info(entry) -> dict:
    """Items counted as losses because unjudged (a failed judge call on either side, or no counterpart), of all items;
    the judge, its template and whether it judged its own policy (as ``reproduce`` recorded it)."""
    report = judge_summary(entry)
    if report is None:
        return {}
    w = report.get("win_rate") or {}
    choice = report.get("judge_choice") or {}
    return {
        "unjudged": int(w.get("failed", 0)) + int(w.get("unmatched", 0)),
        "items": int(w.get("n", 0)),
        "judge": report.get("judge"),
        "template": report.get("template"),
        "self_judging": choice.get("self_judging"),
    }


def self_bleu_value(entry) -> float | None:
    """Self-BLEU-4 of the entry's responses (needs two of them)."""
    from .metrics import self_bleu

    responses = entry_responses(entry)
    return self_bleu(responses).value if len(responses) >= 2 else None


def critic_runner(spec, scale: dict, model: str, out: Path) -> dict:
    """Table 6: the critic ``model``'s accuracy on human preference labels (imported on use: it loads a judge)."""
    from ..measuring.critic_accuracy import critic_table

    return critic_table(spec, scale, model, out)


register_kind(TableKind("accuracy", value=accuracy_value))
register_kind(TableKind("win_rate", value=win_rate_value, judged=True, info=win_rate_info))
register_kind(TableKind("self_bleu", value=self_bleu_value, lower_is_better=True, digits=3, points=100.0))
register_kind(TableKind("critic", runner=critic_runner))
