"""Figures 2-3 from run directories: per item, the entropy of the model's next-token distribution over the option
letters right after the paper's answer marker in its own response (:mod:`..measuring.entropy`), base vs MIPO,
split by whether the item was answered correctly (the paper extraction's score).

The text scored is exactly what the model was evaluated on: lm-eval's rendered prompt (chat template included, from
the samples file) followed by the model's response up to its answer marker. Multiple-choice tasks only.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..data.spec import DATASETS, MULTIPLE_CHOICE
from ..measuring import entropy as entropy_pass


def entropy_figures(spec, out: Path, models: dict, evals: dict, tasks: list[str] | None = None) -> dict:
    """One PNG per multiple-choice task of a reproduce run (``tasks``: only these): the table's reference row (the
    base model) against each row its spec's ``figure: {rows: [...]}`` names (MIPO; the first seed), correct /
    incorrect. Skipped when the models' weights, the evaluations and this code are unchanged (a rerun
    reuses the figures: ``figures/figures.manifest.json``)."""
    from ..core.models import model_fingerprint
    from ..core.runs import content_hash, file_hash
    from ..core.stage import Stage

    key = content_hash(
        {
            "tasks": {k: v for k, v in spec.tasks.items() if not tasks or k in tasks},
            "models": {str(k): model_fingerprint(v) for k, v in sorted(models.items(), key=lambda kv: str(kv[0]))},
            "evals": {str(k): file_hash(Path(v) / "eval_results.json") for k, v in sorted(evals.items(), key=str)},
            "code": [file_hash(Path(__file__)), file_hash(Path(entropy_pass.__file__))],
        }
    )
    stage = Stage(out / "figures", "figures", key)
    if stage.is_current():
        return stage.manifest()["written"]
    stage.start()
    written = _draw(spec, out, models, evals, tasks)
    stage.finish(written=written)
    return written


def _draw(spec, out: Path, models: dict, evals: dict, tasks: list[str] | None) -> dict:
    from .figures import entropy_figure

    written = {}
    for key, task in spec.tasks.items():
        if not _multiple_choice(key) or (tasks and key not in tasks):
            continue
        compared = {}
        shown = [spec.reference, *spec.figure_rows]
        for (k, row, seed), model_path in sorted(models.items(), key=lambda kv: str(kv[0])):
            if k == key and row in shown and row not in compared:
                files = sorted(Path(evals[(k, row, seed)]).rglob(f"samples_{task}_*.jsonl"))
                if files:
                    compared[row] = entropy_pass.item_entropies(model_path, files[-1])
        if len(compared) < 2:
            continue
        labels = {r.name: _short_label(r.label) for r in spec.rows if r.name in compared}
        path = out / "figures" / f"entropy_{key}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        entropy_figure(
            {labels[r]: v[0] for r, v in compared.items()},
            {labels[r]: v[1] for r, v in compared.items()},
            path,
            f"{task}: entropy over the answer letters after the answer marker",
            clip_std=None,  # every item shown (the paper clipped at ±2 std), under the ln 4 ceiling
            ceiling=math.log(4),
        )
        written[key] = {
            "path": str(path),
            **{
                f"mean_entropy_{r}_{'correct' if c else 'incorrect'}": _mean([e for e, ok in zip(*v) if ok == c])
                for r, v in compared.items()
                for c in (True, False)
            },
        }
    return written


def _short_label(label: str) -> str:
    """A row's label as a legend says it: "+ MIPO (Ours)" -> "MIPO", "{model}" (the base row) -> "base"."""
    text = label.removeprefix("+").split("(")[0].strip()
    return "base" if not text or "{" in text else text


def _multiple_choice(dataset: str) -> bool:
    spec = DATASETS.get(dataset, None)
    return spec is not None and spec.kind == MULTIPLE_CHOICE


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
