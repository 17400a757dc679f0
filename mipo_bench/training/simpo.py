"""``simpo``: SimPO (Meng et al., 2024) on MIPO pairs: TRL's CPOTrainer with ``loss_type="simpo"`` and no NLL term
(``cpo_alpha=0``), as TRL documents SimPO — a length-normalized, reference-free margin loss."""

from __future__ import annotations

from dataclasses import dataclass

from .base import PAIRS, register_method
from .cpo import CPOSettings, build_cpo_trainer


@dataclass
class SimPOSettings(CPOSettings):
    """SimPO's settings: :class:`.cpo.CPOSettings` with SimPO's defaults.

    Args:
        beta: SimPO's reward scale (the SimPO paper uses 2.0-10.0; TRL's example 2.0).
        loss_type: ``simpo``.
        cpo_alpha: 0 (no NLL term; a positive value is CPO-SimPO).
        simpo_gamma: the target reward margin (TRL's default 0.5).
    """

    beta: float = 2.0
    loss_type: str = "simpo"
    cpo_alpha: float = 0.0
    simpo_gamma: float = 0.5


register_method("simpo", consumes=PAIRS, settings=SimPOSettings)(build_cpo_trainer)
