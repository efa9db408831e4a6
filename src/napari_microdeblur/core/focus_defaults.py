"""What focus-based selection uses when the user sets nothing, shared by the Focus QC dock and
`microdeblur deblur --focus-below` so that both pick the same tiles and slices; and the
threshold calibrated on known-good images (``calibrate_threshold``, also
``core.focus.calibrate_threshold``), and which side of a plane's median is structure
(``structure_side``, for ``core.focus.structure_mask``). Also the checks of the focus options
(``check_focus_tile``, ``check_camera_offset``; ``core.focus`` names them too): torch-free, so
`microdeblur focus` refuses a bad option without torch's 2-3 s import."""

from __future__ import annotations

import math

import numpy as np

#: focus tile sides tried, largest first, when the user sets none: the largest that cuts the
#: shorter side of a plane into MIN_TILES_PER_SIDE or more (256 px from 1024 px up; 64 px on a
#: 256 px sample: 16 tiles). One tile alone can never score below half its own median
AUTO_TILES = (256, 128, 64, 32)
MIN_TILES_PER_SIDE = 4


def auto_focus_tile(ny: int, nx: int) -> int:
    """The tile side (px) for a plane of ``ny`` x ``nx`` when the user has set none."""
    side = min(int(ny), int(nx))
    return next((t for t in AUTO_TILES if side >= MIN_TILES_PER_SIDE * t), AUTO_TILES[-1])


MIN_TILE = 8  # pixels: the band-pass needs this much of a plane


def check_focus_tile(tile) -> int | None:
    """``tile`` as an int of at least MIN_TILE px, or None (whole planes)."""
    if tile is None:
        return None
    if isinstance(tile, bool) or not isinstance(tile, (int, np.integer)):
        raise TypeError(f"tile must be an integer number of pixels or None, not {tile!r}")
    if int(tile) < MIN_TILE:
        raise ValueError(f"tile={tile} must be at least {MIN_TILE} px (focus scores need it)")
    return int(tile)


def check_camera_offset(camera_offset) -> float:
    """``camera_offset`` as a float >= 0 (the camera's dark level in the image's units)."""
    if isinstance(camera_offset, bool) or not isinstance(camera_offset, (int, float, np.number)):
        raise TypeError(f"camera_offset must be a number (the camera's dark level), not "
                        f"{camera_offset!r}")
    value = float(camera_offset)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"camera_offset={camera_offset} must be a finite number >= 0 (the "
                         "camera's dark level, e.g. 100 for many sCMOS cameras)")
    return value


#: a plane is one-sided when one tail of its smoothed intensities (the 99.9th percentile's
#: distance from the median, or the 0.1th's) is this many times the other: bright structure on
#: a dark background (sparse fluorescence fields of shared/data 7-770, the light-sheet
#: mitochondria 65-88) or dark structure on a bright one (gaps in stained tissue, oil-red
#: worms: 1/12 to 1/50). There only that side is structure: counted both ways, a background 2
#: counts under the median (shading) made the cell-free tiles of the mitochondria stack
#: structure, and they were selected and 'deblurred'. EM, brightfield cells with halos and
#: dense defocused fluorescence lie between (1/4.8 to 5.5) and count both sides, as before.
STRUCTURE_SIDE_RATIO = 6.0
#: on a one-sided plane a pixel must also lie this many background spreads from the median
#: (the spread: the median's distance to the 15.87th percentile on the background's side, one
#: sigma of a normal, shading and out-of-focus haze included: the haze beside the mitochondria
#: reached 2.2 spreads, their faintest tile 4.4) ...
STRUCTURE_SPREADS = 3.0
#: ... or this share of the structure's tail where that is less (where the median lies in
#: dense tissue, the spread is the tissue's: 3 of them left out half the tissue of a Ki67 crop)
STRUCTURE_TAIL_SHARE = 0.05


def structure_side(low: float, below: float, median: float, above: float, high: float
                   ) -> tuple[int, float]:
    """Which side of the median is structure on a plane whose smoothed intensities have these
    percentiles (0.1, 15.87, 50, 84.13, 99.9): +1 brighter only, -1 darker only, 0 both; and
    the distance from the median a pixel needs on that side besides the noise (0 for both)."""
    bright, dark = high - median, median - low
    if bright > STRUCTURE_SIDE_RATIO * dark:
        return 1, min(STRUCTURE_SPREADS * (median - below), STRUCTURE_TAIL_SHARE * bright)
    if dark > STRUCTURE_SIDE_RATIO * bright:
        return -1, min(STRUCTURE_SPREADS * (above - median), STRUCTURE_TAIL_SHARE * dark)
    return 0, 0.0


def default_threshold(scores) -> float:
    """A first threshold before the user sets one: half the median of the finite ``scores``
    (the units with structure; units with less than half the typical band-pass energy are
    soft); 0.0 for none."""
    values = np.asarray(scores, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0
    return float(0.5 * np.median(values))


def channel_thresholds(scores, structure, axis: int) -> tuple[float, ...]:
    """``default_threshold`` of each channel alone: its units with ``structure``, the channel
    being index ``axis`` of ``scores``. Channels score on their own levels (DAPI 1.4-1.8e-4
    beside GFP 2.5-7.1e-4 in one time-lapse): half the median of both pooled judged neither."""
    scores = np.asarray(scores, dtype=np.float64)
    structure = np.broadcast_to(np.asarray(structure, dtype=bool), scores.shape)
    return tuple(default_threshold(np.take(scores, c, axis=axis)[np.take(structure, c, axis=axis)])
                 for c in range(scores.shape[axis]))


def calibrate_threshold(good_scores, *, percentile: float = 5.0, margin: float = 1.0,
                        bad_scores=None) -> float:
    """A threshold from known-good images: ``margin`` x the given percentile of their scores.
    With ``bad_scores`` (known-soft images) it lies between the groups instead: the geometric
    mean of the good images' ``percentile`` and the bad images' ``100 - percentile`` (scores
    are ratios, so the middle is taken on a log scale); ``margin`` is then not used. A few
    good images' 5th percentile is about their lowest score: an in-focus field scoring lower
    was deblurred (BBBC006: 1 of 5), which ``margin`` < 1 leaves room for."""
    scores = np.asarray(good_scores, dtype=np.float64).ravel()
    if scores.size == 0:
        raise ValueError("calibration needs at least one known-good image score")
    if not 0 <= percentile <= 100:
        raise ValueError(f"percentile={percentile} must be between 0 and 100")
    if isinstance(margin, bool) or not (isinstance(margin, (int, float, np.number))
                                        and 0 < margin <= 1):
        raise ValueError(f"margin={margin!r} must be a number > 0 and <= 1 (the threshold "
                         "as a fraction of the good images' percentile)")
    good = float(np.percentile(scores, percentile))
    if bad_scores is None:
        return float(margin) * good
    bad = np.asarray(bad_scores, dtype=np.float64).ravel()
    if bad.size == 0:
        raise ValueError("bad_scores is empty; give at least one known-soft image score")
    soft = float(np.percentile(bad, 100 - percentile))
    if good <= 0 or soft <= 0:
        raise ValueError("known-good and known-soft scores must be > 0 (images with "
                         "structure) to place a threshold between them")
    return math.sqrt(good * soft)
