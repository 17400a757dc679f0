"""Training methods, each a thin layer over a TRL trainer: ``mipo`` (DPOTrainer) and ``sft`` (SFTTrainer)."""

from __future__ import annotations

from .common import METHODS, TrainSettings, train

__all__ = ["METHODS", "TrainSettings", "train"]
