"""Training methods, one module each, registered in ``METHODS`` (``base.register_method``): ``mipo`` (DPO, any of TRL's
DPO losses), ``sft``, ``sft_revision`` / ``sft_revision_examples``, ``infonce``, the online ``rlvr``, ``rlvr_judged``,
``rlaif``, ``mi_rl``, ``rlaif_mi`` (GRPO), and on MIPO's pairs TRL's reference-free and unpaired objectives ``cpo``,
``simpo``, ``orpo``, ``kto``."""

from __future__ import annotations

from . import cpo, dpo, infonce, kto, online, orpo, revision, sft, simpo  # noqa: F401  (registration)
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
