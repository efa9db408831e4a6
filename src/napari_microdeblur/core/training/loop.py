"""The training loop: :class:`Trainer` (the mutable state of a run) and ``run`` (the
generator that steps it, validates, writes checkpoints and returns a :class:`FitResult`)."""

from __future__ import annotations

import contextlib
import json
import math
import time
import warnings
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import data as data_mod
from ..devices import forward_in
from ..memory import fast_layout
from ..metrics import psnr, ssim
from ..shown import first_line
from .checkpoints import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    VALIDATION_SCORING,
    VALIDATION_SCORING_KEY,
    check_same_network,
    cpu_state,
    newer_best,
    save_atomically,
    write_weights,
)
from .checkpoints import write_best as write_best_files
from .losses import content_loss, perceptual_loss
from .records import FitProgress, FitResult
from .setup import Setup
from .trainable import trainable_parameters

__all__ = ["DIVERGED_ADVICE", "OVERFLOW_FACTOR", "Trainer", "TrainingDiverged", "lr_factor",
           "run", "stopped_by"]

#: What a diverged run should change (the CLI names its own options instead)
DIVERGED_ADVICE = "lower lr or set grad_clip"
#: A step's loss above OVERFLOW_FACTOR x max(1, the run's first loss) means the weights ran
#: away even while every number stays finite (lr 1e8: losses of 1e17, validation PSNR at
#: -370 dB, for the rest of the run). Why this bound: the images are in model units (about
#: 0..1), so a content loss of 1 is an output off by the whole intensity range; the first
#: loss is the starting weights', before any update; converging runs go down from it and
#: adversarial ones wander within a factor of about 10-100 of it. Four orders of magnitude
#: above both is no noisy step; the floor of 1 keeps a start near 0 loss (a fine-tuned
#: network) from making ordinary fluctuations look like one.
OVERFLOW_FACTOR = 1e4


class TrainingDiverged(FloatingPointError):
    """A step's loss was not finite or overflowed (``OVERFLOW_FACTOR``); ``step`` (1-based)
    and ``why`` say which."""

    def __init__(self, step: int, why: str):
        super().__init__(f"training diverged at step {step} ({why}); {DIVERGED_ADVICE}")
        self.step, self.why = step, why


def stopped_by(error: BaseException, step: int | None = None) -> str:
    """One line saying why a run stopped in a step (``TrainingDiverged`` or another
    ``FloatingPointError`` / ``RuntimeError``): what fine-tuning and `train` report."""
    step = getattr(error, "step", step)
    first = first_line(error)
    return f"training stopped at step {step}: {first}" if step else f"training stopped: {first}"


def lr_factor(step: int, steps: int, warmup: int, min_ratio: float, schedule: str) -> float:
    """LR multiplier for the 0-based step: linear warm-up, then cosine (or constant)."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    span = max(1, steps - warmup)
    t = min(1.0, (step - warmup) / span)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t))


def cuda_grad_scaler():
    """fp16's loss scaler: ``torch.amp.GradScaler`` (torch >= 2.3), else the older
    ``torch.cuda.amp.GradScaler`` (setup.cfg takes torch >= 2.1; fp16 training failed there)."""
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cuda")
    return torch.cuda.amp.GradScaler()


class Trainer:
    """Model, discriminator, optimisers, random generators and the best weights of a run; the
    regime's ``step`` works through its public methods."""

    def __init__(self, s: Setup):
        self.setup = s
        self.config = c = s.config
        self.regime = s.regime
        self.weights = s.weights
        self.device = s.device
        self.model = fast_layout(s.model, s.device)
        self.discriminator = (fast_layout(s.discriminator, s.device)
                              if s.discriminator is not None else None)
        if s.vgg is not None:
            s.vgg.to(s.device)
        self.rng = np.random.default_rng(c.seed)
        self.generator = torch.Generator().manual_seed(c.seed)
        # Adam as in GRAN and PSF-CycleGAN (betas 0.9, 0.999; eps 1e-8)
        groups = self._trained_groups(self.regime.parameter_groups(self.model))
        for g in groups:
            g["peak_lr"] = g["lr"]
        self.optimizers = {"G": torch.optim.Adam(groups, betas=(0.9, 0.999), eps=1e-8)}
        if self.discriminator is not None:
            self.optimizers["D"] = torch.optim.Adam(
                self.discriminator.parameters(), lr=c.discriminator_lr(),
                betas=self.regime.discriminator_betas, eps=1e-8,
            )
        # the weights each optimiser steps (``trainable`` leaves some out): what is clipped
        self.stepped = {name: {id(p) for g in opt.param_groups for p in g["params"]}
                        for name, opt in self.optimizers.items()}
        self.scaler = cuda_grad_scaler() if s.amp == "fp16" else None
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(s.amp)
        self.step = 0
        self.elapsed = 0.0
        self.first_loss: float | None = None  # of this session's first step (OVERFLOW_FACTOR)
        self.diverged = False
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_metrics: dict[str, Any] = {}
        self.history: list[dict[str, Any]] = []
        self.baseline: dict[str, Any] = {}
        self.last_val: dict[str, Any] = {}
        self.validation_seconds = 0.0  # of the latest validation: the time left counts on it
        # L2-SP (Li et al. 2018): the starting weights the anchor term pulls toward; taken
        # before a resume loads later weights, so a resumed run keeps the same anchor
        self.anchor = ({n: p.detach().clone() for n, p in self.model.named_parameters()}
                       if c.anchor_weight > 0 else None)

    def _trained_groups(self, groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The optimiser groups without the weights ``config.trainable`` freezes."""
        c = self.config
        if c.trainable == "all":
            return groups
        one = self.setup.train.sample_inputs(np.random.default_rng(c.seed), 1, c.patch)
        kept = {id(p) for p in trainable_parameters(self.model, c.trainable, self.tensor(one))}
        groups = [{**g, "params": [p for p in g["params"] if id(p) in kept]} for g in groups]
        return [g for g in groups if g["params"]]

    # -- what the regimes use -----------------------------------------------------------

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def tensor(self, a: np.ndarray) -> torch.Tensor:
        # asynchronous only to CUDA: a non-blocking copy to Apple MPS can read the batch
        # after it is freed (pytorch#139550), corrupting it silently
        return torch.from_numpy(a).to(self.device, non_blocking=self.device.type == "cuda")

    def backward_step(self, loss: torch.Tensor, name: str, params) -> None:
        """Back-propagate ``loss`` and step optimiser ``name`` ("G" or "D")."""
        opt = self.optimizers[name]
        clip = self.config.grad_clip
        # every weight's gradient is cleared, not only the optimiser's: weights ``trainable``
        # leaves out would add theirs up step after step (and into the clipped norm)
        (self.model if name == "G" else self.discriminator).zero_grad(set_to_none=True)
        stepped = self.stepped[name]
        params = [p for p in params if id(p) in stepped]  # clipped: those the regime names
        # and the optimiser steps
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            if clip:
                self.scaler.unscale_(opt)
                nn.utils.clip_grad_norm_(params, clip)
            self.scaler.step(opt)
        else:
            loss.backward()
            if clip:
                nn.utils.clip_grad_norm_(params, clip)
            opt.step()

    def generator_loss(self, x, y) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
        """(weighted content + perceptual loss, prediction, the terms) of the model on x."""
        w = self.weights
        with self.autocast():
            content, pred = content_loss(self.model, x, y, self.config.loss)
        total = w["content"] * content
        terms = {"content": float(content.detach())}
        if w.get("perceptual", 0) > 0:
            p = perceptual_loss(self.setup.vgg, pred, y)
            total = total + w["perceptual"] * p
            terms["perceptual"] = float(p.detach())
        if self.anchor is not None:
            drift = sum(((p - self.anchor[n]) ** 2).sum()
                        for n, p in self.model.named_parameters())
            total = total + self.config.anchor_weight * drift
            terms["anchor"] = float(drift.detach())
        return total, pred, terms

    def sample_pairs(self) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.setup.train.sample(self.rng, self.config.batch_size, self.config.patch)
        return self.tensor(x), self.tensor(y)

    def sample_source(self, name: str, kind: str, margin: int = 0) -> torch.Tensor:
        """Patches of the extra image set ``name`` (inputs or targets of the training pairs
        when none was given); ``kind`` is "input" or "target"; ``margin``: pixels more on
        every side (the regime's ``patch_margin``, checked before training)."""
        source = self.setup.sources.get(name) or self.setup.train
        sample = source.sample_inputs if kind == "input" else source.sample_targets
        patch = self.config.patch + 2 * margin
        return self.tensor(sample(self.rng, self.config.batch_size, patch))

    # -- the run ------------------------------------------------------------------------

    def set_lr(self) -> float:
        c = self.config
        f = lr_factor(self.step, c.steps, c.warmup_steps(), c.min_lr_ratio, c.schedule)
        for g in self.optimizers["G"].param_groups:
            g["lr"] = g.get("peak_lr", c.lr) * f
        if "D" in self.optimizers:
            for g in self.optimizers["D"].param_groups:
                g["lr"] = c.discriminator_lr() * f
        return c.lr * f

    def train_step(self) -> dict[str, float]:
        self.model.train()
        if self.discriminator is not None:
            self.discriminator.train()
        losses = self.regime.step(self)
        if self.scaler is not None:
            self.scaler.update()
        return losses

    def validate(self, identity: bool = False) -> dict[str, Any]:
        """Mean PSNR / SSIM (reference scale, data_range 1) and L1 over the validation crops."""
        return validate_on_crops(self.model, self.setup.val_crops, self.device, self.dtype,
                                 self.step, identity)

    def validations_since_best(self) -> int:
        """Validations after the one that gave the kept weights (early stopping counts them;
        with min_gain_db, a gain below the margin does not count as better)."""
        best_step = self.best_metrics.get("step", 0)
        return sum(1 for h in self.history if h["step"] > best_step)

    def record_validation(self) -> dict[str, Any]:
        started = time.perf_counter()
        v = self.validate()
        self.validation_seconds = time.perf_counter() - started
        self.history.append(v)
        self.last_val = v
        # weights whose output is not finite are never kept (a diverging adversarial run)
        if math.isfinite(v["val_psnr"]) and self.regime.is_better(v, self.best_metrics,
                                                                   self.config.min_gain_db):
            self.best_metrics = dict(v)
            self.best_state = cpu_state(self.model)
        return v

    # -- checkpoints --------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything a resume needs (the content of ``last.pt``)."""
        c = self.config
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            VALIDATION_SCORING_KEY: VALIDATION_SCORING,  # which scoring wrote its PSNRs
            "step": self.step,
            "steps": c.steps,
            "regime": c.regime,
            "arch": getattr(self.model, "arch_name", None),
            "seed": c.seed,
            "elapsed": self.elapsed,
            "config": c.model_dump(mode="json"),
            "model": cpu_state(self.model),
            "discriminator": (cpu_state(self.discriminator)
                              if self.discriminator is not None else None),
            "optimizers": {k: v.state_dict() for k, v in self.optimizers.items()},
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "numpy_rng": json.dumps(self.rng.bit_generator.state),
            "torch_generator": self.generator.get_state(),
            "regime_state": self.regime.state_dict(),
            "best_state": self.best_state,
            "best_metrics": self.best_metrics,
            "baseline": self.baseline,
            "history": self.history,
            "validation_fingerprint": self.setup.val_fingerprint,
            "extra": {"loss": c.loss, "patch": c.patch, "batch_size": c.batch_size, "lr": c.lr},
        }

    def _load_networks(self, ck: dict[str, Any], where: str) -> None:
        check_same_network(self.model, ck["model"], where)
        self.model.load_state_dict(ck["model"])
        if self.discriminator is not None:
            if ck.get("discriminator") is None:
                raise ValueError(f"{where}: the checkpoint has no discriminator")
            try:
                self.discriminator.load_state_dict(ck["discriminator"])
            except RuntimeError as exc:  # PyTorch's: a line per weight, 38 for one config
                said = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()]
                first = f"{len(said)} weights differ, first {said[0]}" if said else str(exc)
                raise ValueError(f"{where}: the discriminator does not fit ({first}); resume "
                                 "with the run's discriminator config") from None

    def load(self, ck: dict[str, Any]) -> None:
        """Continue from the content of a ``last.pt``."""
        self._load_networks(ck, ck.get("where", "resume_from"))
        for k, opt in self.optimizers.items():
            opt.load_state_dict(ck["optimizers"][k])
        if self.scaler is not None and ck.get("scaler"):
            self.scaler.load_state_dict(ck["scaler"])
        self.rng.bit_generator.state = json.loads(ck["numpy_rng"])
        self.generator.set_state(ck["torch_generator"])
        # version 1 kept the history buffers of the cycle regime under "pools"
        self.regime.load_state_dict(ck.get("regime_state") or {"pools": ck.get("pools")},
                                    self.device)
        self.step = int(ck["step"])
        self.elapsed = float(ck["elapsed"])
        self.best_state = ck.get("best_state")
        self.best_metrics = dict(ck.get("best_metrics") or {})
        if ck.get("where"):  # a better best.pt than last.pt knows: later bests must beat it
            later = newer_best(Path(ck["where"]), ck)
            if later is not None:
                self.best_state, self.best_metrics = later["model"], later["metrics"]
        self.baseline = dict(ck.get("baseline") or {})
        self.history = list(ck.get("history") or [])
        self.last_val = self.history[-1] if self.history else {}

    def write_last(self) -> None:
        """``last.pt`` (what a resume needs) and ``last.safetensors`` (the current weights)."""
        ckdir = self.setup.checkpoint_dir
        if ckdir is None:
            return
        save_atomically(self.state(), ckdir / "last.pt")
        validated_now = self.last_val.get("step") == self.step
        write_weights(ckdir / "last.safetensors", self.model, cpu_state(self.model),
                      self.last_val if validated_now else {"step": self.step}, self.config,
                      self.setup.train, self.baseline, self.regime)

    def write_best(self) -> None:
        if self.setup.checkpoint_dir is None:
            return
        state = self.best_state if self.best_state is not None else cpu_state(self.model)
        metrics = self.best_metrics or {"step": self.step}
        write_best_files(self.setup.checkpoint_dir, self.model, state, metrics, self.config,
                         self.setup.train, self.baseline, self.regime)


# ----------------------------------------------------------------------------- the generator


def _record(tr: Trainer, losses: dict, lr: float, left: float, validated: bool,
            message: str | None) -> FitProgress:
    v = tr.last_val
    return FitProgress(
        step=tr.step, steps=tr.config.steps, loss=losses["loss"], lr=lr,
        val_psnr=v.get("val_psnr"), val_ssim=v.get("val_ssim"), val_loss=v.get("val_loss"),
        seconds_left=float(left), losses=losses, validated=validated, message=message,
    )


def _one_step(tr: Trainer) -> tuple[dict[str, float], float, bool]:
    """Train one step, validate and checkpoint when due; (losses, lr, validated)."""
    c = tr.config
    lr = tr.set_lr()
    losses = tr.train_step()
    loss, first = losses["loss"], tr.first_loss
    why = None
    if not math.isfinite(loss):
        why = f"loss {loss}"
    elif first is not None and loss > OVERFLOW_FACTOR * max(1.0, first):
        why = (f"loss {loss:.3g}, over {OVERFLOW_FACTOR:g} times max(1, the first step's "
               f"{first:.3g}): the weights overflowed")
    if why is not None:
        tr.diverged = True  # the current weights are not worth a checkpoint
        raise TrainingDiverged(tr.step + 1, why)
    if tr.first_loss is None:
        tr.first_loss = loss
    tr.step += 1
    validated = False
    if tr.setup.val_crops and (tr.step % c.validation_interval() == 0 or tr.step == c.steps):
        tr.record_validation()
        validated = True
    return losses, lr, validated


def _write_final(tr: Trainer, clean: bool) -> None:
    """The checkpoints when the run ends, is cancelled or fails (never hiding the failure)."""
    if tr.setup.checkpoint_dir is None:
        return
    if tr.diverged and tr.best_state is None:
        return  # nothing validated to keep, and the current weights diverged
    try:
        tr.write_best()
        if clean:
            tr.write_last()
    except Exception as exc:  # noqa: BLE001 - never hide the error that stopped the run
        if clean:
            raise
        warnings.warn(f"could not write the checkpoints after a failure: {exc}", stacklevel=3)


def _result(tr: Trainer, stopped: str) -> FitResult:
    if tr.best_state is None:  # no validation: the last weights are the result
        tr.best_state = cpu_state(tr.model)
        tr.best_metrics = {"step": tr.step}
    if tr.config.restore_best:
        tr.model.load_state_dict(tr.best_state)
    ckdir = tr.setup.checkpoint_dir
    return FitResult(
        best_state=tr.best_state, best_metrics=dict(tr.best_metrics),
        baseline=dict(tr.baseline), steps_done=tr.step, seconds=tr.elapsed, stopped=stopped,
        history=list(tr.history), notes=list(tr.setup.notes),
        normalization=dict(data_mod.NORMALIZATION), regime=tr.config.regime,
        checkpoint_dir=str(ckdir) if ckdir is not None else None, config=tr.config,
    )


@dataclass
class _Clock:
    """This session's time in training steps alone, apart from the validations and checkpoint
    writes between them: the time left and the time limit count each on its own (the step-0
    validation counted as step time said 'left=151:37' at step 3 of a 1-minute run)."""

    step_seconds: float = 0.0
    steps: int = 0
    first_step: float = 0.0  # its warm-up (allocation, first kernels) is no later step's time
    write_seconds: float = 0.0  # of the latest checkpoint write

    def add_step(self, seconds: float) -> None:
        self.step_seconds += seconds
        self.steps += 1
        if self.steps == 1:
            self.first_step = seconds

    def per_step(self) -> float:
        if self.steps < 2:
            return self.step_seconds
        return (self.step_seconds - self.first_step) / (self.steps - 1)


def _seconds_left(tr: Trainer, clock: _Clock) -> float:
    """To the last step: the steps, the validations and checkpoint writes still due."""
    c = tr.config
    steps = c.steps - tr.step
    if steps <= 0:
        return 0.0
    every = c.validation_interval()
    validations = (c.steps // every - tr.step // every + bool(c.steps % every)
                   if tr.setup.val_crops else 0)
    writes = c.steps // c.checkpoint_every - tr.step // c.checkpoint_every \
        if c.checkpoint_every else 0
    return (clock.per_step() * steps + tr.validation_seconds * validations
            + clock.write_seconds * writes)


def _time_is_up(tr: Trainer, clock: _Clock, elapsed: float) -> bool:
    """Whether the next step would end past the time limit once the last validation and the
    checkpoint write that follow it are done (they ran after the limit: '--minutes 0.5' said
    '3 steps in 0.8 min'). A session's first step is always taken, however long its step-0
    validation took, unless the run it resumes had used up the limit (``tr.elapsed``, set
    only after a step: a slow baseline validation had stopped runs before their first step)."""
    limit = tr.config.time_limit
    if not clock.steps:
        return tr.elapsed >= limit
    tail = clock.per_step() + clock.write_seconds
    if tr.setup.val_crops:
        tail += tr.validation_seconds
    return elapsed + tail > limit


def run(tr: Trainer) -> Generator[FitProgress, None, FitResult]:
    """Step ``tr`` to the end (or the time limit); a :class:`FitProgress` per step."""
    c = tr.config
    message = "; ".join(tr.setup.notes) or None
    stopped, clean = "completed", False
    t_start, elapsed0, clock = time.perf_counter(), tr.elapsed, _Clock()

    def elapsed() -> float:
        return elapsed0 + (time.perf_counter() - t_start)

    try:
        if tr.setup.val_crops and not tr.history:
            tr.baseline = {**tr.validate(identity=True), "what": "input (no deblurring)"}
            tr.record_validation()
        while tr.step < c.steps:
            if c.time_limit is not None and _time_is_up(tr, clock, elapsed()):
                stopped = "time_limit"
                break
            began = time.perf_counter()
            losses, lr, validated = _one_step(tr)
            stepped = time.perf_counter()
            clock.add_step(stepped - began - (tr.validation_seconds if validated else 0))
            if validated and c.patience and tr.validations_since_best() >= c.patience:
                stopped = "early_stop"
            tr.elapsed = elapsed()  # what last.pt records
            if c.checkpoint_every and tr.step % c.checkpoint_every == 0:
                tr.write_best()
                tr.write_last()
                clock.write_seconds = time.perf_counter() - stepped
                tr.elapsed = elapsed()
            left = _seconds_left(tr, clock)
            if c.time_limit is not None:
                left = min(left, max(0.0, c.time_limit - tr.elapsed))
            yield _record(tr, losses, lr, left, validated, message)
            message = None
            if stopped == "early_stop":
                break
        if tr.setup.val_crops and (not tr.history or tr.history[-1]["step"] != tr.step):
            tr.record_validation()
        clean = True
    except GeneratorExit:
        clean = True  # cancelled between steps: the state is consistent
        raise
    finally:
        tr.elapsed = elapsed()
        # however the run ends, the network is handed back ready to deblur: Dropout off and
        # BatchNorm on its running statistics, as load_model gives the saved weights
        tr.model.eval()
        if tr.discriminator is not None:
            tr.discriminator.eval()
        _write_final(tr, clean)
    return _result(tr, stopped)


def validate_on_crops(model: nn.Module, crops, device: torch.device, dtype, step: int,
                      identity: bool = False) -> dict[str, Any]:
    """A run's validation of ``model`` on ``crops`` (``Trainer.validate``; a resume of an
    earlier release's checkpoint re-scores with it, ``checkpoints.rescore_resumed``): mean PSNR
    / SSIM on the reference scale (data_range 1) and L1. ``identity``: the crops' inputs, not
    deblurred (the unprocessed baseline). ``dtype``: the run's autocast type, or None."""
    was = model.training
    model.eval()
    ps, ss, ls = [], [], []

    def tensor(a: np.ndarray) -> torch.Tensor:  # as Trainer.tensor: async to CUDA only
        return torch.from_numpy(a).to(device, non_blocking=device.type == "cuda")

    with torch.inference_mode():
        for c in crops:
            x = tensor(c.input[None])
            t = tensor(c.target[None])
            if identity:
                pred = x
            else:
                # CPU bf16 is for training speed only: validation runs in float32; on
                # CUDA a float16 overflow (GRAN's GRAB block) is computed again in float32
                cuda = device.type == "cuda"
                precision = {torch.bfloat16: "bfloat16", torch.float16: "float16"}.get(
                    dtype, "float32") if cuda else "float32"
                pred = forward_in(model, x, precision).float()
            scale, offset = c.to_reference
            # scored on the host in float64 (Apple MPS has no float64)
            p_ref = (pred[0] * scale + offset).cpu().double()
            t_ref = (t[0] * scale + offset).cpu().double()
            ps.append(psnr(p_ref, t_ref, data_range=1.0))
            if min(t_ref.shape[-2:]) >= 11:
                ss.append(ssim(p_ref, t_ref, data_range=1.0, channel_axis=0))
            ls.append(float((pred - t).abs().mean()))
    model.train(was)
    return {
        "step": step,
        "val_psnr": float(np.mean(ps)),
        "val_ssim": float(np.mean(ss)) if ss else None,
        "val_loss": float(np.mean(ls)),
    }
