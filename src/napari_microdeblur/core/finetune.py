"""Fine-tuning a network on the user's own pairs: the job behind the Fine-tune dock and
`microdeblur finetune`.

Pairs come from a blurry/sharp pair of arrays or from a z-stack and its in-focus plane
(``core.data``); validation takes whole planes (``data.split_validation``); training is
``core.training.iter_fit``, which writes the best checkpoint (by validation PSNR) as
``best.safetensors`` with its model card, also when stopped.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import data, training, weights


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


def iter_finetune_job(req: FinetuneRequest):
    """The job: yields ("info", dict) once the pairs are built, then ("step", FitProgress)
    per training step; returns a dict with the best weights loaded back (or stopped early)."""

    if req.mode == "pair":
        pairs = data.pairs_from_arrays(
            np.asarray(req.blurry), np.asarray(req.sharp), axes=req.axes, align=req.align,
            match_intensity=req.match_intensity, name=req.layer_name,
        )
        focus = None
    else:
        stack = np.asarray(req.stack)
        focus = req.focus
        if focus == "auto":
            focus = data.find_focus_plane(stack, req.axes)
        pairs = data.pairs_from_stack(
            stack, focus_plane=focus, axes=req.axes, align=req.align,
            match_intensity=req.match_intensity, name=req.layer_name,
        )
    groups = list(dict.fromkeys(p.group for p in pairs))
    val = None
    train_pairs = pairs
    notes = []
    if req.val_fraction > 0 and len(groups) >= 2:
        train_pairs, val = data.split_validation(pairs, val_fraction=req.val_fraction, seed=0)
    elif req.val_fraction > 0:
        notes.append("a single plane cannot be split into training and validation planes: "
                     "no validation; the last weights are kept")
    what = (f"layer {req.layer_name!r}: " + (f"stack, in focus at plane {focus}" if focus is
            not None else "blurry/sharp pair") + f", {len(train_pairs)} training plane(s)")
    train = data.PairedData(train_pairs, description=what)
    base = req.base_card
    card = {
        "training_data": f"{req.base_label} ({getattr(base, 'training_data', '')}) fine-tuned "
                         f"on {what}",
        "license": getattr(base, "license", "unknown"),
        "description": f"{req.base_label} fine-tuned in napari for {req.steps} steps",
    }
    gen = training.iter_fit(
        req.model, train, val, steps=req.steps, batch_size=req.batch_size, patch=req.patch,
        lr=req.lr, device=req.device, checkpoint_dir=req.checkpoint_dir, card=card,
        val_every=max(1, req.steps // 10) if val else None,
    )
    yield "info", {"pairs": len(pairs), "train": len(train_pairs),
                   "val": len(val) if val else 0, "focus": focus, "notes": notes}
    stopped = False
    result = None
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
        yield "step", record
    best = Path(req.checkpoint_dir) / "best.safetensors"
    if not best.is_file():
        return {"stopped": stopped, "model": None, "card": None, "result": result}
    model, card = weights.load_model(best)
    return {"stopped": stopped, "model": model, "card": card, "result": result, "file": best}
