"""The files of a training run: ``last.pt`` (everything a resume needs) and the best weights,
``best.pt`` (state dict + metrics) and, for registry-built models, ``best.safetensors`` with
its model card. All are written to a temporary name and renamed, and read back with
``torch.load(..., weights_only=True)``."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import data as data_mod
from ..checkpoint import save_weights, write_atomically
from .regimes import get_regime

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "checkpoint_path",
    "cpu_state",
    "load_training_checkpoint",
    "read_checkpoint_info",
    "save_atomically",
    "write_best",
]

CHECKPOINT_FORMAT = "napari-microdeblur-training-checkpoint"
#: 2 added the training config
CHECKPOINT_VERSION = 2


def save_atomically(obj: Any, path: Path) -> None:
    """``torch.save`` under a temporary name, then rename."""
    write_atomically(path, lambda tmp: torch.save(obj, tmp))


def cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of ``module``'s state dict."""
    return {k: v.detach().to("cpu").clone() for k, v in module.state_dict().items()}


def checkpoint_path(resume_from: str | os.PathLike) -> Path:
    """The ``last.pt`` of ``resume_from`` (the file, or the checkpoint folder of a run)."""
    p = Path(resume_from)
    if p.is_dir():
        p = p / "last.pt"
    if not p.is_file():
        raise ValueError(
            f"resume_from={str(resume_from)!r}: no checkpoint there (give a last.pt file or the "
            "checkpoint_dir of an earlier run)"
        )
    return p


def load_training_checkpoint(p: Path) -> dict:
    """The content of a ``last.pt``; ``ValueError`` for any other file."""
    try:
        ck = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - one clear message
        raise ValueError(f"{p}: not a readable training checkpoint ({exc})") from None
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{p}: not a napari-microdeblur training checkpoint (last.pt)")
    return ck


def read_checkpoint_info(path: str | os.PathLike) -> dict[str, Any]:
    """Step, total steps, regime, arch, seed, elapsed seconds, best metrics and config of a
    training checkpoint (a ``last.pt`` or its folder)."""
    ck = load_training_checkpoint(checkpoint_path(path))
    keys = ("step", "steps", "regime", "arch", "seed", "elapsed", "best_metrics", "extra",
            "config")
    return {k: ck.get(k) for k in keys}


def _card_metrics(m: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in m.items() if v is not None}


def write_best(
    directory: Path,
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    metrics: Mapping[str, Any],
    config,
    train,
) -> None:
    """``best.pt`` and, for registry-built models, ``best.safetensors`` whose card holds the
    training data and degradation of ``train``, the metrics, ``config`` and how the regime
    chose the kept weights."""
    save_atomically(
        {"model": dict(state), "metrics": dict(metrics), "regime": config.regime},
        directory / "best.pt",
    )
    if not getattr(model, "arch_name", None):
        return
    copy_on_cpu = copy.deepcopy(model).to("cpu")
    copy_on_cpu.load_state_dict(dict(state))
    card = {
        "normalization": dict(data_mod.NORMALIZATION),
        "training_data": getattr(train, "description", ""),
        "degradation": getattr(train, "degradation", ""),
        **config.card,
        "training": {**config.for_card(),
                     "checkpoint_kept": get_regime(config.regime).checkpoint_criterion},
    }
    card["metrics"] = {**config.card.get("metrics", {}), **_card_metrics(metrics)}
    save_weights(copy_on_cpu, directory / "best.safetensors", card)
