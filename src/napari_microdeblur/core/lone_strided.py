"""A strided statistics sample's lone pixels read back from the image (``lone_in_sample``).

Over ``inference.STATS_MAX_ELEMENTS`` (a 2048 px frame) the sample takes every 2nd or 3rd
pixel, where a blurred bead's core stands alone among neighbours a stride apart. Its
candidates (``lone_pixels`` at the plain ratio) are each read back with their 3 x 3 at full
resolution and kept where they still stand alone there: 40 hot pixels at 4095 in a 2048 px
Hoechst frame were said as about 56 (14 of the sample's 14 kept; before: none, the ratio
raised to 6^4), ~2900 candidate beads of sigma 0.6-1.0 px on the sample's grid: none kept.
"""

from __future__ import annotations

import numpy as np
import torch

from .saturation import NEIGHBOURS  # the rows lone_pixels compares, in its order

_VERIFY_HALF = 2  # each candidate's 5 x 5 of the image is read: its 3 x 3, mirrored at a border
_VERIFY_MAX = 4096  # candidates read at most (evenly chosen): each is a small read of the image


def sample_steps(sample_shape, shape, key) -> tuple[int, ...] | None:
    """The step along each axis between the image pixels of a ``sample`` read with ``key``
    (``inference_lazy.sample_key``; its first axis possibly halved again by
    ``stats_sample``), or None where they do not add up to ``sample_shape``."""
    if key is None or len(key) != len(shape) or len(sample_shape) != len(shape):
        return None
    steps = [k.step or 1 if isinstance(k, slice) else 1 for k in key]
    counts = [-(-n // s) for n, s in zip(shape, steps)]
    while counts[0] > sample_shape[0] and counts[0] > 1:
        steps[0] *= 2
        counts[0] = -(-shape[0] // steps[0])
    return tuple(steps) if tuple(counts) == tuple(sample_shape) else None


def read_around(candidates: np.ndarray, image, steps, ends):
    """(where, value, around) of up to ``_VERIFY_MAX`` of the ``candidates`` (a mask of the
    sample; ``where``: their places in it) in ``image`` at full resolution: the pixel and its
    8 neighbours (rows: ``NEIGHBOURS``; mirrored at a border); None where none can be read."""
    at = np.argwhere(candidates)
    if at.shape[0] > _VERIFY_MAX:
        at = at[np.linspace(0, at.shape[0] - 1, _VERIFY_MAX).astype(int)]
    size = 2 * _VERIFY_HALF + 1
    if any(image.shape[i] < size for i in ends) or at.shape[0] == 0:
        return None
    values, arounds = [], []
    for point in at:
        index, centre = [], []
        for axis, (i, step) in enumerate(zip(point, steps)):
            full = int(i) * step
            if axis in ends:  # a window inside the image, the candidate off-centre at a border
                start = min(max(full - _VERIFY_HALF, 0), image.shape[axis] - size)
                index.append(slice(start, start + size))
                centre.append(full - start + 1)  # in the window padded by one
            else:
                index.append(full)
        window = np.pad(np.asarray(image[tuple(index)], dtype=np.float64), 1, mode="reflect")
        row, col = centre
        values.append(window[row, col])
        arounds.append([window[row + dy, col + dx] for dy, dx in NEIGHBOURS])
    return (at, torch.tensor(values, dtype=torch.float64),
            torch.tensor(arounds, dtype=torch.float64).T)
