"""Whether a run kept the image's total intensity, and the line where it did not.

Wiener, Richardson-Lucy and the PSF-aware network keep an image's total (its summed
intensity, in the image's own units) within 0.01 %; the blind networks learned their output
and lower it on low-count images: ``c2f_unet.fluorescence_v2`` took -18 % at 0.05 photons a
pixel, -12 % at 0.3, -7 % at 1, -4.3 % at 3 and -2.6 % at 10 (a HT29 Hoechst crop blurred
with sigma 1.7 and given Poisson noise), while on 14 ordinary crops of the project's data
(8 fluorescence, 3 EM, 3 brightfield/histology, their default networks) it moved by at most
1.2 % (a dim 8-bit HT29 frame, mean 10 grey levels; the rest 0.0-0.35 %). So a network run
that moves the total by more than ``TOTAL_CHANGE`` gets a ``DeblurNote`` (``network_note``).

An output rounded to an integer type moves the total too (background values of 0.08 round to
0: Wiener on a 0.3 photons/px frame lost 24 %): the totals go to the run's
``output_cast.OutputCast`` tally, whose rounding note says the change past the same threshold.

The output's totals are summed as it is written (``SummedWrites``: a TIFF written region by
region, a Zarr chunk by chunk, cost one float64 sum per written block); where a pixel was
written twice (an edge fill put back, a plane rerun with smaller tiles) a readable output is
summed again after the run, a write-only one is not checked. The input is summed after the run,
a band at a time, where it is a numpy array (in memory or memory-mapped) or an uncompressed
TIFF read region by region (``io.TiffArray``): a Zarr or dask input is not checked, as
summing it would read (or compute) the whole of it a second time. Totals are in the image's
units, not the network's normalised ones; an image whose total is not mostly positive
(background-subtracted: a total near 0) gets no percentage."""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import numpy as np

from . import output_cast
from .notes import DeblurNote

#: a network run moving the total (or a plane's) by more than this share gets a note
TOTAL_CHANGE = 0.02
#: a total is compared only where it is at least this share of the summed absolute values
#: (a background-subtracted image's total, near 0, gives no sensible percentage)
MOSTLY_POSITIVE = 0.5
#: a plane is compared only where its total is at least this share of the mean plane's
DIM_PLANE = 0.1
#: the most elements summed at once (a band of rows)
BAND_ELEMENTS = 1 << 22
#: what keeps totals, in words every front end shares
KEEPS_TOTALS = ("Richardson-Lucy and Wiener with a PSF, or the PSF-aware network (a PSF "
                "given), keep totals within 0.01 %")


class SummedWrites:
    """``target`` (an output array) whose writes are summed per plane as they are made."""

    def __init__(self, target):
        self.target = target
        self.sums: dict[tuple, float] = {}
        self.counts: dict[tuple, int] = {}

    def __setitem__(self, key, value) -> None:
        self.target[key] = value
        plane = _plane_of(key)
        value = np.asarray(value)
        self.sums[plane] = self.sums.get(plane, 0.0) + float(value.sum(dtype=np.float64))
        self.counts[plane] = self.counts.get(plane, 0) + value.size

    def __getitem__(self, key):
        return self.target[key]

    def __getattr__(self, name):
        return getattr(self.target, name)


def _plane_of(key) -> tuple:
    """The loop axes' indices of a ``Layout.index`` key (the spatial axes are slices)."""
    key = key if isinstance(key, tuple) else (key,)
    return tuple(int(k) for k in key if not isinstance(k, slice))


def noted(run, prepared, image, out):
    """``run(image, out, ...)`` (``inference._run``) of ``prepared``, with its output's total
    checked at the end: a network's change said (``network_note``), an integer output's totals
    given to the rounding tally. As it was where neither applies (classical to float32)."""
    args = (prepared.output_dtype, prepared.method, prepared.normalization, prepared.layout,
            prepared.options)
    rounded = np.dtype(prepared.output_dtype).kind in "iu"
    rereadable = isinstance(image, np.ndarray) or getattr(image, "cheap_regions", False)
    if (prepared.method.is_classical and not rounded) or not rereadable:
        return run(image, out, *args)  # a Zarr or dask input is not read twice to sum it
    return _checked(run(image, summed := SummedWrites(out), *args), prepared, image, summed)


def _checked(steps, prepared, image, summed: SummedWrites):
    result = yield from steps
    result = replace(result, image=summed.target)  # the caller's array, not the wrapper
    totals = plane_totals(prepared.layout, image, summed)
    if totals is None:
        return result
    before, after = (sum(t[i] for t in totals.values()) for i in (0, 1))
    if np.dtype(prepared.output_dtype).kind in "iu" and (tally := output_cast.active()):
        tally.add_totals(before, after, sum(t[2] for t in totals.values()))
    if not prepared.method.is_classical and (note := network_note(prepared.layout, totals)):
        warnings.warn(note, DeblurNote, stacklevel=2)
    return result


def plane_totals(layout, image, summed: SummedWrites) -> dict | None:
    """{plane: (input total, output total, input's summed absolute values)}; None where the
    output cannot be summed (written twice and not readable)."""
    size = math.prod(layout.spatial_shape) * layout.channels
    rewritten = any(summed.counts.get(p, 0) != size for p in layout.planes)
    if rewritten:
        try:
            summed.target[(slice(0, 1),) * len(layout.axes)]
        except TypeError:  # a write-only TIFF
            return None
    totals = {}
    for plane in layout.planes:
        total, magnitude = _summed(layout, image, plane)
        after = _summed(layout, summed.target, plane)[0] if rewritten else summed.sums[plane]
        totals[plane] = (total, after, magnitude)
    return totals


def _summed(layout, array, plane) -> tuple[float, float]:
    """(total, summed absolute values) of ``array``'s ``plane``, a band of rows at a time."""
    spatial = layout.spatial_shape
    rows = max(1, BAND_ELEMENTS // max(1, math.prod(spatial[1:]) * layout.channels))
    total = magnitude = 0.0
    for first in range(0, spatial[0], rows):
        region = (slice(first, min(first + rows, spatial[0])),
                  *(slice(0, n) for n in spatial[1:]))
        band = layout.read(array, plane, region)
        part = float(band.sum(dtype=np.float64))
        total += part
        # an unsigned band's absolute values are its values
        magnitude += part if band.dtype.kind == "u" else float(np.abs(band).sum(dtype=np.float64))
    return total, magnitude


def change(before: float, after: float, magnitude: float) -> float | None:
    """The total's relative change, or None where ``before`` is not mostly positive."""
    if not before > 0 or before < MOSTLY_POSITIVE * magnitude:
        return None
    return after / before - 1


def network_note(layout, totals: dict) -> str:
    """The line a network run gives where it moved the total (or a plane's) by more than
    ``TOTAL_CHANGE``; '' otherwise."""
    before, after, magnitude = (sum(t[i] for t in totals.values()) for i in (0, 1, 2))
    whole = change(before, after, magnitude)
    several = len(totals) > 1
    what = "the stack's" if several else "the image's"
    if whole is not None and abs(whole) > TOTAL_CHANGE:
        said = f"{what} total intensity by {100 * whole:+.2g} % ({before:.6g} -> {after:.6g})"
    elif several:
        mean = before / len(totals)
        changes = {p: c for p, (b, a, m) in totals.items()
                   if b >= DIM_PLANE * mean and (c := change(b, a, m)) is not None}
        worst = max(changes, key=lambda p: abs(changes[p]), default=None)
        if worst is None or abs(changes[worst]) <= TOTAL_CHANGE:
            return ""
        where = ", ".join(f"{a}={i}" for a, i in zip(layout.loop_axes, worst))
        said = f"the total intensity of plane {where} by {100 * changes[worst]:+.2g} %"
    else:
        return ""
    return (f"the network changed {said}: blind networks do not keep totals, least on "
            f"low-count images; to measure intensities, {KEEPS_TOTALS}")
