"""Whether a run kept the image's total intensity, and the line where it did not.

Wiener, Richardson-Lucy and the PSF-aware network keep an image's total (its summed
intensity, in the image's own units) within 0.01 %; the blind networks learned their output
and lower it on low-count images: ``c2f_unet.fluorescence_v2`` took -18 % at 0.05 photons a
pixel, -12 % at 0.3, -7 % at 1, -4.3 % at 3 and -2.6 % at 10 (a HT29 Hoechst crop blurred
with sigma 1.7 and given Poisson noise), while on 14 ordinary crops of the project's data
(8 fluorescence, 3 EM, 3 brightfield/histology, their default networks) it moved by at most
1.2 % (a dim 8-bit HT29 frame, mean 10 grey levels; the rest 0.0-0.35 %). So a network run
that moves the total by more than ``TOTAL_CHANGE`` gets a ``DeblurNote`` (``network_note``):
the whole's change, else the worst plane's (a Z or T stack), else the worst channel's (the
channels one network pass takes together, CYX or RGB: a dim channel's change is lost in the
whole's).

The network's change is that of its result before any rounding: an output of an integer type
is written by way of the float result (``SummedWrites``: the run writes the float values, each
block summed, then rounded and clipped here as ``Normalization.undo`` would have, bit for bit),
so the rounding note of the run's ``output_cast.OutputCast`` tally says what rounding and
clipping alone moved (the float result's total against the output's: background values of 0.08
round to 0, Wiener on a 0.3 photons/px frame lost 24 %), past the same threshold.

What is checked: the output's totals are summed as it is written (a TIFF written region by
region, a Zarr chunk by chunk, cost one float64 sum per written block); where a pixel was
written twice (an edge fill put back, a plane rerun with smaller tiles) a readable output is
summed again after the run, a write-only one is not checked. The input is summed after the run,
a band at a time, where the run holds it as a numpy array (in memory or memory-mapped: a Zarr
or dask input small enough to have been read whole for the normalisation is one) or as an
uncompressed TIFF read region by region (``io.TiffArray``); a larger Zarr or dask input (read
plane by plane) gets no network note, as summing it would read (or compute) it a second time,
though its rounding note still says the total rounding moved. Totals are in the image's units,
not the network's normalised ones; an image whose total is not mostly positive
(background-subtracted: a total near 0) gets no percentage."""

from __future__ import annotations

import contextlib
import math
import threading
import warnings
from dataclasses import dataclass, replace

import numpy as np

from . import output_cast, tiling
from .notes import DeblurNote

#: a network run moving the total (or a plane's, or a channel's) by more than this share gets
#: a note
TOTAL_CHANGE = 0.02
#: a total is compared only where it is at least this share of the summed absolute values
#: (a background-subtracted image's total, near 0, gives no sensible percentage)
MOSTLY_POSITIVE = 0.5
#: a run moving the total above the input's offset (its minimum, per plane and channel, where
#: 0 or more: a camera's) by more than this share gets a note too: an offset of 100 hid a 30 %
#: cut of the signal above it (under 1 % of the whole). Above the minimum, the default networks
#: moved ordinary crops by up to -4.9 % (a dim 8-bit HT29 frame; BBBC006 -4.3 %, the rest
#: under 2 %), so raw totals keep ``TOTAL_CHANGE`` and these get twice the worst
ABOVE_OFFSET_CHANGE = 0.10
#: a plane is compared only where its total is at least this share of the mean plane's
DIM_PLANE = 0.1
#: the most elements summed at once (a band of rows)
BAND_ELEMENTS = 1 << 22
#: what keeps totals, in words every front end shares
KEEPS_TOTALS = ("Richardson-Lucy and Wiener with a PSF, or the PSF-aware network (a PSF "
                "given), keep totals within 0.01 %")


class SummedWrites:
    """``target`` (an output array) whose writes are summed per plane and channel as they are
    made. With ``rounds_to`` (the output's integer type) the writes come as the float result,
    are summed so, then rounded and clipped to it (counted in the open ``OutputCast`` tally)
    and summed again: ``floats`` less ``sums`` is what rounding moved. The input's own values
    passed through are not counted, as before the float result was written: a flat plane
    (``flat_planes.write_flat``) and an edge fill's values (``edge_fill``) are written in
    the output's own type (``dtype`` is the target's). A computed plane that happens to be
    flat comes as floats and is counted."""

    def __init__(self, target, layout, rounds_to=None):
        self.target, self.rounds_to = target, rounds_to
        # the written values' channel axis (they come in the layout's region order)
        self._channel_at = (layout.region_axes.index(layout.channel_axis)
                            if layout.channel_axis else None)
        self.sums: dict[tuple, np.ndarray] = {}
        self.floats: dict[tuple, np.ndarray] = {}
        self.counts: dict[tuple, int] = {}

    def __setitem__(self, key, value) -> None:
        value = np.asarray(value)
        plane = _plane_of(key)
        floats = self._per_channel(value)
        if self.rounds_to is not None and value.dtype.kind == "f":
            value = tiling.map_in_pieces(value, self.rounds_to, _as_is, value.dtype)
        self.target[key] = value
        sums = self._per_channel(value)
        self.floats[plane] = self.floats.get(plane, 0.0) + floats
        self.sums[plane] = self.sums.get(plane, 0.0) + sums
        self.counts[plane] = self.counts.get(plane, 0) + value.size

    def _per_channel(self, value: np.ndarray) -> np.ndarray:
        if self._channel_at is None:
            return np.array([value.sum(dtype=np.float64)])
        rest = tuple(i for i in range(value.ndim) if i != self._channel_at)
        return value.sum(axis=rest, dtype=np.float64)

    def __getitem__(self, key):
        return self.target[key]

    def __getattr__(self, name):
        return getattr(self.target, name)


def _as_is(p: np.ndarray) -> np.ndarray:
    return p


def _plane_of(key) -> tuple:
    """The loop axes' indices of a ``Layout.index`` key (the spatial axes are slices)."""
    key = key if isinstance(key, tuple) else (key,)
    return tuple(int(k) for k in key if not isinstance(k, slice))


def _float_type(prepared):
    """The float type ``Normalization.undo`` works an integer output in (None for a float
    output): the run writes that, ``SummedWrites`` rounds it as undo would have."""
    if np.dtype(prepared.output_dtype).kind not in "iu":
        return None
    norm = prepared.normalization
    scale, offset = (1, 0) if norm.kind == "none" else (norm.scale, norm.offset)
    return tiling.work_type(prepared.output_dtype, scale, offset)


def noted(run, prepared, image, out):
    """``run(image, out, ...)`` (``inference._run``) of ``prepared``, with its output's total
    checked at the end: a network's change said (``network_note``), an integer output's
    rounding given to the rounding tally. As it was where neither applies (classical to
    float32; a network to float32 from an input not read twice, a Zarr's or dask's)."""
    float_type = _float_type(prepared)
    if float_type is None and not _network_noted(prepared, image):
        return run(image, out, prepared.output_dtype, *_rest(prepared))
    dtype = None if float_type is None else np.dtype(prepared.output_dtype)
    summed = SummedWrites(out, prepared.layout, dtype)
    steps = run(image, summed, float_type or prepared.output_dtype, *_rest(prepared))
    return _checked(steps, prepared, image, summed)


def _rereadable(image) -> bool:
    """Whether the input is summed after the run (not a Zarr or dask input read plane by
    plane: summing it would read or compute it a second time)."""
    return isinstance(image, np.ndarray) or getattr(image, "cheap_regions", False)


def _network_noted(prepared, image) -> bool:
    """Whether the run may get a ``network_note``: a network's, of an input summed again,
    outside ``unsaid``."""
    return (not prepared.method.is_classical and not getattr(_unsaid, "depth", 0)
            and _rereadable(image))


_unsaid = threading.local()


@contextlib.contextmanager
def unsaid():
    """Runs on this thread whose result is not the user's image (a fine-tune's comparison
    of its held-out band, self-adaptation's look at its start) get no ``network_note``: an
    untrained network's note on a band had replaced the dock's "fine-tuning finished" line."""
    _unsaid.depth = getattr(_unsaid, "depth", 0) + 1
    try:
        yield
    finally:
        _unsaid.depth -= 1


def _rest(prepared) -> tuple:
    return prepared.method, prepared.normalization, prepared.layout, prepared.options


@dataclass
class PlaneTotals:
    """One plane's totals, per channel: the input's, the float result's, the output's (the
    float result rounded), the input's summed absolute values and its offset (its minimum
    where 0 or more) times the pixels."""

    before: np.ndarray
    result: np.ndarray
    after: np.ndarray
    magnitude: np.ndarray
    offset: np.ndarray


def _checked(steps, prepared, image, summed: SummedWrites):
    result = yield from steps
    result = replace(result, image=summed.target)  # the caller's array, not the wrapper
    noted_here = _network_noted(prepared, image)
    tally = output_cast.active() if summed.rounds_to is not None else None
    # the output is read back where it was written twice (an edge fill): only for a use
    if not noted_here and tally is None:
        return result
    after = output_totals(prepared.layout, summed)
    if after is None:
        return result
    rereadable = _rereadable(image)
    totals = plane_totals(prepared.layout, image, summed, after) if rereadable else None
    if tally is not None:
        results = sum(summed.floats[p] + after[p] - summed.sums[p] for p in after).sum()
        outputs = sum(after.values()).sum()
        # the input's magnitude where summed; else the output's own (an unsigned type's)
        magnitude = (sum(t.magnitude.sum() for t in totals.values()) if totals
                     else abs(outputs))
        tally.add_totals(float(results), float(outputs), float(magnitude))
    if noted_here and totals and (note := network_note(prepared.layout, totals)):
        warnings.warn(note, DeblurNote, stacklevel=2)
    return result


def output_totals(layout, summed: SummedWrites) -> dict | None:
    """{plane: the output's totals per channel}; None where the output cannot be summed
    (written twice and not readable)."""
    size = math.prod(layout.spatial_shape) * layout.channels
    if all(summed.counts.get(p, 0) == size for p in layout.planes):
        return dict(summed.sums)
    try:
        summed.target[(slice(0, 1),) * len(layout.axes)]
    except TypeError:  # a write-only TIFF
        return None
    return {plane: _summed(layout, summed.target, plane)[0] for plane in layout.planes}


def plane_totals(layout, image, summed: SummedWrites, after: dict) -> dict:
    """{plane: ``PlaneTotals``}: the float result's totals are the output's less what
    rounding moved as written."""
    totals = {}
    for plane in layout.planes:
        before, magnitude, least = _summed(layout, image, plane)
        result = after[plane] + summed.floats[plane] - summed.sums[plane]
        offset = np.maximum(least, 0.0) * math.prod(layout.spatial_shape)
        totals[plane] = PlaneTotals(before, result, after[plane], magnitude, offset)
    return totals


def _summed(layout, array, plane) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(totals, summed absolute values, minima) per channel of ``array``'s ``plane``, a band
    of rows at a time."""
    spatial = layout.spatial_shape
    rows = max(1, BAND_ELEMENTS // max(1, math.prod(spatial[1:]) * layout.channels))
    total = magnitude = 0.0
    least = np.inf
    for first in range(0, spatial[0], rows):
        region = (slice(first, min(first + rows, spatial[0])),
                  *(slice(0, n) for n in spatial[1:]))
        band = layout.read(array, plane, region)  # (C, *spatial)
        axes = tuple(range(1, band.ndim))
        part = band.sum(axis=axes, dtype=np.float64)
        total = total + part
        # an unsigned band's absolute values are its values
        magnitude = magnitude + (part if band.dtype.kind == "u"
                                 else np.abs(band).sum(axis=axes, dtype=np.float64))
        least = np.minimum(least, band.min(axis=axes).astype(np.float64))
    return total, magnitude, least


def change(before: float, after: float, magnitude: float) -> float | None:
    """The total's relative change, or None where ``before`` is not mostly positive."""
    if not before > 0 or before < MOSTLY_POSITIVE * magnitude:
        return None
    return after / before - 1


def moved(before, result, magnitude, offset) -> tuple[float, str] | None:
    """(the change, ' above its offset' or '') where the total moved past ``TOTAL_CHANGE``,
    else where its part above the offset moved past ``ABOVE_OFFSET_CHANGE``; else None."""
    raw = change(before, result, magnitude)
    if raw is not None and abs(raw) > TOTAL_CHANGE:
        return raw, ""
    if raw is None or not offset > 0:
        return None
    above = change(before - offset, result - offset, magnitude - offset)
    if above is None or abs(above) <= ABOVE_OFFSET_CHANGE:
        return None
    return above, (f" above the offset (the input's minimum, {100 * offset / before:.2g} % of "
                   "the total)")


def _sums(totals) -> tuple[float, float, float, float]:
    return tuple(float(sum(getattr(t, f).sum() for t in totals))
                 for f in ("before", "result", "magnitude", "offset"))


def network_note(layout, totals: dict) -> str:
    """The line a network run gives where it moved the total (or a plane's, or a channel's)
    past ``TOTAL_CHANGE`` (above the input's offset: ``ABOVE_OFFSET_CHANGE``); '' otherwise."""
    sums = _sums(totals.values())
    what = "the stack's" if len(totals) > 1 else "the image's"
    if whole := moved(*sums):
        said = (f"{what} total intensity{whole[1]} by {100 * whole[0]:+.2g} % "
                f"({sums[0]:.6g} -> {sums[1]:.6g})")
    elif not (said := _worst_plane(layout, totals) or _worst_channel(layout, totals)):
        return ""
    return (f"the network changed {said}: blind networks do not keep totals, least on "
            f"low-count images; to measure intensities, {KEEPS_TOTALS}")


def _worst(changes: dict):
    """The key of the largest change (against its threshold), or None for none."""
    def score(k):
        threshold = ABOVE_OFFSET_CHANGE if changes[k][1] else TOTAL_CHANGE
        return abs(changes[k][0]) / threshold
    return max(changes, key=score, default=None)


def _worst_plane(layout, totals: dict) -> str:
    if len(totals) < 2:
        return ""
    mean = sum(t.before.sum() for t in totals.values()) / len(totals)
    changes = {p: c for p, t in totals.items() if t.before.sum() >= DIM_PLANE * mean
               and (c := moved(*_sums([t])))}
    if (worst := _worst(changes)) is None:
        return ""
    where = ", ".join(f"{a}={i}" for a, i in zip(layout.loop_axes, worst))
    return (f"the total intensity of plane {where}{changes[worst][1]} by "
            f"{100 * changes[worst][0]:+.2g} %")


def _worst_channel(layout, totals: dict) -> str:
    """A channel's own change (summed over the planes): a dim channel is not left out, its
    units are its own."""
    if layout.channels < 2:
        return ""
    sums = [sum(getattr(t, f) for t in totals.values())
            for f in ("before", "result", "magnitude", "offset")]
    changes = {c: moved_c for c in range(layout.channels)
               if (moved_c := moved(*(float(s[c]) for s in sums)))}
    if (worst := _worst(changes)) is None:
        return ""
    return (f"the total intensity of channel {layout.channel_axis}={worst}{changes[worst][1]} "
            f"by {100 * changes[worst][0]:+.2g} % ({sums[0][worst]:.6g} -> "
            f"{sums[1][worst]:.6g})")
