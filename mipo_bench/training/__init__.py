"""Training methods, one module each, registered in ``METHODS`` (``base.register_method``): ``mipo`` (DPO), ``sft``,
``sft_revision`` / ``sft_revision_examples``, ``infonce``, and the online ``rlvr``, ``rlvr_judged``, ``rlaif``,
``mi_rl``, ``rlaif_mi`` (GRPO)."""

from __future__ import annotations

from . import dpo, infonce, online, revision, sft  # noqa: F401  (registration)
from .base import METHODS, PAIRS, PROMPTS, SFT, Method, TrainContext, register_method
from .common import TrainSettings, train
from .dpo import MipoSettings
from .sft import SFTSettings

__all__ = [
    "METHODS",
    "PAIRS",
    "PROMPTS",
    "SFT",
    "Method",
    "MipoSettings",
    "SFTSettings",
    "TrainContext",
    "TrainSettings",
    "register_method",
    "train",
]
