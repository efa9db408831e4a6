"""Synthetic degradations of clean images: the protocols A, B and C of docs/evaluation.md.

Blur is a 2D convolution of every YX plane (and every colour channel) with scipy.ndimage's
``'reflect'`` boundary (half-sample symmetric), so no wrap-around edges are baked into the data.
All noise comes from ``numpy.random.default_rng(seed)``: the same seed gives the same image.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .array_inputs import not_numpy
from .axes import axis_index
from .psf import astigmatic_psf, disk_psf, gaussian_psf

__all__ = ["PROTOCOLS", "protocol_psf", "protocol_fields", "degrade01", "degrade"]

PROTOCOLS = ("A", "B", "C")

GAUSS_NOISE = 2.0 / 255.0  # protocols A and C
PEAK_PHOTONS = 200.0  # protocol B Poisson peak
READ_NOISE = 0.01  # protocol B Gaussian read noise


def _check_protocol(protocol) -> str:
    if not isinstance(protocol, str) or protocol.upper() not in PROTOCOLS:
        raise ValueError(f"protocol is {protocol!r}; accepted: one of {PROTOCOLS}")
    return protocol.upper()


def protocol_psf(protocol) -> np.ndarray:
    """The true 2D PSF of a protocol (float32, sums to 1)."""
    protocol = _check_protocol(protocol)
    if protocol == "A":
        return gaussian_psf(1.6, size=25)
    if protocol == "B":
        return disk_psf(3)
    return astigmatic_psf(2.5, 0.8, 30)


#: each protocol's PSF as the model string ``psf.parse_psf`` reads (A's on a 25-px side)
_PSF_MODELS = {"A": "gaussian:1.6", "B": "disk:3", "C": "astig:2.5,0.8,30"}


def protocol_fields(protocol) -> dict:
    """How ``protocol`` degrades, as plain JSON for a file's record: its PSF (model string and
    side) and its noise, on the [0, 1] scale ``degrade`` maps an image to."""
    protocol = _check_protocol(protocol)
    if protocol == "B":
        noise = {"poisson_peak_photons": PEAK_PHOTONS, "gaussian_sigma": READ_NOISE}
    else:
        noise = {"gaussian_sigma": GAUSS_NOISE}
    side = [int(n) for n in protocol_psf(protocol).shape]
    return {"protocol": protocol, "psf": _PSF_MODELS[protocol], "psf_shape": side,
            "noise": noise}


def _check_seed(seed) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed is {seed!r}; accepted: a non-negative integer")


def _yx_axes(ndim: int, channel_axis) -> tuple[int, int]:
    """Indices of the Y and X axes: the last two axes that are not the channel axis."""
    if channel_axis is None:
        spatial = list(range(ndim))
    else:
        channel = axis_index(channel_axis, ndim, "channel_axis")
        spatial = [a for a in range(ndim) if a != channel]
    if len(spatial) < 2:
        raise ValueError(
            f"the image has {ndim} dimension(s) with channel_axis={channel_axis!r}; accepted: at "
            "least two spatial axes (YX)"
        )
    return spatial[-2], spatial[-1]


def degrade01(image01, protocol, *, seed=0, channel_axis=None) -> np.ndarray:
    """Blur and add noise to a float image in [0, 1]; returns float32 in [0, 1].

    The PSF acts on the YX plane (the last two non-channel axes) of every plane and channel;
    leading axes (Z, T) and ``channel_axis`` (e.g. -1 for RGB "YXS") are not blurred across.
    """
    protocol = _check_protocol(protocol)
    _check_seed(seed)
    if not isinstance(image01, np.ndarray):
        raise TypeError(not_numpy(image01, "image01"))
    if image01.dtype.kind != "f":
        raise TypeError(
            f"image01 has dtype {image01.dtype}; accepted: float in [0, 1] (use degrade() for "
            "images in their own units)"
        )
    ay, ax = _yx_axes(image01.ndim, channel_axis)
    if image01.size == 0 or not np.all(np.isfinite(image01)):
        raise ValueError("image01 is empty or holds NaN/inf; accepted: finite values in [0, 1]")
    lo, hi = float(image01.min()), float(image01.max())
    if lo < 0 or hi > 1:
        raise ValueError(f"image01 spans [{lo}, {hi}]; accepted: values in [0, 1]")

    psf = protocol_psf(protocol).astype(np.float64)
    if psf.shape[0] > image01.shape[ay] or psf.shape[1] > image01.shape[ax]:
        # An RGB(A) "YXS" array given without channel_axis lands here: its samples read as X.
        hint = (" (for colour samples on the last axis, pass channel_axis=-1)"
                if channel_axis is None and image01.ndim >= 3 and image01.shape[-1] <= 4 else "")
        raise ValueError(
            f"the image has shape {image01.shape}, smaller in YX than protocol {protocol}'s PSF "
            f"{psf.shape}; accepted: YX sides of at least the PSF's{hint}"
        )
    # A kernel with singleton non-YX axes blurs every plane and channel in one call.
    kshape = [1] * image01.ndim
    kshape[ay], kshape[ax] = psf.shape
    blurred = ndimage.convolve(image01.astype(np.float64), psf.reshape(kshape), mode="reflect")

    rng = np.random.default_rng(seed)
    if protocol == "B":
        photons = rng.poisson(np.clip(blurred, 0.0, None) * PEAK_PHOTONS)
        noisy = photons / PEAK_PHOTONS + rng.normal(0.0, READ_NOISE, blurred.shape)
    else:
        noisy = blurred + rng.normal(0.0, GAUSS_NOISE, blurred.shape)
    return np.clip(noisy, 0.0, 1.0).astype(np.float32)


def degrade(image, protocol, *, seed=0, channel_axis=None) -> np.ndarray:
    """Degrade an image of any real dtype; returns float32 in the input's intensity units.

    The image is mapped to [0, 1] with ``metrics.reference_scale(image)`` (so the noise levels
    of docs/evaluation.md apply on that scale), degraded with ``degrade01``, and mapped back.
    """
    # Imported here so that degrade01 (and File > Open Sample) stay importable without torch.
    from . import metrics

    if not isinstance(image, np.ndarray):
        raise TypeError(not_numpy(image, "image"))
    if image.dtype.kind not in "uif":
        raise TypeError(f"image has dtype {image.dtype}; accepted: integer or float pixels")
    offset, scale = metrics.reference_scale(image, name="image")  # the user's word
    image01 = (image.astype(np.float64) - offset) / scale
    # Float images (and integers holding negative values) map onto [0, 1] by their min-max,
    # the others from 0; clipping only removes rounding past the ends.
    image01 = np.clip(image01, 0.0, 1.0)
    out01 = degrade01(image01, protocol, seed=seed, channel_axis=channel_axis)
    return (out01.astype(np.float64) * scale + offset).astype(np.float32)
