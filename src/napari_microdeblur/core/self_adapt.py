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
``core.self_adapt_planes``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
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
from .self_adapt_planes import GUARD, margins
from .self_adapt_planes import Plane as _Plane
from .self_adapt_planes import crop_side as _crop_side
from .self_adapt_planes import make_plane as _plane
from .self_adapt_planes import training_batch as _batch
from .training import FitProgress

__all__ = ["DEFAULT_MINUTES", "SelfAdaptConfig", "SelfAdaptResult", "estimate_noise", "blur_valid",
           "interrupted_card", "iter_self_adapt", "self_adapt"]

DEFAULT_MINUTES = SELF_ADAPT_MINUTES
VAL_ROWS = 256  # rows of the held-out strip that are scored (the centre ones): bounds its cost
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

    model: nn.Module
    improved: bool
    start_val_loss: float
    best_val_loss: float
    best_step: int
    steps_done: int
    seconds: float
    stopped: str
    history: list[dict]
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


def interrupted_card(model: nn.Module, base_card, base_label: str, license=None) -> dict:
    """The model-card fields of weights whose adaptation was interrupted (no result): the base
    card's normalisation (the weights run in its units), the licence as ``card`` gives it and,
    PSF-aware, the width of the PSFs its start was trained on (the safeguard's limit)."""
    from .psf_safeguard import TRAINED_WIDTH_KEY, trained_half_max_width

    metrics = ({TRAINED_WIDTH_KEY: round(trained_half_max_width(base_card), 2)}
               if getattr(model, "needs_psf", False) else {})
    return {"description": f"{base_label} adapted without a reference, interrupted",
            "training_data": f"{base_label} ({getattr(base_card, 'training_data', '')}) "
                             "adapted self-supervised, interrupted",
            "license": finetuned_license(base_card, license),
            "normalization": dict(getattr(base_card, "normalization", None) or {}),
            "metrics": metrics}


# ----------------------------------------------------------------------------- pieces


def blur_valid(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) blurred by a 2D PSF (centre at k // 2, as everywhere in the package) where
    the whole PSF lies inside: (N, C, H - ky + 1, W - kx + 1), aligned with the pixels
    ``margins(kernel)`` in from each edge."""
    n, c, h, w = x.shape
    weight = kernel.flip(-2, -1)[None, None].to(x)
    return F.conv2d(x.reshape(n * c, 1, h, w), weight).reshape(n, c, h - kernel.shape[0] + 1,
                                                                w - kernel.shape[1] + 1)


def _run_model(model: nn.Module, x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """The network on (N, C, H, W), padded to its size divisor (edge values) and cropped back."""
    d = int(getattr(model, "size_divisor", 1))
    h, w = x.shape[-2:]
    ph, pw = (-h) % d, (-w) % d
    padded = F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
    out = model(padded, kernel) if getattr(model, "needs_psf", False) else model(padded)
    return out[..., :h, :w]


def _hessian(u: torch.Tensor) -> torch.Tensor:
    """|u_yy| + |u_xx| + 2 |u_xy| on the pixels where all three exist."""
    yy = (u[..., 2:, 1:-1] - 2 * u[..., 1:-1, 1:-1] + u[..., :-2, 1:-1]).abs()
    xx = (u[..., 1:-1, 2:] - 2 * u[..., 1:-1, 1:-1] + u[..., 1:-1, :-2]).abs()
    xy = (u[..., 2:, 2:] - u[..., 2:, 1:-1] - u[..., 1:-1, 2:] + u[..., 1:-1, 1:-1]).abs()
    return yy + xx + 2 * xy


def _loss_maps(model: nn.Module, y: torch.Tensor, var: torch.Tensor, prior: torch.Tensor,
               kernel: torch.Tensor, z: torch.Tensor, cfg: SelfAdaptConfig) -> dict:
    """Per-pixel loss terms (see the module docstring), each with the column of the crop its
    first column is: data consistency on the pixels whose blur lies inside the crop less a
    GUARD band (else the output's edge would absorb the blur of what lies outside the crop),
    the prior on every pixel (the guard band has no other term), the Hessian where it
    exists. ``z``: standard normal draws of the crop's shape."""
    sigma = var.sqrt()
    out = _run_model(model, y + cfg.alpha * sigma * z, kernel)
    target = y - sigma * z / cfg.alpha
    (by, ay), (bx, ax) = margins(kernel.shape)
    h, w, g = *y.shape[-2:], GUARD
    inner = (Ellipsis, slice(by + g, h - ay - g), slice(bx + g, w - ax - g))
    target_var = var[inner] * (1 + 1 / cfg.alpha**2)
    blurred = blur_valid(out[..., g : h - g, g : w - g], kernel)
    maps = {"consistency": ((blurred - target[inner]) ** 2 / target_var, bx + g)}
    if cfg.prior_weight:
        maps["prior"] = ((out - prior) ** 2 / var, 0)
    if cfg.hessian_weight:
        maps["hessian"] = (_hessian(out) / sigma[..., 1:-1, 1:-1], 1)
    return maps


def _total(maps: dict, cfg: SelfAdaptConfig, first_column: int | None = None):
    """The weighted loss (over the crop's columns from ``first_column`` on, when given) and
    its terms."""
    terms = {name: (m if first_column is None else m[..., max(0, first_column - at):]).mean()
             for name, (m, at) in maps.items()}
    weights = {"consistency": 1.0, "prior": cfg.prior_weight, "hessian": cfg.hessian_weight}
    total = sum(weights[name] * value for name, value in terms.items())
    return total, {name: float(value.detach()) for name, value in terms.items()}


def _stop_check(stop) -> Callable[[], bool]:
    if stop is None:
        return lambda: False
    if hasattr(stop, "is_set"):
        return stop.is_set
    if callable(stop):
        return stop
    raise TypeError(f"stop is a {type(stop).__name__}; accepted: None, a threading.Event or a "
                    "callable returning True to stop")


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
    out = deblur(image, method=method, axes=axes, device=str(device),
                 normalization=Normalization(0.0, 1.0, kind="none"))
    return (out[None] if y.shape[0] == 1 else np.moveaxis(out, -1, 0)).astype(np.float32)


@dataclass
class _Window:
    """The held-out strip of one plane (rows cut to VAL_ROWS) with the context left of it,
    as tensors (1, C, h, w), fixed noise draws, and its first scored column."""

    y: torch.Tensor
    var: torch.Tensor
    prior: torch.Tensor
    z: torch.Tensor
    first_column: int


CONTEXT = 16  # columns of network context left of the held-out strip (never scored)


def _window(plane: _Plane, kernel_shape, seed: int, device) -> _Window:
    (by, ay), (bx, _) = margins(kernel_shape)
    h = plane.y.shape[-2]
    rows = min(h, VAL_ROWS + by + ay + 2 * GUARD)
    r0 = (h - rows) // 2
    c0 = max(0, plane.val_start - bx - GUARD - CONTEXT)
    cut = (slice(None), slice(r0, r0 + rows), slice(c0, None))

    def tensor(a):
        return torch.from_numpy(np.ascontiguousarray(a[cut]))[None].to(device)

    y = tensor(plane.y)
    z = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed)).to(device)
    return _Window(y, tensor(plane.var), tensor(plane.prior), z, plane.val_start - c0)


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
                    None = None, card=None, stop=None
                    ) -> Generator[Any, None, SelfAdaptResult]:
    """Adapt ``model`` in place to ``images`` (an array or a list; ``axes`` one string or one
    per image, guessed when None) blurred by ``psf`` (a TIFF path, a model such as
    'gaussian:1.6' or 'widefield:...', an array, or 'estimate': estimated from the middle
    plane of the first image, ``core.psf_estimate``). ``card``: the base weights' model card
    (its normalisation is used). Everything is checked here, before any work; see the module
    docstring for what the job does."""
    cfg = (config or SelfAdaptConfig()).check()
    if not isinstance(model, nn.Module):
        raise TypeError(f"model is a {type(model).__name__}; accepted: a torch network")
    should_stop = _stop_check(stop)
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
    notes = [psf_note] if psf_note else []
    if not any(p.strip_has_structure for p in planes):  # the check would score background
        held = planes[0].y.shape[-1] - planes[0].val_start
        notes.append(f"the held-out columns (the right {held} px) show almost none of the "
                     "image's structures, so the held-out check scores background only: crop "
                     "or flip the image so that structures reach its right edge")
    return _iter_job(model, planes, kernel, psf_text, cfg, should_stop, notes)


def _iter_job(model, planes: list[_Plane], kernel_np: np.ndarray, psf_text: str,
              cfg: SelfAdaptConfig, should_stop, notes: list[str]):
    t0 = time.perf_counter()
    limit = cfg.minutes * 60
    device = resolve_device(cfg.device)
    prior_model, prior_text = _prior_model(model, cfg.prior_from)
    for p in planes:
        p.prior = _prior_output(prior_model, p.y, kernel_np, device)
    notes.append(f"prior: {prior_text}")
    fast_layout(model, device).train()
    kernel = torch.from_numpy(kernel_np).to(device)
    val_planes = planes[:: max(1, math.ceil(len(planes) / VAL_PLANES))]
    windows = [_window(p, kernel.shape, cfg.seed + 7919 * (i + 1), device)
               for i, p in enumerate(val_planes)]
    noise = [n for p in planes for n in p.noise]
    start = _validate(model, windows, kernel, cfg)  # in the Notes: the curve's first point
    yield Notes(tuple(notes), (("planes", len(planes)), ("psf", psf_text),
                               ("held_out_columns", [p.y.shape[-1] - p.val_start for p in planes]),
                               ("noise", noise), ("start_val_loss", start)))
    best = {"loss": start, "step": 0,
            "state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}
    history = [{"step": 0, "val_loss": start, "seconds": time.perf_counter() - t0}]
    val_seconds = history[0]["seconds"]
    interval = limit / cfg.validations
    next_val = time.perf_counter() - t0 + interval
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=cfg.lr)
    rng = np.random.default_rng(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    side = _crop_side(cfg.patch, kernel.shape, int(getattr(model, "size_divisor", 1)))
    step, stopped, last_val_step, latest, step_seconds = 0, "max_steps", 0, start, 0.0
    try:
        while step < cfg.max_steps:
            elapsed = time.perf_counter() - t0
            if should_stop():
                stopped = "stopped"
                break
            if elapsed + step_seconds + val_seconds >= limit:  # one more step would overrun
                stopped = "time_limit"
                break
            (y, var, prior), turned = _batch(planes, rng, cfg, side, kernel, device)
            z = torch.randn(y.shape, generator=generator).to(device)
            loss, terms = _total(_loss_maps(model, y, var, prior, turned, z, cfg), cfg)
            if not torch.isfinite(loss):
                stopped = "diverged"
                notes.append(f"the loss became {float(loss.detach())} at step {step + 1}: "
                             "stopped; the best weights so far are kept (try a lower learning "
                             "rate)")
                break
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            step_seconds = time.perf_counter() - t0 - elapsed
            validated = time.perf_counter() - t0 >= next_val
            if validated:
                latest, val_seconds = _record_validation(model, windows, kernel, cfg, step,
                                                         best, history, t0)
                last_val_step, next_val = step, time.perf_counter() - t0 + interval
            elapsed = time.perf_counter() - t0
            yield FitProgress(step=step, steps=_steps_estimate(step, elapsed, limit, cfg),
                              loss=float(loss.detach()), lr=cfg.lr, val_psnr=None, val_ssim=None,
                              val_loss=latest, seconds_left=max(0.0, limit - elapsed),
                              losses=terms, validated=validated)
        if step > last_val_step and stopped != "diverged":
            _record_validation(model, windows, kernel, cfg, step, best, history, t0)
    finally:  # closed or crashed: the model holds the best weights
        model.load_state_dict(best["state"])
        model.eval()
    improved = best["step"] > 0
    if not improved:
        notes.append(f"no validation scored{f' {cfg.min_gain:.1%}' if cfg.min_gain else ''} "
                     f"below the start ({start:.4f}): the starting weights are returned")
    ratio = (held_out_ratio(model, [y for w in windows for y in w.y.split(1, dim=1)], kernel)
             if getattr(model, "needs_psf", False) else None)  # the safeguard's limit
    return SelfAdaptResult(model=model, improved=improved, start_val_loss=start,
                           best_val_loss=best["loss"], best_step=best["step"], steps_done=step,
                           seconds=time.perf_counter() - t0, stopped=stopped, history=history,
                           notes=notes, noise=noise, config=cfg, blocked_correction_ratio=ratio,
                           psf_text=psf_text, prior_text=prior_text)


def _record_validation(model, windows, kernel, cfg, step: int, best: dict, history: list,
                       t0: float) -> tuple[float, float]:
    """Validate, keep the weights when they beat the best so far; (loss, seconds taken)."""
    t = time.perf_counter()
    loss = _validate(model, windows, kernel, cfg)
    # the start is replaced by a gain of min_gain (its share), a later best by any gain
    if loss < best["loss"] * (1 - cfg.min_gain if best["step"] == 0 else 1):
        best.update(loss=loss, step=step,
                    state={k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
    history.append({"step": step, "val_loss": loss, "seconds": time.perf_counter() - t0})
    return loss, time.perf_counter() - t


def _steps_estimate(step: int, elapsed: float, limit: float, cfg: SelfAdaptConfig) -> int:
    """Steps the run will have taken at its time limit, at the pace so far."""
    return min(cfg.max_steps, max(step, int(step * limit / max(elapsed, 1e-9))))


def self_adapt(model: nn.Module, images, psf, *, axes=None,
               config: SelfAdaptConfig | None = None, card=None, stop=None, callback=None,
               **fields) -> SelfAdaptResult:
    """Blocking twin of ``iter_self_adapt``: records go to ``callback``. ``fields`` are
    ``SelfAdaptConfig`` fields (``minutes=0.5, max_steps=200, device='cpu'`` ...), taken over
    ``config`` (None: the defaults, those of `microdeblur finetune --self`); another keyword
    is refused in one line."""
    known = SelfAdaptConfig.__dataclass_fields__
    unknown = [k for k in fields if k not in known]
    if unknown:
        raise TypeError(f"self_adapt() got {', '.join(map(repr, unknown))}; accepted: "
                        f"axes, config, card, stop, callback and {', '.join(known)}")
    config = replace(config or SelfAdaptConfig(), **fields)
    return drive(iter_self_adapt(model, images, psf, axes=axes, config=config, card=card,
                                 stop=stop), callback)
