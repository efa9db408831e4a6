"""The bead options of :func:`.beads.psf_from_beads` (``threshold=``, ``radius=``), checked
alone: the docks' "PSF from beads..." chooser refuses what the measurement would, before it
closes; the warning of a given radius that cut the PSF (``cut_radius_warning``); and why a
bead image failed where its beads crowd (``too_dense``) or the camera clipped it
(``crowd_words``)."""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

__all__ = ["MAX_RADIUS", "check_radius", "radius_words", "check_threshold", "cut_radius_warning",
           "too_dense", "crowd_words"]

_SMOOTH_PIXELS = 0.85  # neighbours differing under this share of what noise makes: bead light
_OVERLAP = 0.2  # light between two peaks above this share of the lower one: they overlap
_DENSE_PEAKS = 50  # the brightest maxima judged
#: What a failure adds where ``too_dense``: lowering the threshold or the radius does not help.
DENSE_WORDS = ("the beads are too dense to isolate (most of the brightest overlap their nearest "
               "one, and their light, over most of the image, inflated the noise and width "
               "measured): image a sparser bead slide (fewer beads per area) or crop a region "
               "with fewer beads")
#: ... and where the image's maximum sits at a ceiling (``beads._clipped``).
CLIPPED_WORDS = ("the image's maximum sits at a ceiling (the dtype's maximum, or a plateau of "
                 "pixels): a bead with a pixel at the camera's ceiling is clipped: record the "
                 "beads with a shorter exposure or lower gain")

MAX_RADIUS = 256  # pixels: the largest radius= taken
_CUT_FACTOR = 1.1  # a given radius under this many FWHM cuts the PSF (``cut_radius_warning``)
_BLANK = "or leave it out for the beads' width"


def radius_words(radius) -> str:
    """A radius as both front ends take it, one value or one per axis ('7', '12,7,7'): the
    CLI's --radius and the chooser's PSF radius read it as written (a tuple's repr had needed
    a rewrite in each)."""
    if isinstance(radius, (tuple, list)) and all(isinstance(r, Integral) for r in radius):
        return ",".join(str(int(r)) for r in radius)
    return str(radius) if isinstance(radius, Integral) else repr(radius)


def check_radius(radius, ndim: int | None = None) -> tuple[int, ...] | None:
    """``radius=`` of :func:`psf_from_beads` as one radius per axis (None: from the beads'
    width); ValueError unless whole pixels from 1 to 256, one value or ``ndim`` of them (any
    count up to 3 where ``ndim`` is not known yet: the docks' chooser, before an image). The
    messages open with ``radius=``: the CLI says it as --radius (cli_words), the docks as
    their PSF radius (``_bead_chooser.bead_error_words``)."""
    if radius is None:
        return None
    values = tuple(radius) if isinstance(radius, (tuple, list)) else (radius,) * (ndim or 1)
    given = radius_words(radius)
    if not all(isinstance(r, Integral) and not isinstance(r, bool) and 1 <= r <= MAX_RADIUS
               for r in values):
        raise ValueError(f"radius={given}: give whole pixels from 1 to {MAX_RADIUS} (half "
                         f"the PSF's side), one value or one per axis, {_BLANK}")
    if ndim and len(values) != ndim:
        axes = "ZYX"[-ndim:] if ndim in (2, 3) else f"{ndim} axes"
        raise ValueError(f"radius={given} has {len(values)} values for a {ndim}D image: give "
                         f"one value, or {ndim} of them (one per axis, {axes}), {_BLANK}")
    if not ndim and len(values) not in (1, 2, 3):
        raise ValueError(f"radius={given} has {len(values)} values: give one value, or one "
                         f"per axis (2 for YX, 3 for ZYX), {_BLANK}")
    return tuple(int(r) for r in values)


def cut_radius_warning(radius, radii, widths, auto) -> str:
    """One line when the given ``radius`` (per axis: ``radii``) cuts the PSF, else "": some
    radius under 1.1 x the PSF's FWHM measured along it (``widths``; the axis' whole length
    where it never falls to half). The light past the box is then taken for background and
    the PSF comes out too narrow. Measured on noisy Gaussian beads (FWHM 1.7-8.3 px): at a
    radius of 1.1 FWHM the FWHM is 1 % short, at 1.0 FWHM 3 %, at 0.9 FWHM 4-6 % (radius 3
    at a true FWHM of 3.5 px gave 3.36), at 0.75 FWHM 15-25 %; from 1.15 FWHM on, 0-0.5 %.
    ``auto``: the radii leaving it out takes (2.5 x the beads' FWHM), said as the one to
    give."""
    cut = [r < _CUT_FACTOR * w for r, w in zip(radii, widths)]
    if not any(cut):
        return ""
    names = "ZYX"[-len(radii):]
    where = ", ".join(f"{w:.2f} px along {a}" for a, w, c in zip(names, widths, cut) if c)
    better = tuple(max(int(a), r + 1) if c else r for a, r, c in zip(auto, radii, cut))
    give = better[0] if len(set(better)) == 1 else better
    return (f"radius={radius_words(radius)} cuts the PSF: its FWHM ({where}) is over the "
            f"radius / {_CUT_FACTOR:g}, so the beads' light past the box was taken for background "
            f"and the PSF came out too narrow; give radius={radius_words(give)} (the beads' "
            "width: 2.5 x their "
            f"FWHM, as leaving it out takes) or a radius over {_CUT_FACTOR:g} x the true FWHM")


def check_threshold(threshold) -> float | None:
    """``threshold=`` of :func:`psf_from_beads` as a float (None: 8 noise sigmas); TypeError or
    ValueError unless a finite number > 0."""
    if threshold is None:
        return None
    fix = ("give a number above 0 (the least peak height of a bead, in the image's units), "
           "or leave it out for 8 noise sigmas")
    if isinstance(threshold, bool) or not isinstance(threshold, Real):
        raise TypeError(f"threshold={threshold!r}: {fix}")
    height = float(threshold)
    if not (math.isfinite(height) and height > 0):
        raise ValueError(f"threshold={threshold!r}: {fix}")
    return height


def crowd_words(dense: bool, clipped: bool) -> str:
    """What a failed bead search adds: ': the beads are too dense ...' and '; the image's
    maximum sits at a ceiling ...' where each applies; else ''."""
    return (f": {DENSE_WORDS}" if dense else "") + (f"; {CLIPPED_WORDS}" if clipped else "")


def too_dense(data: np.ndarray, smooth: np.ndarray, background: np.ndarray) -> bool:
    """Whether the beads of ``data`` (``smooth``: lightly smoothed; ``background``: the large
    scale one) crowd: its typical pixel holds bead light (the robust spread of neighbour
    differences under 0.85 x what noise alone gives, sqrt(2) x the pixels' spread) and most of
    the 50 brightest maxima (over a quarter of the brightest's height) overlap their nearest
    one (the light between them, over the pair's local floor, above 20 % of the lower peak).
    On Poisson Gaussian beads (sigma 1-2.5 px) 5-10 px apart: 0.23-0.73 and 58-100 %;
    14-30 px apart: 0-11 % overlap; noise alone: 1.05 (its maxima overlap)."""
    from scipy import ndimage

    flat = data - background
    spread = _spread(flat)
    steps = np.concatenate([np.diff(flat, axis=a).ravel() for a in range(flat.ndim)])
    if not spread > 0 or _spread(steps) >= _SMOOTH_PIXELS * math.sqrt(2) * spread:
        return False
    lifted = smooth - background
    level = float(np.median(lifted))
    top = lifted == ndimage.maximum_filter(lifted, size=3)
    peaks = np.argwhere(top & (lifted > level + 0.25 * (lifted.max() - level)))
    peaks = peaks[np.argsort(-lifted[tuple(peaks.T)])][:_DENSE_PEAKS]
    if len(peaks) < 2:
        return False
    overlaps = [_overlap(smooth, peaks, i) for i in range(len(peaks))]
    return float(np.mean(overlaps)) > 0.5


def _spread(values: np.ndarray) -> float:
    return 1.4826 * float(np.median(np.abs(values - np.median(values))))


def _overlap(smooth: np.ndarray, peaks: np.ndarray, i: int) -> bool:
    """Whether peak ``i`` and its nearest peak overlap: the least light on the line between
    them stands over 20 % of the lower peak above the least light of the box around them."""
    p = peaks[i]
    distance = np.linalg.norm(peaks - p, axis=1)
    distance[i] = np.inf
    q, reach = peaks[int(np.argmin(distance))], int(math.ceil(distance.min()))
    line = np.round(p + np.outer(np.linspace(0, 1, 2 * reach + 1), q - p)).astype(int)
    valley = float(smooth[tuple(line.T)].min())
    low = np.maximum(np.minimum(p, q) - reach, 0)
    box = tuple(slice(a, b + reach + 1) for a, b in zip(low, np.maximum(p, q)))
    floor = float(smooth[box].min())
    lower = min(float(smooth[tuple(p)]), float(smooth[tuple(q)]))
    return lower > floor and valley - floor > _OVERLAP * (lower - floor)
