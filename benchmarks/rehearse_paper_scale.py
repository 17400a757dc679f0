"""The paper-scale rehearsal, whole: `reproduce table2 --scale paper` (all five tasks) on a tiny random Qwen2.5-family
model and `reproduce table1 --scale paper` (all three hub datasets, laid out as the hub publishes them) on a tiny
random Llama-3-family model, every training run under one `accelerate launch` of 2 CPU processes at global batch 4,
with the paper's evaluation item counts (GSM8K 1319, SVAMP 300, MMLU 200, ARC 500 + 500; CA 200, PRISM 200,
Multi-Bench 252). What is cut: 8 training prompts a task and 8-token generations (tests/test_rehearsal.py's `SHORT`,
without its evaluation limit). Prints the wall time and the seconds per stage kind; tests/test_rehearsal.py runs
the same on fewer tasks and items in CI.

    python benchmarks/rehearse_paper_scale.py [--out runs/rehearsal] [--tables 2,1] [--eval-limit N]
"""

import argparse
import json
import os
import time
from collections import defaultdict
from pathlib import Path

import _common  # noqa: F401  (the mirror and offline settings)

from tests.paper_scale_fixtures import tiny_model, write_hub_datasets
from tests.test_rehearsal import SHORT


def stage_kind(name: str) -> str:
    """``"gsm8k: eval sft seed 42"`` -> ``eval``; ``"train: 20 runs, 2 processes"`` -> ``train``."""
    head = name.split(": ", 1)[-1] if ": " in name and not name.startswith("train:") else name
    return head.split()[0].rstrip(":")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/rehearsal")
    ap.add_argument("--tables", default="2,1")
    ap.add_argument("--eval-limit", type=int, default=None, help="default: the paper's item counts")
    args = ap.parse_args()
    from mipo_bench.core.models import resolve_model_path
    from mipo_bench.workflows.reproduce import reproduce

    out = Path(args.out).resolve()
    smollm2 = resolve_model_path("smollm2-135m-instruct")
    settings = [s for s in SHORT if not s.startswith("eval.limit")]
    if args.eval_limit:
        settings.append(f"eval.limit={args.eval_limit}")
    report = {}
    for table in args.tables.split(","):
        family = "qwen2" if table == "2" else "llama"
        model = tiny_model(family, smollm2, out / f"tiny-{family}")
        extra = {}
        if table == "1":  # the hub datasets as the hub publishes them, with their contexts files
            env = write_hub_datasets(out / "hub")
            os.environ.update(env)
            extra["judge"] = model
        started = time.time()
        summary = reproduce(
            table, model, scale="paper", run_dir=out / f"table{table}", settings=settings, num_processes=2, **extra
        )
        kinds = defaultdict(float)
        for name, seconds in summary["stage_seconds"].items():
            kinds[stage_kind(name)] += seconds
        report[f"table{table}"] = {
            "wall_s": round(time.time() - started, 1),
            "by_stage_kind_s": {k: round(v, 1) for k, v in sorted(kinds.items())},
            "tasks": summary["tasks"],
        }
    print(json.dumps(report, indent=1))
    (out / "rehearsal_times.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
