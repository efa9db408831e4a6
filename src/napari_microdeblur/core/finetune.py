"""Fine-tuning a network on the user's own pairs: the job behind the Fine-tune dock and
`microdeblur finetune`.

Pairs come from a blurry/sharp pair of arrays or from a z-stack and its in-focus plane
(``core.data``); validation takes whole planes (``data.split_validation``); training is
``core.training.iter_fit``, which writes the best checkpoint (by validation PSNR) as
``best.safetensors`` with its model card, also when stopped.

``iter_finetune(request)`` yields one :class:`~.progress.Notes` once the pairs are built
(info: pairs, train, val, focus), then a ``FitProgress`` per step, and returns a
:class:`FinetuneResult`.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import data, training
from .checkpoint import ModelCard, load_model
from .progress import Notes

__all__ = ["FinetuneRequest", "FinetuneResult", "iter_finetune"]


@dataclass
class FinetuneRequest:
    """Everything a fine-tuning run needs (the dock collects it on the GUI thread)."""

    mode: str  # "pair" | "stack"
    layer_name: str
    axes: str
    model: Any  # a copy of the base network; trained in place
    base_label: str
    base_card: Any
    blurry: Any = None
    sharp: Any = None
    stack: Any = None
    focus: int | str = "auto"
    align: bool = True
    match_intensity: bool = True
    steps: int = 200
    patch: int = 64
    batch_size: int = 8
    lr: float = 1e-4
    val_fraction: float = 0.2
    device: str = "auto"
    checkpoint_dir: str = ""
    stop: threading.Event = field(default_factory=threading.Event)


@dataclass
class FinetuneResult:
    """The fine-tuned weights (loaded back from ``file``), or ``model=None`` when the run
    ended before a checkpoint was written; ``stopped`` when the user stopped it."""

    stopped: bool
    model: Any
    card: ModelCard | None
    result: training.FitResult | None
    file: Path | None = None


def _pairs(req: FinetuneRequest) -> tuple[list, int | None]:
    """The training pairs of the request and the in-focus plane (None for a pair)."""
    if req.mode == "pair":
        pairs = data.pairs_from_arrays(
            np.asarray(req.blurry), np.asarray(req.sharp), axes=req.axes, align=req.align,
            match_intensity=req.match_intensity, name=req.layer_name,
        )
        return pairs, None
    stack = np.asarray(req.stack)
    focus = data.find_focus_plane(stack, req.axes) if req.focus == "auto" else req.focus
    pairs = data.pairs_from_stack(
        stack, focus_plane=focus, axes=req.axes, align=req.align,
        match_intensity=req.match_intensity, name=req.layer_name,
    )
    return pairs, focus


def iter_finetune(req: FinetuneRequest) -> Generator[Any, None, FinetuneResult]:
    """The job (see the module docstring); ``req.stop`` stops it after the current step."""
    pairs, focus = _pairs(req)
    groups = list(dict.fromkeys(p.group for p in pairs))
    val = None
    train_pairs = pairs
    notes = []
    if req.val_fraction > 0 and len(groups) >= 2:
        train_pairs, val = data.split_validation(pairs, val_fraction=req.val_fraction, seed=0)
    elif req.val_fraction > 0:
        notes.append("a single plane cannot be split into training and validation planes: "
                     "no validation; the last weights are kept")
    source = f"stack, in focus at plane {focus}" if focus is not None else "blurry/sharp pair"
    what = f"layer {req.layer_name!r}: {source}, {len(train_pairs)} training plane(s)"
    train = data.PairedData(train_pairs, description=what)
    base = req.base_card
    card = {
        "training_data": f"{req.base_label} ({getattr(base, 'training_data', '')}) fine-tuned "
                         f"on {what}",
        "license": getattr(base, "license", "unknown"),
        "description": f"{req.base_label} fine-tuned in napari for {req.steps} steps",
    }
    config = training.TrainingConfig.from_options(dict(
        steps=req.steps, batch_size=req.batch_size, patch=req.patch, lr=req.lr,
        device=req.device, checkpoint_dir=req.checkpoint_dir, card=card,
        val_every=max(1, req.steps // 10) if val else None,
    ))
    gen = training.iter_fit(req.model, config, train, val)
    info = {"pairs": len(pairs), "train": len(train_pairs), "val": len(val) if val else 0,
            "focus": focus}
    yield Notes(tuple(notes), tuple(info.items()))
    stopped, result = False, None
    while True:
        if req.stop.is_set():
            gen.close()  # iter_fit writes best.safetensors in its finally
            stopped = True
            break
        try:
            record = next(gen)
        except StopIteration as stop:
            result = stop.value
            break
        yield record
    best = Path(req.checkpoint_dir) / "best.safetensors"
    if not best.is_file():
        return FinetuneResult(stopped=stopped, model=None, card=None, result=result)
    model, card = load_model(best)
    return FinetuneResult(stopped=stopped, model=model, card=card, result=result, file=best)
