"""The checkpoints of an adaptation without a reference (``core.self_adapt``, `microdeblur
finetune --self --checkpoint-dir DIR`), and what a resume checks.

At every held-out check (the start's included) and when the run ends or is stopped between
two steps, the folder gets ``last.pt`` (everything a resume needs: the weights, the optimiser,
the step, the seconds spent, the best held-out loss so far with its weights, the history, the
random states and the fingerprint of what is adapted) and then ``best.safetensors`` (the best
weights with their model card, which ``deblur --weights`` loads), each written under a
temporary name and renamed (``training.checkpoints.save_atomically``, ``save_weights``).
last.pt is written first: it holds the best weights too, so a run killed between the two
resumes with the newer best and writes best.safetensors again at its next check.

A resume continues only the same adaptation: the same starting weights (their tensors'
sha256), images (shapes and content sha256), PSF and the settings of ``RESUME_SETTINGS``
(the loss, its held-out windows and their noise draws, and the optimiser depend on them);
anything else is refused in one line before any work, naming what differs. The paired job's
``last.pt`` (``training.checkpoints.CHECKPOINT_FORMAT``) is refused here, and this format by
the paired job (``load_training_checkpoint``).
"""

from __future__ import annotations

import copy
import hashlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from .checkpoint import save_weights
from .shown import shown_path
from .training.checkpoints import (
    CHECKPOINT_FORMAT,
    SELF_CHECKPOINT_FORMAT,
    check_checkpoint_dir,
    cpu_state,
    save_atomically,
    unreadable_reason,
)

if TYPE_CHECKING:
    from .self_adapt import SelfAdaptConfig

__all__ = ["RESUME_SETTINGS", "SELF_CHECKPOINT_FORMAT", "SELF_CHECKPOINT_VERSION", "SelfRun",
           "array_sha256", "check_resume", "fingerprint", "read_self_checkpoint",
           "tensors_sha256"]

SELF_CHECKPOINT_VERSION = 1
#: what a resumed run must share with its checkpoint: the loss and its held-out windows
#: (patch, val_fraction, seed, alpha, the prior), the restored optimiser (lr) and which
#: validation may replace the start (min_gain)
RESUME_SETTINGS = ("patch", "batch_size", "lr", "alpha", "prior_from", "prior_weight",
                   "hessian_weight", "val_fraction", "min_gain", "seed")
_NEW_RUN = "or start a new run (from its best.safetensors) in another checkpoint_dir="


def tensors_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """sha256 of a state dict: names, dtypes, shapes and values, in name order."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def array_sha256(a: np.ndarray) -> str:
    """sha256 of an array's values (its dtype and shape are recorded beside it)."""
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def fingerprint(model: nn.Module, images: Sequence[np.ndarray], planes: int,
                kernel: np.ndarray, psf_text: str, cfg: SelfAdaptConfig,
                label: str = "") -> dict:
    """What a run adapts, as its last.pt records it: the starting weights (``model`` before any
    step), the images, the PSF as used (fitted to the images) and the settings."""
    return {
        "weights": {"sha256": tensors_sha256(model.state_dict()), "label": label,
                    "arch": str(getattr(model, "arch_name", "") or type(model).__name__)},
        "images": [{"shape": list(np.shape(a)), "dtype": str(np.asarray(a).dtype),
                    "sha256": array_sha256(np.asarray(a))} for a in images],
        "planes": int(planes),
        "psf": {"text": psf_text, "shape": list(kernel.shape), "sha256": array_sha256(
            np.asarray(kernel, dtype=np.float32))},
        "settings": {k: getattr(cfg, k) for k in RESUME_SETTINGS},
    }


def read_self_checkpoint(folder: str | Path) -> dict:
    """The ``last.pt`` of a `finetune --self` run in ``folder``; ValueError (one line) for no
    file, an unreadable one, or another run's (the paired job's or `train`'s)."""
    p = Path(folder) / "last.pt"
    where = shown_path(p)
    if not p.is_file():
        raise ValueError(f"checkpoint_dir={str(folder)!r}: no last.pt to resume from; give the "
                         "folder of an earlier finetune --self run")
    try:
        ck = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - one clear message
        raise ValueError(f"resume: {where} is not a readable checkpoint "
                         f"({unreadable_reason(exc)})") from None
    found = ck.get("format") if isinstance(ck, dict) else None
    if found == CHECKPOINT_FORMAT:
        raise ValueError(f"resume: {where} holds a paired fine-tune or train run, not a "
                         "finetune --self one; resume it with the command that made it, "
                         f"{_NEW_RUN}")
    if found != SELF_CHECKPOINT_FORMAT:
        raise ValueError(f"resume: {where} is not a finetune --self checkpoint; give the folder "
                         "of an earlier finetune --self run")
    return ck


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9)
    return a == b


def _images_differ(was: list, now: list) -> str:
    if len(was) != len(now):
        return f"{len(was)} image(s), not {len(now)}"
    for i, (a, b) in enumerate(zip(was, now)):
        if (a["shape"], a["dtype"]) != (b["shape"], b["dtype"]):
            return (f"image {i} of shape {tuple(a['shape'])} {a['dtype']}, not "
                    f"{tuple(b['shape'])} {b['dtype']}")
        if a["sha256"] != b["sha256"]:
            return f"image {i} with other pixel values (same shape)"
    return ""


def check_resume(ck: Mapping[str, Any], now: Mapping[str, Any], cfg: SelfAdaptConfig,
                 where: str) -> None:
    """ValueError (one line) unless ``ck`` (a last.pt) continues the run ``now`` (its
    ``fingerprint``) within ``cfg``'s bounds: the same starting weights, images, PSF and
    settings, and steps left (``minutes`` bounds each session, as a paired resume's)."""
    saved = ck.get("fingerprint") or {}
    w, v = saved.get("weights") or {}, now["weights"]
    if w.get("arch") != v["arch"] or w.get("sha256") != v["sha256"]:
        was = w.get("label") or f"a {w.get('arch')} network"
        raise ValueError(f"resume: {where} adapted other starting weights ({was}, sha256 "
                         f"{str(w.get('sha256'))[:12]}), not these ({v['label'] or v['arch']}, "
                         f"sha256 {v['sha256'][:12]}); give the same weights as before, {_NEW_RUN}")
    differ = _images_differ(saved.get("images") or [], now["images"])
    if differ or saved.get("planes") != now["planes"]:
        differ = differ or f"{saved.get('planes')} planes, not {now['planes']} (other axes)"
        raise ValueError(f"resume: {where} adapted to other images ({differ}); give the same "
                         f"images as before, {_NEW_RUN}")
    p, q = saved.get("psf") or {}, now["psf"]
    if p.get("sha256") != q["sha256"]:
        other = (f"the PSF {p.get('text')!r}, not {q['text']!r}" if p.get("text") != q["text"]
                 else f"a PSF {q['text']!r} of other values than the one given now")
        raise ValueError(f"resume: {where} adapted with {other}; give the same PSF as before, "
                         f"{_NEW_RUN}")
    s = saved.get("settings") or {}
    keys = [k for k in RESUME_SETTINGS if k in s and not _same(s[k], now["settings"][k])]
    if keys:
        was = ", ".join(f"{k}={s[k]!r}" for k in keys)
        given = ", ".join(f"{k}={now['settings'][k]!r}" for k in keys)
        raise ValueError(f"resume: {where} was adapted with {was}, not {given}; resume with its "
                         f"settings, {_NEW_RUN}")
    done = int(ck.get("step", 0))
    if done >= cfg.max_steps:
        raise ValueError(f"resume: {where} has already run {done} steps; give max_steps= above "
                         f"{done} (now {cfg.max_steps}) to continue it")


def checked_folder(checkpoint_dir, resume: bool) -> Path | None:
    """The checkpoint folder (``training.checkpoints.check_checkpoint_dir``: a writable folder
    holding no earlier run unless ``resume``); None without one (``resume`` refused)."""
    if checkpoint_dir is None:
        if resume:
            raise ValueError("resume=True continues the run in checkpoint_dir=DIR; give that "
                             "folder")
        return None
    return check_checkpoint_dir(checkpoint_dir, resume=resume)


@dataclass
class SelfRun:
    """Where an adaptation is (what last.pt keeps and a resume restores) and its folder."""

    model: nn.Module
    rng: np.random.Generator
    generator: torch.Generator
    cfg: Any
    folder: Path | None = None
    fingerprint: dict = field(default_factory=dict)
    #: the best weights' model card from this state (None: none written, not a registry net)
    card: Callable[[SelfRun], dict | None] | None = None
    optimizer: torch.optim.Optimizer | None = None  # made once the model is on its device
    prior_text: str = ""
    t0: float = field(default_factory=time.perf_counter)
    step: int = 0
    start: float = math.nan
    best: dict = field(default_factory=dict)  # loss, step, state (CPU)
    history: list = field(default_factory=list)
    latest: float = math.nan
    next_val: float = 0.0
    last_val_step: int = 0
    val_seconds: float = 0.0
    step_seconds: float = 0.0
    stopped: str = "max_steps"
    at_rest: bool = True  # False within a step: its state is half made, not saved
    saved: tuple = ()  # the (step, stopped) last saved

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def restore(self, ck: Mapping[str, Any]) -> None:
        """Continue from a last.pt (the model holds the starting weights, and the prior was
        computed from them)."""
        self.model.load_state_dict(ck["model"])
        self.optimizer.load_state_dict(ck["optimizer"])
        self.rng.bit_generator.state = ck["rng"]
        self.generator.set_state(ck["generator"])
        self.t0 = time.perf_counter() - float(ck["elapsed"])
        best = ck["best"]
        self.best = {"loss": float(best["loss"]), "step": int(best["step"]),
                     "state": dict(best["state"])}
        self.history = [dict(h) for h in ck["history"]]
        self.step, self.last_val_step = int(ck["step"]), int(ck["last_val_step"])
        for name in ("start", "latest", "next_val", "val_seconds", "step_seconds"):
            setattr(self, name, float(ck[name]))
        self.saved = (self.step, str(ck["stopped"]))

    def keep_best(self) -> None:
        """The model's weights as the best so far."""
        self.best = {"loss": self.latest, "step": self.step, "state": cpu_state(self.model)}

    def save(self) -> None:
        """last.pt, then best.safetensors (with its card), each atomically; nothing without a
        folder or within a step."""
        if self.folder is None or not self.at_rest or self.saved == (self.step, self.stopped):
            return
        save_atomically(self._last(), self.folder / "last.pt")
        card = self.card(self) if self.card is not None else None
        if card is not None and getattr(self.model, "arch_name", None):
            best = copy.deepcopy(self.model).to("cpu")
            best.load_state_dict(self.best["state"])
            save_weights(best, self.folder / "best.safetensors", card)
        self.saved = (self.step, self.stopped)

    def _last(self) -> dict:
        return {"format": SELF_CHECKPOINT_FORMAT, "version": SELF_CHECKPOINT_VERSION,
                "fingerprint": self.fingerprint, "model": cpu_state(self.model),
                "optimizer": self.optimizer.state_dict(), "step": self.step,
                "elapsed": self.elapsed(), "minutes": float(self.cfg.minutes),
                "max_steps": int(self.cfg.max_steps), "stopped": self.stopped,
                "start": self.start, "best": dict(self.best), "history": list(self.history),
                "latest": self.latest, "next_val": self.next_val,
                "last_val_step": self.last_val_step, "val_seconds": self.val_seconds,
                "step_seconds": self.step_seconds, "rng": self.rng.bit_generator.state,
                "generator": self.generator.get_state()}
