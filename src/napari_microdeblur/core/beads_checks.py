"""The bead options of :func:`.beads.psf_from_beads` (``threshold=``, ``radius=``), checked
alone: the docks' "PSF from beads..." chooser refuses what the measurement would, before it
closes; and the warning of a given radius that cut the PSF (``cut_radius_warning``)."""

from __future__ import annotations

import math
from numbers import Integral, Real

__all__ = ["MAX_RADIUS", "check_radius", "radius_words", "check_threshold", "cut_radius_warning"]

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
