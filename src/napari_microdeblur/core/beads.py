"""A measured PSF from an image of sub-resolution fluorescent beads, 2D (YX) or 3D (ZYX).

Steps: smooth lightly, subtract the large-scale background (a running median 31 pixels wide: uneven
illumination, autofluorescence) and find local maxima standing 8 noise sigmas (of that high-pass
residual) above the local background; drop hot pixels (a peak of one pixel whose neighbours in the
raw data hold almost none of its light, when the other peaks are wider: set to their neighbours'
median in a working copy and counted as "hot pixels", as neighbours they made real beads look
crowded); drop beads whose crop would leave the image, that have another bead (brighter than 5% of
them) close enough for their PSFs to overlap, that are saturated (more than 2**ndim pixels near the
peak at the image's maximum, or, when the camera clipped, any pixel there at the maximum), or whose
integrated intensity or half-maximum spread is far from the median bead's (aggregates, merged
pairs, beads out of focus; the spread of noisy beads, peaks under 20 noise sigmas, measured lightly
smoothed), or whose second moments are stretched against the median bead's (two beads closer than
the PSF's width, merged into one peak); both width tests widen for undersampled beads (FWHM under
about 2.3 px), whose core covers 1-4 pixels with their sub-pixel position. Each kept bead is cut
out of the background-subtracted image with its remaining local background (median of its crop's
border) subtracted, shifted by cubic-spline interpolation so that its centroid lands on the middle
pixel, and the crops are summed (bright beads count more: they carry more signal). The sum has its
residual background subtracted, negatives clipped, and is normalised to sum 1. A PSF from fewer
than 5 beads, or from beads whose peak stands under 20 noise sigmas, is noisy: a DeblurWarning says
so, with the numbers; so it does when a radius given cuts the PSF (under 1.1 x its FWHM).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from .beads_checks import check_radius, check_threshold, crowd_words, cut_radius_warning, too_dense
from .notes import DeblurWarning
from .psf_shape import fwhm  # here too: callers import it from beads

__all__ = ["psf_from_beads", "BeadReport", "check_radius", "check_threshold", "fwhm"]

_THRESHOLD_SIGMAS = 8.0  # bead peaks must stand this many noise sigmas above the background
_BACKGROUND_WIDTH = 31  # pixels: the running median that gives the large-scale background
_CAMERA_BITS = (8, 10, 12, 14, 16)  # an integer maximum of 2**bits - 1 is an ADC's ceiling
_NEIGHBOUR_FRACTION = 0.05  # a neighbour dimmer than this fraction of a bead does not spoil it
_OUTLIER_FACTOR = 1.25  # beads whose core is this much wider or narrower: merged, blurred, hot
_AGGREGATE_FACTOR = 3.0  # beads this many times brighter than the median are clumps
_LEAST_SPREAD = 0.5  # a bead core narrower than this (pixels) is a hot pixel, not a PSF
_HOT_FRACTION = 0.05  # a peak whose neighbours average under this fraction of it: a hot pixel
_HOT_SIGMAS = 3.0  # ... or under this many noise sigmas of the neighbours' mean
_RESOLVED = 0.15  # ... dropped only when the other peaks' neighbours average this much of them
_SAMPLED_MOMENT = 0.5  # px**2: a typical bead's smallest second moment above this: well sampled
_UNDERSAMPLED_MOMENT = 0.2  # ... below this, undersampled (FWHM about 1.3 px and less)
_PIXEL_SPREAD = 0.6  # px**2 of core-spread slack for undersampled beads (their range: 0-0.5)
_PIXEL_MOMENT = 1.5  # px**2 added to undersampled beads' moments before the elongation test
_FAINT_FRACTION = 0.05  # peaks under this fraction of the typical bead: ring maxima, not beads


@dataclass(frozen=True)
class BeadReport:
    """What ``psf_from_beads`` found and used; ``summary()`` is one line for a log."""

    candidates: int
    used: int
    rejected: dict = field(default_factory=dict)  # reason -> count
    positions: tuple = ()  # sub-pixel centroids of the beads used, in image pixels
    radius: tuple = ()  # crop half-size per axis, pixels
    fwhm: tuple = ()  # of the averaged PSF, per axis, pixels
    note: str = ""  # e.g. that the Z radius was limited by a short stack
    faint: int = 0  # peaks far fainter than the typical bead, left out
    light: float | None = None  # 3D: fraction of the beads' measured light inside the box
    # 3D, where the beads' light went on past the room measured: the fraction of the PSF's
    # light probably past the box, at least (``beads_box.stack_box``)
    missing: float | None = None
    # the mean bead's peak over the background's pixel noise (inf in a noise-free image)
    snr: float | None = None
    # the line(s) warned: beads too few or too dim, a radius given that cuts the PSF; else ""
    warning: str = ""

    def summary(self, words: str = "") -> str:
        """``words`` "dock": the note's radius as the docks' PSF radius (``bead_note_words``)."""
        from .beads_box import bead_note_words

        note = bead_note_words(self.note, words)
        rejected = ", ".join(f"{n} {why}" for why, n in self.rejected.items() if n) or "none"
        width = " x ".join(f"{w:.2f}" for w in self.fwhm)
        return (
            f"{self.used} of {self.candidates} beads averaged (rejected: {rejected}); "
            f"PSF {tuple(2 * r + 1 for r in self.radius)} px, FWHM {width} px"
            # the light measured is not all the PSF's where it went on past: the note says
            # how much is probably missing instead ("100 %" read as all of it)
            + (f", holding {100 * self.light:.0f} % of the beads' measured light"
               if self.light is not None and self.missing is None else "")
            + (f"; {self.faint} faint peaks left out (under {100 * _FAINT_FRACTION:.0f} % of "
               "the typical bead's height)" if self.faint else "")
            + (f"; {note}" if note else "")
        )


def _checked_image(image, axes) -> np.ndarray:
    if hasattr(image, "detach"):
        image = image.detach().cpu().numpy()
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image is a {type(image).__name__}; accepted: a numpy array")
    if image.dtype.kind not in "uif":
        raise TypeError(f"image has dtype {image.dtype}; accepted: integer or float pixels")
    expected = {2: "YX", 3: "ZYX"}
    if axes is not None and not isinstance(axes, str):
        raise TypeError(f"axes is a {type(axes).__name__}; accepted: 'YX', 'ZYX' or None")
    if axes is None and image.ndim == 3 and image.shape[-1] <= 4 < min(image.shape[:2]):
        # read as a z-stack of 3 pixels in X, it was refused for its size
        raise ValueError(
            f"image has shape {image.shape}: {image.shape[-1]} samples per pixel (a colour image);"
            " accepted: one channel, 2D (YX) or a z-stack (ZYX): give one colour (image[..., 1]"
            " for green) or a gray image")
    if axes is None:
        axes = expected.get(image.ndim)
    if axes not in ("YX", "ZYX") or len(axes) != image.ndim:
        raise ValueError(f"image has shape {image.shape} with axes {axes!r}; accepted: a 2D "
                         "(YX) or 3D (ZYX) image of one channel (split channels and time "
                         "points first)")
    if min(image.shape) < 5:
        few_planes = axes == "ZYX" and image.shape[0] < 5 <= min(image.shape[1:])
        raise ValueError(
            f"image has shape {image.shape}; accepted: at least 5 pixels per axis"
            + ("; a bead z-stack needs at least 5 planes (or measure one plane, a 2D PSF)"
               if few_planes else ""))
    data = image.astype(np.float64)  # a copy: the user's image is not touched
    if not np.all(np.isfinite(data)):
        raise ValueError("image holds NaN or infinite values; accepted: finite pixels")
    return data


def _noise(values: np.ndarray) -> float:
    return 1.4826 * float(np.median(np.abs(values - np.median(values))))



def psf_from_beads(
    image, *, axes=None, radius=None, threshold=None
) -> tuple[np.ndarray, BeadReport]:
    """The averaged PSF of the isolated beads in ``image`` and a report of what was used.

    ``axes`` 'YX' or 'ZYX' (None: from the number of dimensions); ``radius`` the PSF's half side
    per axis in pixels (None: 2.5 x the bright beads' median FWHM); ``threshold`` the least peak
    height above the local background for a bead (None: 8 noise sigmas). The background is a
    running median 31 pixels wide, so uneven illumination under the beads does not hide them.
    Returns a float32 PSF with odd sides, its centroid on the middle pixel, summing to 1.
    Raises ValueError when no bead qualifies, saying why the candidates were refused. The image
    is not modified.
    """
    from scipy import ndimage

    from .beads_box import LOW_SNR, faint_peaks, measure_bead, typical_peak, warn_if_weak

    if hasattr(image, "detach"):
        image = image.detach().cpu().numpy()
    data = _checked_image(image, axes)
    radii = check_radius(radius, data.ndim)
    smooth = ndimage.gaussian_filter(data, 1.0)
    # Beads are found and measured above the large-scale background: the spread of an uneven
    # background inflated the noise and hid every bead.
    background = _background(smooth)
    smooth_flat = smooth - background
    peaks, heights, level = _bead_peaks(smooth_flat, threshold, float(np.abs(smooth).max()),
                                        lambda: (too_dense(data, smooth, background),
                                                 _clipped(data, image)))
    flat = data - background
    pixel_noise = _noise(flat)
    # hot pixels go before the width and isolation checks: as neighbours they made real beads
    # "not isolated" (20 among 36 beads left 19-22 of them used)
    hot, spikes = _single_pixel_peaks(flat, peaks, pixel_noise)
    peaks, heights = peaks[~hot], heights[~hot]
    _repair(data, flat, background, spikes)
    faint = faint_peaks(heights, _FAINT_FRACTION)
    clipped = _clipped(data, image)
    r, candidates, kept, rejected, note, light, missing = _box_and_beads(
        data, flat, smooth_flat, peaks, heights, level, radii, pixel_noise, faint, clipped)
    faint = rejected.pop("faint")
    if hot.any():  # listed only when it happens: the report's keys stay as they were
        rejected["hot pixels"] = int(hot.sum())
    found = len(candidates) + int(hot.sum())

    # noisy beads' core spreads are measured lightly smoothed: raw, single beads at a peak of
    # 4 noise sigmas scattered by 8-27 %, and a quarter fell outside the width test's 1.25 x
    noisy = typical_peak(flat, kept) < LOW_SNR * pixel_noise
    measured = [measure_bead(flat, p, r, pixel_noise, noisy) for p in kept]
    crops = [m[0] for m in measured]
    centroids = [m[1] for m in measured]
    moments = np.array([m[4] for m in measured]).reshape(-1, data.ndim, data.ndim)
    coarse = _pixelation(moments)
    good = _typical(np.array([m[2] for m in measured]), np.array([m[3] for m in measured]),
                    coarse)
    rejected["merged or outlier"] = int(len(kept) - good.sum())
    if len(measured):
        elongated = _elongated(moments, good, coarse)
        good &= ~elongated
        if elongated.any():  # listed only when it happens: the report's keys stay as they were
            rejected["elongated (two beads merged)"] = int(elongated.sum())
    if not good.any():
        raise _none_usable(data.shape, found, rejected, r, radii is None, clipped,
                           too_dense(data, smooth, background))
    chosen = [(c, m, p) for c, m, p, ok in zip(crops, centroids, kept, good) if ok]
    psf, positions, peak = _average_aligned(chosen, r)
    snr, weak = warn_if_weak(len(positions), peak, pixel_noise)
    widths = fwhm(psf)
    # a given radius under the PSF's width: its wings went as background, and it came out
    # narrow with nothing said (radius 3 for a 3.5 px FWHM measured 3.36, radius 2 2.67)
    cut = "" if radii is None else cut_radius_warning(
        radius, radii, widths, _auto_radii(smooth_flat, peaks, heights, level)[0])
    if cut:
        warnings.warn(cut, DeblurWarning, stacklevel=2)
    report = BeadReport(candidates=found, used=len(positions), rejected=rejected,
                        positions=tuple(positions), radius=tuple(int(v) for v in r),
                        fwhm=widths, note=note, faint=faint, light=light, missing=missing,
                        snr=snr, warning="; warning: ".join(filter(None, [weak, cut])))
    return psf, report


def _none_usable(shape, found: int, rejected: dict, r, chosen: bool, clipped: bool = False,
                 dense: bool = False) -> ValueError:
    """Why no bead is usable, and what to change; a radius the user did not give is said to
    be the beads' own (``chosen``), and ``radius=`` is the CLI's --radius (cli_words). Beads
    ``too_dense`` are said so (a smaller radius does not part them: crowding widened the width
    measured, and all were 'near the border'); a ``clipped`` image is, whatever refused them."""
    reasons = ", ".join(f"{n} {why}" for why, n in rejected.items() if n)
    how = ", from the beads' width" if chosen else ""
    return ValueError(
        f"image (shape {shape}) has {found} candidate beads but none usable "
        f"({reasons}; PSF radius {tuple(int(v) for v in r)} px{how})"
        + crowd_words(dense, clipped or bool(rejected.get("saturated")))
        + "; accepted: beads at least the radius from the border and twice the radius from "
        "each other, unsaturated" + ("" if dense else
                                     " (give a smaller radius= if the beads are dense)")
    )


def _box_and_beads(data, flat, smooth_flat, peaks, heights, level, radii, pixel_noise, faint,
                   clipped):
    """(radii, candidate indices, beads kept, rejections, note, light held, light probably
    missing) for the PSF box: given, or 2.5 x the bright beads' FWHM; a 3D box grown to the
    beads' light (``beads_box.stack_box``), its beads found again at that size."""
    from .beads_box import (
        LARGER_RADIUS,
        LITTLE_LIGHT,
        more_beads_note,
        stack_box,
        z_radius_for_short_stack,
    )

    note, given = "", radii is not None
    if radii is None:
        radii, width = _auto_radii(smooth_flat, peaks, heights, level)
        if data.ndim == 3:
            radii, note = z_radius_for_short_stack(radii, width[0], peaks, heights,
                                                   data.shape[0], _NEIGHBOUR_FRACTION)
    r = np.array(radii)

    def beads_at(r):
        found = _without_satellites(peaks, heights, r)
        candidates = [i for i in found if not faint[i]]
        kept, rejected = _isolated_beads(data, peaks, heights, candidates, r, clipped)
        rejected["faint"] = len(found) - len(candidates)  # not beads: said apart, then popped
        return candidates, kept, rejected

    candidates, kept, rejected = beads_at(r)
    if data.ndim != 3:
        return r, candidates, kept, rejected, note, None, None
    box = stack_box(flat, kept, peaks, heights, r, pixel_noise, grow=not given,
                    neighbour=_NEIGHBOUR_FRACTION)
    if box.radii != tuple(int(v) for v in r):
        if box.radii[0] != r[0]:
            note = ""  # a short stack's Z limit no longer says what set the box
        r = np.array(box.radii)
        candidates, kept, rejected = beads_at(r)
    if box.limited:
        # an estimate, not the share of the light measured: that was "100 %" in the same line
        note = "; ".join(filter(None, [note, (
            f"the beads' light is still above the noise at the edge of the room their "
            f"neighbours and the stack leave ({_edge_words(r, box.region)}): the PSF reaches "
            f"further, and probably at least {max(1, round(100 * box.missing))} % of its light "
            "lies past the box, missing from this PSF (the light at the edge, extrapolated); "
            f"beads further apart (or a longer stack) and {LARGER_RADIUS} keep more of it")]))
    if box.held is not None and box.held < LITTLE_LIGHT:
        note = "; ".join(filter(None, [note, (
            f"warning: the box holds only {100 * box.held:.0f} % of the light measured "
            f"around the beads (half sides {box.region} px): give {LARGER_RADIUS}")]))
    if not given:  # beads the grown box left out at the stack's ends: the radius that keeps them
        note = "; ".join(filter(None, [note, more_beads_note(
            r, len(kept), width[0], lambda z: len(beads_at(np.array([z, *r[1:]]))[1]))]))
    return r, candidates, kept, rejected, note, box.held, box.missing


def _auto_radii(smooth_flat, peaks, heights, level) -> tuple[tuple, list]:
    """The radii a blank radius= takes, 2.5 x the bright beads' FWHM (at least 3 pixels: past
    the first Airy ring and a Gaussian's 1e-3 level), and that FWHM per axis."""
    from .beads_box import bead_width

    width = bead_width(smooth_flat, peaks, heights, level, _NEIGHBOUR_FRACTION)
    return tuple(max(3, math.ceil(2.5 * w)) for w in width), width


def _edge_words(r, region) -> str:
    """Where the box met the room's edge, with the PSF's half sides as written (not the room's)."""
    edges = [a for a, met in (("Z", r[0] >= region[0]), ("Y and X", r[1] >= region[1])) if met]
    return f"on {' and '.join(edges) or 'its edge'}; the PSF has half sides {tuple(map(int, r))} px"


def _background(smooth: np.ndarray) -> np.ndarray:
    """The large-scale background: a running median _BACKGROUND_WIDTH pixels wide (beads, a
    few pixels across, do not move it), taken on a grid a quarter of that apart and
    interpolated back (a full-resolution median of a z-stack takes minutes)."""
    from scipy import ndimage

    step = max(1, _BACKGROUND_WIDTH // 8)
    # grid samples that include both ends of each axis (nothing is extrapolated)
    samples = [np.round(np.linspace(0, n - 1, -(-(n - 1) // step) + 1)).astype(int)
               for n in smooth.shape]
    coarse = smooth[np.ix_(*samples)]
    half = _BACKGROUND_WIDTH // (2 * step)
    pads = [min(half, n - 1) for n in coarse.shape]
    # odd reflection continues a slope past the border (an even one bent a ramp down there and
    # made false beads along the bright edge)
    padded = np.pad(coarse, [(q, q) for q in pads], mode="reflect", reflect_type="odd")
    padded = ndimage.median_filter(padded, size=[2 * q + 1 for q in pads], mode="nearest")
    # the median of noise on a grid is itself a little noisy: smooth it over a grid step
    padded = ndimage.gaussian_filter(padded, 1.0, mode="nearest")
    coarse = padded[tuple(slice(q, q + n) for q, n in zip(pads, coarse.shape))]
    axes = [np.interp(np.arange(n), s, np.arange(len(s))) for n, s in zip(smooth.shape, samples)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"))
    return ndimage.map_coordinates(coarse, grid, order=1, mode="nearest")


def _clipped(data: np.ndarray, image: np.ndarray) -> bool:
    """Whether the camera clipped the brightest pixels. Unclipped data cannot trigger this: an
    integer image at its dtype's maximum (255, 65535) is at the ceiling; a plateau of more than
    2**ndim pixels at the maximum is more than a peak between pixels makes; and integer data
    whose maximum is a camera ceiling (4095 of 12 bits in uint16, ...) held by two pixels is
    clipped (ties of the maximum do not happen in noisy beads): two separate beads, or a flat
    top of 2-4 pixels on one bead (a single 12-bit bead clipped at 4 pixels was averaged in and
    widened the PSF by 2 %)."""
    from scipy import ndimage

    top = data.max()
    labels, count = ndimage.label(data == top, structure=np.ones((3,) * data.ndim))
    if np.bincount(labels.ravel())[1:].max() > 2**data.ndim:
        return True
    if image.dtype.kind not in "ui":
        return False
    if top == np.iinfo(image.dtype).max:
        return True
    return bool(top in [2**b - 1 for b in _CAMERA_BITS] and np.count_nonzero(labels) >= 2)


def _peak_height(smooth: np.ndarray, threshold, noise: float, level: float,
                 scale: float) -> float:
    """The least height above the background ``level`` a bead's peak must reach."""
    height = check_threshold(threshold)
    if height is None:
        height = _THRESHOLD_SIGMAS * noise
    # Beyond the noise, a floor at 1e-3 of the brightest bead: a noise-free (simulated) image
    # has rounding-level maxima in every bead's tails; and at 1e-9 of the image's values,
    # the rounding of the background subtraction (a constant image has no bead).
    return max(height, 1e-3 * (float(smooth.max()) - level), 1e-9 * scale)


def _bead_peaks(smooth: np.ndarray, threshold, scale: float,
                crowding) -> tuple[np.ndarray, np.ndarray, float]:
    """The local maxima of the smoothed, background-subtracted image that stand high enough,
    brightest first, their heights above the background and the background's residual level.
    None: ``crowding()`` (too dense, clipped) says why, not a lower threshold for faint beads
    (crowded beads' light inflates the noise, and then their width)."""
    from scipy import ndimage

    level = float(np.median(smooth))
    noise = _noise(smooth)
    height = _peak_height(smooth, threshold, noise, level, scale)
    peaks_mask = (smooth == ndimage.maximum_filter(smooth, size=3)) & (smooth > level + height)
    # A peak between pixels is a plateau of equal maxima: one peak per connected plateau.
    labels, _ = ndimage.label(peaks_mask, structure=np.ones((3,) * smooth.ndim))
    peaks = _first_pixels(labels)
    if len(peaks) == 0:
        dense, clipped = crowding()
        said = _threshold_words(threshold, height, noise, dense)
        raise ValueError(f"image (shape {smooth.shape}) has no bead: no local maximum stands "
                         f"{height:.3g} above the local background {said}"
                         + crowd_words(dense, clipped)
                         + "; accepted: an image of fluorescent beads, each a few pixels across"
                         + (" and apart from the others" if dense else ""))
    heights = smooth[tuple(peaks.T)] - level
    order = np.argsort(-heights)
    return peaks[order], heights[order], level


def _threshold_words(threshold, height: float, noise: float, dense: bool = False) -> str:
    """The threshold that found no bead, in noise sigmas, and the lower one to give: the
    height alone, in image units, did not say which option set it or what to change. Not
    for ``dense`` beads: a lower one found them, then refused them all."""
    given = "the default threshold" if threshold is None else f"threshold={threshold:g}"
    if not noise > 0:
        return f"({given})"  # a noise-free image: no sigmas to count
    said = f"({given}: {height / noise:.3g} noise sigmas of {noise:.3g})"
    if dense:
        return said
    if height <= 4 * noise:  # lower still would take the noise's own maxima for beads
        return f"{said}, near the noise: no bead to find"
    return f"{said}; for faint beads give a lower threshold=, e.g. threshold={4 * noise:.3g}"


def _repair(data: np.ndarray, flat: np.ndarray, background: np.ndarray, spikes) -> None:
    """Hot pixels set to the median of their neighbours, in the working copies only (the
    user's image is not touched): one inside a bead's crop spoilt that bead's width test."""
    for q in spikes:
        box = tuple(slice(max(c - 1, 0), c + 2) for c in q)
        others = np.ones(data[box].shape, dtype=bool)
        others[tuple(c - b.start for c, b in zip(q, box))] = False
        data[q] = float(np.median(data[box][others]))
        flat[q] = data[q] - background[q]


def _single_pixel_peaks(flat: np.ndarray, peaks: np.ndarray,
                        noise: float) -> tuple[np.ndarray, list]:
    """Which peaks are hot pixels: in the raw (background-subtracted) data the brightest pixel
    near the peak stands alone, the mean of its 3**ndim - 1 neighbours below 5% of it and
    within 3 noise sigmas of that mean (a real bead spreads over several pixels: neighbours at
    25-73% of its peak for a Gaussian FWHM of 1.5-3.5 px). An undersampled bead centred on a
    pixel looks the same (point-sampled FWHM under 1.1 px, pixel-integrated under 0.9 px), so
    hot pixels are dropped only when the other peaks' neighbours average at least 15% of them
    (FWHM above about 1.2 px point-sampled, 0.95 px pixel-integrated: no bead of such a PSF
    falls under 5%, wherever it lies on the pixel grid); otherwise none is dropped."""
    ndim = flat.ndim
    padded = np.pad(flat, 2, mode="reflect")  # a peak 1 px from the border still has neighbours
    count = 3**ndim - 1
    floor = _HOT_SIGMAS * noise / math.sqrt(count)
    single, ratio, spikes = np.zeros(len(peaks), dtype=bool), np.zeros(len(peaks)), []
    for i, p in enumerate(peaks + 2):
        box = padded[tuple(slice(c - 1, c + 2) for c in p)]
        top = p - 1 + np.array(np.unravel_index(int(np.argmax(box)), box.shape))
        around = padded[tuple(slice(c - 1, c + 2) for c in top)]
        peak = float(around[(1,) * ndim])
        neighbours = (float(around.sum()) - peak) / count
        single[i] = neighbours < max(_HOT_FRACTION * peak, floor)
        ratio[i] = neighbours / peak if peak > 0 else 0.0
        if single[i]:  # back from the padding (reflected about the border pixel)
            n = np.array(flat.shape)
            at = np.abs(top - 2)
            spikes.append(tuple(int(v) for v in np.where(at >= n, 2 * (n - 1) - at, at)))
    if single.all() or np.median(ratio[~single]) < _RESOLVED:
        return np.zeros_like(single), []
    return single, spikes


def _without_satellites(peaks: np.ndarray, heights: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Indices of the peaks that are beads. A maximum under 5% of a brighter one within reach
    of its PSF is that bead's Airy ring or a speck in its wings, not a bead: it is neither used
    nor counted."""
    satellite = np.zeros(len(peaks), dtype=bool)
    for i in range(1, len(peaks)):
        near = np.all(np.abs(peaks[:i] - peaks[i]) <= 2 * r, axis=1)
        satellite[i] = np.any(near & (heights[i] < _NEIGHBOUR_FRACTION * heights[:i]))
    return np.flatnonzero(~satellite)


def _isolated_beads(data, peaks, heights, candidates, r, clipped) -> tuple[list, dict]:
    """The candidate peaks far enough from the border and from other beads, and unsaturated;
    and how many were refused for each reason. When the camera ``clipped``, a bead with even
    one pixel near its peak at the maximum is saturated (clipped at 1-4 pixels, it widened the
    PSF by 1.5-6 %), unless two or more would go and no other bead stays: then the maximum is
    their common peak (identical, noise-free beads); a lone bead there is saturated."""
    shape = np.array(data.shape)
    rejected = {"near the border": 0, "not isolated": 0, "saturated": 0, "merged or outlier": 0}
    kept, touching = [], []
    saturation = data.max()
    for i in candidates:
        p, h = peaks[i], heights[i]
        # one pixel more than the crop: room for the sub-pixel shift
        if np.any(p - r - 1 < 0) or np.any(p + r + 1 >= shape):
            rejected["near the border"] += 1
            continue
        # a peak centred between pixels has up to 2**ndim equal maxima; a clipped one more.
        # Before isolation: clipped beads close together were said 'not isolated' alone
        core = data[tuple(slice(c - 2, c + 3) for c in p)]
        at_top = np.count_nonzero(core == saturation)
        if at_top > 2**data.ndim:
            rejected["saturated"] += 1
            continue
        close = np.all(np.abs(peaks - p) <= 2 * r, axis=1)
        close[i] = False
        if np.any(close & (heights >= _NEIGHBOUR_FRACTION * h)):
            rejected["not isolated"] += 1
            continue
        (touching if clipped and at_top else kept).append(p)
    if kept or len(touching) < 2:
        # a lone bead at the ceiling is what clipping looks like (it was averaged in)
        rejected["saturated"] += len(touching)
    else:  # several beads share the maximum and none is below it: their common peak
        kept = touching
    return kept, rejected


def _pixelation(moments: np.ndarray) -> float:
    """How coarse the pixels are for the beads, 0 (well sampled) to 1 (undersampled): from the
    median bead's smallest second moment (``beads_box.measure_bead``, px**2; 0.4 at a FWHM of 2 px,
    0.58 at 2.5, 0.72 at 2.8, 0.25 or less at 1.5 and below). The core of an undersampled bead
    covers 1 to 4 pixels as it moves by a sub-pixel (core spread 0-0.71 px, second moments
    0-0.25 px**2 at a FWHM of 0.8-1.2 px), so width and shape tests calibrated on well-sampled
    beads rejected half the good ones."""
    if len(moments) == 0:
        return 0.0
    smallest = float(np.linalg.eigvalsh(np.median(moments, axis=0)).min())
    return float(np.clip((_SAMPLED_MOMENT - smallest)
                         / (_SAMPLED_MOMENT - _UNDERSAMPLED_MOMENT), 0.0, 1.0))


def _elongated(moments: np.ndarray, good: np.ndarray, coarse: float = 0.0) -> np.ndarray:
    """Beads whose shape is stretched along some direction compared with the typical bead: two
    beads closer than about the PSF's width merge into one blob (a single peak) that passed the
    width test, and 6 such blobs among 49 beads widened the averaged PSF by 2-3 %. Each bead's
    second moments are whitened by the median bead's (so a PSF anisotropic by the optics or the
    pixel sizes, e.g. long in Z, is the reference, not a circle); the ratio of the largest to the
    smallest eigenvalue is about 1 for a single bead (1.03-1.06 at 8 noise sigmas) and
    1 + d**2/4 for a pair d PSF sigmas apart. Needs 3 typical beads for a median.
    With ``coarse`` pixels (``_pixelation``) an isotropic term up to 1.5 px**2 is added to every
    bead's moments: a single bead's core of 1 or 2 pixels (moments 0 and 0.25) made ratios of 4
    or infinite; a pair must then stand about 1.5 px apart to count as elongated."""
    out = np.zeros(len(moments), dtype=bool)
    if good.sum() < 3:
        return out
    moments = moments + _PIXEL_MOMENT * coarse * np.eye(moments.shape[-1])
    values, vectors = np.linalg.eigh(np.median(moments[good], axis=0))
    if values.min() <= 0:
        return out
    whiten = vectors @ np.diag(values**-0.5) @ vectors.T
    ratio = np.empty(len(moments))
    for i, m in enumerate(moments):
        e = np.linalg.eigvalsh(whiten @ m @ whiten)
        ratio[i] = e.max() / e.min() if e.min() > 0 else np.inf
    centre = float(np.median(ratio[good]))
    if not math.isfinite(centre):  # most beads without a shape: nothing to compare with
        return out
    spread = 1.4826 * float(np.median(np.abs(ratio[good] - centre)))
    # beyond 6 sigmas of the beads' own scatter (noisy beads scatter more), and at least a
    # pair 0.9 sigma apart (ratio 1.2; single beads in a z-stack reached 1.17)
    return good & (ratio > max(1.2, centre + 6 * spread))


def _average_aligned(chosen, r: np.ndarray) -> tuple[np.ndarray, list[tuple[float, ...]],
                                                     float]:
    """The mean of the ``(crop, centroid, peak)`` beads shifted so their centroids meet on the
    middle pixel, background removed, normalised to sum 1; the beads' positions; and the mean
    bead's peak above its background."""
    from scipy import ndimage

    from .beads_box import border_median

    middle = r + 1
    total_psf = np.zeros(tuple(2 * r + 1))
    positions = []
    for crop, centroid, p in chosen:
        aligned = ndimage.shift(crop, middle - centroid, order=3, mode="nearest")
        total_psf += aligned[tuple(slice(1, -1) for _ in crop.shape)]
        positions.append(tuple(float(v) for v in p - middle + centroid))
    psf = np.clip(total_psf - max(border_median(total_psf), 0.0), 0.0, None)
    if psf.sum() <= 0:
        raise ValueError("the averaged beads have nothing above their background")
    return (psf / psf.sum()).astype(np.float32), positions, float(psf.max()) / len(chosen)


def _first_pixels(labels: np.ndarray) -> np.ndarray:
    """One pixel of each labelled region (its first in C order), as rows of indices."""
    from scipy import ndimage

    rows = [
        np.array([sl.start for sl in box]) + np.argwhere(labels[box] == k)[0]
        for k, box in enumerate(ndimage.find_objects(labels), start=1)
    ]
    return np.array(rows, dtype=int).reshape(-1, labels.ndim)


def _typical(totals: np.ndarray, spreads: np.ndarray, coarse: float = 0.0) -> np.ndarray:
    """Beads like the median bead: not a clump (too bright) and not merged or blurred (too wide).
    With fewer than 3 beads there is no median to trust: of two, one much wider than the other
    is left out (merging and defocus only widen a bead; a touching pair averaged in widened the
    PSF by half along the pair); a hot pixel (no core) beside a bead is left out (averaged in,
    it made the PSF of one bead a 1.6 px spike instead of 3.5 px); else all are kept.
    With ``coarse`` pixels (``_pixelation``) the squared spread may differ by up to 0.6 px**2
    more: an undersampled bead's core spread is 0 on a pixel's centre and 0.71 px on a corner."""
    if len(totals) < 3:
        cored = spreads >= _LEAST_SPREAD
        if not cored.any():  # all one-pixel cores: an undersampled PSF, not hot pixels
            return np.ones(len(totals), dtype=bool)
        if cored.all() and len(totals) == 2 \
                and spreads.max() > _OUTLIER_FACTOR * spreads.min():
            return spreads == spreads.min()
        return cored
    total, spread = np.median(totals), np.median(spreads)
    slack = _PIXEL_SPREAD * coarse  # 0 for well-sampled beads: the plain factor, as before
    return ((totals > 0) & (totals <= _AGGREGATE_FACTOR * total)
            & (spreads**2 <= (_OUTLIER_FACTOR * spread) ** 2 + slack)
            & (spreads**2 >= (spread / _OUTLIER_FACTOR) ** 2 - slack))
