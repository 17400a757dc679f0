"""Training in several processes: one ``accelerate launch`` trains a list of jobs (a recipe, its training input, its
checkpoint directory), one after the other, each through :func:`.pipeline.run_train` (so each is skipped when its
inputs are unchanged, and only rank 0 writes). One launch per table, not per row: the launcher's start-up (every
process importing torch, TRL and the model) is paid once.

    python -m accelerate.commands.launch --config_file recipes/accelerate/ddp.yaml --num_processes N \\
        -m mipo_bench.workflows.launch <run_dir>/train_jobs.json

With no GPU visible the processes run on the CPU (gloo), in fp32 (``--mixed_precision no``: bf16 dies on some CPUs),
each with its share of the cores. ``reproduce --num-processes N`` uses this; a job file can also be launched by hand.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ..core.resources import recipes_dir
from ..core.runs import absolute, write_json

JOBS_FILE = "train_jobs.json"


class LaunchError(RuntimeError):
    """A launched training exited with an error (its processes printed theirs above); the CLI prints one line."""


def accelerate_config(name: str | None) -> Path:
    """A shipped accelerate config (``ddp``, ``zero2``, ``zero3``, ``fsdp2``; default ``ddp``) or a YAML path."""
    name = name or "ddp"
    shipped = recipes_dir() / "accelerate" / f"{name}.yaml"
    if shipped.is_file():
        return shipped
    path = Path(name).expanduser()
    if not path.is_file():
        known = sorted(p.stem for p in (recipes_dir() / "accelerate").glob("*.yaml"))
        raise FileNotFoundError(f"accelerate config {name!r}: not a shipped one ({', '.join(known)}) nor a file")
    return path


def launch_command(jobs_file: Path, num_processes: int, config: Path, on_cpu: bool) -> list[str]:
    """The ``accelerate launch`` command line that trains every job of ``jobs_file`` in ``num_processes`` processes."""
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config)]
    command += ["--num_processes", str(num_processes), "--dynamo_backend", "no"]
    if on_cpu:
        command += ["--mixed_precision", "no"]
    return command + ["-m", "mipo_bench.workflows.launch", str(jobs_file)]


def launch_env(num_processes: int, on_cpu: bool) -> dict[str, str]:
    """The children's environment: this one, plus (on CPU) no GPU, the CPU backend and a share of the cores each."""
    env = dict(os.environ)
    if on_cpu:
        threads = max(1, (os.cpu_count() or 1) // num_processes)
        env.update(CUDA_VISIBLE_DEVICES="", ACCELERATE_USE_CPU="1", OMP_NUM_THREADS=str(threads))
    return env


def train_jobs(jobs: list[dict], run_dir: Path, num_processes: int, config: str | None = None) -> Path:
    """Train ``jobs`` (``{recipe, overrides, input_dir, data_path, out}``; recipe = a name or YAML path) under one
    ``accelerate launch`` with ``num_processes`` processes; the job list is written to ``<run_dir>/train_jobs.json``.
    A failed launch is one error naming the job file (the children's output went to the console above it)."""
    import torch

    on_cpu = not torch.cuda.is_available()
    jobs_file = Path(run_dir) / JOBS_FILE
    write_json(jobs_file, {"jobs": [{**job, **_absolute_paths(job)} for job in jobs]})
    command = launch_command(jobs_file, num_processes, accelerate_config(config), on_cpu)
    # the children's output (TRL's step logs) is progress: stderr (fd 2), so stdout keeps only the table
    done = subprocess.run(command, env=launch_env(num_processes, on_cpu), stdout=2)
    if done.returncode != 0:
        raise LaunchError(
            f"training under `accelerate launch` ({num_processes} processes) failed with exit {done.returncode}; "
            f"the jobs are in {jobs_file} (rerun to resume: finished jobs are kept)"
        )
    return jobs_file


def _absolute_paths(job: dict) -> dict:
    return {key: str(absolute(job[key])) for key in ("input_dir", "data_path", "out")}


def run_jobs(jobs_file: Path) -> None:
    """What each launched process runs: every job of ``jobs_file`` in order (rank 0 writes, all ranks train)."""
    from .pipeline import run_train
    from .recipe import load_recipe

    for job in json.loads(Path(jobs_file).read_text())["jobs"]:
        recipe = load_recipe(job["recipe"], job["overrides"], quiet=True)
        run_train(recipe, Path(job["input_dir"]), Path(job["data_path"]), Path(job["out"]), job.get("card"))


if __name__ == "__main__":
    run_jobs(Path(sys.argv[1]))
