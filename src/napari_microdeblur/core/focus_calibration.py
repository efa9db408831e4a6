"""Which units (tiles, or slices) of a known-good image a focus threshold is calibrated on:
the Focus QC dock's "Calibrate from layer..." and `microdeblur watch --calibrate` both take
them from ``iter_good_units``, and both warn through ``noise_note``.

A unit counts for ``focus.structure_tiles`` where any pixel rises above the background noise,
so on a sparse fluorescence field a tile of faint glow (1-11 % of its pixels, the rest
background) counts, yet its band-pass energy is that of the pixel noise. Calibrated on with
the cells, such tiles set the threshold at the noise: on BBBC006 a03 (tiles of 128 px, 5th
percentile) 4.8e-6, under all 30 tiles of a defocused field (d02, median 1.6e-4). So a unit is
calibrated on only where at least CALIBRATION_MIN_SHARE of its pixels are structure or it
scores at least NOISE_FLOOR_FACTOR x the noise floor (what the plane's pixel noise alone
scores, ``noise_floor``). Measured on shared/data (per image, automatic tile): the faint-glow
tiles of BBBC006 and the DFNN mitochondria scored 1.0-4.0 x the floor, BBBC006's tiles with
nuclei 6.4-5000 x; a share alone does not part them (nuclei tiles of 0.5-7 % structure scored
100-10000 x the floor, glow tiles of 6-11 % 1.0-1.9 x); the share keeps every dense tile
whatever it scores (sephace brightfield's scored down to 1.3 x the floor; EM's 5th
percentiles lay at 16-65 x). a03's threshold is now 3.5e-4 (7 of 20 tiles left out), under 29
of the 30 defocused tiles; the other seven BBBC006 fields moved at most 1.4x, sephace
brightfield images lost 0-1 of 16 tiles, EM none; whole planes (the watch) lost none of 68.

The warning (``noise_note``) is tied to the noise floor, not to the median good unit: correct
calibrations lay 2-600x below their median (BBBC006 2-73x, sephace brightfield 4-25x, the
NEUBIAS widefield crop 600x), the broken one at a03 1.04x the floor."""

from __future__ import annotations

import functools
import math
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from .axes import check_axes, colour_part, iter_planes, plane_indices
from .progress import ScoreProgress, map_records

#: a unit with at least this share of structure pixels is calibrated on, whatever it scores
CALIBRATION_MIN_SHARE = 0.2
#: ... and one with less, where it scores at least this many times the noise floor
NOISE_FLOOR_FACTOR = 4.0
#: a threshold under this many times the noise floor is said (``noise_note``)
NOISE_WARN_FACTOR = 2.0


@dataclass(frozen=True)
class GoodUnits:
    """A known-good image's units: ``scores`` (``focus.focus_score``'s), ``structure`` (any
    structure pixel: ``focus.structure_tiles``'s), ``kept`` (calibrated on), ``floors`` (each
    unit's plane's ``noise_floor``), all of one shape."""

    scores: np.ndarray
    structure: np.ndarray
    kept: np.ndarray
    floors: np.ndarray

    @property
    def faint(self) -> int:
        """How many units hold structure but score as noise (left out)."""
        return int((self.structure & ~self.kept).sum())


@functools.lru_cache(maxsize=1)
def _white_noise_gain() -> float:
    """The score of white noise of sigma 1 on a mean of 1: the energy of the DoG kernel, from
    the score of an impulse (mean 1 / n), which is that energy x n."""
    from .focus import focus_score

    impulse = np.zeros((65, 65), dtype=np.float32)  # the kernel (radius 15) fits inside
    impulse[32, 32] = 1.0
    return float(focus_score(impulse)) / impulse.size


def noise_floor(gray: np.ndarray) -> float:
    """What a (Y, X) float plane's pixel noise alone scores: gain x (noise / mean)^2, the noise
    sigma from the MAD of neighbour differences along X (as ``focus.structure_mask``). 0 where
    that MAD is 0 (a clean or quantised image: nothing measured, nothing left out)."""
    step = max(1, math.isqrt(gray.size // 2**20))  # ~1 M differences: as good, faster
    diff = np.diff(gray[::step], axis=-1).ravel()
    if diff.size == 0:
        return 0.0
    mad = float(np.median(np.abs(diff - np.median(diff))))
    mean = float(gray.mean(dtype=np.float64))
    if mad == 0 or mean <= 0:
        return 0.0
    noise = 1.4826 * mad / math.sqrt(2)
    return _white_noise_gain() * (noise / mean) ** 2


def iter_good_units(image, *, axes: str | None = None, tile: int | None = None,
                    camera_offset: float = 0.0) -> Generator[ScoreProgress, None, GoodUnits]:
    """The ``GoodUnits`` of ``image`` scored as ``focus.iter_focus_scores`` scores it (tiles of
    ``tile`` px, or one unit a slice): yields a ScoreProgress per plane and pass (scores, then
    structure and noise). Arguments are checked when this is called."""
    from .focus import iter_focus_scores

    scoring = iter_focus_scores(image, axes=axes, tile=tile, camera_offset=camera_offset)
    shape = tuple(int(s) for s in image.shape)
    axes = check_axes(axes, shape)
    return _good_units(scoring, colour_part(image, axes), axes, shape, tile,
                       float(camera_offset))


def good_units(image, *, axes: str | None = None, tile: int | None = None,
               camera_offset: float = 0.0) -> GoodUnits:
    """Blocking twin of ``iter_good_units``."""
    from .progress import drive

    return drive(iter_good_units(image, axes=axes, tile=tile, camera_offset=camera_offset))


def _good_units(scoring, image, axes, shape, tile, offset):
    from .focus import (
        MIN_TILE,
        STRUCTURE_MIN_CONTRAST,
        gray_plane,
        scratch_float_plane,
        structure_mask,
    )

    scores = np.asarray((yield from map_records(scoring, lambda r: ScoreProgress(
        r.done, 2 * r.total))), dtype=np.float64)
    ny, nx = shape[axes.index("Y")], shape[axes.index("X")]
    side = tile or max(ny, nx, MIN_TILE)  # a slice: one tile as large as the plane
    grid = scores.shape[:-2] if tile else scores.shape
    share = np.zeros(grid + (math.ceil(ny / side), math.ceil(nx / side)))
    floors = np.zeros(grid)
    plane_axes = "".join(a for a in axes if a in "YXS")
    total = len(plane_indices(axes, shape, "YXS"))
    for done, (index, plane) in enumerate(iter_planes(image, axes, "YXS"), start=1):
        gray, _ = gray_plane(plane, plane_axes, offset)  # as scored: less the offset
        floors[index] = noise_floor(gray)
        del gray
        # as focus.structure_tiles finds it: on the plane as it is
        mask = structure_mask(scratch_float_plane(plane, plane_axes),
                              min_contrast=STRUCTURE_MIN_CONTRAST, overwrite=True)
        share[index] = _tile_shares(mask, side)
        yield ScoreProgress(total + done, 2 * total)
    share = share if tile else share.reshape(grid)
    floors = floors[..., None, None] if tile else floors
    floors = np.broadcast_to(floors, scores.shape)
    structure = (share > 0) & (scores > 0)  # a constant plane scores 0
    kept = structure & ((share >= CALIBRATION_MIN_SHARE)
                        | (scores >= NOISE_FLOOR_FACTOR * floors))
    return GoodUnits(scores, structure, kept, floors)


def _tile_shares(mask: np.ndarray, side: int) -> np.ndarray:
    """The share of True pixels in each ``side`` px square of a (Y, X) bool mask."""
    ty, tx = min(side, mask.shape[0]), min(side, mask.shape[1])
    rows, cols = np.arange(0, mask.shape[0], ty), np.arange(0, mask.shape[1], tx)
    counts = np.add.reduceat(np.add.reduceat(mask, rows, axis=0, dtype=np.int64), cols,
                             axis=1)
    heights = np.diff(np.append(rows, mask.shape[0]))
    widths = np.diff(np.append(cols, mask.shape[1]))
    return counts / np.outer(heights, widths)


def noise_note(threshold: float, units: GoodUnits, name: str, unit: str = "tile") -> str:
    """'' or, for a threshold under NOISE_WARN_FACTOR x the noise floor of the units it was
    calibrated on, one line saying so: nothing but noise scores below it, so (nearly) nothing
    would be deblurred."""
    floors = units.floors[units.kept]
    floor = float(np.median(floors)) if floors.size else 0.0
    if floor <= 0 or threshold >= NOISE_WARN_FACTOR * floor:
        return ""
    median = float(np.median(units.scores[units.kept]))
    return (f"the threshold {threshold:.4g} lies within {NOISE_WARN_FACTOR:g}x of what pixel "
            f"noise alone scores on {name} ({floor:.3g}), {median / max(threshold, 1e-300):.0f}x "
            f"below its median {unit} ({median:.3g}): only {unit}s of noise score below it, so "
            "little or nothing will be deblurred; calibrate on an in-focus image with more "
            "structure, or a higher percentile")
