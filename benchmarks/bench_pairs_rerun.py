"""Second run of an unchanged `pairs` stage vs the first (same recipe, same run directory).

python benchmarks/bench_pairs_rerun.py [--prompts 16] [--tokens 48]
"""

import argparse
import tempfile
from pathlib import Path

from _common import Timer

from mipo_bench.workflows.pipeline import run_pairs
from mipo_bench.workflows.recipe import load_recipe


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=48)
    args = ap.parse_args()
    recipe = load_recipe("mipo", [f"data.n_prompts={args.prompts}", f"pairs.max_new_tokens={args.tokens}"])
    with tempfile.TemporaryDirectory() as tmp:
        with Timer() as first:
            run_pairs(recipe, Path(tmp))
        with Timer() as second:
            run_pairs(recipe, Path(tmp))
    print(f"pairs stage, {args.prompts} prompts x 2 sides, {args.tokens} tokens")
    print(f"first run : {first.seconds:7.2f} s")
    print(f"second run: {second.seconds:7.2f} s (unchanged inputs: skipped)")
    print(f"ratio second/first: {second.seconds / first.seconds:.3f}x (goal <= 0.05x)")


if __name__ == "__main__":
    main()
