"""Training and fine-tuning: ``iter_fit`` (a generator of progress records) and ``fit``.

::

    from napari_microdeblur.core import data, training
    from napari_microdeblur.core.registry import build_model

    model = build_model("gran", {"in_channels": 1, "out_channels": 1, "n_resblocks": 8})
    train = data.SyntheticData(train_images, "mix")
    val = data.SyntheticData(val_images, "mix").validation_pairs()
    gen = training.iter_fit(model, train, val, steps=5000, batch_size=16, patch=64, lr=2e-4,
                            checkpoint_dir="ckpt", checkpoint_every=500)
    for record in gen:          # FitProgress: step, loss, lr, val_psnr, val_ssim, seconds_left
        print(record)
    # or: result = training.fit(model, train, val, steps=...)   (the blocking twin)

``iter_fit`` checks every argument when it is called, before any training, and returns a
generator that yields a :class:`FitProgress` after every step (every step is a cancel point)
and *returns* a :class:`FitResult` (``StopIteration.value``; ``fit`` hands it back) holding the
best weights by validation PSNR. Closing the generator (cancel) or a crash keeps the best
checkpoint so far: with ``checkpoint_dir`` it is written in a ``finally`` as ``best.pt`` (state
dict + metrics) and, for registry-built models, ``best.safetensors`` with a model card. Every
``checkpoint_every`` steps (and on cancel) ``last.pt`` holds everything a resume needs: model,
optimisers, step, random generators, the best weights so far and the GAN history buffers;
``resume_from=`` continues from it, bit for bit on the same machine. All files are written to a
temporary name and renamed; they load with ``torch.load(..., weights_only=True)``.

Regimes (``regime=``), with the papers' losses:

* ``"supervised"``: ``loss="l1"`` | ``"mse"`` | ``"multiscale"`` (paper 001, eq. 5: the sum over
  levels of the per-level L1, which the paper's text prefers to the squared error; uses
  ``model.forward_pyramid`` and ``model.input_pyramid`` when the model has them, otherwise the
  output and target average-pooled 1x, 2x and 4x).
* ``"gran_gan"`` (paper 000): content loss plus the adversarial game of eq. 4 with the SRGAN
  discriminator (:class:`~napari_microdeblur.core.archs.gran.GRANDiscriminator`). Eq. 4 is a
  difference of raw scores, ``max_D D(y) - D(G(x))``, which has no bound without a Lipschitz
  constraint; we pass the same difference through a log-sigmoid (the relativistic GAN form):
  ``L_D = softplus(D(G(x)) - D(y))``, ``L_G,adv = softplus(D(y) - D(G(x)))``.
* ``"sgpn"`` (paper 004): G loss = L1 content + 0.1 LSGAN adversarial ``(D(T(G(z_s))) - 1)^2``
  + 0.01 unsupervised ``(D(T(G(z_s))) - D(T(G(z_u))))^2`` + 0.02 perceptual; D loss = 1/2
  ``(D(T(x)) - 1)^2`` + 1/2 ``D(T(G(z)))^2`` over the supervised and unsupervised outputs.
  ``T`` is differentiable augmentation (colour, translation, cutout; Zhao et al. 2020), and
  ``z_u`` are unpaired blurry images (``unpaired=``; by default drawn from the training inputs
  independently of their targets). D is the PatchGAN of
  :class:`~napari_microdeblur.core.archs.sgpn.PatchDiscriminator`.
* ``"psf_cyclegan"`` (paper 003): G_AB (``model``) and the PSF layer G_BA (``model.blur``)
  trained from unpaired blurry (A) and sharp (B) sets: LSGAN adversarial losses of both
  directions over three-scale PatchGANs, cycle consistency (lambda_1 = 3) and the L1 norm of
  the PSF (lambda_2 = 0.01; with the softmax-parametrised PSF layer it is identically 1, kept
  for fidelity and reported), discriminators fed from a history buffer of 50 generated images.
  Blurry images come from ``unpaired=`` (default: the training inputs), sharp ones from
  ``unpaired_sharp=`` (default: the training targets), each drawn independently.

The perceptual loss (VGG-19 features at conv3_3, as in paper 004; gran_gan and sgpn ask for it)
needs pretrained VGG-19 weights, which are not downloaded: pass ``vgg_weights=`` a local
torchvision-layout state dict (``.pth``/``.safetensors``, keys ``features.N.*``). Without it the
loss is skipped and the first record's ``message`` (and ``FitResult.notes``) says
"perceptual loss skipped: no VGG weights".

Devices: ``device="auto"`` picks CUDA, then MPS, then the CPU. ``amp="auto"`` trains CUDA in
mixed precision (bfloat16 where supported, else float16 with a GradScaler) and other devices in
float32; ``amp="bf16"`` also works on the CPU. Optimiser: Adam (betas 0.9, 0.999; eps 1e-8) as
in papers 000 and 003, with a linear warm-up and cosine decay to ``min_lr_ratio * lr``.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import data as data_mod
from .inference import resolve_device
from .metrics import psnr, ssim

__all__ = [
    "AMP_MODES",
    "CHECKPOINT_FORMAT",
    "DEFAULT_LOSS_WEIGHTS",
    "LOSSES",
    "REGIMES",
    "FitProgress",
    "FitResult",
    "VGGFeatures",
    "diff_augment",
    "fit",
    "iter_fit",
    "read_checkpoint_info",
]

REGIMES = ("supervised", "gran_gan", "sgpn", "psf_cyclegan")
LOSSES = ("l1", "mse", "multiscale")
AMP_MODES = ("auto", "off", "fp16", "bf16")
CHECKPOINT_FORMAT = "napari-microdeblur-training-checkpoint"
CHECKPOINT_VERSION = 1
SKIPPED_PERCEPTUAL = "perceptual loss skipped: no VGG weights"

#: Loss weights per regime (``loss_weights=`` overrides single entries).
DEFAULT_LOSS_WEIGHTS: dict[str, dict[str, float]] = {
    "supervised": {"content": 1.0, "perceptual": 0.0},
    # paper 000 gives no weights; SRGAN's 1e-3 adversarial weight, paper 004's 0.02 perceptual
    "gran_gan": {"content": 1.0, "adversarial": 1e-3, "perceptual": 0.02},
    # paper 004, Sec. 4.1: lambda_adv 0.1, lambda_us 0.01, lambda_p 0.02
    "sgpn": {"content": 1.0, "adversarial": 0.1, "unsupervised": 0.01, "perceptual": 0.02},
    # paper 003, Sec. 4: lambda_1 (cycle) 3, lambda_2 (PSF L1) 0.01
    "psf_cyclegan": {"adversarial": 1.0, "cycle": 3.0, "psf": 0.01},
}

_HISTORY_SIZE = 50  # paper 003: "a frame buffer containing 50 previously generated volumes"


# ----------------------------------------------------------------------------- records


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

    ``best_state`` is a CPU copy of the weights with the best validation PSNR (the last weights
    when there was no validation set), ``best_metrics`` their step and validation figures;
    ``baseline`` the figures of the input itself (no deblurring) on the same validation crops;
    ``history`` every validation; ``stopped`` is "completed" or "time_limit".
    """

    best_state: dict[str, torch.Tensor]
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

    def load_best(self, model: nn.Module) -> nn.Module:
        """Load the best weights into ``model`` (same architecture and config)."""
        model.load_state_dict(self.best_state)
        return model


# ----------------------------------------------------------------------------- losses


def _multiscale_l1(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    """Paper 001, eq. 5 with L1: sum over levels of the mean absolute error (coarse to fine)."""
    if hasattr(model, "forward_pyramid"):
        outs = model.forward_pyramid(x)
        if hasattr(model, "input_pyramid"):
            targets = model.input_pyramid(y)
        else:
            targets = [y]
            for _ in range(len(outs) - 1):
                targets.append(F.avg_pool2d(targets[-1], 2))
            targets = targets[::-1]
        loss = sum(F.l1_loss(o.float(), t.float()) for o, t in zip(outs, targets, strict=True))
        return loss, outs[-1]
    pred = model(x)
    loss = F.l1_loss(pred.float(), y.float())
    p, t = pred.float(), y.float()
    for _ in range(2):
        if min(p.shape[-2:]) < 8:
            break
        p, t = F.avg_pool2d(p, 2), F.avg_pool2d(t, 2)
        loss = loss + F.l1_loss(p, t)
    return loss, pred


def _content(model: nn.Module, x: torch.Tensor, y: torch.Tensor, kind: str):
    """(content loss, prediction) for loss kind l1 / mse / multiscale."""
    if kind == "multiscale":
        return _multiscale_l1(model, x, y)
    pred = model(x)
    if kind == "mse":
        return F.mse_loss(pred.float(), y.float()), pred
    return F.l1_loss(pred.float(), y.float()), pred


# torchvision's VGG-19 configuration up to conv3_3 (paper 004 takes its feature maps): layer
# indices match torchvision's ``features`` so its state dict loads; conv3_3 is index 14
_VGG19_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256]


class VGGFeatures(nn.Module):
    """VGG-19 feature extractor up to conv3_3, weights from a local file (never downloaded).

    ``weights_path``: a ``.safetensors`` or ``.pth``/``.pt`` state dict of torchvision's
    ``vgg19`` (``features.N.weight`` keys; a bare ``N.weight`` layout is accepted too), read
    with ``weights_only=True``. Input in [0, 1] (model units), gray repeated to RGB, ImageNet
    mean/std applied.
    """

    def __init__(self, weights_path: str | os.PathLike | None = None):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in _VGG19_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, int(v), 3, padding=1), nn.ReLU(inplace=False)]
                cin = int(v)
        layers.pop()  # end at conv3_3 itself, before its ReLU
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        if weights_path is not None:
            self.load_weights(weights_path)
        self.requires_grad_(False)
        self.eval()

    def load_weights(self, path: str | os.PathLike) -> None:
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"vgg_weights={str(path)!r} is not a file")
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(path))
        else:
            try:
                sd = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as exc:  # noqa: BLE001 - one clear message
                raise ValueError(
                    f"vgg_weights={str(path)!r} is not a readable state dict: {exc}"
                ) from None
            if isinstance(sd, Mapping) and "state_dict" in sd:
                sd = sd["state_dict"]
        if not isinstance(sd, Mapping):
            raise ValueError(f"vgg_weights={str(path)!r} holds no state dict")
        own = self.features.state_dict()
        picked = {}
        for key in own:
            for cand in (f"features.{key}", key):
                if cand in sd:
                    picked[key] = sd[cand]
                    break
        missing = sorted(set(own) - set(picked))
        if missing:
            raise ValueError(
                f"vgg_weights={str(path)!r} lacks VGG-19 layers {missing[:4]} (expected "
                "torchvision's vgg19 state dict, keys features.0.weight ...)"
            )
        bad = [k for k in own if tuple(picked[k].shape) != tuple(own[k].shape)]
        if bad:
            raise ValueError(f"vgg_weights={str(path)!r}: shapes do not fit VGG-19 at {bad[:3]}")
        self.features.load_state_dict(picked)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        elif x.shape[1] != 3:
            x = x.mean(1, keepdim=True).repeat(1, 3, 1, 1)
        return self.features((x - self.mean) / self.std)


def diff_augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Differentiable augmentation T of paper 004 (Zhao et al. 2020): colour, translation, cutout.

    Brightness (+U(-0.5, 0.5)), saturation (x U(0, 2), RGB only) and contrast (x U(0.5, 1.5));
    translation by up to 1/8 of the side with zero padding; one cutout of half the side. Random
    numbers come from ``generator`` (CPU), so runs repeat.
    """
    n, c, h, w = x.shape
    dev = x.device

    def rand(*shape):
        return torch.rand(*shape, generator=generator).to(dev, x.dtype)

    x = x + (rand(n, 1, 1, 1) - 0.5)
    if c == 3:
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (rand(n, 1, 1, 1) * 2) + mean
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    x = (x - mean) * (rand(n, 1, 1, 1) + 0.5) + mean
    # translation
    sy, sx = int(h * 0.125 + 0.5), int(w * 0.125 + 0.5)
    ty = torch.randint(-sy, sy + 1, (n, 1, 1), generator=generator).to(dev)
    tx = torch.randint(-sx, sx + 1, (n, 1, 1), generator=generator).to(dev)
    gb, gy, gx = torch.meshgrid(
        torch.arange(n, device=dev),
        torch.arange(h, device=dev),
        torch.arange(w, device=dev),
        indexing="ij",
    )
    gy = torch.clamp(gy + ty + 1, 0, h + 1)
    gx = torch.clamp(gx + tx + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])
    x = padded.permute(0, 2, 3, 1)[gb, gy, gx].permute(0, 3, 1, 2)
    # cutout
    cy, cx = int(h * 0.5 + 0.5), int(w * 0.5 + 0.5)
    oy = torch.randint(0, h + (1 - cy % 2), (n, 1, 1), generator=generator).to(dev)
    ox = torch.randint(0, w + (1 - cx % 2), (n, 1, 1), generator=generator).to(dev)
    gb, gy, gx = torch.meshgrid(
        torch.arange(n, device=dev),
        torch.arange(cy, device=dev),
        torch.arange(cx, device=dev),
        indexing="ij",
    )
    gy = torch.clamp(gy + oy - cy // 2, 0, h - 1)
    gx = torch.clamp(gx + ox - cx // 2, 0, w - 1)
    mask = torch.ones(n, h, w, dtype=x.dtype, device=dev)
    mask[gb, gy, gx] = 0
    return x * mask.unsqueeze(1)


class _HistoryBuffer:
    """CycleGAN's image pool: with probability 1/2 answer a stored image and keep the new one."""

    def __init__(self, size: int = _HISTORY_SIZE):
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        out = []
        for img in batch.detach():
            img = img.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif float(torch.rand(1, generator=generator)) < 0.5:
                i = int(torch.randint(0, self.size, (1,), generator=generator))
                out.append(self.images[i].clone())
                self.images[i] = img.clone()
            else:
                out.append(img)
        return torch.cat(out, 0)

    def state(self) -> torch.Tensor | None:
        return torch.cat(self.images, 0).cpu() if self.images else None

    def load(self, t: torch.Tensor | None, device) -> None:
        self.images = [] if t is None else [t[i : i + 1].to(device) for i in range(t.shape[0])]


# ----------------------------------------------------------------------------- helpers


def _check_int(v, name: str, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        raise ValueError(f"{name}={v!r}; accepted: an integer >= {minimum}")
    return int(v)


def _check_float(v, name: str, positive: bool = True) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) or not math.isfinite(v):
        raise ValueError(f"{name}={v!r}; accepted: a finite number" + (" > 0" if positive else ""))
    if positive and not v > 0:
        raise ValueError(f"{name}={v!r}; accepted: a finite number > 0")
    return float(v)


def _atomic_save(obj: Any, path: Path) -> None:
    """torch.save under a temporary name, then rename (weights._atomic_write)."""
    from .checkpoint import write_atomically

    write_atomically(path, lambda tmp: torch.save(obj, tmp))


def _cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").clone() for k, v in module.state_dict().items()}


def _checkpoint_path(resume_from) -> Path:
    p = Path(resume_from)
    if p.is_dir():
        p = p / "last.pt"
    if not p.is_file():
        raise ValueError(
            f"resume_from={str(resume_from)!r}: no checkpoint there (give a last.pt file or the "
            "checkpoint_dir of an earlier run)"
        )
    return p


def read_checkpoint_info(path) -> dict[str, Any]:
    """Step, total steps, regime, arch, seed, elapsed seconds and best metrics of a checkpoint."""
    p = _checkpoint_path(path)
    ck = _load_checkpoint(p)
    return {
        k: ck.get(k)
        for k in ("step", "steps", "regime", "arch", "seed", "elapsed", "best_metrics", "extra")
    }


def _load_checkpoint(p: Path) -> dict:
    try:
        ck = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - one clear message
        raise ValueError(f"{p}: not a readable training checkpoint ({exc})") from None
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{p}: not a napari-microdeblur training checkpoint (last.pt)")
    return ck


def _resolve_amp(amp: str, device: torch.device) -> str:
    if amp not in AMP_MODES:
        raise ValueError(f"amp={amp!r}; accepted: one of {AMP_MODES}")
    if amp == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "off"
    if amp == "fp16" and device.type != "cuda":
        raise ValueError(
            f"amp='fp16' needs a CUDA device (device is {device}); use 'bf16' or 'off'"
        )
    return amp


def _lr_factor(step: int, steps: int, warmup: int, min_ratio: float, schedule: str) -> float:
    """LR multiplier for the 0-based step: linear warm-up, then cosine (or constant)."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    span = max(1, steps - warmup)
    t = min(1.0, (step - warmup) / span)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t))


def _make_discriminator(regime: str, channels: int, overrides: Mapping | None) -> nn.Module | None:
    overrides = dict(overrides or {})
    if regime == "gran_gan":
        from .archs.gran import GRANDiscriminator

        return GRANDiscriminator(**{"in_channels": channels, **overrides})
    if regime == "sgpn":
        from .archs.sgpn import PatchDiscriminator

        return PatchDiscriminator(**{"in_channels": channels, **overrides})
    if regime == "psf_cyclegan":
        from .archs.psf_cyclegan import MultiScalePatchDiscriminator

        kw = {"spatial_dims": 2, "in_channels": channels, **overrides}
        return nn.ModuleDict(
            {"A": MultiScalePatchDiscriminator(**kw), "B": MultiScalePatchDiscriminator(**kw)}
        )
    return None


# ----------------------------------------------------------------------------- the run


@dataclass
class _Setup:
    """Everything iter_fit checked and built before the first step."""

    model: nn.Module
    train: Any
    val_crops: list
    unpaired: Any
    unpaired_sharp: Any
    regime: str
    loss: str
    steps: int
    batch_size: int
    patch: int
    lr: float
    device: torch.device
    amp: str
    seed: int
    checkpoint_dir: Path | None
    checkpoint_every: int
    resume: Path | None
    val_every: int
    warmup: int
    min_lr_ratio: float
    schedule: str
    weights: dict[str, float]
    discriminator: nn.Module | None
    d_lr: float
    vgg: VGGFeatures | None
    notes: list[str]
    time_limit: float | None
    grad_clip: float | None
    restore_best: bool
    card: dict[str, Any]


def iter_fit(
    model: nn.Module,
    train,
    val=None,
    *,
    steps: int,
    batch_size: int = 8,
    patch: int = 64,
    lr: float = 1e-4,
    loss: str = "l1",
    regime: str = "supervised",
    device: str | torch.device = "auto",
    seed: int = 0,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 0,
    resume_from: str | os.PathLike | None = None,
    val_every: int | None = None,
    val_size: int | None = None,
    val_crops: int = 16,
    warmup: int | None = None,
    min_lr_ratio: float = 0.05,
    schedule: str = "cosine",
    amp: str = "auto",
    unpaired=None,
    unpaired_sharp=None,
    discriminator: Mapping[str, Any] | None = None,
    d_lr: float | None = None,
    loss_weights: Mapping[str, float] | None = None,
    perceptual_weight: float | None = None,
    vgg_weights: str | os.PathLike | None = None,
    time_limit: float | None = None,
    grad_clip: float | None = None,
    restore_best: bool = True,
    card: Mapping[str, Any] | None = None,
) -> Generator[FitProgress, None, FitResult]:
    """Train ``model`` step by step; yields :class:`FitProgress`, returns :class:`FitResult`.

    ``train``: a ``data.PairedData`` / ``data.SyntheticData`` (or a list of ``data.Pair``, or a
    ``(blurry, sharp)`` tuple of arrays). ``val``: a list of ``data.Pair`` (whole images or
    planes), a patch source (its ``validation_pairs()``), or None (no validation: the best
    checkpoint is the last). Validation runs on up to ``val_crops`` fixed crops of side
    ``val_size`` (default ``2 * patch``) every ``val_every`` steps (default ``steps // 10``),
    before the first step (the baseline) and after the last.

    ``steps`` training steps of ``batch_size`` patches of ``patch`` x ``patch`` pixels (a
    multiple of the model's ``size_divisor``); ``lr`` the peak learning rate after ``warmup``
    steps (default 5 % of the steps, at most 500). ``time_limit`` (seconds, counting time
    before a resume) stops early. ``seed`` fixes every random draw (patches, degradations,
    augmentation, discriminator initialisation): the same call gives the same weights.
    ``card``: extra model-card fields for ``best.safetensors`` (training_data, license, ...).
    ``restore_best``: load the best weights into ``model`` at the end (default).

    ``loss``: "l1", "mse" or "multiscale" (the content loss of every regime but psf_cyclegan).
    ``regime``: see the module docstring. ``unpaired`` (sgpn, psf_cyclegan: blurry images
    without targets) and ``unpaired_sharp`` (psf_cyclegan: sharp images) take arrays, lists of
    arrays or patch sources. ``discriminator``: config overrides of the regime's discriminator
    (e.g. ``{"base_channels": 32}``); ``d_lr`` its learning rate (default ``lr``).
    ``loss_weights`` overrides single terms of :data:`DEFAULT_LOSS_WEIGHTS`;
    ``perceptual_weight`` the perceptual term, which needs ``vgg_weights`` (a local file).
    ``device``: "auto", "cpu", "cuda[:N]", "mps". ``amp``: "auto", "off", "bf16", "fp16".
    ``schedule``: "cosine" (to ``min_lr_ratio * lr``) or "constant" after the warm-up.
    ``grad_clip``: clip the gradient norm. ``checkpoint_dir`` / ``checkpoint_every`` /
    ``resume_from``: see the module docstring.

    Every argument is checked here, before any training: a ``ValueError`` names what to change.
    """
    setup = _prepare(**locals())
    trainer = _Trainer(setup)
    if setup.resume is not None:
        trainer.load(_load_checkpoint(setup.resume))
    return _run(trainer)


def fit(model: nn.Module, train, val=None, *, callback: Callable | None = None, **kwargs):
    """Blocking twin of :func:`iter_fit`: runs to the end and returns the :class:`FitResult`."""
    from .inference import drain

    return drain(iter_fit(model, train, val, **kwargs), callback)


def _prepare(
    model,
    train,
    val,
    *,
    steps,
    batch_size,
    patch,
    lr,
    loss,
    regime,
    device,
    seed,
    checkpoint_dir,
    checkpoint_every,
    resume_from,
    val_every,
    val_size,
    val_crops,
    warmup,
    min_lr_ratio,
    schedule,
    amp,
    unpaired,
    unpaired_sharp,
    discriminator,
    d_lr,
    loss_weights,
    perceptual_weight,
    vgg_weights,
    time_limit,
    grad_clip,
    restore_best,
    card,
) -> _Setup:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model is a {type(model).__name__}; accepted: a torch.nn.Module")
    if int(getattr(model, "spatial_dims", 2)) != 2:
        raise ValueError(
            "model works on volumes (spatial_dims=3); training covers 2D models (YX planes)"
        )
    steps = _check_int(steps, "steps", 1)
    batch_size = _check_int(batch_size, "batch_size", 1)
    patch = _check_int(patch, "patch", 8)
    lr = _check_float(lr, "lr")
    seed = _check_int(seed, "seed", 0)
    checkpoint_every = _check_int(checkpoint_every, "checkpoint_every", 0)
    val_crops = _check_int(val_crops, "val_crops", 1)
    if regime not in REGIMES:
        raise ValueError(f"regime={regime!r}; accepted: one of {REGIMES}")
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r}; accepted: one of {LOSSES}")
    if schedule not in ("cosine", "constant"):
        raise ValueError(f"schedule={schedule!r}; accepted: 'cosine' or 'constant'")
    min_lr_ratio = _check_float(min_lr_ratio, "min_lr_ratio", positive=False)
    if not 0 <= min_lr_ratio <= 1:
        raise ValueError(f"min_lr_ratio={min_lr_ratio!r}; accepted: within [0, 1]")
    if warmup is None:
        warmup = min(500, steps // 20)
    warmup = _check_int(warmup, "warmup", 0)
    if val_every is None:
        val_every = max(1, steps // 10)
    val_every = _check_int(val_every, "val_every", 1)
    if time_limit is not None:
        time_limit = _check_float(time_limit, "time_limit")
    if grad_clip is not None:
        grad_clip = _check_float(grad_clip, "grad_clip")
    d_lr = lr if d_lr is None else _check_float(d_lr, "d_lr")
    dev = resolve_device(device)
    amp = _resolve_amp(amp, dev)

    divisor = int(getattr(model, "size_divisor", 1))
    if patch % divisor:
        raise ValueError(
            f"patch={patch} is not a multiple of the model's size_divisor {divisor}; use "
            f"{max(divisor, patch // divisor * divisor)} or {(patch // divisor + 1) * divisor}"
        )
    if regime == "psf_cyclegan" and not callable(getattr(model, "blur", None)):
        raise ValueError(
            "regime='psf_cyclegan' needs a model with a PSF layer (model.blur), such as "
            "build_model('psf_cyclegan', ...)"
        )
    train = data_mod.as_training_data(train, "train")
    in_ch = getattr(model, "in_channels", None)
    out_ch = getattr(model, "out_channels", None)
    if in_ch is not None and train.channels != in_ch:
        raise ValueError(
            f"the training images have {train.channels} channel(s) but the model takes {in_ch}; "
            "build the model with in_channels/out_channels matching the data (1 gray, 3 RGB)"
        )
    if out_ch is not None and in_ch is not None and out_ch != in_ch:
        raise ValueError(f"the model maps {in_ch} to {out_ch} channels; training needs in == out")
    train.check_patch(patch)
    if regime in ("sgpn", "psf_cyclegan"):
        if unpaired is not None:
            unpaired = _unpaired_source(unpaired, "unpaired", train.channels, patch)
    elif unpaired is not None:
        raise ValueError(f"unpaired= is for the 'sgpn' and 'psf_cyclegan' regimes, not {regime!r}")
    if unpaired_sharp is not None:
        if regime != "psf_cyclegan":
            raise ValueError("unpaired_sharp= is for the 'psf_cyclegan' regime")
        unpaired_sharp = _unpaired_source(unpaired_sharp, "unpaired_sharp", train.channels, patch)

    notes: list[str] = []
    if regime == "sgpn" and unpaired is None:
        notes.append(
            "sgpn: no unpaired set given; unpaired blurry patches drawn from the "
            "training inputs independently of their targets"
        )
    # validation crops (fixed for the run)
    val_pairs = None
    if val is not None:
        if isinstance(val, data_mod._PatchSource):
            val_pairs = val.validation_pairs()
        elif isinstance(val, tuple) and len(val) == 2 and not isinstance(val[0], data_mod.Pair):
            val_pairs = data_mod.pairs_from_arrays(val[0], val[1], name="val")
        elif (
            isinstance(val, (list, tuple))
            and val
            and all(isinstance(p, data_mod.Pair) for p in val)
        ):
            val_pairs = list(val)
        else:
            raise ValueError(
                f"val is a {type(val).__name__}; accepted: None, a list of data.Pair, a patch "
                "source (its validation_pairs()), or a (blurry, sharp) tuple of arrays"
            )
        bad = {p.channels for p in val_pairs} - {train.channels}
        if bad:
            raise ValueError(
                f"validation pairs have {sorted(bad)} channels, training data {train.channels}"
            )
    if val_size is None:
        val_size = max(2 * patch, 64)
    val_size = _check_int(val_size, "val_size", divisor)
    crops = (
        data_mod.validation_crops(
            val_pairs, size=val_size, size_divisor=divisor, max_crops=val_crops, seed=seed
        )
        if val_pairs
        else []
    )
    # loss weights and the perceptual loss
    weights = dict(DEFAULT_LOSS_WEIGHTS[regime])
    if vgg_weights is not None and regime == "supervised" and perceptual_weight is None:
        weights["perceptual"] = 0.02
    if perceptual_weight is not None:
        if regime == "psf_cyclegan":
            raise ValueError("perceptual_weight: the psf_cyclegan regime has no perceptual loss")
        weights["perceptual"] = _check_float(perceptual_weight, "perceptual_weight", False)
    for k, v in (loss_weights or {}).items():
        if k not in weights:
            raise ValueError(
                f"loss_weights: unknown term {k!r} for regime {regime!r}; terms: {sorted(weights)}"
            )
        weights[k] = _check_float(v, f"loss_weights[{k!r}]", positive=False)
    vgg = None
    if weights.get("perceptual", 0) > 0:
        if vgg_weights is None:
            weights["perceptual"] = 0.0
            notes.append(SKIPPED_PERCEPTUAL)
        else:
            vgg = VGGFeatures(vgg_weights)
    # discriminators: built with their own seeded generator state, then checked on a patch
    disc = None
    if regime != "supervised":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            try:
                disc = _make_discriminator(regime, train.channels, discriminator)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"discriminator={discriminator!r}: {exc}") from None
        try:
            with torch.no_grad():
                probe = torch.zeros(2, train.channels, patch, patch)
                if regime == "psf_cyclegan":
                    disc["A"](probe)
                else:
                    disc(probe)
        except (RuntimeError, ValueError) as exc:
            raise ValueError(
                f"patch={patch} is too small for the {regime} discriminator ({exc}); use a "
                "larger patch or a discriminator with fewer layers"
            ) from None
    elif discriminator is not None:
        raise ValueError("discriminator= is for the adversarial regimes, not 'supervised'")
    card = dict(card or {})
    if card:
        from .weights import ModelCard

        derived = {"arch", "config", "in_channels", "out_channels", "spatial_dims"}
        unknown = set(card) - (set(ModelCard.model_fields) - derived)
        if unknown:
            raise ValueError(
                f"card: unknown or derived fields {sorted(unknown)}; accepted: "
                f"{sorted(set(ModelCard.model_fields) - derived - {'sha256', 'source'})}"
            )
    ckdir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if ckdir is not None and ckdir.exists() and not ckdir.is_dir():
        raise ValueError(f"checkpoint_dir={str(ckdir)!r} exists and is not a folder")
    if checkpoint_every and ckdir is None:
        raise ValueError("checkpoint_every needs checkpoint_dir")
    resume = None
    if resume_from is not None:
        resume = _checkpoint_path(resume_from)
        info = _load_checkpoint(resume)
        if info.get("regime") != regime:
            raise ValueError(
                f"resume_from={str(resume)!r} was trained in regime {info.get('regime')!r}, "
                f"not {regime!r}"
            )
        arch = getattr(model, "arch_name", None)
        if info.get("arch") and arch and info["arch"] != arch:
            raise ValueError(f"resume_from holds a {info['arch']!r} model, not {arch!r}")
    return _Setup(
        model=model,
        train=train,
        val_crops=crops,
        unpaired=unpaired,
        unpaired_sharp=unpaired_sharp,
        regime=regime,
        loss=loss,
        steps=steps,
        batch_size=batch_size,
        patch=patch,
        lr=lr,
        device=dev,
        amp=amp,
        seed=seed,
        checkpoint_dir=ckdir,
        checkpoint_every=checkpoint_every,
        resume=resume,
        val_every=val_every,
        warmup=warmup,
        min_lr_ratio=min_lr_ratio,
        schedule=schedule,
        weights=weights,
        discriminator=disc,
        d_lr=d_lr,
        vgg=vgg,
        notes=notes,
        time_limit=time_limit,
        grad_clip=grad_clip,
        restore_best=bool(restore_best),
        card=card,
    )


def _unpaired_source(obj, name: str, channels: int, patch: int):
    if isinstance(obj, data_mod._PatchSource):
        src = obj
    else:
        src = data_mod.UnpairedImages(obj)
    if src.channels != channels:
        raise ValueError(f"{name} has {src.channels} channel(s), the training data {channels}")
    src.check_patch(patch)
    return src


class _Trainer:
    """The mutable state of a run: model, optimisers, generators, best weights."""

    def __init__(self, s: _Setup):
        self.s = s
        self.model = s.model.to(s.device)
        self.disc = s.discriminator.to(s.device) if s.discriminator is not None else None
        if s.vgg is not None:
            s.vgg.to(s.device)
        self.rng = np.random.default_rng(s.seed)
        self.gen = torch.Generator().manual_seed(s.seed)
        g_betas = (0.9, 0.999)
        self.opt = {
            "G": torch.optim.Adam(self.model.parameters(), lr=s.lr, betas=g_betas, eps=1e-8)
        }
        if self.disc is not None:
            d_betas = (0.5, 0.999) if s.regime == "sgpn" else (0.9, 0.999)
            self.opt["D"] = torch.optim.Adam(
                self.disc.parameters(), lr=s.d_lr, betas=d_betas, eps=1e-8
            )
        self.scaler = torch.amp.GradScaler("cuda") if s.amp == "fp16" else None
        self.pools = (
            {"A": _HistoryBuffer(), "B": _HistoryBuffer()} if s.regime == "psf_cyclegan" else {}
        )
        self.step = 0
        self.elapsed = 0.0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_metrics: dict[str, Any] = {}
        self.history: list[dict[str, Any]] = []
        self.baseline: dict[str, Any] = {}
        self.last_val: dict[str, Any] = {}
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(s.amp)

    # -- helpers ------------------------------------------------------------------------

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.s.device.type, dtype=self.dtype)

    def tensor(self, a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a).to(self.s.device, non_blocking=True)

    def set_lr(self) -> float:
        s = self.s
        f = _lr_factor(self.step, s.steps, s.warmup, s.min_lr_ratio, s.schedule)
        for g in self.opt["G"].param_groups:
            g["lr"] = s.lr * f
        if "D" in self.opt:
            for g in self.opt["D"].param_groups:
                g["lr"] = s.d_lr * f
        return s.lr * f

    def backward_step(self, loss: torch.Tensor, name: str, params) -> None:
        opt = self.opt[name]
        opt.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            if self.s.grad_clip:
                self.scaler.unscale_(opt)
                nn.utils.clip_grad_norm_(params, self.s.grad_clip)
            self.scaler.step(opt)
        else:
            loss.backward()
            if self.s.grad_clip:
                nn.utils.clip_grad_norm_(params, self.s.grad_clip)
            opt.step()

    def perceptual(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        vgg = self.s.vgg
        return F.mse_loss(vgg(pred.float()), vgg(target.float()))

    def sample_pairs(self):
        x, y = self.s.train.sample(self.rng, self.s.batch_size, self.s.patch)
        return self.tensor(x), self.tensor(y)

    def sample_unpaired(self, source, kind: str) -> torch.Tensor:
        s = self.s
        if source is None:
            source = s.train
        fn = source.sample_inputs if kind == "input" else source.sample_targets
        return self.tensor(fn(self.rng, s.batch_size, s.patch))

    # -- one step per regime ------------------------------------------------------------

    def train_step(self) -> dict[str, float]:
        self.model.train()
        if self.disc is not None:
            self.disc.train()
        fn = {
            "supervised": self._step_supervised,
            "gran_gan": self._step_gran_gan,
            "sgpn": self._step_sgpn,
            "psf_cyclegan": self._step_psf_cyclegan,
        }[self.s.regime]
        losses = fn()
        if self.scaler is not None:
            self.scaler.update()
        return losses

    def _generator_loss(self, x, y) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
        w = self.s.weights
        with self.autocast():
            content, pred = _content(self.model, x, y, self.s.loss)
        total = w["content"] * content
        terms = {"content": _f(content)}
        if w.get("perceptual", 0) > 0:
            p = self.perceptual(pred, y)
            total = total + w["perceptual"] * p
            terms["perceptual"] = _f(p)
        return total, pred, terms

    def _step_supervised(self) -> dict[str, float]:
        x, y = self.sample_pairs()
        total, _, terms = self._generator_loss(x, y)
        self.backward_step(total, "G", self.model.parameters())
        return {"loss": _f(total), **terms}

    def _step_gran_gan(self) -> dict[str, float]:
        w = self.s.weights
        x, y = self.sample_pairs()
        disc = self.disc
        # generator: content (+ perceptual) + relativistic adversarial (eq. 4, log-sigmoid form)
        disc.requires_grad_(False)
        total, pred, terms = self._generator_loss(x, y)
        with self.autocast():
            d_fake = disc(pred).float()
            d_real = disc(y).float().detach()
        adv = F.softplus(d_real - d_fake).mean()
        total = total + w["adversarial"] * adv
        self.backward_step(total, "G", self.model.parameters())
        disc.requires_grad_(True)
        # discriminator: maximise D(y) - D(G(x))
        with self.autocast():
            d_real = disc(y).float()
            d_fake = disc(pred.detach()).float()
        loss_d = F.softplus(d_fake - d_real).mean()
        self.backward_step(loss_d, "D", disc.parameters())
        return {
            "loss": _f(total),
            **terms,
            "adversarial": _f(adv),
            "discriminator": _f(loss_d),
        }

    def _step_sgpn(self) -> dict[str, float]:
        w = self.s.weights
        x, y = self.sample_pairs()
        zu = self.sample_unpaired(self.s.unpaired, "input")
        disc = self.disc
        T = self.gen
        disc.requires_grad_(False)
        total, pred_s, terms = self._generator_loss(x, y)
        with self.autocast():
            pred_u = self.model(zu)
            ds = disc(diff_augment(pred_s, T)).float()
            du = disc(diff_augment(pred_u, T)).float()
        adv = ((ds - 1) ** 2).mean()
        us = ((ds - du) ** 2).mean()
        total = total + w["adversarial"] * adv + w["unsupervised"] * us
        self.backward_step(total, "G", self.model.parameters())
        disc.requires_grad_(True)
        fakes = torch.cat([pred_s.detach(), pred_u.detach()], 0)
        with self.autocast():
            dr = disc(diff_augment(y, T)).float()
            df = disc(diff_augment(fakes, T)).float()
        loss_d = 0.5 * ((dr - 1) ** 2).mean() + 0.5 * (df**2).mean()
        self.backward_step(loss_d, "D", disc.parameters())
        return {
            "loss": _f(total),
            **terms,
            "adversarial": _f(adv),
            "unsupervised": _f(us),
            "discriminator": _f(loss_d),
        }

    def _step_psf_cyclegan(self) -> dict[str, float]:
        w = self.s.weights
        a = self.sample_unpaired(self.s.unpaired, "input")  # blurry domain A
        b = self.sample_unpaired(self.s.unpaired_sharp, "target")  # sharp domain B
        m = self.model
        d_a, d_b = self.disc["A"], self.disc["B"]
        self.disc.requires_grad_(False)
        with self.autocast():
            fake_b = m(a)
            rec_a = m.blur(fake_b)
            fake_a = m.blur(b)
            rec_b = m(fake_a)
            adv_b = sum(((s.float() - 1) ** 2).mean() for s in d_b(fake_b, self.gen))
            adv_a = sum(((s.float() - 1) ** 2).mean() for s in d_a(fake_a, self.gen))
        cycle = F.l1_loss(rec_a.float(), a) + F.l1_loss(rec_b.float(), b)
        psf_l1 = m.psf.kernel().abs().sum()
        total = w["adversarial"] * (adv_a + adv_b) + w["cycle"] * cycle + w["psf"] * psf_l1
        self.backward_step(total, "G", m.parameters())
        self.disc.requires_grad_(True)
        hist_b = self.pools["B"].query(fake_b, self.gen)
        hist_a = self.pools["A"].query(fake_a, self.gen)
        with self.autocast():
            loss_db = sum(
                0.5 * ((r.float() - 1) ** 2).mean() + 0.5 * (f.float() ** 2).mean()
                for r, f in zip(d_b(b, self.gen), d_b(hist_b, self.gen), strict=True)
            )
            loss_da = sum(
                0.5 * ((r.float() - 1) ** 2).mean() + 0.5 * (f.float() ** 2).mean()
                for r, f in zip(d_a(a, self.gen), d_a(hist_a, self.gen), strict=True)
            )
        loss_d = loss_da + loss_db
        self.backward_step(loss_d, "D", self.disc.parameters())
        return {
            "loss": _f(total),
            "adversarial": _f(adv_a + adv_b),
            "cycle": _f(cycle),
            "psf": _f(psf_l1),
            "discriminator": _f(loss_d),
        }

    # -- validation ---------------------------------------------------------------------

    def validate(self, identity: bool = False) -> dict[str, Any]:
        """Mean PSNR / SSIM (reference scale, data_range 1) and L1 over the validation crops."""
        crops = self.s.val_crops
        was = self.model.training
        self.model.eval()
        ps, ss, ls = [], [], []
        with torch.inference_mode():
            for c in crops:
                x = self.tensor(c.input[None])
                t = self.tensor(c.target[None])
                if identity:
                    pred = x
                else:
                    # CPU bf16 is for training speed only: validation runs in float32
                    cuda = self.s.device.type == "cuda"
                    with self.autocast() if cuda else contextlib.nullcontext():
                        pred = self.model(x).float()
                scale, offset = c.to_reference
                p_ref = (pred[0] * scale + offset).double()
                t_ref = (t[0] * scale + offset).double()
                ps.append(psnr(p_ref, t_ref, data_range=1.0))
                if min(t_ref.shape[-2:]) >= 11:
                    ss.append(ssim(p_ref, t_ref, data_range=1.0, channel_axis=0))
                ls.append(float((pred - t).abs().mean()))
        self.model.train(was)
        return {
            "step": self.step,
            "val_psnr": float(np.mean(ps)),
            "val_ssim": float(np.mean(ss)) if ss else None,
            "val_loss": float(np.mean(ls)),
        }

    def record_validation(self) -> dict[str, Any]:
        v = self.validate()
        self.history.append(v)
        self.last_val = v
        if not self.best_metrics or v["val_psnr"] > self.best_metrics["val_psnr"]:
            self.best_metrics = dict(v)
            self.best_state = _cpu_state(self.model)
        return v

    # -- checkpoints --------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        s = self.s
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "step": self.step,
            "steps": s.steps,
            "regime": s.regime,
            "arch": getattr(self.model, "arch_name", None),
            "seed": s.seed,
            "elapsed": self.elapsed,
            "model": _cpu_state(self.model),
            "discriminator": _cpu_state(self.disc) if self.disc is not None else None,
            "optimizers": {k: v.state_dict() for k, v in self.opt.items()},
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "numpy_rng": json.dumps(self.rng.bit_generator.state),
            "torch_generator": self.gen.get_state(),
            "pools": {k: p.state() for k, p in self.pools.items()},
            "best_state": self.best_state,
            "best_metrics": self.best_metrics,
            "baseline": self.baseline,
            "history": self.history,
            "extra": {"loss": s.loss, "patch": s.patch, "batch_size": s.batch_size, "lr": s.lr},
        }

    def load(self, ck: dict[str, Any]) -> None:
        where = str(self.s.resume)
        try:
            self.model.load_state_dict(ck["model"])
        except RuntimeError as exc:
            raise ValueError(
                f"{where}: the checkpoint's weights do not fit this model: {exc}"
            ) from None
        if self.disc is not None:
            if ck.get("discriminator") is None:
                raise ValueError(f"{where}: the checkpoint has no discriminator")
            try:
                self.disc.load_state_dict(ck["discriminator"])
            except RuntimeError as exc:
                raise ValueError(f"{where}: the discriminator does not fit: {exc}") from None
        for k, opt in self.opt.items():
            opt.load_state_dict(ck["optimizers"][k])
        if self.scaler is not None and ck.get("scaler"):
            self.scaler.load_state_dict(ck["scaler"])
        self.rng.bit_generator.state = json.loads(ck["numpy_rng"])
        self.gen.set_state(ck["torch_generator"])
        for k, p in self.pools.items():
            p.load(ck["pools"].get(k), self.s.device)
        self.step = int(ck["step"])
        self.elapsed = float(ck["elapsed"])
        self.best_state = ck.get("best_state")
        self.best_metrics = dict(ck.get("best_metrics") or {})
        self.baseline = dict(ck.get("baseline") or {})
        self.history = list(ck.get("history") or [])
        self.last_val = self.history[-1] if self.history else {}

    def write_last(self) -> None:
        if self.s.checkpoint_dir is not None:
            _atomic_save(self.state(), self.s.checkpoint_dir / "last.pt")

    def write_best(self) -> None:
        d = self.s.checkpoint_dir
        if d is None:
            return
        state = self.best_state if self.best_state is not None else _cpu_state(self.model)
        metrics = self.best_metrics or {"step": self.step}
        _atomic_save({"model": state, "metrics": metrics, "regime": self.s.regime}, d / "best.pt")
        if getattr(self.model, "arch_name", None):
            from . import weights

            m = copy.deepcopy(self.model).to("cpu")
            m.load_state_dict(state)
            card = {
                "normalization": dict(data_mod.NORMALIZATION),
                "training_data": getattr(self.s.train, "description", ""),
                "degradation": getattr(self.s.train, "degradation", ""),
                **self.s.card,
            }
            card["metrics"] = {**self.s.card.get("metrics", {}), **_card_metrics(metrics)}
            weights.save_weights(m, d / "best.safetensors", card)


def _f(t: torch.Tensor) -> float:
    """A loss tensor as a Python float (detached)."""
    return float(t.detach())


def _card_metrics(m: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in m.items() if v is not None}


def _run(tr: _Trainer) -> Generator[FitProgress, None, FitResult]:
    s = tr.s
    notes = list(s.notes)
    message = "; ".join(notes) if notes else None
    stopped = "completed"
    clean = False
    t_start = time.perf_counter()
    elapsed0 = tr.elapsed
    steps_here = 0
    try:
        if s.val_crops and not tr.history:
            tr.baseline = {**tr.validate(identity=True), "what": "input (no deblurring)"}
            tr.record_validation()
        while tr.step < s.steps:
            if s.time_limit is not None and tr.elapsed >= s.time_limit:
                stopped = "time_limit"
                break
            lr = tr.set_lr()
            losses = tr.train_step()
            if not math.isfinite(losses["loss"]):
                raise FloatingPointError(
                    f"training diverged at step {tr.step + 1} (loss {losses['loss']}); lower lr "
                    "or set grad_clip"
                )
            tr.step += 1
            steps_here += 1
            validated = False
            if s.val_crops and (tr.step % s.val_every == 0 or tr.step == s.steps):
                tr.record_validation()
                validated = True
            now = time.perf_counter()
            tr.elapsed = elapsed0 + (now - t_start)
            if s.checkpoint_every and tr.step % s.checkpoint_every == 0:
                tr.write_best()
                tr.write_last()
            per_step = (now - t_start) / steps_here
            left = per_step * (s.steps - tr.step)
            if s.time_limit is not None:
                left = min(left, max(0.0, s.time_limit - tr.elapsed))
            v = tr.last_val
            yield FitProgress(
                step=tr.step,
                steps=s.steps,
                loss=losses["loss"],
                lr=lr,
                val_psnr=v.get("val_psnr"),
                val_ssim=v.get("val_ssim"),
                val_loss=v.get("val_loss"),
                seconds_left=float(left),
                losses=losses,
                validated=validated,
                message=message,
            )
            message = None
        if s.val_crops and (not tr.history or tr.history[-1]["step"] != tr.step):
            tr.record_validation()
        clean = True
    except GeneratorExit:
        clean = True  # cancelled between steps: the state is consistent
        raise
    finally:
        tr.elapsed = elapsed0 + (time.perf_counter() - t_start)
        if s.checkpoint_dir is not None:
            try:
                tr.write_best()
                if clean:
                    tr.write_last()
            except Exception as exc:  # noqa: BLE001 - never hide the error that stopped the run
                if clean:
                    raise
                warnings.warn(
                    f"could not write the checkpoints after a failure: {exc}", stacklevel=2
                )
    if tr.best_state is None:  # no validation: the last weights are the result
        tr.best_state = _cpu_state(tr.model)
        tr.best_metrics = {"step": tr.step}
    if s.restore_best:
        tr.model.load_state_dict(tr.best_state)
    return FitResult(
        best_state=tr.best_state,
        best_metrics=dict(tr.best_metrics),
        baseline=dict(tr.baseline),
        steps_done=tr.step,
        seconds=tr.elapsed,
        stopped=stopped,
        history=list(tr.history),
        notes=notes,
        normalization=dict(data_mod.NORMALIZATION),
        regime=s.regime,
        checkpoint_dir=str(s.checkpoint_dir) if s.checkpoint_dir is not None else None,
    )
