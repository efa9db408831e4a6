"""The bead options of :func:`.beads.psf_from_beads` (``threshold=``, ``radius=``), checked
alone: the docks' "PSF from beads..." chooser refuses what the measurement would, before it
closes."""

from __future__ import annotations

import math
from numbers import Integral, Real

__all__ = ["check_radius", "check_threshold"]


def check_radius(radius, ndim: int | None = None) -> tuple[int, ...] | None:
    """``radius=`` of :func:`psf_from_beads` as one radius per axis (None: from the beads'
    width); ValueError unless whole pixels from 1 to 256, one value or ``ndim`` of them (any
    count up to 3 where ``ndim`` is not known yet: the docks' chooser, before an image)."""
    if radius is None:
        return None
    values = tuple(radius) if isinstance(radius, (tuple, list)) else (radius,) * (ndim or 1)
    counts = (ndim,) if ndim else (1, 2, 3)
    if len(values) not in counts or not all(isinstance(r, Integral) and not isinstance(r, bool)
                                            and 1 <= r <= 256 for r in values):
        of = f"{ndim} of them" if ndim else "one per axis"
        raise ValueError(f"radius is {radius!r}; accepted: None (from the beads' width), or an "
                         f"integer from 1 to 256, or {of} (half the PSF's side per axis, "
                         "pixels)")
    return tuple(int(r) for r in values)


def check_threshold(threshold) -> float | None:
    """``threshold=`` of :func:`psf_from_beads` as a float (None: 8 noise sigmas); TypeError or
    ValueError unless a finite number > 0."""
    if threshold is None:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, Real):
        raise TypeError(f"threshold is {threshold!r}; accepted: None or a number > 0")
    height = float(threshold)
    if not (math.isfinite(height) and height > 0):
        raise ValueError(f"threshold is {threshold!r}; accepted: None or a number > 0")
    return height
