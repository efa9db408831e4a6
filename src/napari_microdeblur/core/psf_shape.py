"""A PSF's widths as a caption says them: the FWHM along Y and X (``fwhm``, also
``beads.fwhm``), or, for a PSF elongated obliquely (astigmatism at an angle), along its own
long and short axes, which the Y and X profiles understate ('astig:2.31,0.61,30' read
1.6 x 2.7 px; its long axis is 5.4 px)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["fwhm", "fwhm_words", "in_focus_words", "peak_centre", "principal_fwhm",
           "profile_fwhm"]

ROUND_SHAPE = 0.05  # second moments this close: a round PSF, no long axis to name
AXIS_ALIGNED_DEG = 2.0  # a long axis this close to Y or X: the Y and X profiles are its widths
_PLATEAU = 1e-6  # values this close to the maximum (relative) are one flat top


def peak_centre(psf: np.ndarray) -> tuple[int, ...]:
    """The voxel the PSF's profiles go through: its brightest, or for a flat top (a disk, a
    clipped bead) the one of that top nearest its middle. The first maximum in C order is a
    corner of a flat top: 'disk:3' measured 5.5 x 4.5 px through it (6 x 6 through its
    middle)."""
    from scipy import ndimage

    first = tuple(int(v) for v in np.unravel_index(int(np.argmax(psf)), psf.shape))
    flat = psf >= psf[first] * (1 - _PLATEAU)
    if psf[first] <= 0 or np.count_nonzero(flat) == 1:  # a single brightest voxel: as before
        return first
    labels, _ = ndimage.label(flat, structure=np.ones((3,) * psf.ndim))
    top = np.argwhere(labels == labels[first])
    # the top's voxel nearest its centroid (a ring-shaped top has its centroid outside it)
    nearest = top[int(np.argmin(((top - top.mean(axis=0)) ** 2).sum(axis=1)))]
    return tuple(int(v) for v in nearest)


def fwhm(psf: np.ndarray) -> tuple[float, ...]:
    """Full width at half maximum along each axis through the brightest voxel (the middle of a
    flat top: ``peak_centre``), in pixels (linear interpolation between samples; the full axis
    length when it never falls to half)."""
    psf = np.asarray(psf, dtype=np.float64)
    peak_at = peak_centre(psf)
    widths = []
    for axis in range(psf.ndim):
        index = list(peak_at)
        index[axis] = slice(None)
        line = psf[tuple(index)] / psf[peak_at]
        c = peak_at[axis]
        left = right = None
        # a sample at exactly half is the crossing (a disk's edge pixel at the array's end)
        for i in range(c, 0, -1):
            if line[i - 1] <= 0.5:
                left = i - (line[i] - 0.5) / (line[i] - line[i - 1])
                break
        for i in range(c, len(line) - 1):
            if line[i + 1] <= 0.5:
                right = i + (line[i] - 0.5) / (line[i] - line[i + 1])
                break
        widths.append(float(len(line)) if left is None or right is None else float(right - left))
    return tuple(widths)


def fwhm_words(psf: np.ndarray, in_focus: np.ndarray) -> str:
    """'FWHM [z x] y x x px', or 'FWHM [z x] long x short px along its axes at A and B deg'
    for a PSF whose in-focus plane ``in_focus`` is elongated obliquely."""
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
    peak = peak_centre(plane)
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
