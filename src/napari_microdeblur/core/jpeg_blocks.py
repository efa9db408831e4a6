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

Baseline JPEG holds 8 bits per sample, so only a plane whose values lie within 0-255 (uint8,
8-bit values in a wider type, their mean over colour channels) is judged: small uncompressed
16-bit planes scored up to 1.08 by their content alone (7 of the 45 130 x 133 planes of the
NEUBIAS confocal/widefield DNA stack), which set Wiener's balance 'auto' as for JPEG.
"""

from __future__ import annotations

import numpy as np

__all__ = ["JPEG_BLOCKINESS", "blockiness", "in_8bit_range", "looks_jpeg"]

#: A plane whose ``blockiness`` exceeds this is treated as JPEG-compressed.
JPEG_BLOCKINESS = 1.05
_BLOCK = 8


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
    """Whether a 2D plane shows JPEG's 8 x 8 block grid (``blockiness`` above
    ``JPEG_BLOCKINESS``); never for values outside 0-255, which no baseline JPEG decodes to
    (``in_8bit_range``)."""
    return in_8bit_range(plane) and blockiness(plane) > JPEG_BLOCKINESS
