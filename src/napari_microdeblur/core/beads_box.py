"""The box a 3D bead PSF is cut to, from the beads' own light (``core.beads``).

A widefield PSF keeps about the same light in every plane, spread ever wider with defocus, so
the 2D rule (2.5 x FWHM, past the first Airy ring) kept 40 % of its light in a bead z-stack and
3D Richardson-Lucy with it gained 0.2 dB instead of 2.4 (the true PSF). Here the box grows to
where the beads' background-subtracted light, averaged over beads, falls to the noise: along Y
and X per square shell around the bead (all planes), along Z per plane inside that box; never
past what the stack holds around the beads or their isolation allows (half the beads, at least
three, must stay usable), and never smaller than the 2D rule's box.

Also the measures of single beads ``core.beads`` uses (``measure_bead``: centroid, core spread,
shape; ``border_median``), and the warning of a PSF from too few or too dim beads
(``warn_if_weak``).
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass

import numpy as np

from .notes import DeblurWarning
from .psf_shape import fwhm

__all__ = ["LARGER_RADIUS", "LARGER_RADIUS_DOCK", "StackBox", "bead_note_words", "bead_width",
           "border_median", "faint_peaks", "measure_bead", "more_beads_note", "stack_box",
           "typical_peak", "warn_if_weak", "weak_beads_warning", "z_radius_for_short_stack"]

_SIGMAS = 3.0  # light above this many noise sigmas (of the averaged beads) is the PSF's
_WINDOW = 3  # shells or planes summed together, so one noisy shell does not end the PSF
_TAIL = 5  # the last shells (or plane pairs) whose line, extrapolated, estimates the light past
_WIDTH_BEADS = 5  # the 2D rule's radius comes from the median width of this many bright beads
_WIDTH_PEAKS = 50  # ... looked for among this many brightest peaks
LITTLE_LIGHT = 0.8  # a box holding less of the measured light than this is said as a warning
_CLEAR_SIGMAS = 5.0  # a crop's pixel this many noise sigmas up is light (1 in 3.5e6 by chance)
FEW_BEADS = 5  # a PSF from fewer beads than this is said to be unreliable
LOW_SNR = 20.0  # ... and one from beads whose peak stands under this many noise sigmas
# the radius in words Python's and the CLI's users can act on (radius=, --radius); the docks
# say it as their "PSF from beads..." chooser's field (``bead_note_words``)
LARGER_RADIUS = "a larger radius (radius=; microdeblur psf-from-beads --radius)"
LARGER_RADIUS_DOCK = 'a larger PSF radius (in "PSF from beads...")'
_GIVEN_RADIUS = re.compile(r"radius=([\d,]+) \(microdeblur psf-from-beads --radius \1\)")


@dataclass(frozen=True)
class StackBox:
    radii: tuple  # half sides (Z, Y, X), pixels
    # fraction of the beads' measured light inside ``radii``; None where unmeasured, or where
    # the box is the whole region measured (it said "100 %" of a PSF that reached further)
    held: float | None
    region: tuple  # the half sides the light was measured over
    limited: bool = False  # grown to the region's edge with the light still above the noise
    # where ``limited``: the fraction of the PSF's light probably past the box, at least
    # (``_missing``); None otherwise
    missing: float | None = None


def stack_box(flat: np.ndarray, kept, peaks: np.ndarray, heights: np.ndarray, radii,
              noise: float, *, grow: bool, neighbour: float) -> StackBox:
    """The box for beads ``kept`` (integer peaks usable at ``radii``) of the background-
    subtracted stack ``flat`` (pixel noise ``noise``): ``radii`` grown to the beads' light
    when ``grow`` (else as given), and how much of the measured light it holds. ``peaks`` and
    ``heights`` are every peak (neighbours brighter than ``neighbour`` x a bead spoil it)."""
    radii = tuple(int(v) for v in radii)
    if not len(kept):
        return StackBox(radii, None, ())
    kept = np.array(kept, dtype=int)
    zc, lc, chosen = _region(flat.shape, kept, peaks, heights, neighbour)
    if zc < 1 or lc < 1:
        return StackBox(radii, None, ())
    mean = np.mean([flat[p[0] - zc:p[0] + zc + 1, p[1] - lc:p[1] + lc + 1,
                         p[2] - lc:p[2] + lc + 1] for p in kept[chosen]], axis=0)
    beads = int(chosen.sum())
    limited = False
    if grow:
        reach = _lateral_reach(mean, noise, beads)
        lateral = max(radii[1], radii[2], reach)
        depth_reach = _axial_reach(mean, min(lateral, lc), noise, beads)
        depth = max(radii[0], depth_reach)
        radii = (depth, lateral, lateral)
        limited = reach >= lc or depth_reach >= zc  # the light went on past the room left
    inside = (min(radii[0], zc), min(radii[1], lc), min(radii[2], lc))
    held = _held(mean, inside) if inside != (zc, lc, lc) else None
    missing = None
    if limited:  # the measured light is not all the PSF's: how much lies past, estimated
        missing = _missing(mean, inside, lateral=reach >= lc, axial=depth_reach >= zc)
    return StackBox(radii, held, (zc, lc, lc), limited, missing)


def _region(shape, kept: np.ndarray, peaks, heights, neighbour: float):
    """(Z, lateral) half sides that half the kept beads (at least 3, or all) fit, within the
    stack and away from their neighbours (the isolation test of ``core.beads``: a neighbour
    is harmless when some axis puts it over twice the half side away); and which beads fit."""
    nz, ny, nx = shape
    room_z = np.minimum(kept[:, 0], nz - 1 - kept[:, 0]) - 1  # one plane for the shift
    need = max(min(3, len(kept)), math.ceil(len(kept) / 2))
    zc = int(np.sort(room_z)[::-1][need - 1])
    room = np.minimum.reduce([kept[:, 1], ny - 1 - kept[:, 1], kept[:, 2],
                              nx - 1 - kept[:, 2]]) - 1
    for i, p in enumerate(kept):
        d = np.abs(peaks - p)
        near = (heights >= neighbour * heights[np.all(peaks == p, axis=1)].max()) \
            & (d[:, 0] <= 2 * zc) & (d.sum(axis=1) > 0)
        if near.any():
            room[i] = min(room[i], int((np.max(d[near, 1:], axis=1).min() - 1) // 2))
    fits_z = room_z >= zc
    if not fits_z.any():
        return 0, 0, fits_z
    lc = int(np.sort(room[fits_z])[::-1][min(need, int(fits_z.sum())) - 1])
    return zc, lc, fits_z & (room >= lc)


def _lateral_reach(mean: np.ndarray, noise: float, beads: int) -> int:
    """The last square shell (distance from the bead in Y or X) whose light, with its
    neighbours', stands over the noise."""
    c = mean.shape[1] // 2
    y, x = np.indices(mean.shape[1:])
    ring = np.maximum(np.abs(y - c), np.abs(x - c)).ravel()
    light = np.bincount(ring, mean.sum(axis=0).ravel())
    count = np.bincount(ring) * mean.shape[0]
    return _last_above(light, count, noise, beads)


def _axial_reach(mean: np.ndarray, lateral: int, noise: float, beads: int) -> int:
    """The last plane pair (above and below the bead) whose light inside the box of half side
    ``lateral`` stands over the noise."""
    c, m = mean.shape[0] // 2, mean.shape[1] // 2
    planes = mean[:, m - lateral:m + lateral + 1, m - lateral:m + lateral + 1].sum(axis=(1, 2))
    light = np.array([planes[c]] + [planes[c - k] + planes[c + k] for k in range(1, c + 1)])
    count = np.array([1] + [2] * c) * (2 * lateral + 1) ** 2
    return _last_above(light, count, noise, beads)


def _last_above(light: np.ndarray, count: np.ndarray, noise: float, beads: int) -> int:
    kernel = np.ones(_WINDOW)
    summed = np.convolve(light, kernel, mode="same")
    sigma = noise * np.sqrt(np.convolve(count, kernel, mode="same") / beads)
    above = np.flatnonzero(summed > _SIGMAS * sigma)
    return int(above.max()) if len(above) else 0


def _missing(mean: np.ndarray, radii, *, lateral: bool, axial: bool) -> float:
    """The fraction of the PSF's light probably outside the central box ``radii`` of the
    beads' mean ``mean``, at least: the light measured outside it plus, along the axes where
    the light was still above the noise at ``mean``'s edge (``lateral``, ``axial``), the
    light per square shell (or per plane pair) there extrapolated to zero (``_tail``)."""
    c, m = mean.shape[0] // 2, mean.shape[1] // 2
    y, x = np.indices(mean.shape[1:])
    ring = np.maximum(np.abs(y - m), np.abs(x - m)).ravel()
    planes = mean.sum(axis=(1, 2))
    past = 0.0
    if lateral:
        past += _tail(np.bincount(ring, mean.sum(axis=0).ravel()))
    if axial:
        past += _tail(np.array([planes[c]] + [planes[c - k] + planes[c + k]
                                              for k in range(1, c + 1)]))
    total = float(planes.sum()) + past
    if total <= 0:
        return 0.0
    return float(np.clip(1.0 - _held(mean, radii) * planes.sum() / total, 0.0, 1.0))


def _tail(light: np.ndarray) -> float:
    """The light past the end of a profile falling with distance (per shell or plane pair):
    the straight line through its last ``_TAIL`` values, extrapolated to zero. A defocused
    PSF's profile falls ever more slowly (convex), so the line falls to zero first: the tail
    is at least that. A profile not falling at its end (a widefield PSF's planes each hold
    about the same light) carries on for an unknown while: at least one step more."""
    n = min(_TAIL, len(light))
    if n < 2:
        return 0.0
    slope, intercept = np.polyfit(np.arange(n), light[-n:], 1)
    end = float(intercept + slope * (n - 1))
    if end <= 0:
        return 0.0
    if slope >= -end / len(light):  # flat or rising: no end in sight
        return end
    steps = np.arange(1, math.ceil(end / -slope))
    return float(np.sum(end + slope * steps))


def _held(mean: np.ndarray, radii) -> float:
    """The fraction of ``mean``'s light inside the central box of half sides ``radii``."""
    centre = [n // 2 for n in mean.shape]
    inner = mean[tuple(slice(c - r, c + r + 1) for c, r in zip(centre, radii))].sum()
    total = mean.sum()
    return float(np.clip(inner / total, 0.0, 1.0)) if total > 0 else 0.0


def bead_note_words(text: str, words: str = "") -> str:
    """A note of ``core.beads`` (``BeadReport.note``) in the words of ``words``: "" as it is,
    for Python and the CLI (radius= and --radius both said); "dock" with the radius as the
    docks' "PSF from beads..." chooser names it, its PSF radius field."""
    if words not in ("", "dock"):
        raise ValueError(f"words={words!r}; accepted: '' (Python and the CLI) or 'dock'")
    if words == "dock":
        text = _GIVEN_RADIUS.sub(r"PSF radius \1", text.replace(LARGER_RADIUS, LARGER_RADIUS_DOCK))
    return text


def z_radius_for_short_stack(radii: tuple, width_z: float, peaks: np.ndarray,
                             heights: np.ndarray, planes: int, neighbour: float,
                             words: str = "") -> tuple[tuple, str]:
    """The default radii with Z limited, and a note saying so (``bead_note_words``), when the
    stack is too short for the default Z radius to hold more than half the bright beads (not
    dim satellites): 32 planes, Z FWHM 6: radius 16, and every bead was refused as near the
    border. The limit is the Z radius that keeps the most of them, the larger of equals, and
    still holds the PSF's core (a Z side of at least 2 FWHM); ``stack_box`` then grows the box
    to the beads' light. Choosing the largest radius one bead fits kept 1 bead of 12 spread
    over 20 of 40 planes (12 at radius 9). Otherwise the radii are unchanged."""
    bright = peaks[heights >= neighbour * heights[0]][:, 0]
    room = np.minimum(bright, planes - 1 - bright) - 1  # one plane for the shift
    least = max(3, math.ceil(width_z))
    fits = room[room >= least]
    if 2 * np.count_nonzero(room >= radii[0]) > len(room) or not len(fits) \
            or fits.min() >= radii[0]:
        return radii, ""
    depth = int(fits.min())  # every bead that fits at all fits it: the most, and the largest
    note = (f"Z radius limited to {depth} px (default {radii[0]}) by the stack's {planes} "
            f"planes, so that {len(fits)} of its {len(room)} beads fit; a longer stack, or "
            f"{LARGER_RADIUS}, gives more of the PSF's Z tails")
    return (depth, *radii[1:]), bead_note_words(note, words)


def more_beads_note(radii, used: int, width_z: float, kept_at, words: str = "") -> str:
    """One line when a smaller Z radius would keep more beads than the ``used`` of the box
    ``radii`` (the box grew past beads near the stack's ends, to the beads' light), naming it:
    the larger of those keeping the most, down to 1.1 x the Z FWHM ``width_z`` (a smaller one
    cut the PSF: ``beads_checks.cut_radius_warning``); else "". ``kept_at(z)``: how many beads
    the radii with Z radius ``z`` keep. The PSF of 1 bead told the user to image more beads
    when a smaller Z radius kept 8."""
    best, most = None, used
    for depth in range(int(radii[0]) - 1, max(3, math.ceil(1.1 * width_z)) - 1, -1):
        if (n := kept_at(depth)) > most:
            best, most = depth, n
    if best is None:
        return ""
    value = ",".join(str(int(v)) for v in (best, *radii[1:]))
    more = "1 more bead fits" if most - used == 1 else f"{most - used} more beads fit"
    note = (f"{more} a Z radius of {best} px: radius={value} (microdeblur psf-from-beads "
            f"--radius {value}) uses {most} beads, with less of the PSF's Z tails")
    return bead_note_words(note, words)


def faint_peaks(heights: np.ndarray, fraction: float) -> np.ndarray:
    """Peaks (``heights`` brightest first) under ``fraction`` (5 %) of the typical bead's
    height: the median of the peaks at least that fraction as high as the brightest (and of
    the 5 brightest, so one bright clump does not set it). In a widefield z-stack the rings of
    a bright bead make dozens of such maxima (57 at 1 % of a saturated bead's peak among 15
    beads), counted as beads "near the border"."""
    if len(heights) == 0:
        return np.zeros(0, dtype=bool)
    bright = max(int(np.count_nonzero(heights >= fraction * heights[0])),
                 min(5, len(heights)))
    return heights < fraction * float(np.median(heights[:bright]))


def bead_width(smooth: np.ndarray, peaks: np.ndarray, heights: np.ndarray, level: float,
               neighbour: float) -> list:
    """The bright beads' half-maximum width per axis in the lightly smoothed image, pixels (the
    crop half-size is 2.5 times it); Y and X get the same (the larger) width. The width is the
    median over the brightest beads (up to 5) whose half maximum lies inside the image: a bead
    cut by the border never falls to half there, and its width (the whole window) made every
    bead look too close to the border.
    Beads with a neighbour within the reach that width implies (2 radii) are measured only when
    no bead is free of one: the neighbour's light widened them, and with few beads a touching
    pair set a radius so large that no bead was isolated."""
    widths, crowded = [], []
    for i, peak in enumerate(peaks[:_WIDTH_PEAKS]):
        window = tuple(slice(max(0, c - 32), c + 33) for c in peak)
        crop = np.clip(smooth[window] - level, 0.0, None)
        measured = fwhm(crop)
        if all(w < n for w, n in zip(measured, crop.shape)):
            near = np.all(np.abs(peaks - peak) <= 5 * np.array(measured), axis=1)
            near &= heights >= neighbour * heights[i]
            near[i] = False
            (crowded if near.any() else widths).append(measured)
        if len(widths) == _WIDTH_BEADS:
            break
    widths = widths or crowded
    if not widths:  # every bright bead is cut: the brightest decides, and is refused later
        peak = peaks[0]
        window = tuple(slice(max(0, c - 32), c + 33) for c in peak)
        widths = [fwhm(np.clip(smooth[window] - level, 0.0, None))]
    width = list(np.median(np.array(widths), axis=0))
    width[-2:] = [max(width[-2:])] * 2
    return width


def measure_bead(data: np.ndarray, p, r: np.ndarray, pixel_noise: float,
                 smooth: bool = False) -> tuple:
    """A bead's background-subtracted crop (one pixel wider than the PSF), its centroid, its
    total above the noise, the spread of its half-maximum core (of the crop lightly smoothed
    when ``smooth``: noisy beads) and its shape. Each is measured on the pixels over its level
    that touch the bead's peak or stand clear of the noise (``_real``): at a peak of 4 noise
    sigmas, half the maximum is 2.5-3 sigmas, and the crop's noise pixels over it made the core
    spreads of single beads 3.5-8.3 px (true 1.7), half of them "outliers", and pulled their
    centroids by up to 1.5 px."""
    from scipy import ndimage

    box = data[tuple(slice(c - q - 1, c + q + 2) for c, q in zip(p, r))]
    crop = box - border_median(box)
    grids = [g.astype(np.float64) for g in np.indices(crop.shape)]
    top, real = _peak_and_blob(crop, r, pixel_noise)
    # centroid and spread of the pixels clearly above the noise, so noise far out in the
    # crop does not pull them
    weights = crop * real(crop > min(3 * pixel_noise, 0.5 * top))
    total = weights.sum()
    centroid = np.array([(g * weights).sum() / total for g in grids])
    shape = _shape_moments(crop * real(crop > 0.2 * top), top, grids)
    lit = crop
    if smooth:  # the noise of a sigma-1 Gaussian's mean: (4 pi)**(-ndim/4) of the pixels'
        lit = ndimage.gaussian_filter(crop, 1.0)
        top, real = _peak_and_blob(lit, r, pixel_noise * (4 * math.pi) ** (-crop.ndim / 4))
    # spread of the half-maximum core: like the FWHM, the same for dim and bright beads
    core = lit * real(lit >= 0.5 * top)
    core_centroid = [(g * core).sum() / core.sum() for g in grids]
    variance = sum(
        ((g - c) ** 2 * core).sum() / core.sum() for g, c in zip(grids, core_centroid)
    )
    return crop, centroid, total, math.sqrt(variance), shape


def _peak_and_blob(crop: np.ndarray, r, noise: float):
    """The bead's peak near the crop's middle (a noise spike elsewhere in the crop can be
    higher), and a function giving the pixels of a mask that are the bead's (``_real``)."""
    near = crop[tuple(slice(q - 1, q + 4) for q in r)]
    seed = tuple(q - 1 + int(i) for q, i in zip(r, np.unravel_index(int(np.argmax(near)),
                                                                     near.shape)))
    clear = crop > _CLEAR_SIGMAS * noise
    return float(near.max()), lambda mask: _real(mask, seed, clear)


def _real(mask: np.ndarray, seed: tuple, clear: np.ndarray) -> np.ndarray:
    """The pixels of ``mask`` connected (by faces, edges or corners) to ``seed``, or ``clear``
    of the noise: a second bead merged with this one still counts (its core may not touch
    the first's), and for bright beads, every pixel of whose level is clear, nothing changes."""
    from scipy import ndimage

    labels, _ = ndimage.label(mask, structure=np.ones((3,) * mask.ndim))
    return mask & (clear | (labels == labels[seed])) if labels[seed] else mask & clear


def _shape_moments(crop: np.ndarray, top: float, grids: list) -> np.ndarray:
    """The second-moment matrix of a bead's light above 20% of its peak ``top`` (weights: the
    excess over that level, so pixels crossing it as the bead moves by a sub-pixel do not jump
    in): its shape, for telling two merged beads (elongated along their axis) from one."""
    weights = np.clip(crop - 0.2 * top, 0.0, None)
    total = max(weights.sum(), 1e-300)
    centred = [g - (g * weights).sum() / total for g in grids]
    return np.array([[(a * b * weights).sum() / total for b in centred] for a in centred])


def border_median(box: np.ndarray) -> float:
    shell = np.concatenate([np.moveaxis(box, a, 0)[[0, -1]].ravel() for a in range(box.ndim)])
    return float(np.median(shell))


def typical_peak(flat: np.ndarray, kept) -> float:
    """The median bead's brightest pixel near its peak, above the background (0: no bead)."""
    if not len(kept):
        return 0.0
    return float(np.median([flat[tuple(slice(max(c - 1, 0), c + 2) for c in p)].max()
                            for p in kept]))


def warn_if_weak(used: int, peak: float, noise: float) -> tuple[float, str]:
    """The beads' peak signal-to-noise (``peak``: the mean bead's, over the background's pixel
    ``noise``), and the DeblurWarning line said when the PSF rests on few or dim beads
    (``weak_beads_warning``; else ""): such a PSF is noisy, and nothing else said so (a deblur
    with one from dim beads tripped the safeguard)."""
    snr = peak / noise if noise > 0 else math.inf
    line = weak_beads_warning(used, snr)
    if line:  # stacklevel: the caller of core.beads.psf_from_beads
        warnings.warn(line, DeblurWarning, stacklevel=3)
    return snr, line


def weak_beads_warning(used: int, snr: float) -> str:
    """One line when the PSF rests on fewer than 5 beads or on beads whose peak stands under
    20 noise sigmas (``snr``: the mean bead's peak over the background's pixel noise), else "".
    Measured on Gaussian beads (FWHM 4.7 px, 30 images each), the FWHM's error, mean and
    largest: 12 beads at a peak SNR of 4, 8 % and 26 % (the same from the true centres), at 10,
    4 % and 16 %, at 20, 2 % and 9 %; 3 beads at 40, 2 % and 6 %; 12 bright beads, 0.3 % and
    0.8 %. A few beads also carry any flaw of one (a merged pair, a speck) into the PSF."""
    if used >= FEW_BEADS and snr >= LOW_SNR:
        return ""
    dim = snr < LOW_SNR
    why = " and ".join(filter(None, ["too few" if used < FEW_BEADS else "",
                                     "too dim" if dim else ""]))
    return (f"the PSF rests on {used} bead{'s' if used != 1 else ''} at a peak signal-to-noise "
            f"of {snr:.1f} (the mean bead's peak over the background's noise), {why} for a "
            f"steady PSF (its width can be off by {'10 % or more' if dim else 'a few %'}): "
            "image more isolated beads, expose longer or average repeated frames (aim for "
            f"{FEW_BEADS} or more beads at a peak signal-to-noise of {LOW_SNR:.0f} or more)")
