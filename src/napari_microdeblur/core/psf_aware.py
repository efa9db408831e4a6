"""A PSF-aware network (``needs_psf``, ``forward(x, psf)``) bound to one PSF as a tileable Method.

The network is grayscale and 2D: colour and multichannel images run channel by channel, and
z-stacks plane by plane (the tiler loops over every axis that is not Y, X). A 3D PSF is
reduced to its in-focus plane (the plane holding the brightest pixel) and the Method's
``parameters`` say so; the network does not deconvolve along Z.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from . import classical
from .method import DEFAULT_TILE, Method, NetworkRunner

__all__ = ["DEFAULT_PSF_AWARE", "in_focus_plane", "load_psf_aware", "psf_aware_method"]

#: The bundled PSF-aware weights that ``MethodSpec(name='auto', psf=...)`` resolves to.
DEFAULT_PSF_AWARE = "wiener_unet.psf_v1"


def in_focus_plane(psf: np.ndarray) -> tuple[np.ndarray, int | None]:
    """A 2D PSF as it is, or the plane of a 3D PSF holding its brightest pixel (and its index)."""
    if psf.ndim == 2:
        return psf, None
    if psf.ndim == 3:
        z = int(np.unravel_index(int(np.argmax(psf)), psf.shape)[0])
        return psf[z], z
    raise ValueError(f"psf has shape {psf.shape}; accepted: a 2D (Y, X) or 3D (Z, Y, X) PSF")


def _as_kernel(psf) -> tuple[np.ndarray, str]:
    """(2D float32 kernel summing to 1, a short description of where it came from)."""
    from .psf import check_psf, parse_psf

    if isinstance(psf, str):
        kernel, spec = parse_psf(psf), psf
    elif isinstance(psf, torch.Tensor):
        kernel, spec = psf.detach().cpu().numpy(), "array"
    elif isinstance(psf, np.ndarray):
        kernel, spec = psf, "array"
    else:
        raise TypeError(
            f"psf is a {type(psf).__name__}; accepted: a numpy array, a torch tensor, a TIFF "
            "path or a model such as 'gaussian:1.6'"
        )
    if kernel.ndim not in (2, 3):
        raise ValueError(f"psf has shape {kernel.shape}; accepted: a 2D (Y, X) or 3D (Z, Y, X) PSF")
    # the same value checks (NaN, negatives, zeros) as every other PSF, then the in-focus plane
    kernel, plane = in_focus_plane(check_psf(kernel, kernel.ndim))
    if plane is not None:
        spec += f" (3D, in-focus plane z={plane} used for every plane)"
    if kernel.sum() <= 0:
        raise ValueError("the in-focus plane of the 3D psf sums to 0; accepted: a positive sum")
    return (kernel / kernel.sum()).astype(np.float32), spec


class _BoundPsf(nn.Module):
    """``model(x, psf)`` with the PSF fixed, so the tiler's NetworkRunner can run it as ``f(x)``."""

    def __init__(self, model: nn.Module, kernel: np.ndarray):
        super().__init__()
        self.model = model
        self.register_buffer("psf", torch.from_numpy(np.ascontiguousarray(kernel)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x, self.psf)


def psf_aware_method(
    model: nn.Module, psf, card=None, *, precision: str = "auto", name: str | None = None
) -> Method:
    """A PSF-aware network with its PSF as a Method for ``inference.deblur``.

    ``psf``: a 2D or 3D array/tensor, a TIFF path or a model such as ``'gaussian:1.6'``.
    Raises ValueError for a PSF with negative, NaN or infinite values or a zero sum, and for a
    model that does not take a PSF.
    """
    if not getattr(model, "needs_psf", False):
        raise ValueError(
            f"model {type(model).__name__} does not take a PSF (needs_psf is not set); "
            "accepted: a PSF-aware architecture such as 'wiener_unet'"
        )
    kernel, spec = _as_kernel(psf)
    normalization = {"kind": "percentile", "low": 0.1, "high": 99.9}
    if card is not None and getattr(card, "normalization", None):
        normalization.update(card.normalization)
    rf = int(model.receptive_field)
    # The Wiener step reaches past the PSF (classical.psf_halo); the U-Net adds its field.
    halo = max(k // 2 for k in kernel.shape) + rf
    overlap = max(max(classical.psf_halo(kernel)), 2 * halo)
    return Method(
        name=name or getattr(model, "arch_name", type(model).__name__),
        forward=NetworkRunner(_BoundPsf(model, kernel), precision),
        spatial_dims=2,
        halo=halo,
        overlap=overlap,
        size_divisor=int(model.size_divisor),
        in_channels=1,
        out_channels=1,
        normalization=normalization["kind"],
        percentiles=(float(normalization.get("low", 0.1)), float(normalization.get("high", 99.9))),
        parameters={
            "psf": spec,
            "card": card.model_dump() if hasattr(card, "model_dump") else card,
            "precision": precision,
        },
        # large tiles: the overlap is wide (2 x 73 px for protocol A's PSF), and a 1024 px tile
        # (a few hundred MB in bfloat16) runs a 1024 x 1024 image without seams or overhead
        default_tile=max(4 * DEFAULT_TILE[2], 4 * overlap),
    )


def load_psf_aware(psf, weights: str = DEFAULT_PSF_AWARE, *, precision: str = "auto") -> Method:
    """The bundled (or a file's) PSF-aware network bound to ``psf`` as a Method."""
    from .bundled import BUNDLED_WEIGHTS
    from .checkpoint import load_model

    model, card = load_model(weights)
    name = weights if weights in BUNDLED_WEIGHTS else card.arch
    return psf_aware_method(model, psf, card, precision=precision, name=name)
