"""What a blurry/sharp pair must pass before it is trained on (``core.pairs``): that its two
planes show the same field (:func:`check_same_field`), that they are not anti-correlated
(:func:`inverted_message`), that they are not swapped (:func:`check_not_swapped`) and that a
plane can hold out ``pairs.split_band``'s validation band (:func:`check_band_fits`), with
advice that still fits once alignment has cropped the pair.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from .noise import estimate_noise
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


#: A plane pair may be swapped only where ``affine_fit`` blurs the sharp plane by no more than
#: this (px) to explain the blurry one: right-way real pairs fitted more, but for planes next
#: to focus (0-0.9 px, where the two are equally sharp); swapped ones mostly 0-0.7 px.
SWAP_MAX_BLUR = 1.0
#: ... and its blurry plane holds this many times the sharp one's fine detail
#: (``fine_detail``; see check_not_swapped for what was measured).
SWAP_DETAIL_RATIO = 1.2
#: A pair whose blurry plane's fine band is more than this share noise is not judged: the
#: noise estimate would decide. Noise the estimate misses reads as detail (clean 96-192 px
#: images given Gaussian noise clipped at 0, as a camera clips, or Poisson noise of a few
#: counts: up to 1.25x their detail at shares of 0.1-0.25, 1.08 under 0.1); the blurry planes
#: of the swapped real pairs caught were at 0.001-0.08 (the light-sheet in-focus shot 0.08).
#: The sharp plane's noise is not limited: a swapped pair's sharp plane is the blurred one,
#: its fine band mostly noise (BBBC006's 32-um defocus 0.5, its crops 0.3-3), and noise in a
#: sharp plane makes the fit blur it (then not judged).
SWAP_NOISE_SHARE = 0.1
#: Gaussians (px) whose difference is the fine band, and the next octave's (as
#: ``regimes.swap_check``'s); planes under DETAIL_MIN_SIDE px are not judged, larger ones on
#: their central DETAIL_MAX_SIDE px.
DETAIL_FINE, DETAIL_COARSE = (2.0, 4.0), (4.0, 8.0)
DETAIL_MIN_SIDE, DETAIL_MAX_SIDE = 64, 1024  # 48 px right-way crops read 1.25x: the 8 px
# Gaussian sees mostly the mirrored border there


@functools.lru_cache(maxsize=4)
def _noise_gain(band: tuple[float, float]) -> float:
    """The energy white noise of variance 1 puts in the band between Gaussians ``band``."""
    impulse = np.zeros((81, 81))
    impulse[40, 40] = 1.0
    h = ndimage.gaussian_filter(impulse, band[0]) - ndimage.gaussian_filter(impulse, band[1])
    return float((h * h).sum())


def central_crop(x: np.ndarray, side: int) -> np.ndarray:
    """The centre of ``x``, at most ``side`` px along each axis (a view)."""
    return x[tuple(slice(max(0, (n - side) // 2), max(0, (n - side) // 2) + side)
                   for n in x.shape)]


def band_energies(x: np.ndarray, *bands: tuple[float, float]) -> list[float]:
    """Mean energy of ``x`` in each band between two Gaussians (sigmas in px, 'reflect'
    borders): the fine/coarse detail measure of this check and of the unpaired regimes'
    swapped-sets warning (``training.regimes.swap_check``)."""
    blurred = {s: ndimage.gaussian_filter(x, s) for band in bands for s in band}
    return [float(((blurred[a] - blurred[b]) ** 2).mean()) for a, b in bands]


def fine_detail(plane: np.ndarray) -> tuple[float, float] | None:
    """(detail, noise share) of a (C, Y, X) plane (channels averaged): the energy of the band
    between Gaussians of ``DETAIL_FINE`` px over that of ``DETAIL_COARSE``, each less what the
    plane's noise (``noise.estimate_noise`` at its mean brightness) puts there, so neither gain,
    offset nor noise counts (a noisy input of a denoising pair read 2x the detail of its clean
    target without it); and the share of the fine band that is noise. The plane must not be
    resampled (an alignment shift smooths the noise). None: under ``DETAIL_MIN_SIDE`` px or
    no detail left in the coarse band."""
    g = gray(plane).astype(np.float64)
    if min(g.shape) < DETAIL_MIN_SIDE:
        return None
    g = central_crop(g, DETAIL_MAX_SIDE)
    gain, variance = estimate_noise(g)
    noise = gain * max(float(g.mean()), 0.0) + variance
    energy = band_energies(g, DETAIL_FINE, DETAIL_COARSE)
    fine, coarse = (e - noise * _noise_gain(band)
                    for e, band in zip(energy, (DETAIL_FINE, DETAIL_COARSE)))
    if coarse <= 0 or energy[0] <= 0:
        return None
    return max(fine, 0.0) / coarse, noise * _noise_gain(DETAIL_FINE) / energy[0]


def detail_ratio(blurry: np.ndarray, sharp: np.ndarray) -> float | None:
    """The blurry (C, Y, X) plane's ``fine_detail`` over the sharp one's; None where either is
    not measured or too much of its fine band is noise (``SWAP_NOISE_SHARE``)."""
    return compare_detail(fine_detail(blurry), fine_detail(sharp))


def compare_detail(blurry, sharp) -> float | None:
    """``detail_ratio`` of two ``fine_detail`` results (None: not measured)."""
    if blurry is None or sharp is None or blurry[1] > SWAP_NOISE_SHARE:
        return None
    return blurry[0] / sharp[0] if sharp[0] > 0 else None


def check_not_swapped(where: str, infos: Sequence[dict]) -> None:
    """``ValueError`` when blurry and sharp look given the other way round: a pair's planes
    (their ``info``: ``blur_sigma``, ``detail_ratio``) that fit no blur from sharp to blurry
    (at most ``SWAP_MAX_BLUR``) and whose blurry plane holds ``SWAP_DETAIL_RATIO`` times the
    sharp one's fine detail outnumber those that fit a blur. Such a pair trained without a word
    and its weights learned to blur (a 3-px pair swapped: "kept step 2, 40.12 dB (start 39.99
    dB)").

    Measured (on the real pair sets the networks train on, both ways round, matched or not):
    no right-way real pair refused (the light-sheet shots 0.3-0.7 um off focus, whole and in
    160-px crops, both light-sheet stacks against their focus plane, BBBC006 whole and four
    256-px crops, 8 brightfield pairs, 45 widefield/confocal planes, H&E); their judged planes
    (next to focus) read 0.96-1.00, the rest fit more blur. 1064 denoising pairs (7 images of
    96-192 px, Gaussian noise of 0.2-3x their std, clipped or not, or Poisson noise of 1-100
    counts, in the input or the target): none refused, at most 1.07. Swapped, refused at
    1.31-60: the shots above focus (but 0.3 um whole: 1.11) and 0.7 um below in a crop, the
    stack (6 of 14 planes), BBBC006 whole and 2 of 4 crops, widefield/confocal (17 of 45
    planes), H&E blurred by 1.6 px, Gaussian blurs of 1.5-3 px. Passed swapped: the other
    shots below focus, the microtubule stack, brightfield (halos fit 6-24 px either way),
    blurs up to 1 px."""
    swapped = [i["detail_ratio"] for i in infos if i.get("blur_sigma", 0.0) <= SWAP_MAX_BLUR
               and (i.get("detail_ratio") or 0.0) >= SWAP_DETAIL_RATIO]
    blurred = sum(i.get("blur_sigma", 0.0) > SWAP_MAX_BLUR for i in infos)
    if swapped and len(swapped) > blurred:
        planes = f"{len(swapped)} of {len(infos)} planes" if len(infos) > 1 else "the plane"
        raise ValueError(
            f"{where}: the blurry image looks sharper than the sharp one ({planes}: no blur fits "
            f"from sharp to blurry, and blurry holds {float(np.median(swapped)):.2f}x the fine "
            "detail): swap Blurry and Sharp")


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
