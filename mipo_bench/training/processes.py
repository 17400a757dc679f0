"""The processes of one training run: how many there are, which one writes, the barrier between them, the dataset
they all read from the same files, and the precision the policy trains in."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def world_size() -> int:
    """Processes of this training run (``accelerate launch`` / torchrun set ``WORLD_SIZE``; 1 otherwise)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def training_precision(device: str) -> tuple["torch.dtype", bool]:
    """``(dtype the policy is loaded in, bf16 autocast flag)`` for training on ``device``.

    The policy is always held in fp32: these are the master weights Adam updates. bf16 keeps 8 bits of mantissa, so a
    weight of ~0.05 moves in steps of ~2e-4 and an update of lr 5e-7 (the paper's learning rates) rounds to nothing:
    pure-bf16 weights would not train. On GPU the forward and backward run under bf16 autocast (TRL's ``bf16=True``
    with fp32 weights), which is what OpenRLHF's DeepSpeed bf16 with fp32 master weights amounts to. On CPU everything
    is fp32 (bf16 matmuls die with SIGILL on CPUs whose AMX the VM traps). Inference elsewhere keeps
    ``models.default_dtype`` (bf16 on GPU).
    """
    import torch

    return torch.float32, str(device).startswith("cuda")


def is_main_process() -> bool:
    """True on the process that writes files: rank 0 under ``accelerate launch`` / torchrun, always true otherwise."""
    from accelerate import PartialState

    return PartialState().is_main_process


def wait_for_everyone() -> None:
    """Barrier across the processes of a distributed run (a no-op in a single process)."""
    from accelerate import PartialState

    PartialState().wait_for_everyone()


def shared_dataset(rows: list[dict], directory: Path):
    """``rows`` as a disk-backed ``datasets.Dataset`` that every process reads from the same files.

    TRL's DPOTrainer computes the precomputed reference log-probs on every rank, has the main process write them to a
    cache file beside the dataset's own files, and reads that file back on all ranks. An in-memory dataset has no such
    directory: each process looks in its own temporary directory and the other ranks crash ("Failed to open local
    file .../cache-<hash>.arrow"). So the main process saves the rows to ``directory`` and every rank loads them.
    Call it after the TRL config is built: the config sets up the processes.
    """
    import shutil

    import datasets
    from accelerate import PartialState

    state = PartialState()
    if state.is_main_process:
        shutil.rmtree(directory, ignore_errors=True)  # no stale caches from an earlier run in this directory
        datasets.Dataset.from_list(rows).save_to_disk(str(directory))
    state.wait_for_everyone()
    return datasets.load_from_disk(str(directory))
