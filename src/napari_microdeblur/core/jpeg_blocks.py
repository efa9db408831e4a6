"""JPEG compression told from the pixels alone (the file may have been converted since).

JPEG codes 8 x 8 blocks separately, so its quantisation leaves a step at every block edge: the
second difference across columns (and rows) 8 apart is larger at one of the 8 phases than at
the others. The phase is not assumed (a crop, or the centre crop an estimate reads, can start
anywhere), so the score is the largest phase over the median one, the smaller of the two axes;
the largest 1 % of second differences are clipped first (hot pixels).

On the training crops of benchmarks/jpeg_input.py (brightfield sets, blurred by protocols A and
C, 8-bit) lossless images scored 1.002-1.039 (also cropped 3 and 5 px off the grid, or the
red channel alone), JPEG quality 95 1.059-1.43, quality 75 1.24-3.1: ``JPEG_BLOCKINESS``
lies between.

That score alone grows with chance as a plane shrinks (fewer blocks average each phase): of
8000 random 32-256 px crops of 13 never-JPEG sets of shared/data it passed 1.05 in 75 % of the
32-48 px ones, 23 % at 64-95 px, 7 % at 96-127 px, 0.1 % at 192-256 px (a 96 px crop of the
PackBits HT29 TIFF: 1.07; its 512 px whole: 1.01). So a plane is also asked how likely its grid
is by chance (``grid_chance``): the column profile of second differences (trimmed mean over
rows, less its 8-px running mean) is split by phase, and the two adjacent phases a block edge
raises are compared with the other six (a t test over the profile's spread within each phase,
the best of the 8 edge positions); the two axes' chances are combined (Fisher). The spread
sets the scale and the degrees of freedom grow with the blocks, so the bar a grid must clear
falls as the plane grows: none of those crops was taken for JPEG, nor of 10 000 more of
32-64 px. JPEG versions of the same crops (the whole image by PIL, then cropped) were found at
quality 75 / 85 / 90: 96-127 px 100 / 57 / 41 %, 64-95 px 79 / 55 / 49 %, 32-48 px 50 / 41 /
30 % (a plane JPEG flattened holds no grid to find); at 128 px and over within 2 points
of before.

Baseline JPEG holds 8 bits per sample, so only a plane whose values lie within 0-255 (uint8,
8-bit values in a wider type, their mean over colour channels) is judged: small uncompressed
16-bit planes scored up to 1.08 by their content alone (7 of the 45 130 x 133 planes of the
NEUBIAS confocal/widefield DNA stack), which set Wiener's balance 'auto' as for JPEG.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["JPEG_BLOCKINESS", "JPEG_GRID_CHANCE", "blockiness", "grid_chance", "in_8bit_range",
           "looks_jpeg"]

#: A plane whose ``blockiness`` exceeds this (and whose ``grid_chance`` is under
#: ``JPEG_GRID_CHANCE``) is treated as JPEG-compressed.
JPEG_BLOCKINESS = 1.05
#: ... and whose grid is less likely than this by chance (``grid_chance``). The chance is
#: nominal (image content is not the test's Gaussian noise: 34 of 18 000 never-JPEG crops came
#: under 1e-4, 2 under this, both with blockiness under ``JPEG_BLOCKINESS``).
JPEG_GRID_CHANCE = 1e-6
_BLOCK = 8
_TRIM = 0.1  # of each column's second differences, each end: an edge along a column


def blockiness(plane: np.ndarray) -> float:
    """How much more the plane steps at one phase of an 8-px grid than at the others: about 1
    for an image never JPEG-compressed, more for one that was (the smaller of the Y and X
    scores). 1.0 for a plane under 3 blocks along an axis, or without any second difference."""
    x = np.asarray(plane, dtype=np.float64)
    if x.ndim != 2 or min(x.shape) < 3 * _BLOCK + 2:
        return 1.0
    scores = []
    for a in (x, x.T):
        d = np.abs(np.diff(a, n=2, axis=1))
        # a few hot pixels or cosmic rays would set one phase apart on their own
        d = np.minimum(d, np.percentile(d, 99))
        n = d.shape[1] // _BLOCK * _BLOCK
        per_phase = d[:, :n].reshape(d.shape[0], -1, _BLOCK).mean(axis=(0, 1))
        median = float(np.median(per_phase))
        if median <= 0:
            return 1.0
        scores.append(float(per_phase.max()) / median)
    return min(scores)


def _edge_chance(a: np.ndarray) -> float:
    """How likely, by chance, the strongest 8-px block edge along axis 1 of ``a`` is: the
    one-sided t test of the two phases of second differences an edge raises against the other
    six, over the column profile's spread within each phase, times the 8 edge positions tried
    (at most 1)."""
    from scipy.special import stdtr

    d = np.abs(np.diff(a, n=2, axis=1))
    d = np.minimum(d, np.percentile(d, 99))
    rows = d.shape[0]
    cut = int(rows * _TRIM)
    profile = np.sort(d, axis=0)[cut : rows - cut].mean(axis=0)
    # content that changes across the plane would otherwise set phases apart within a block
    running = np.convolve(profile, np.ones(_BLOCK) / _BLOCK, mode="valid")
    profile = profile[_BLOCK // 2 : _BLOCK // 2 + running.size] - running
    if profile.size < 2 * _BLOCK:
        return 1.0
    # every column counts, a last part-block too (a 32 px crop keeps 23 of its 30)
    phases = np.arange(profile.size) % _BLOCK
    count = np.bincount(phases, minlength=_BLOCK).astype(np.float64)
    mean = np.bincount(phases, weights=profile, minlength=_BLOCK) / count
    dof = profile.size - _BLOCK
    spread = float(np.sum((profile - mean[phases]) ** 2)) / dof
    best = 1.0
    for edge in range(_BLOCK):
        weights = np.full(_BLOCK, -1.0 / (_BLOCK - 2))
        weights[[edge, (edge + 1) % _BLOCK]] = 0.5
        excess = float(weights @ mean)
        if excess <= 0:
            continue
        scale = math.sqrt(spread * float(np.sum(weights**2 / count)))
        if scale <= 0:
            return 0.0  # every block the same: a grid no chance makes
        # the running mean took about another 8 degrees of freedom: counted in full, 32 px
        # crops of never-JPEG images came down to 7e-8
        best = min(best, float(stdtr(max(dof - _BLOCK, 4), -excess / scale)))
    return min(1.0, best * _BLOCK)


def grid_chance(plane: np.ndarray) -> float:
    """How likely a 2D plane's 8-px block edges are by chance (nominal; smaller: surer they are
    JPEG's): ``_edge_chance`` of its columns and of its rows combined by Fisher's method. 1.0
    for a plane under 25 px along an axis (2 blocks after the running mean), or not finite."""
    x = np.asarray(plane, dtype=np.float64)
    if x.ndim != 2 or min(x.shape) < 3 * _BLOCK + 1 or not np.all(np.isfinite(x)):
        return 1.0
    product = _edge_chance(x) * _edge_chance(x.T)
    if product <= 0:
        return 0.0
    # Fisher: -2 ln(p1 p2) is chi-squared with 4 degrees of freedom, whose tail is closed-form
    return min(1.0, product * (1.0 - math.log(product)))


def in_8bit_range(plane: np.ndarray) -> bool:
    """Whether ``plane`` can hold a JPEG's decoded values: 8-bit integers, or any values within
    0-255 (a JPEG read into a float or 16-bit array, or the mean of its colour channels)."""
    x = np.asarray(plane)
    if x.dtype in (np.uint8, np.bool_):
        return True
    if x.size == 0 or x.dtype.kind not in "uif":
        return False
    low, high = float(np.nanmin(x)), float(np.nanmax(x))
    return low >= 0.0 and high <= 255.0


def looks_jpeg(plane: np.ndarray) -> bool:
    """Whether a 2D plane shows JPEG's 8 x 8 block grid: ``blockiness`` above
    ``JPEG_BLOCKINESS`` (which a small crop's content reaches alone) and a grid no chance
    explains (``grid_chance`` under ``JPEG_GRID_CHANCE``); never for values outside 0-255, which
    no baseline JPEG decodes to (``in_8bit_range``)."""
    return (in_8bit_range(plane) and blockiness(plane) > JPEG_BLOCKINESS
            and grid_chance(plane) < JPEG_GRID_CHANCE)
