"""What focus-based selection uses when the user sets nothing, shared by the Focus QC dock and
`microdeblur deblur --focus-below` so that both pick the same tiles and slices."""

from __future__ import annotations

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
