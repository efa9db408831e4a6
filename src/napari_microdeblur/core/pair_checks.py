"""What a blurry/sharp pair must pass before it is trained on (``core.pairs``): that its two
planes show the same field (:func:`check_same_field`), that they are not anti-correlated
(:func:`inverted_message`) and that a plane can hold out ``pairs.split_band``'s validation band
(:func:`check_band_fits`), with advice that still fits once alignment has cropped the pair.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from .pair_matching import REGISTER_SIGMA, affine_fit, correlation, gray

#: Below this correlation of the aligned, smoothed planes blurry and sharp are taken for
#: different fields (``field_correlation``). Measured on genuine pairs: the test crops under
#: protocols A-C 0.99-1.00, under Gaussian blur of sigma 4-20 px 0.30-0.99 (blur-matched
#: 0.97-1.00), the light-sheet stack's 13 planes against its focus 0.97-1.00, BBBC006's real
#: 32-um defocus 0.75 (520 x 696 px); the test crops transposed or flipped (protocols A-C,
#: sigma <= 8 px) -0.14 to 0.17 unless alignment took a large shift (``TURN_CORRELATION``).
#: Refused as well: crops far smaller than their blur (BBBC006's 96 and 128-px crops: 4 of
#: 115 and 2 of 62), a brightfield crop at 25 um registered 24 px off, 1 of 90 128-px crops
#: of 15 fluorescence images (near-empty background under protocol B); none of 256 px.
MIN_FIELD_CORRELATION = 0.2


def field_correlation(blurry: np.ndarray, sharp: np.ndarray, shift, sigma: float = 2.0,
                      limit: float = MIN_FIELD_CORRELATION) -> float:
    """How alike two (C, Y, X) planes are once ``shift`` registers blurry onto sharp: the
    correlation of their channel means smoothed by REGISTER_SIGMA, the margin the shift
    uncovers left out. When that is under ``limit`` in size, the sharp plane blurred as
    ``pair_matching.affine_fit`` finds the blurry one blurred (``sigma``: its noise smoothing)
    is tried too: its correlation is returned when it reaches ``limit`` (a sparse field under
    a blur of sigma 16 px: 0.41 smoothed, 0.99 so). A negative one does not count: the planes
    of another field, heavily smoothed, anti-correlate by chance (test crops flipped: -0.21)."""
    m = int(math.ceil(float(np.max(np.abs(shift))))) if np.any(shift) else 0
    inner = (slice(m, -m), slice(m, -m)) if m else (slice(None), slice(None))
    b = ndimage.gaussian_filter(gray(blurry), REGISTER_SIGMA)
    if np.any(shift):
        b = ndimage.shift(b, shift, order=1, mode="nearest")
    s = gray(sharp)
    found = correlation(b[inner], ndimage.gaussian_filter(s, REGISTER_SIGMA)[inner])
    if abs(found) >= limit:
        return found
    blur = affine_fit(sharp[:, inner[0], inner[1]], blurry[:, inner[0], inner[1]], sigma)[2]
    matched = correlation(b[inner], ndimage.gaussian_filter(s, np.hypot(blur, REGISTER_SIGMA))
                           [inner])
    return matched if matched >= limit else found


#: A turned or flipped blurry plane (unshifted) that correlates at least this, and
#: TURN_MARGIN more than the pair as given, shows the pair mis-oriented: alignment can accept a
#: shift of a third of a dense field that makes a turned pair correlate (the 96-px nuclei crop
#: transposed: 0.79 after a shift of 24 px; turned back, 1.00). With it the test crops turned
#: or flipped are refused under protocols A-C and sigma <= 8 px (all 30: 9 without it, 5
#: before either check), and 318 of 364 turned 128/256-px crops of 15 fluorescence images
#: (86 without it); of the genuine pairs it refused 2 more of BBBC006's 115 96-px crops.
TURN_CORRELATION = 0.7
TURN_MARGIN = 0.1


def check_same_field(blurry: np.ndarray, sharp: np.ndarray, shift, where: str, *,
                     sigma: float = 2.0, limit: float = MIN_FIELD_CORRELATION) -> float:
    """``field_correlation``, or ``ValueError`` when it is under ``limit`` in size or the pair
    correlates clearly better with blurry turned or flipped (``TURN_CORRELATION``): a pair of
    another field, or one turned or flipped, was trained on and its weights saved (only a late
    hint said they deblurred worse than the input). Clearly anti-correlated planes pass: the
    gain check that follows refuses them in words for brightfield's contrast inversion."""
    found = field_correlation(blurry, sharp, shift, sigma, limit)
    if found + TURN_MARGIN <= 1:  # else no turn could correlate TURN_MARGIN more
        what, turned = _best_turn(blurry, sharp)
        if turned >= max(TURN_CORRELATION, found + TURN_MARGIN):
            raise ValueError(f"{where}: blurry and sharp don't show the same field as given "
                             f"(correlation {found:.2f}; {turned:.2f} with blurry {what}): "
                             "check the pairing or orientation")
    if abs(found) < limit:
        raise ValueError(f"{where}: blurry and sharp don't show the same field (correlation "
                         f"{found:.2f}): check the pairing or orientation")
    return found


def _best_turn(blurry: np.ndarray, sharp: np.ndarray) -> tuple[str, float]:
    """(how, correlation) of the turn or flip of the blurry (C, Y, X) plane, unshifted, that
    correlates best with the sharp one (both smoothed as ``field_correlation``'s); the turns
    that keep a plane's shape (a square one has seven)."""
    b = ndimage.gaussian_filter(gray(blurry), REGISTER_SIGMA)
    s = ndimage.gaussian_filter(gray(sharp), REGISTER_SIGMA)
    turns = {"flipped upside down": b[::-1], "flipped left to right": b[:, ::-1],
             "turned 180 degrees": b[::-1, ::-1]}
    if b.shape[0] == b.shape[1]:
        turns.update({"transposed": b.T, "turned 90 degrees clockwise": np.rot90(b, -1),
                      "turned 90 degrees anticlockwise": np.rot90(b),
                      "flipped along the other diagonal": b[::-1, ::-1].T})
    return max(((how, correlation(t, s)) for how, t in turns.items()), key=lambda ht: ht[1])


def inverted_message(where: str, gain: float, info: dict) -> str:
    """Why a pair is refused when its planes are anti-correlated. Brightfield and phase
    contrast invert the contrast of transparent objects on one side of focus (a real pair
    10 um below focus: gain -0.52; of the twenty 256-px crops of 2 fields at 10 and 25 um,
    9-12 crops below focus and none above it had a negative gain): a target matched with a
    negative gain would teach the network to invert its input, so the pair is refused."""
    fit = f"not positively correlated (fitted gain {gain:.3g})"
    why = ("in brightfield or phase contrast the contrast of transparent objects inverts on "
           "one side of focus (or the planes are not of the same field)")
    if "distance" not in info:  # a blurry/sharp pair
        return (f"{where}: the blurry and sharp planes are {fit}: {why}; pair a blurry plane "
                "from the other side of focus")
    z, focus = info["z"], info["focus_plane"]
    side = f"z < {focus}" if z < focus else f"z > {focus}"
    return (f"{where}: plane {z} and the in-focus plane {focus} are {fit}: {why}; train on "
            f"the planes on the other side of focus (a stack without the planes {side})")


def shown_pair(name: str) -> str:
    """A field's name as messages quote it: a pair of files 'b.tif~s.tif' (the command line's
    name for it) as 'b.tif' with 's.tif'."""
    return " with ".join(map(repr, name.split("~", 1))) if "~" in name[1:-1] else repr(name)


#: Pixels between the training region and the held-out band that belong to neither: a
#: structure blurred across the border does not sit in both, and planes cropped differently by
#: alignment (up to this many pixels) still keep the two regions apart.
BAND_GAP = 16

#: The share of a plane's shorter side that alignment may crop from each side (``pairs``'
#: default max_shift): advice given before alignment leaves room for it.
ALIGN_SHARE = 0.1


def check_band_fits(name: str, shape: tuple[int, int], *, val_fraction: float,
                    gap: int = BAND_GAP, min_train: int = 1, min_band: int = 8,
                    border: int | None = None) -> tuple[int, int, int]:
    """Whether a (Y, X) plane of ``shape`` (after alignment cropped ``border`` px per side) can
    hold out ``split_band``'s band: ``ValueError`` naming ``name`` when the band is narrower
    than ``min_band`` or the training region than ``min_train``; else (the axis of the band,
    1 for Y or 2 for X, where training stops, where the band starts). Needs no pixels, so a
    job can check a layer before aligning it: ``border`` None (not aligned yet) checks with
    no crop (a necessary condition), but advises values that still fit once alignment has
    cropped up to ``ALIGN_SHARE`` of the shorter side (advice for no crop led, followed, to
    a refusal after a 3-px crop that said only "use larger images")."""
    ny, nx = shape
    axis = 2 if nx >= ny else 1
    length = nx if axis == 2 else ny
    known = 0 if border is None else int(border)
    side = length + 2 * known  # the side before alignment cropped it
    width = max(1, round(val_fraction * side))
    stop_train = side - width - gap - known  # in the pair's own coordinates
    start_val = side - width - known
    band = length - max(start_val, 0)
    if band < min_band or stop_train < min_train:
        room = math.ceil(ALIGN_SHARE * min(ny, nx)) if border is None else known
        raise ValueError(
            f"{shown_pair(name)} ({ny} x {nx}) is too small to hold out validation: a band of "
            f"{width} px, a gap of {gap} px and training patches of {min_train} px need "
            f"{width + gap + min_train + 2 * known} px and a band of at least {min_band}; "
            f"{_band_advice(side, width, gap, min_train, min_band, room)}")
    return axis, stop_train, start_val


def _band_advice(side: int, width: int, gap: int, patch: int, min_band: int, border: int) -> str:
    """The values that fit (it said "a smaller patch or another val_fraction" of 48-px images
    where the default patch of 64 was the cause); alignment's crop of ``border`` px per side
    eats that much of the band and of the training region. The patch is a multiple of the
    network's size divisor, which callers give as ``min_band`` when over 8 (max(8, divisor));
    else a multiple of 8 is one of any divisor up to 8 (it said patch=12 to a divisor of 16)."""
    wide = max(width, min_band + border)
    fraction = math.ceil(wide / side * 100) / 100
    given = max(1, round(fraction * side)) if wide > width else width  # the band it gives
    step = max(8, min_band)
    fits = (side - given - gap - border) // step * step
    if fits < 8 or fraction > 0.5:  # a band of at most half (the dock's), patches of 8 px
        return "use larger images"
    give = ([f"val_fraction={fraction}"] if wide > width else []) + (
        [f"patch={fits} or smaller"] if fits < patch else [])
    return f"give {' and '.join(give)}, or use larger images"
