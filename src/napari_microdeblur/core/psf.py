"""Point spread functions: Gaussian, defocus disk, astigmatic Gaussian, or read from a TIFF.

Every PSF is a float32 numpy array with odd side lengths, centred on its middle pixel, summing to
1, so convolving with it keeps an image's mean intensity and does not shift it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from numbers import Real
from pathlib import Path

import numpy as np

__all__ = ["gaussian_psf", "disk_psf", "astigmatic_psf", "read_psf", "parse_psf"]

_SUPERSAMPLE = 8  # sub-pixels per pixel side for the disk's anti-aliased edge

_SPEC_FORMS = (
    "'gaussian:SIGMA' (e.g. 'gaussian:1.6'), 'gaussian:SIGMA_Y,SIGMA_X' (e.g. 'gaussian:2.0,1.0'), "
    "'disk:RADIUS' (e.g. 'disk:3'), 'astig:SIGMA_MAJOR,SIGMA_MINOR,ANGLE_DEG' "
    "(e.g. 'astig:2.5,0.8,30'), or a path to a .tif/.tiff file"
)


def _positive(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} is {value!r}; accepted: a positive finite number (pixels)")
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} is {value!r}; accepted: a positive finite number (pixels)")
    return v


def _sizes(size, ndim: int, default: tuple[int, ...]) -> tuple[int, ...]:
    if size is None:
        return default
    sizes = tuple(size) if isinstance(size, (Sequence, np.ndarray)) else (size,) * ndim
    if len(sizes) != ndim or not all(
        isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0 and s % 2 == 1
        for s in sizes
    ):
        raise ValueError(
            f"size is {size!r}; accepted: None, an odd positive integer, or {ndim} of them "
            "(odd so the PSF has a centre pixel)"
        )
    return tuple(int(s) for s in sizes)


def _normalised(psf: np.ndarray) -> np.ndarray:
    # Normalise in float64 so the float32 result sums to 1 within float32 rounding.
    psf = np.asarray(psf, dtype=np.float64)
    return (psf / psf.sum()).astype(np.float32)


def _grid(sizes: tuple[int, ...]) -> list[np.ndarray]:
    return np.meshgrid(*[np.arange(s, dtype=np.float64) - s // 2 for s in sizes], indexing="ij")


def gaussian_psf(sigma, *, size=None, ndim=2) -> np.ndarray:
    """Sampled Gaussian PSF; ``sigma`` is one value or one per axis (ZYX order).

    The default side is 2 * ceil(4 * sigma) + 1 per axis, which keeps all but ~1e-4 of the mass;
    an explicit ``size`` (e.g. 25 for protocol A) is honoured.
    """
    if isinstance(ndim, bool) or ndim not in (1, 2, 3):
        raise ValueError(f"ndim is {ndim!r}; accepted: 1, 2 or 3")
    if isinstance(sigma, (Sequence, np.ndarray)) and not isinstance(sigma, str):
        sigma = list(np.ravel(sigma)) if isinstance(sigma, np.ndarray) else sigma
        if len(sigma) != ndim:
            raise ValueError(
                f"sigma has {len(sigma)} values {tuple(sigma)!r} for ndim={ndim}; accepted: one "
                f"value, or exactly {ndim}"
            )
        sigmas = tuple(_positive(s, "sigma") for s in sigma)
    else:
        sigmas = (_positive(sigma, "sigma"),) * ndim
    sizes = _sizes(size, ndim, tuple(2 * math.ceil(4 * s) + 1 for s in sigmas))
    r2 = sum((g / s) ** 2 for g, s in zip(_grid(sizes), sigmas))
    return _normalised(np.exp(-0.5 * r2))


def disk_psf(radius, *, size=None) -> np.ndarray:
    """Uniform disk (geometric defocus) with anti-aliased edge pixels.

    Each pixel holds the fraction of its area inside the circle, estimated on an 8 x 8 sub-pixel
    grid, so the PSF changes smoothly with ``radius`` instead of in whole-pixel steps.
    """
    r = _positive(radius, "radius")
    sizes = _sizes(size, 2, (2 * math.ceil(r) + 1,) * 2)
    k = _SUPERSAMPLE
    sub = (np.arange(k, dtype=np.float64) + 0.5) / k - 0.5
    gy, gx = _grid(sizes)
    yy = gy[:, :, None, None] + sub[None, None, :, None]
    xx = gx[:, :, None, None] + sub[None, None, None, :]
    coverage = (yy**2 + xx**2 <= r * r).mean(axis=(2, 3))
    if coverage.sum() == 0:
        raise ValueError(f"radius is {radius!r}; accepted: a radius covering some pixel area")
    return _normalised(coverage)


def astigmatic_psf(sigma_major, sigma_minor, angle_deg, *, size=None) -> np.ndarray:
    """Anisotropic 2D Gaussian whose major axis is rotated ``angle_deg`` from the X axis.

    The angle turns from +X (columns) towards +Y (rows, downwards on screen), i.e. clockwise as
    displayed. The default side is 2 * ceil(4 * sigma_major) + 1 so every orientation fits.
    """
    smaj = _positive(sigma_major, "sigma_major")
    smin = _positive(sigma_minor, "sigma_minor")
    if smin > smaj:
        raise ValueError(
            f"sigma_minor ({sigma_minor!r}) is larger than sigma_major ({sigma_major!r}); "
            "accepted: sigma_minor <= sigma_major (swap them and add 90 to angle_deg)"
        )
    if isinstance(angle_deg, bool) or not isinstance(angle_deg, Real):
        raise TypeError(f"angle_deg is {angle_deg!r}; accepted: a finite number (degrees)")
    if not math.isfinite(float(angle_deg)):
        raise ValueError(f"angle_deg is {angle_deg!r}; accepted: a finite number (degrees)")
    sizes = _sizes(size, 2, (2 * math.ceil(4 * smaj) + 1,) * 2)
    t = math.radians(float(angle_deg))
    gy, gx = _grid(sizes)
    u = gx * math.cos(t) + gy * math.sin(t)  # along the major axis
    v = -gx * math.sin(t) + gy * math.cos(t)  # along the minor axis
    return _normalised(np.exp(-0.5 * ((u / smaj) ** 2 + (v / smin) ** 2)))


def read_psf(path) -> np.ndarray:
    """Read a 2D (YX) or 3D (ZYX) PSF from a TIFF file.

    Singleton axes are dropped, negative values (background-subtraction undershoot) clipped to 0,
    and each even-length axis padded by one zero plane on the side that brings the intensity
    centroid closer to the centre, so the PSF has a centre pixel. Returns float32 summing to 1.
    """
    import tifffile

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path is a {type(path).__name__}; accepted: a str or os.PathLike")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path {str(path)!r} is not a file; accepted: a .tif/.tiff PSF")
    data = np.squeeze(tifffile.imread(path))
    if data.size == 0:
        raise ValueError(f"the PSF in {str(path)!r} is empty (shape {data.shape})")
    if data.dtype.kind not in "uif":
        raise ValueError(
            f"the PSF in {str(path)!r} has dtype {data.dtype}; accepted: integer or float pixels"
        )
    if data.ndim not in (2, 3):
        raise ValueError(
            f"the PSF in {str(path)!r} has shape {data.shape} after dropping singleton axes; "
            "accepted: 2D (YX) or 3D (ZYX)"
        )
    psf = data.astype(np.float64)
    if not np.all(np.isfinite(psf)):
        raise ValueError(f"the PSF in {str(path)!r} holds NaN or infinite values")
    psf = np.clip(psf, 0.0, None)
    total = psf.sum()
    if total <= 0:
        raise ValueError(
            f"the PSF in {str(path)!r} has no positive values (shape {data.shape}); accepted: a "
            "PSF with positive total intensity"
        )
    for axis, n in enumerate(psf.shape):
        if n % 2 == 0:
            profile = psf.sum(axis=tuple(a for a in range(psf.ndim) if a != axis))
            centroid = float((profile * np.arange(n)).sum() / total)
            # After padding to n + 1 the centre index is n / 2; padding in front shifts by one.
            front = abs(centroid + 1 - n / 2) < abs(centroid - n / 2)
            widths = [(0, 0)] * psf.ndim
            widths[axis] = (1, 0) if front else (0, 1)
            psf = np.pad(psf, widths)
    return _normalised(psf)


def _numbers(text: str, counts: tuple[int, ...], spec: str) -> list[float]:
    try:
        values = [float(p) for p in text.split(",")]
    except ValueError:
        values = []
    if len(values) not in counts:
        raise ValueError(f"psf spec {spec!r} is not understood; accepted: {_SPEC_FORMS}")
    return values


def parse_psf(spec) -> np.ndarray:
    """Build a PSF from a short text spec (see the accepted forms in the error message)."""
    if isinstance(spec, os.PathLike):
        return read_psf(spec)
    if not isinstance(spec, str):
        raise TypeError(f"spec is a {type(spec).__name__}; accepted: a str, {_SPEC_FORMS}")
    text = spec.strip()
    kind, sep, rest = text.partition(":")
    kind = kind.strip().lower()
    if sep and kind == "gaussian":
        values = _numbers(rest, (1, 2), spec)
        return gaussian_psf(values[0] if len(values) == 1 else tuple(values), ndim=2)
    if sep and kind == "disk":
        return disk_psf(_numbers(rest, (1,), spec)[0])
    if sep and kind == "astig":
        smaj, smin, angle = _numbers(rest, (3,), spec)
        return astigmatic_psf(smaj, smin, angle)
    if text.lower().endswith((".tif", ".tiff")):
        return read_psf(text)
    raise ValueError(f"psf spec {spec!r} is not understood; accepted: {_SPEC_FORMS}")
