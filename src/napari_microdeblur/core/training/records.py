"""What a training run yields (:class:`FitProgress`, after every step) and returns
(:class:`FitResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

__all__ = ["FitProgress", "FitResult"]


@dataclass(frozen=True)
class FitProgress:
    """One training step done: what a progress bar or a log line needs.

    ``val_*`` are the latest validation figures (None before the first validation): PSNR in dB
    and SSIM on the reference scale (data_range 1), the L1 loss in model units.
    ``seconds_left`` estimates the time to the last step (or to ``time_limit``).
    ``losses`` holds the loss terms of this step; ``message`` a note (e.g. a skipped loss).
    """

    step: int
    steps: int
    loss: float
    lr: float
    val_psnr: float | None
    val_ssim: float | None
    val_loss: float | None
    seconds_left: float
    losses: dict = field(default_factory=dict)
    validated: bool = False
    message: str | None = None


@dataclass
class FitResult:
    """What a training run returns.

    ``best_state`` is a CPU copy of the weights the regime's checkpoint criterion chose (best
    validation PSNR; the last weights when there was no validation set), ``best_metrics``
    their step and validation figures; ``baseline`` the figures of the input itself (no
    deblurring) on the same validation crops; ``history`` every validation; ``stopped`` is
    "completed", "time_limit" or "early_stop" (``patience``); ``config`` the
    :class:`TrainingConfig` of the run.
    """

    best_state: dict[str, torch.Tensor] = field(repr=False)  # 130 kB printed in a notebook
    best_metrics: dict[str, Any]
    baseline: dict[str, Any]
    steps_done: int
    seconds: float
    stopped: str
    history: list[dict[str, Any]]
    notes: list[str]
    normalization: dict[str, Any]
    regime: str
    checkpoint_dir: str | None = None
    config: Any = None

    def load_best(self, model: nn.Module) -> nn.Module:
        """Load the best weights into ``model`` (same architecture and config)."""
        model.load_state_dict(self.best_state)
        return model
