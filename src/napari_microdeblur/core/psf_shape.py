"""A PSF's widths as a caption says them: the FWHM along Y and X (``beads.fwhm``), or, for a
PSF elongated obliquely (astigmatism at an angle), along its own long and short axes, which
the Y and X profiles understate ('astig:2.31,0.61,30' read 1.6 x 2.7 px; its long axis is
5.4 px)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["fwhm_words", "in_focus_words", "principal_fwhm", "profile_fwhm"]

ROUND_SHAPE = 0.05  # second moments this close: a round PSF, no long axis to name
AXIS_ALIGNED_DEG = 2.0  # a long axis this close to Y or X: the Y and X profiles are its widths


def fwhm_words(psf: np.ndarray, in_focus: np.ndarray) -> str:
    """'FWHM [z x] y x x px', or 'FWHM [z x] long x short px along its axes at A and B deg'
    for a PSF whose in-focus plane ``in_focus`` is elongated obliquely."""
    from .beads import fwhm

    widths = fwhm(psf)  # Z (of a 3D PSF), Y, X
    principal = principal_fwhm(in_focus)
    if principal is None:
        return "FWHM " + " x ".join(f"{w:.2g}" for w in widths) + " px"
    long_axis, short_axis, angle = principal
    depth = f"{widths[0]:.2g} x " if psf.ndim == 3 else ""
    return (f"FWHM {depth}{long_axis:.2g} x {short_axis:.2g} px along its axes at "
            f"{angle:.0f} and {(angle + 90) % 180:.0f} deg")


def principal_fwhm(plane) -> tuple[float, float, float] | None:
    """(FWHM along the long axis, along the short axis, the long axis's angle in degrees from
    +X towards +Y, as 'astig:' takes it) of a 2D PSF elongated obliquely, its axes those of
    its second moments above a tenth of the peak (no background; a soft cut, as a hard one
    turned the axes by a degree or two on the pixel grid); None for a round PSF or
    one elongated along Y or X, whose widths the profiles along Y and X give."""
    plane = np.asarray(plane, dtype=np.float64)
    peak = np.unravel_index(int(np.argmax(plane)), plane.shape)
    weights = np.clip(plane - 0.1 * plane[peak], 0.0, None)
    gy, gx = np.indices(plane.shape, dtype=np.float64)
    total = weights.sum()
    dy = gy - (weights * gy).sum() / total
    dx = gx - (weights * gx).sum() / total
    moments = np.array([[(weights * dy * dy).sum(), (weights * dy * dx).sum()],
                        [(weights * dy * dx).sum(), (weights * dx * dx).sum()]]) / total
    values, vectors = np.linalg.eigh(moments)  # ascending: the long axis last
    if values[1] - values[0] <= ROUND_SHAPE * values.sum():
        return None
    angle = math.degrees(math.atan2(vectors[0, 1], vectors[1, 1])) % 180.0
    if min(angle % 90.0, 90.0 - angle % 90.0) < AXIS_ALIGNED_DEG:
        return None
    return (profile_fwhm(plane, peak, angle), profile_fwhm(plane, peak, angle + 90.0),
            angle)


def profile_fwhm(plane: np.ndarray, peak, angle: float, step: float = 0.05) -> float:
    """FWHM of the profile through ``peak`` at ``angle`` (degrees from +X towards +Y), cubic
    interpolation between pixels; a side that never falls to half counts to the edge."""
    from scipy.ndimage import map_coordinates

    t = math.radians(angle)
    reach = np.arange(0.0, float(np.hypot(*plane.shape)), step)
    width = 0.0
    for sign in (1.0, -1.0):
        y, x = peak[0] + sign * reach * math.sin(t), peak[1] + sign * reach * math.cos(t)
        inside = (y >= 0) & (y <= plane.shape[0] - 1) & (x >= 0) & (x <= plane.shape[1] - 1)
        n = len(reach) if inside.all() else int(np.argmin(inside))
        line = map_coordinates(plane, [y[:n], x[:n]], order=3) / plane[peak]
        below = np.nonzero(line < 0.5)[0]
        if below.size == 0:
            width += reach[n - 1]
            continue
        i = int(below[0])
        width += reach[i - 1] + step * (line[i - 1] - 0.5) / (line[i - 1] - line[i])
    return float(width)


def in_focus_words(kernel) -> str | None:
    """'z=2 of 5': the in-focus plane (``psf.in_focus_plane``) of a PSF with several planes,
    as the docks name the plane a 2D network takes; None for a 2D (or one-plane) PSF."""
    from .psf import in_focus_plane

    kernel = np.asarray(kernel)
    if kernel.ndim != 3 or kernel.shape[0] < 2:
        return None
    return f"z={in_focus_plane(kernel)[1]} of {kernel.shape[0]}"
