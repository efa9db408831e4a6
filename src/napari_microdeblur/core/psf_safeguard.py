"""When a PSF-aware network should not be trusted, and what runs instead.

The network (``archs.wiener_unet``) sets its Wiener balances from the image's noise alone, so it
trusts the PSF down to the noise level. On real defocus with a fitted PSF the model error is
several times the noise (NEUBIAS widefield stack: residual of the fitted Gaussian 0.013-0.015
against an estimated noise of 0.002 on the normalised scale) and the result rings: 8-11 dB below
the input (issue 13). Two checks, both outside the network's forward computation:

* before any work, a PSF much wider than any the network was trained on (its half-maximum
  width against the widest of the card's training PSFs) runs a conservative Wiener instead;
* per tile (per plane where a custom tile cuts up a plane no larger than the network's
  default tile: ``psf_aware._PsfRunner.start_plane``), a result whose correction at
  frequencies the PSF blocks (|OTF| < 0.1) holds more energy than ``CORRECTION_LIMIT`` times
  the input's there is blended toward a conservative Wiener of that tile, and replaced by it
  from ``SOFT_BAND`` times the limit. Measured
  (benchmarks/generalization.py images): at most 2.8 on the 45 synthetic images of protocols
  A-C and the held-out optics PSFs, 89-104 on the NEUBIAS stack and 23 on the BBBC006 pair
  (past the soft band). Weights fine-tuned on the user's pairs with their PSF
  (``core.finetune``) or adapted to their images (``core.self_adapt``) carry the ratio measured
  on their held-out pixels in the card's metrics (``blocked_correction_ratio``); their limit
  is ``VALIDATED_MARGIN`` times that when it is higher (a prior learned for that data may add
  some energy there: ssTEM fine-tuning, 8-9).

The conservative Wiener (``conservative_wiener``) adds a flat term to the Laplacian regulariser
where the PSF attenuates: an aberrated or defocused PSF's transfer function crosses zero at low
frequencies, where the Laplacian alone is too small to hold the noise back. Measured on the
PSF-aware validation planes (benchmarks/psf_aware_select.py cases, 256 px): with the Laplacian
alone the fallback scored below the input on 16 of the 18 aberrated-PSF cases (down to -9.3
dB); with the flat term on none, and within 0.06 dB of it under protocols A, B and C.
"""

from __future__ import annotations

import json
import math

import numpy as np
import torch

__all__ = [
    "BLOCKED_OTF",
    "CORRECTION_LIMIT",
    "VALIDATED_MARGIN",
    "FALLBACK_BALANCE",
    "SOFT_BAND",
    "TRAINED_WIDTH_KEY",
    "WIDTH_MARGIN",
    "blocked_correction_ratio",
    "conservative_wiener",
    "correction_limit",
    "held_out_ratio",
    "half_max_width",
    "network_share",
    "trained_half_max_width",
    "untrained_psf_reason",
]

#: Frequencies where the PSF passes less than this are blocked: the input holds noise there.
BLOCKED_OTF = 0.1
#: Correction / input energy at blocked frequencies above which a tile leans on the fallback.
CORRECTION_LIMIT = 8.0
#: Between the limit and this many times it a tile keeps a share of the network's result that
#: falls from 1 to 0 with log(ratio) (``network_share``): a tile just over the limit keeps
#: nearly all of it, so neighbouring tiles, and weights either side of the limit, do not jump
#: apart. 1 gives the all-or-nothing switch.
SOFT_BAND = 2.0
#: The input's energy there counts as at least that of white noise of this level (model units,
#: a quarter of one 8-bit grey level): a flat tile (a blank background; the chroma channels of
#: a gray image run as RGB) has none, and rounding alone made its ratio astronomical.
FLAT_TILE_LEVEL = 1e-3
#: Weights fine-tuned with validation may exceed CORRECTION_LIMIT by up to this factor of the
#: ratio their held-out band showed (``correction_limit``).
VALIDATED_MARGIN = 2.0
#: The fallback Wiener balance: what the benchmark's tuning chose on the tuning folds (never
#: the scored images) of the real-defocus rows (0.2 NEUBIAS and BBBC006, 0.5-1.0 light-sheet).
FALLBACK_BALANCE = 0.2
#: The fallback's flat regulariser term, weighted by 1 - |OTF|^2 so the image's mean is kept:
#: about the one psf_v4 learned for its own Wiener estimates (0.052).
FALLBACK_FLAT = 0.05
#: A PSF this much wider than the widest trained PSF is outside the network's support.
WIDTH_MARGIN = 1.5
#: The half-maximum region of the aberrated optics PSFs a network trained on (cropped to the
#: training side) filled that square: widest measured 37.2 px on 33 px, 55.3 px on 49 px, i.e.
#: the width of a disk with the square's area, 2 / sqrt(pi) x the side.
_BOX_WIDTH_PER_SIDE = 2.0 / math.sqrt(math.pi)
#: The card metric where fine-tuned or adapted weights keep their start's trained width (their
#: own card's degradation describes the user's data, not the PSFs the start was trained on).
TRAINED_WIDTH_KEY = "trained_psf_half_max_width_px"

_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
# wiener_unet.psf_v1's training PSFs (its card's psf_ranges): Gaussian sigma <= 3.0, disk
# radius <= 4, astigmatic major sigma <= 3.5 px; the widest half-maximum is the astigmatic one
_V1_WIDEST = _FWHM_PER_SIGMA * 3.5


def half_max_width(kernel: np.ndarray) -> float:
    """The diameter (px) of a disk with the area of the PSF's region at or above half its peak."""
    k = np.asarray(kernel, dtype=np.float64)
    area = float(np.count_nonzero(k >= 0.5 * k.max()))
    return 2.0 * math.sqrt(area / math.pi)


def trained_half_max_width(card) -> float:
    """The widest half-maximum width (px) of the PSFs the card's network was trained on: its
    parametric ranges (``degradation``'s ``psf_ranges``) and, where it (or a member of a
    weight average) trained on aberrated optics PSFs, the square they were cropped to; for
    fine-tuned or adapted weights, their start's (``TRAINED_WIDTH_KEY`` in the metrics);
    psf_v1's ranges when the card does not say."""
    recorded = (getattr(card, "metrics", None) or {}).get(TRAINED_WIDTH_KEY)
    if isinstance(recorded, (int, float)) and math.isfinite(recorded) and recorded > 0:
        return float(recorded)
    try:
        degradation = json.loads(card.degradation)
        ranges = degradation["psf_ranges"]
        widest = max(_FWHM_PER_SIGMA * ranges["gaussian_sigma"][1],
                     2.0 * ranges["disk_radius"][1],
                     _FWHM_PER_SIGMA * ranges["astig_sigma_major"][1])
    # RecursionError: JSON nested past Python's stack (an edited card; read_card refuses it,
    # a card made in code is not read so)
    except (AttributeError, KeyError, IndexError, TypeError, ValueError, RecursionError):
        return _V1_WIDEST
    for part in [degradation, *(m.get("degradation", {}) for m in degradation.get("members", [])
                                if isinstance(m, dict))]:
        side = part.get("psf_side") if isinstance(part, dict) else None
        if isinstance(side, (int, float)) and float(part.get("p_aberrated") or 0) > 0:
            widest = max(widest, _BOX_WIDTH_PER_SIDE * float(side))
    return widest


def untrained_psf_reason(kernel: np.ndarray, card) -> str | None:
    """Why the PSF is outside the network's training support, or None when it is inside."""
    width, trained = half_max_width(kernel), trained_half_max_width(card)
    if width <= WIDTH_MARGIN * trained:
        return None
    return (f"the PSF's half-maximum width ({width:.1f} px) is over {WIDTH_MARGIN:g} x the widest "
            f"the network was trained on ({trained:.1f} px)")


def conservative_wiener(x: torch.Tensor, psf: torch.Tensor,
                        balance: float = FALLBACK_BALANCE) -> torch.Tensor:
    """(N, 1, Y, X) Wiener-Hunt deconvolution of ``x`` with ``psf`` ((ky, kx), no larger than a
    tile) and the regulariser |L|^2 + FALLBACK_FLAT (1 - |OTF|^2): the Laplacian where the PSF
    passes, a flat term where it attenuates (see the module note). Float32, mirror-extended;
    on ``x``'s device (its FFTs where ``wiener_unet.Fourier`` runs them)."""
    from .archs.wiener_unet import Fourier
    from .devices import full_precision

    k = psf.float().to(x.device)
    k = (k / k.sum()).expand(x.shape[0], *k.shape[-2:])
    with full_precision(x.device.type):
        fourier = Fourier(x.float(), k)
        h2 = fourier.otf.abs() ** 2
        reg = fourier.lap2 + FALLBACK_FLAT * (1.0 - h2).clamp_min(0.0)
        return fourier.image(fourier.x_hat * fourier.otf.conj() / (h2 + balance * reg))


def blocked_correction_ratio(x: torch.Tensor, y: torch.Tensor, psf: torch.Tensor) -> torch.Tensor:
    """(N,) energy of the correction ``y - x`` at frequencies the PSF blocks (|OTF| <
    ``BLOCKED_OTF``), over the input's energy there (its mean removed; at least that of white
    noise at ``FLAT_TILE_LEVEL``). 0 where the PSF blocks no frequency of the tile.
    ``x``, ``y``: (N, 1, Y, X); ``psf``: (ky, kx), no larger. On ``x``'s device; its FFTs run
    where ``devices.fft_device`` says."""
    from .devices import fft_device

    home = x.device  # the FFTs where they run (the CPU on an MPS without them), the ratio here
    where = fft_device(home)
    x, y, psf = x.float().to(where), y.float().to(where), psf.float().to(where)
    shape = tuple(x.shape[-2:])
    ky, kx = psf.shape[-2:]
    big = torch.zeros(shape, dtype=torch.float32, device=where)
    big[:ky, :kx] = psf / psf.sum()
    big = torch.roll(big, shifts=(-(ky // 2), -(kx // 2)), dims=(0, 1))
    blocked = torch.fft.rfft2(big).abs() < BLOCKED_OTF
    if not bool(blocked.any()):
        return torch.zeros(x.shape[0], device=home)
    correction = torch.fft.rfft2(y - x).abs() ** 2
    signal = torch.fft.rfft2(x - x.mean(dim=(-2, -1), keepdim=True)).abs() ** 2
    num = correction[..., blocked].flatten(1).sum(1)
    den = signal[..., blocked].flatten(1).sum(1)
    # white noise of level s puts (pixels x s^2) into every frequency bin
    floor = float(blocked.sum()) * shape[0] * shape[1] * FLAT_TILE_LEVEL**2
    return (num / den.clamp_min(floor)).to(home)


def network_share(ratio: torch.Tensor, limit: float) -> torch.Tensor:
    """The share of the network's result each tile keeps (the rest is the conservative Wiener)
    for its ``blocked_correction_ratio``: 1 up to ``limit``, 0 from ``SOFT_BAND`` x ``limit``,
    linear in log(ratio) between."""
    if SOFT_BAND <= 1.0:
        return (ratio <= limit).to(ratio.dtype)
    over = torch.log(ratio.clamp_min(1e-12) / limit) / math.log(SOFT_BAND)
    return (1.0 - over).clamp(0.0, 1.0)


def correction_limit(card) -> float:
    """The per-tile limit for the weights of ``card``: ``CORRECTION_LIMIT``, or
    ``VALIDATED_MARGIN`` x the ratio measured on their validation band when that is higher."""
    metrics = getattr(card, "metrics", None) or {}
    try:
        validated = float(metrics.get("blocked_correction_ratio", 0.0))
    except (TypeError, ValueError):
        validated = 0.0
    if not math.isfinite(validated):
        validated = 0.0
    return max(CORRECTION_LIMIT, VALIDATED_MARGIN * validated)


@torch.no_grad()
def held_out_ratio(model, inputs, psf: torch.Tensor, noise_scale: float = 1.0) -> float | None:
    """The largest :func:`blocked_correction_ratio` of a PSF-aware ``model`` over held-out
    ``inputs`` (tensors (N, 1, Y, X)), rounded for a model card; None without inputs. What
    fine-tuning and self-adaptation record as ``blocked_correction_ratio``. The network runs
    as a deblur runs it: with the U-Net's mirror (``psf_aware.unet_mirror``) when its forward
    takes ``unet_pad``, so the ratio recorded is the one the safeguard meets (unmirrored, the
    U-Net's zero-padded border put energy where the PSF blocks: 7.7 against 1.1 on a 96 px
    shot-noise image, which would have let the per-tile limit grow from 8 to 15.5).
    ``noise_scale``: the scale the weights will run at (passed only when it is not 1)."""
    from .psf_aware import forward_takes, unet_mirror

    options = {} if noise_scale == 1.0 else {"noise_scale": noise_scale}
    mirrored = forward_takes(model, "unet_pad")
    ratios = []
    for x in inputs:
        if mirrored:
            options["unet_pad"] = unet_mirror(x.shape[-2:])
        ratios.append(float(blocked_correction_ratio(x, model(x, psf, **options), psf).max()))
    return round(max(ratios), 3) if ratios else None
