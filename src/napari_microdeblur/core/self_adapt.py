"""Adapting a network to the user's own blurry images when there is no sharp reference: the
job behind `microdeblur finetune --self IMG --psf PSF`.

The network (blind, ``f(x)``, or PSF-aware, ``f(x, psf)``) is trained on the images themselves,
self-supervised, in the intensity units it runs in (``inference`` normalisation), on the planes
it runs on: a grayscale network on every channel of a colour image, a PSF-aware one on an RGB
image's luminance and chroma (``OPPONENT_PLANES``):

- **data consistency, noise-aware and noise-blind** (the re-corrupted pair of ZS-DeconvNet,
  Qiao et al., Nat Commun 2024, after Pang et al.'s Recorrupted-to-Recorrupted): with ``var``
  the image's Poisson-Gaussian noise variance (estimated from the image), ``z ~ N(0, var)``,
  the network sees ``y + alpha z`` and its output blurred by the PSF is compared with
  ``y - z / alpha``, squared and divided by that target's noise variance (1.0 is a fit to the
  noise level). The two noises are independent, so reproducing the input's noise cannot lower
  the loss, as it would lower a plain ``|psf * f(y) - y|`` (an inverse filter scores 0 there).
  Only pixels whose blur lies inside the patch are compared (a 'valid' convolution): no
  boundary is assumed.
- **prior**: ``(f(.) - f0(y))^2`` in noise variances, so what the PSF does not constrain (the
  frequencies it removes) stays where a trained network put it. ``f0`` is the PSF-aware default
  network given the same PSF when a blind network is adapted (``prior_from='auto'``: it uses the
  PSF everywhere, the blind network nowhere; on RGB as that method runs it, in luminance and
  chroma: ``PRIOR_RGB_OPPONENT``), else the unadapted network itself;
- **Hessian**: the second differences of the output in noise sigmas, against noise
  amplification.

Validation never sees a training pixel: the last ``val_fraction`` of the columns of every plane
is held out (training patches stay left of it) and scored by the same loss with fixed noise
draws. The run keeps the weights with the lowest validation loss, the starting weights
included (``min_gain``: by what share a loss must beat the start's; any, by default): it never
returns weights that score worse there than the start, and says so when nothing improved.
Time-boxed, stoppable (an event or a callable) and closable (the best weights are loaded back).

``iter_self_adapt`` yields a :class:`~.progress.Notes` (regions, noise), then a
``training.FitProgress`` per step (``val_loss`` is the validation loss, ``val_psnr`` None) and
returns a :class:`SelfAdaptResult`; ``self_adapt`` is its blocking twin. The planes, their
held-out strips and the training crops (drawn where the image has structure) are
``core.self_adapt_planes``; the loss terms and the held-out windows ``core.self_adapt_loss``.
With ``checkpoint_dir`` the run keeps its best and last state there at every held-out check
and when it ends or is stopped, and ``resume=True`` continues the run kept there
(``core.self_adapt_checkpoints``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from .axes import check_axes, colour_part, is_rgb, stack_planes
from .checkpoint import load_model
from .devices import resolve_device
from .finetune_request import finetuned_license
from .inference import Normalization, compute_normalization, deblur
from .job_defaults import SELF_ADAPT_LR, SELF_ADAPT_MAX_STEPS, SELF_ADAPT_MINUTES
from .memory import fast_layout
from .method import network_method
from .noise import estimate_noise
from .progress import Notes, drive
from .psf import fit_psf_to_image
from .psf_aware import (
    DEFAULT_PSF_AWARE,
    OPPONENT_PARTS,
    plane_kernel,
    psf_aware_method,
    to_opponent,
)
from .psf_estimate import estimate_psf, estimation_plane, is_estimate
from .psf_safeguard import held_out_ratio
from .self_adapt_checkpoints import SelfRun, check_resume, fingerprint, read_self_checkpoint
from .self_adapt_checkpoints import checked_folder as _checked_folder
from .self_adapt_loss import CONTEXT as CONTEXT
from .self_adapt_loss import VAL_ROWS as VAL_ROWS
from .self_adapt_loss import Window as _Window
from .self_adapt_loss import blur_valid
from .self_adapt_loss import loss_maps as _loss_maps
from .self_adapt_loss import stop_check as _stop_check
from .self_adapt_loss import total_loss as _total
from .self_adapt_loss import window as _window
from .self_adapt_planes import Plane as _Plane
from .self_adapt_planes import crop_side as _crop_side
from .self_adapt_planes import make_plane as _plane
from .self_adapt_planes import training_batch as _batch
from .shown import shown_path
from .total_check import unsaid
from .training import FitProgress

__all__ = ["DEFAULT_MINUTES", "SelfAdaptConfig", "SelfAdaptResult", "estimate_noise", "blur_valid",
           "interrupted_card", "iter_self_adapt", "self_adapt"]

DEFAULT_MINUTES = SELF_ADAPT_MINUTES
VAL_PLANES = 4  # planes whose strip is scored
#: A PSF-aware network adapts to an RGB image's luminance and chroma planes, what it runs on
#: (``psf_aware.OPPONENT``); False: to its R, G and B planes (benchmarks/self_adapt_recipes.py
#: compares the two).
OPPONENT_PLANES = True
#: A blind network adapted on an RGB image is pulled toward the PSF-aware default's result as
#: that method gives it (luminance and chroma, ``psf_aware.OPPONENT``); False: channel by
#: channel (benchmarks/self_adapt_recipes.py, recipe prior_rgb_channelwise).
PRIOR_RGB_OPPONENT = True
PRIOR_SOURCES = ("auto", "start", "psf_aware")
#: the share a held-out loss must beat the start's by to replace it; 0: any gain (benchmarks/
#: finetune.py part b gained +0.74 to +2.61 dB where that loss fell only 0.1-0.8 %: it is
#: mostly the noise's, so a 1 % floor would have kept the start there)
MIN_GAIN = 0.0


@dataclass(frozen=True)
class SelfAdaptConfig:
    """The settings of a self-supervised adaptation; ``check()`` names a bad one. The defaults
    are those of `microdeblur finetune --self`."""

    minutes: float = DEFAULT_MINUTES
    max_steps: int = SELF_ADAPT_MAX_STEPS  # the time box ends a run (core.job_defaults)
    patch: int = 64  # side of the scored part of a patch; the crop adds the PSF's reach
    batch_size: int = 8
    lr: float = SELF_ADAPT_LR
    alpha: float = 0.5  # re-corruption strength (input noise x (1 + alpha^2))
    prior_weight: float = 0.02
    #: whose output the prior pulls toward: 'auto' (a blind network: the PSF-aware default given
    #: the PSF; a PSF-aware one: itself), 'start' (the unadapted network), 'psf_aware'
    prior_from: str = "auto"
    hessian_weight: float = 0.0
    val_fraction: float = 0.2
    validations: int = 8  # validations spread over the time box (plus the start)
    min_gain: float = MIN_GAIN  # the start is replaced only by a held-out loss this much lower
    device: str = "auto"
    seed: int = 0

    def check(self) -> SelfAdaptConfig:
        for name, zero_allowed in (("minutes", False), ("lr", False), ("alpha", False),
                                   ("prior_weight", True), ("hessian_weight", True),
                                   ("min_gain", True)):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value)
                    and (value >= 0 if zero_allowed else value > 0)):
                bound = ">= 0" if zero_allowed else "above 0"
                raise ValueError(f"{name}={value!r}; accepted: a number {bound}")
        for name, low in (("max_steps", 1), ("patch", 8), ("batch_size", 1),
                          ("validations", 1), ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name}={value!r}; accepted: an integer >= {low}")
        if self.prior_from not in PRIOR_SOURCES:
            raise ValueError(f"prior_from={self.prior_from!r}; accepted: "
                             + ", ".join(PRIOR_SOURCES))
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction={self.val_fraction!r}; accepted: strictly between "
                             "0 and 1 (the share of columns held out, e.g. 0.2)")
        resolve_device(self.device)
        return self


@dataclass
class SelfAdaptResult:
    """The adapted network (the best weights loaded, eval mode) and how it got there.

    ``improved`` is False when no validation scored ``min_gain`` below the start (``model``
    then holds the starting weights); ``stopped``: time_limit, max_steps, stopped, diverged."""

    model: nn.Module = field(repr=False)  # out of a notebook's repr, as the history
    improved: bool
    start_val_loss: float
    best_val_loss: float
    best_step: int
    steps_done: int
    seconds: float
    stopped: str
    history: list[dict] = field(repr=False)
    notes: list[str]
    noise: list[tuple[float, float]]  # (gain, variance) of var = gain * signal + variance
    config: SelfAdaptConfig = field(default_factory=SelfAdaptConfig)
    #: a PSF-aware model's correction at frequencies the PSF blocks over the input's there, on
    #: the held-out columns (``psf_safeguard``: the tile limit of these weights); None otherwise
    blocked_correction_ratio: float | None = None
    #: the PSF the job used, in words (for 'estimate': the estimated PSF)
    psf_text: str = ""
    #: whose output the prior pulled toward, in words
    prior_text: str = ""

    @property
    def summary(self) -> str:
        """One paragraph for the user, as ``FinetuneResult.summary`` is: how the run ended, the
        held-out loss from the start to the weights kept, the PSF and the prior."""
        how = {"time_limit": "time limit reached", "max_steps": "step limit reached"}.get(
            self.stopped, self.stopped)
        diverged = [n for n in self.notes if n.startswith("the loss became")]
        by = f" by {self.config.min_gain:.1%}" if self.config.min_gain else ""
        kept = (f"held-out data-consistency loss {self.start_val_loss:.3f} -> "
                f"{self.best_val_loss:.3f} (kept step {self.best_step})" if self.improved else
                f"no step beat the starting weights{by} on the held-out columns (loss "
                f"{self.start_val_loss:.3f}): the starting weights are returned")
        ratio = (None if self.blocked_correction_ratio is None else "correction at "
                 f"frequencies the PSF blocks: {self.blocked_correction_ratio:.2f}x the input's "
                 "there (held-out columns)")
        parts = (f"adapted without a reference for {self.steps_done} steps "
                 f"({self.seconds / 60:.1f} min, {how})", *diverged, kept,
                 self.psf_text and f"PSF {self.psf_text}",
                 self.prior_text and f"prior: {self.prior_text}", ratio)
        return "; ".join(p for p in parts if p)

    def card(self, base_card=None, *, base_label: str = "", what: str = "",
             psf_text: str = "", license: str | None = None) -> dict:
        """The model-card fields of the adapted weights (``checkpoint.save_weights``); ``psf_text``
        as given ('estimate': what was estimated); ``license``: the image's (None: not stated)."""
        from .psf_safeguard import TRAINED_WIDTH_KEY, trained_half_max_width

        base = base_card
        if not psf_text or is_estimate(psf_text):
            psf_text = self.psf_text
        # a PSF-aware network still knows the PSFs its start was trained on (the safeguard)
        psf_aware = ({} if self.blocked_correction_ratio is None else
                     {"blocked_correction_ratio": self.blocked_correction_ratio,
                      TRAINED_WIDTH_KEY: round(trained_half_max_width(base), 2)})
        return {
            "training_data": f"{base_label} ({getattr(base, 'training_data', '')}) adapted "
                             f"self-supervised to {what}",
            "degradation": f"the blur of the PSF {psf_text} and the images' own noise",
            "license": finetuned_license(base, license),  # the start's AND the image's
            "normalization": dict(getattr(base, "normalization", None) or {}),
            "metrics": {"self_val_loss_start": self.start_val_loss,
                        "self_val_loss": self.best_val_loss, "best_step": self.best_step,
                        **psf_aware},
            "description": f"{base_label} adapted without a reference (microdeblur finetune "
                           f"--self) for {self.steps_done} steps, {self.seconds / 60:.1f} min; "
                           f"prior: {self.prior_text}",
        }


def interrupted_card(model: nn.Module, base_card, base_label: str, license=None, *,
                     stopped: str = "") -> dict:
    """The model-card fields of weights whose adaptation was interrupted (no result): the base
    card's normalisation (the weights run in its units), the licence as ``card`` gives it and,
    PSF-aware, the width of the PSFs its start was trained on (the safeguard's limit).
    ``stopped``: where it stopped ('interrupted (Ctrl-C) at step 3 of 40'), in the description
    and ``metrics['stopped']`` as a stopped paired run's card says it (cli_runs.mark_stopped)."""
    from .psf_safeguard import TRAINED_WIDTH_KEY, trained_half_max_width

    metrics = ({TRAINED_WIDTH_KEY: round(trained_half_max_width(base_card), 2)}
               if getattr(model, "needs_psf", False) else {})
    return {"description": f"{base_label} adapted without a reference, interrupted"
                           + (f"; {stopped}" if stopped else ""),
            "training_data": f"{base_label} ({getattr(base_card, 'training_data', '')}) "
                             "adapted self-supervised, interrupted",
            "license": finetuned_license(base_card, license),
            "normalization": dict(getattr(base_card, "normalization", None) or {}),
            "metrics": {**metrics, **({"stopped": stopped} if stopped else {})}}


# ----------------------------------------------------------------------------- the planes


class _RawPlane(NamedTuple):
    """A plane of image number ``image`` in model units (C, H, W); ``chroma``: an RGB image's
    chroma plane (psf_aware.OPPONENT_PARTS[1:])."""
    name: str
    y: np.ndarray
    image: int
    chroma: bool = False


def _planes_of(images, axes, model: nn.Module, card) -> list[_RawPlane]:
    """Every plane of every image in model units, (C, H, W), C the network's channels."""
    if isinstance(images, np.ndarray) or not isinstance(images, Sequence):
        images = [images]
    if not images:
        raise ValueError("no images given; accepted: one or more blurry images")
    axes_list = list(axes) if isinstance(axes, (list, tuple)) else [axes] * len(images)
    if len(axes_list) != len(images):
        raise ValueError(f"{len(axes_list)} axes strings for {len(images)} images; accepted: "
                         "one per image, or one string for all")
    channels = int(getattr(model, "in_channels", 1))
    planes = []
    for i, (image, ax) in enumerate(zip(images, axes_list)):
        image = np.asarray(image)
        if image.dtype.kind not in "uif":
            raise TypeError(f"image {i} has dtype {image.dtype}; accepted: real intensities")
        ax = check_axes(ax, image.shape)
        n = _normalization(image, ax, card)
        stack, _, plane_axes = stack_planes(n.apply(image), ax)
        if len(plane_axes) == 2:
            stack = stack[:, None]
        # a flat plane has nothing to adapt to: its held-out loss would still "improve"
        flat = [k for k, p in enumerate(stack) if float(p.max()) == float(p.min())]
        if flat:
            raise ValueError(f"image {i} plane {flat[0]} is constant (every pixel the same); "
                             "accepted: an image with structure to adapt to")
        if OPPONENT_PLANES and getattr(model, "needs_psf", False) and is_rgb(ax, image.shape):
            # a PSF-aware network runs RGB as luminance and chroma (psf_aware.to_opponent):
            # it adapts to the planes it will be given
            stack = to_opponent(torch.from_numpy(np.ascontiguousarray(stack))).numpy()
            planes += [_RawPlane(f"image {i} plane {k} {part}", p[None], i,
                                 chroma=part != OPPONENT_PARTS[0])
                       for k, opp in enumerate(stack) for part, p in zip(OPPONENT_PARTS, opp)]
            continue
        if stack.shape[1] != channels:
            if channels != 1:
                raise ValueError(f"image {i} has {stack.shape[1]} channel(s) per plane but the "
                                 f"network takes {channels}; accepted: {channels}-channel images")
            stack = stack.reshape(-1, 1, *stack.shape[-2:])  # every channel a plane of its own
        planes += [_RawPlane(f"image {i} plane {k}", p, i) for k, p in enumerate(stack)]
    return planes


def _normalization(image: np.ndarray, axes: str, card) -> Normalization:
    """The normalisation of the base weights' card (percentile 0.1-99.9 without one)."""
    norm = {"kind": "percentile", "low": 0.1, "high": 99.9}
    norm.update(getattr(card, "normalization", None) or {})
    return compute_normalization(image, axes, norm["kind"], norm["low"], norm["high"])


def _first_estimation_plane(images, axes, card) -> np.ndarray:
    """The plane 'estimate' reads the PSF from, in model units: the first image's, as deblur
    --psf estimate picks it (``psf_estimate.estimation_plane``: the middle of every loop axis,
    channels averaged, alpha left out). The middle of the flattened plane list was the top
    plane of a time point for TZYX with an even T, and one channel of a CZYX image."""
    single = isinstance(images, np.ndarray) or not isinstance(images, Sequence)
    first = np.asarray(images if single else images[0])
    ax = check_axes(axes[0] if isinstance(axes, (list, tuple)) else axes, first.shape)
    plane = estimation_plane(colour_part(first, ax), ax)
    return _normalization(first, ax, card).apply(plane)


def _prior_model(model: nn.Module, prior_from: str) -> tuple[nn.Module, str]:
    """The network whose output the prior pulls toward, and its description."""
    psf_aware = getattr(model, "needs_psf", False)
    if prior_from == "start" or (prior_from == "auto" and psf_aware):
        return model, "the unadapted network's output"
    teacher, _ = load_model(DEFAULT_PSF_AWARE)
    return teacher, f"the output of {DEFAULT_PSF_AWARE} given the PSF"


def _prior_output(model: nn.Module, y: np.ndarray, kernel: np.ndarray, device) -> np.ndarray:
    """The unadapted network's output on a (C, H, W) plane in model units (tiled, float32)."""
    if getattr(model, "needs_psf", False):
        method = psf_aware_method(model, kernel, precision="float32",
                                  rgb=PRIOR_RGB_OPPONENT and y.shape[0] == 3)
    else:
        method = network_method(model, precision="float32")
    image, axes = (y[0], "YX") if y.shape[0] == 1 else (np.moveaxis(y, 0, -1), "YXS")
    with unsaid():  # a look at the start, not the user's result: no note on its total
        out = deblur(image, method=method, axes=axes, device=str(device),
                     normalization=Normalization(0.0, 1.0, kind="none"))
    return (out[None] if y.shape[0] == 1 else np.moveaxis(out, -1, 0)).astype(np.float32)


@torch.no_grad()
def _validate(model: nn.Module, windows: list[_Window], kernel: torch.Tensor,
              cfg: SelfAdaptConfig) -> float:
    model.eval()
    losses = [float(_total(_loss_maps(model, w.y, w.var, w.prior, kernel, w.z, cfg), cfg,
                           w.first_column)[0]) for w in windows]
    model.train()
    return float(np.mean(losses))


# ----------------------------------------------------------------------------- the job


def iter_self_adapt(model: nn.Module, images, psf, *, axes=None, config: SelfAdaptConfig |
                    None = None, card=None, stop=None, checkpoint_dir=None, resume: bool = False,
                    checkpoint_card: Mapping[str, Any] | None = None
                    ) -> Generator[Any, None, SelfAdaptResult]:
    """Adapt ``model`` in place to ``images`` (an array or a list; ``axes`` one string or one
    per image, guessed when None) blurred by ``psf`` (a TIFF path, a model such as
    'gaussian:1.6' or 'widefield:...', an array, or 'estimate': estimated from the middle
    plane of the first image, ``core.psf_estimate``). ``card``: the base weights' model card
    (its normalisation is used). ``checkpoint_dir``: a folder that keeps the run's
    ``best.safetensors`` and ``last.pt`` (a new or empty one, made if missing); ``resume``:
    continue the run kept there (``model`` given its starting weights again; the steps already
    run count against ``max_steps``, and ``minutes`` bounds this session, as a resumed paired
    fine-tuning's does).
    ``checkpoint_card``: keywords of ``SelfAdaptResult.card`` for best.safetensors'
    card (base_label, what, psf_text, license). Everything is checked here, before any work;
    see the module docstring for what the job does."""
    cfg = (config or SelfAdaptConfig()).check()
    if not isinstance(model, nn.Module):
        raise TypeError(f"model is a {type(model).__name__}; accepted: a torch network")
    should_stop = _stop_check(stop)
    folder = _checked_folder(checkpoint_dir, resume)
    saved = read_self_checkpoint(folder) if resume else None
    raw = _planes_of(images, axes, model, card)
    if is_estimate(psf):  # one PSF for all, from the middle plane of the first image
        estimated = estimate_psf(_first_estimation_plane(images, axes, card))
        kernel, psf_text = estimated.kernel, f"{estimated.spec} (estimated from image 0)"
    else:
        kernel, psf_text = plane_kernel(psf)
    divisor = int(getattr(model, "size_divisor", 1))
    smallest = min((p.y.shape[-2:] for p in raw), key=lambda s: s[0] * s[1])
    kernel, psf_note = fit_psf_to_image(kernel, tuple(int(n) for n in smallest))
    planes = [_plane(p.name, p.y, kernel.shape, cfg, divisor) for p in raw]
    run = _self_run(model, images, len(raw), kernel, psf_text, cfg, folder, saved,
                    dict(checkpoint_card or {}), card)
    notes = [psf_note] if psf_note else []
    if not any(p.strip_has_structure for p in planes):  # the check would score background
        held = planes[0].y.shape[-1] - planes[0].val_start
        notes.append(f"the held-out columns (the right {held} px) show almost none of the "
                     "image's structures, so the held-out check scores background only: crop "
                     "or flip the image so that structures reach its right edge")
    return _iter_job(run, planes, kernel, psf_text, should_stop, notes, saved)


def _self_run(model, images, planes: int, kernel, psf_text: str, cfg: SelfAdaptConfig,
              folder, saved: dict | None, card_fields: dict, base_card) -> SelfRun:
    """The run's state, its folder and what it adapts (checked against ``saved``, the last.pt
    a resume continues: before any work)."""
    unknown = sorted(set(card_fields) - {"base_label", "what", "psf_text", "license"})
    if unknown:
        raise TypeError(f"checkpoint_card has {', '.join(map(repr, unknown))}; accepted: "
                        "base_label, what, psf_text and license (of SelfAdaptResult.card)")
    fields = {"base_label": str(getattr(model, "arch_name", "") or "the network"),
              "what": "the images given", "psf_text": psf_text, **card_fields}
    now = {} if folder is None else fingerprint(
        model, [images] if isinstance(images, np.ndarray) or not isinstance(images, Sequence)
        else list(images), planes, kernel, psf_text, cfg, str(card_fields.get("base_label", "")))
    if saved is not None:
        check_resume(saved, now, cfg, shown_path(folder / "last.pt"))
    return SelfRun(model, np.random.default_rng(cfg.seed), torch.Generator().manual_seed(cfg.seed),
                   cfg, folder, now,
                   card=lambda r: _checkpoint_card(r, base_card, fields, psf_text))


def _checkpoint_card(run: SelfRun, base_card, fields: dict, psf_text: str) -> dict:
    """The model card of a checkpoint's best weights, as the result's (``SelfAdaptResult.card``;
    ``psf_text``: the job's, what 'estimate' estimated) with the PSF-aware safeguard's trained
    width (``interrupted_card``)."""
    best = run.best
    result = SelfAdaptResult(
        model=run.model, improved=best["step"] > 0, start_val_loss=run.start,
        best_val_loss=best["loss"], best_step=best["step"], steps_done=run.step,
        seconds=run.elapsed(), stopped=run.stopped, history=run.history, notes=[], noise=[],
        config=run.cfg, prior_text=run.prior_text, psf_text=psf_text)
    card = result.card(base_card, **fields)
    extra = interrupted_card(run.model, base_card, fields["base_label"])["metrics"]
    card["metrics"].update(extra)
    return card


def _iter_job(run: SelfRun, planes: list[_Plane], kernel_np: np.ndarray, psf_text: str,
              should_stop, notes: list[str], saved: dict | None):
    model, cfg = run.model, run.cfg
    budget = cfg.minutes * 60  # of this session; a resumed run's clock goes on from its last.pt
    device = resolve_device(cfg.device)
    prior_model, prior_text = _prior_model(model, cfg.prior_from)
    for p in planes:  # from the starting weights, a resumed run's too
        p.prior = _prior_output(prior_model, p.y, kernel_np, device)
    notes.append(f"prior: {prior_text}")
    fast_layout(model, device).train()
    run.optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad],
                                     lr=cfg.lr)
    kernel = torch.from_numpy(kernel_np).to(device)
    val_planes = planes[:: max(1, math.ceil(len(planes) / VAL_PLANES))]
    windows = [_window(p, kernel.shape, cfg.seed + 7919 * (i + 1), device)
               for i, p in enumerate(val_planes)]
    noise = [n for p in planes for n in p.noise]
    run.prior_text = prior_text
    _begin(run, windows, kernel, saved, notes, budget)
    limit = run.elapsed() + budget if saved is not None else budget
    side = _crop_side(cfg.patch, kernel.shape, int(getattr(model, "size_divisor", 1)))
    facts = (("planes", len(planes)), ("psf", psf_text),
             ("held_out_columns", [p.y.shape[-1] - p.val_start for p in planes]),
             ("noise", noise), ("start_val_loss", run.start))
    try:  # closed at the notes, a resumed run too goes back to its best weights
        yield Notes(tuple(notes), facts)
        while run.step < cfg.max_steps:
            elapsed = run.elapsed()
            if should_stop():
                run.stopped = "stopped"
                break
            if elapsed + run.step_seconds + run.val_seconds >= limit:  # a step would overrun
                run.stopped = "time_limit"
                break
            run.at_rest = False
            (y, var, prior), turned = _batch(planes, run.rng, cfg, side, kernel, device)
            z = torch.randn(y.shape, generator=run.generator).to(device)
            loss, terms = _total(_loss_maps(model, y, var, prior, turned, z, cfg), cfg)
            if not torch.isfinite(loss):
                run.stopped, run.at_rest = "diverged", True
                notes.append(f"the loss became {float(loss.detach())} at step {run.step + 1}: "
                             "stopped; the best weights so far are kept (try a lower learning "
                             "rate)")
                break
            run.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            run.optimizer.step()
            run.step, run.at_rest = run.step + 1, True
            run.step_seconds = run.elapsed() - elapsed
            validated = run.elapsed() >= run.next_val
            if validated:
                _record_validation(run, windows, kernel, budget)
            yield FitProgress(step=run.step, steps=_steps_estimate(run.step, run.elapsed(), limit,
                                                                   cfg),
                              loss=float(loss.detach()), lr=cfg.lr, val_psnr=None, val_ssim=None,
                              val_loss=run.latest, seconds_left=max(0.0, limit - run.elapsed()),
                              losses=terms, validated=validated)
        if run.step > run.last_val_step and run.stopped != "diverged":
            _record_validation(run, windows, kernel, budget)
    except GeneratorExit:  # closed by its driver (Ctrl-C, Stop): last.pt says so
        run.stopped = "stopped"
        raise
    finally:  # closed or crashed: the model holds the best weights (and, between steps, saved)
        try:
            run.save()
        finally:
            model.load_state_dict(run.best["state"])
            model.eval()
    return _result(run, windows, kernel, psf_text, prior_text, notes, noise)


def _begin(run: SelfRun, windows, kernel, saved: dict | None, notes: list[str],
           budget: float) -> None:
    """A fresh run validates the start (kept as the best so far, saved); a resumed one takes
    up its last.pt (the best so far, the optimiser, the random draws, the clock)."""
    if saved is not None:
        run.restore(saved)
        best = run.best
        notes.append(f"resuming from step {run.step} ({run.elapsed() / 60:.1f} min so far) of "
                     f"{shown_path(run.folder / 'last.pt')}; best so far: held-out loss "
                     f"{best['loss']:.4f}, " + ("the starting weights" if best["step"] == 0
                                                 else f"step {best['step']}"))
        return
    run.start = run.latest = _validate(run.model, windows, kernel, run.cfg)  # the curve's start
    run.keep_best()
    run.history = [{"step": 0, "val_loss": run.start, "seconds": run.elapsed()}]
    run.val_seconds = run.history[0]["seconds"]
    run.next_val = run.elapsed() + budget / run.cfg.validations
    run.save()


def _result(run: SelfRun, windows, kernel, psf_text: str, prior_text: str, notes: list[str],
            noise: list) -> SelfAdaptResult:
    model, cfg, best = run.model, run.cfg, run.best
    improved = best["step"] > 0
    if not improved:
        notes.append(f"no validation scored{f' {cfg.min_gain:.1%}' if cfg.min_gain else ''} "
                     f"below the start ({run.start:.4f}): the starting weights are returned")
    ratio = (held_out_ratio(model, [y for w in windows for y in w.y.split(1, dim=1)], kernel)
             if getattr(model, "needs_psf", False) else None)  # the safeguard's limit
    return SelfAdaptResult(model=model, improved=improved, start_val_loss=run.start,
                           best_val_loss=best["loss"], best_step=best["step"],
                           steps_done=run.step, seconds=run.elapsed(), stopped=run.stopped,
                           history=run.history, notes=notes, noise=noise, config=cfg,
                           blocked_correction_ratio=ratio, psf_text=psf_text,
                           prior_text=prior_text)


def _record_validation(run: SelfRun, windows, kernel, budget: float) -> None:
    """Validate, keep the weights when they beat the best so far, and save the checkpoint;
    the next check comes a ``cfg.validations``-th of the session's ``budget`` (s) later."""
    t = time.perf_counter()
    run.latest = loss = _validate(run.model, windows, kernel, run.cfg)
    # the start is replaced by a gain of min_gain (its share), a later best by any gain
    best = run.best
    if loss < best["loss"] * (1 - run.cfg.min_gain if best["step"] == 0 else 1):
        run.keep_best()
    run.history.append({"step": run.step, "val_loss": loss, "seconds": run.elapsed()})
    run.val_seconds = time.perf_counter() - t
    run.last_val_step, run.next_val = run.step, run.elapsed() + budget / run.cfg.validations
    run.save()


def _steps_estimate(step: int, elapsed: float, limit: float, cfg: SelfAdaptConfig) -> int:
    """Steps the run will have taken at its time limit, at the pace so far."""
    return min(cfg.max_steps, max(step, int(step * limit / max(elapsed, 1e-9))))


def self_adapt(model: nn.Module, images, psf, *, axes=None,
               config: SelfAdaptConfig | None = None, card=None, stop=None, callback=None,
               checkpoint_dir=None, resume: bool = False, checkpoint_card=None,
               **fields) -> SelfAdaptResult:
    """Blocking twin of ``iter_self_adapt``: records go to ``callback``. ``fields`` are
    ``SelfAdaptConfig`` fields (``minutes=0.5, max_steps=200, device='cpu'`` ...), taken over
    ``config`` (None: the defaults, those of `microdeblur finetune --self`); another keyword
    is refused in one line."""
    known = SelfAdaptConfig.__dataclass_fields__
    unknown = [k for k in fields if k not in known]
    if unknown:
        raise TypeError(f"self_adapt() got {', '.join(map(repr, unknown))}; accepted: "
                        "axes, config, card, stop, callback, checkpoint_dir, resume, "
                        f"checkpoint_card and {', '.join(known)}")
    config = replace(config or SelfAdaptConfig(), **fields)
    return drive(iter_self_adapt(model, images, psf, axes=axes, config=config, card=card,
                                 stop=stop, checkpoint_dir=checkpoint_dir, resume=resume,
                                 checkpoint_card=checkpoint_card), callback)
