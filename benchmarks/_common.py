"""Shared setup for the benchmark scripts: the default model and ARC-Easy training prompts."""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
if not os.environ.get("MIPO_BENCH_DATA"):
    mirror = Path(__file__).resolve().parents[2] / "shared" / "data"
    if mirror.is_dir():
        os.environ["MIPO_BENCH_DATA"] = str(mirror)


def arc_chats(n: int) -> list[list[dict]]:
    from mipo_bench import data
    from mipo_bench.data.prompts import task_prompt

    return [[{"role": "user", "content": task_prompt(r)}] for r in data.train_prompts("arc_easy", n)]


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
