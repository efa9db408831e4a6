"""The loss of ``core.self_adapt`` (the module docstring there says what each term is for) and
the held-out windows it is scored on: data consistency of a re-corrupted pair on the pixels
whose blur lies inside a crop, the prior in noise variances, the Hessian in noise sigmas."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .self_adapt_planes import GUARD, Plane, margins

if TYPE_CHECKING:
    from .self_adapt import SelfAdaptConfig

__all__ = ["CONTEXT", "VAL_ROWS", "Window", "blur_valid", "hessian", "loss_maps",
           "run_model", "stop_check", "total_loss", "window"]

VAL_ROWS = 256  # rows of the held-out strip that are scored (the centre ones): bounds its cost
CONTEXT = 16  # columns of network context left of the held-out strip (never scored)


def blur_valid(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) blurred by a 2D PSF (centre at k // 2, as everywhere in the package) where
    the whole PSF lies inside: (N, C, H - ky + 1, W - kx + 1), aligned with the pixels
    ``margins(kernel)`` in from each edge."""
    n, c, h, w = x.shape
    weight = kernel.flip(-2, -1)[None, None].to(x)
    return F.conv2d(x.reshape(n * c, 1, h, w), weight).reshape(n, c, h - kernel.shape[0] + 1,
                                                                w - kernel.shape[1] + 1)


def run_model(model: nn.Module, x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """The network on (N, C, H, W), padded to its size divisor (edge values) and cropped back."""
    d = int(getattr(model, "size_divisor", 1))
    h, w = x.shape[-2:]
    ph, pw = (-h) % d, (-w) % d
    padded = F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
    out = model(padded, kernel) if getattr(model, "needs_psf", False) else model(padded)
    return out[..., :h, :w]


def hessian(u: torch.Tensor) -> torch.Tensor:
    """|u_yy| + |u_xx| + 2 |u_xy| on the pixels where all three exist."""
    yy = (u[..., 2:, 1:-1] - 2 * u[..., 1:-1, 1:-1] + u[..., :-2, 1:-1]).abs()
    xx = (u[..., 1:-1, 2:] - 2 * u[..., 1:-1, 1:-1] + u[..., 1:-1, :-2]).abs()
    xy = (u[..., 2:, 2:] - u[..., 2:, 1:-1] - u[..., 1:-1, 2:] + u[..., 1:-1, 1:-1]).abs()
    return yy + xx + 2 * xy


def loss_maps(model: nn.Module, y: torch.Tensor, var: torch.Tensor, prior: torch.Tensor,
              kernel: torch.Tensor, z: torch.Tensor, cfg: SelfAdaptConfig) -> dict:
    """Per-pixel loss terms (see ``core.self_adapt``), each with the column of the crop its
    first column is: data consistency on the pixels whose blur lies inside the crop less a
    GUARD band (else the output's edge would absorb the blur of what lies outside the crop),
    the prior on every pixel (the guard band has no other term), the Hessian where it
    exists. ``z``: standard normal draws of the crop's shape."""
    sigma = var.sqrt()
    out = run_model(model, y + cfg.alpha * sigma * z, kernel)
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
        maps["hessian"] = (hessian(out) / sigma[..., 1:-1, 1:-1], 1)
    return maps


def total_loss(maps: dict, cfg: SelfAdaptConfig, first_column: int | None = None):
    """The weighted loss (over the crop's columns from ``first_column`` on, when given) and
    its terms."""
    terms = {name: (m if first_column is None else m[..., max(0, first_column - at):]).mean()
             for name, (m, at) in maps.items()}
    weights = {"consistency": 1.0, "prior": cfg.prior_weight, "hessian": cfg.hessian_weight}
    total = sum(weights[name] * value for name, value in terms.items())
    return total, {name: float(value.detach()) for name, value in terms.items()}


def stop_check(stop) -> Callable[[], bool]:
    """``stop`` (None, a threading.Event or a callable) as a callable saying whether to stop."""
    if stop is None:
        return lambda: False
    if hasattr(stop, "is_set"):
        return stop.is_set
    if callable(stop):
        return stop
    raise TypeError(f"stop is a {type(stop).__name__}; accepted: None, a threading.Event or a "
                    "callable returning True to stop")


@dataclass
class Window:
    """The held-out strip of one plane (rows cut to VAL_ROWS) with the context left of it,
    as tensors (1, C, h, w), fixed noise draws, and its first scored column."""

    y: torch.Tensor
    var: torch.Tensor
    prior: torch.Tensor
    z: torch.Tensor
    first_column: int


def window(plane: Plane, kernel_shape, seed: int, device) -> Window:
    """The held-out window of ``plane``; its noise draws are seeded by ``seed`` alone, so a
    resumed run scores the same pixels with the same draws."""
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
    return Window(y, tensor(plane.var), tensor(plane.prior), z, plane.val_start - c0)
