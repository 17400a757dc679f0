"""The `mi` verb: the MI meter (`measuring.mi_meter.measure_mi`) on one model under a reference, printing the mean and
its CI as one JSON line."""

from __future__ import annotations

import json
from pathlib import Path

from ..core.runs import content_hash
from .options import add_backend

# the options passed through to measure_mi under their own names
MEASURE_OPTIONS = ("n", "samples", "max_new_tokens", "seed", "contrasts", "batch_size", "temperature", "dataset")
MEASURE_OPTIONS += ("contexts", "device", "backend_name", "prompts", "per_token")


def default_output(model: str, ref: str, data: str) -> Path:
    """``runs/mi/<model name>-<hash of model, ref and data>``: one directory per measurement."""
    return Path("runs/mi") / f"{Path(model).name or 'model'}-{content_hash([model, ref, str(data)])[:8]}"


def cmd_mi(args) -> None:
    from ..measuring.mi_meter import measure_mi

    out = args.output or default_output(args.model, args.ref, args.source)
    result = measure_mi(args.model, args.ref, args.source, out, **{k: getattr(args, k) for k in MEASURE_OPTIONS})
    print(json.dumps({k: result[k] for k in ("mean", "ci_low", "ci_high", "n")}))


def register(subparsers) -> None:
    """Add the ``mi`` verb to ``mipo-bench``'s sub-commands."""
    p = subparsers.add_parser("mi", help="pointwise MI of a model's responses, scored under a reference model")
    p.add_argument("--model", required=True, help="the model whose responses are measured (any model spec)")
    p.add_argument("--ref", required=True, help="the reference that scores them; keep it fixed across models")
    p.add_argument(
        "--data",
        dest="source",
        required=True,
        help="a dataset name (its held-out eval items, e.g. arc_easy) or a pipeline prompts.jsonl / pairs.jsonl",
    )
    p.add_argument(
        "--prompts",
        choices=["eval", "train"],
        default="eval",
        help="a dataset's held-out evaluation items (default: what a trained model never saw) or its training prompts",
    )
    p.add_argument("--per-token", action="store_true", help="each response's MI divided by its token count")
    p.add_argument("--n", type=int, default=32, help="prompts measured (a seeded draw)")
    p.add_argument("--samples", type=int, default=1, help="responses per prompt")
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--seed", type=int, default=0, help="seeds the prompt draw, the x' draw, sampling and the CI")
    p.add_argument("--contrasts", type=int, default=4, help="general tasks: other prompts x' per item")
    p.add_argument("--temperature", type=float, default=None, help="default: the paper's pair sampling for the data")
    p.add_argument("--dataset", default=None, help="the dataset of a JSONL whose rows and manifest do not name it")
    p.add_argument("--contexts", default=None, help="personalization datasets: a `mipo-bench contexts` output")
    p.add_argument("--output", default=None, help="directory for mi.json (default runs/mi/<model>-<hash>)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default=None, help="cpu / cuda (default: cuda if available)")
    add_backend(p, dest="backend_name", help="generates the measured model's responses")
    p.set_defaults(func=cmd_mi)
