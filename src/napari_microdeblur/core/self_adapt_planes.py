"""The planes ``core.self_adapt`` trains on: each plane's noise variance, its held-out strip
(the last columns) and the training crops drawn left of it.

Crops are drawn where the image has structure: a fluorescence image is mostly dark
background, and uniform draws gave 73% crops of background alone on a 512 x 512 image with
six cells (the adaptation then learns mostly to smooth noise). A crop is redrawn (up to
``SIGNAL_TRIES`` draws) unless some pixel of the plane smoothed over 5 x 5 px lies
``SIGNAL_SHARE`` of the way from the plane's median to its 0.1/99.9th percentile, bright or
dark (brightfield structures are dark). A plane with structure everywhere keeps its first
draw, so its crops are those of uniform draws.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from .noise import VAR_FLOOR, estimate_noise

if TYPE_CHECKING:
    from .self_adapt import SelfAdaptConfig

MIN_VAL_SIDE = 8  # fewest scored pixels across the held-out strip
GUARD = 8  # output pixels at a crop's edge that data consistency does not use
SIGNAL_TRIES = 8  # draws of a crop before a crop without structure is taken
SIGNAL_SHARE = 0.2  # of the way from the median to the extreme percentile: structure
SIGNAL_SMOOTH = 5  # px: the smoothing that keeps noise from counting as structure


def margins(shape: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """Per axis, the pixels (before, after) a PSF of ``shape`` reaches from its centre."""
    return tuple((k - 1 - k // 2, k // 2) for k in shape)


@dataclass
class Plane:
    """One plane in model units (C, H, W) with its noise variance, the unadapted network's
    output (filled by the job), where the held-out strip starts, and a (H, W) map of its
    structure (``structure_map``): True where a crop has something to adapt to."""

    name: str
    y: np.ndarray
    var: np.ndarray
    val_start: int
    noise: list[tuple[float, float]]
    prior: np.ndarray | None = None
    structure: np.ndarray | None = None

    def has_structure(self, y0: int, x0: int, side: int) -> bool:
        return self.structure is None or bool(self.structure[y0:y0 + side, x0:x0 + side].any())

    @property
    def strip_has_structure(self) -> bool:
        return self.structure is None or bool(self.structure[:, self.val_start:].any())


def structure_map(y: np.ndarray) -> np.ndarray:
    """(H, W) bool: the pixels of a (C, H, W) plane, smoothed, at least SIGNAL_SHARE of the way
    from its median to its farther extreme percentile (see the module docstring)."""
    from scipy import ndimage

    smooth = ndimage.uniform_filter(y.mean(0, dtype=np.float32), SIGNAL_SMOOTH)
    low, median, high = np.percentile(smooth, (0.1, 50, 99.9))
    deviation = np.abs(smooth - median)
    return deviation >= SIGNAL_SHARE * max(high - median, median - low, 1e-12)


def make_plane(name: str, y: np.ndarray, kernel_shape, cfg: SelfAdaptConfig, divisor: int) -> Plane:
    """The plane with its noise and held-out strip; ValueError when it cannot hold both a
    training patch and a strip of validation pixels (``check_room``)."""
    _, held = check_room(name, y.shape[-2:], kernel_shape, cfg.patch, cfg.val_fraction, divisor)
    val_start = y.shape[-1] - held
    noise = [estimate_noise(c) for c in y]
    from scipy import ndimage

    var = np.stack([np.maximum(g * np.clip(ndimage.uniform_filter(c, 3), 0, None) + v, VAR_FLOOR)
                    for (g, v), c in zip(noise, y)]).astype(np.float32)
    return Plane(name, y.astype(np.float32), var, val_start, noise,
                  structure=structure_map(y))


def check_room(name: str, shape, kernel_shape, patch: int, val_fraction: float,
               divisor: int = 1) -> tuple[int, int]:
    """(crop side, held-out columns) of an (H, W) plane adapted on crops of ``patch`` px with a
    PSF of ``kernel_shape``; ValueError naming ``name`` when it cannot hold both, with the
    ``patch=`` or ``val_fraction=`` that fit (the command line and the Fine-tune dock say
    them as their options and fields). Needs no pixels: the dock asks before it starts."""
    (by, ay), (_, ax) = margins(kernel_shape)
    side = crop_side(patch, kernel_shape, divisor)
    h, w = (int(n) for n in shape)
    least = MIN_VAL_SIDE + ax + GUARD  # the fewest columns the strip scores MIN_VAL_SIDE of
    held = max(math.ceil(val_fraction * w), least)
    if h >= side and w - held >= side and h - by - ay - 2 * GUARD >= MIN_VAL_SIDE:
        return side, held
    raise ValueError(
        f"{name} is {h} x {w} px: too small to hold out validation columns ({held} px) and "
        f"train on {side} px crops left of them (patch={patch} plus the PSF's margins and "
        f"{2 * GUARD} px of edge); {_room_advice(h, w, held, least, kernel_shape, patch, divisor)}")


def _room_advice(h: int, w: int, held: int, least: int, kernel_shape, patch: int,
                 divisor: int) -> str:
    """The patch (and val_fraction) that fit, else what else would (as ``pairs``' band)."""
    (by, ay), _ = margins(kernel_shape)
    reach = max(kernel_shape) - 1 + 2 * GUARD  # what a crop adds to its patch
    if h - by - ay - 2 * GUARD >= MIN_VAL_SIDE:
        fewer = [(least, math.floor(least / w * 100) / 100)] if least < held else []
        for columns, fraction in [(held, None), *fewer]:  # the val_fraction given, the least
            fits = min(h, w - columns) // divisor * divisor - reach
            if fits >= 8 and fraction != 0:
                give = ([] if fraction is None else [f"val_fraction={fraction}"]) + (
                    [f"patch={fits} or smaller"] if fits < patch else [])
                return f"give {' and '.join(give)}, or use a larger image"
    return (f"use a larger image, or a PSF cropped to its support (now {max(kernel_shape)} px)"
            if max(kernel_shape) > 1 else "use a larger image")


def image_names(text: str, names: Sequence[str]) -> str:
    """A message of ``core.self_adapt``, which numbers its images ('image 1 plane 0 is 12 x 12
    px: ...'), with the caller's ``names`` for them (a file's, a layer's) instead."""
    def named(match: re.Match) -> str:
        i = int(match.group(1))
        return names[i] if i < len(names) else match.group(0)

    return re.sub(r"\bimage (\d+)\b", named, text)


def crop_side(patch: int, kernel_shape, divisor: int) -> int:
    side = patch + max(kernel_shape) - 1 + 2 * GUARD
    return math.ceil(side / divisor) * divisor


def training_batch(planes: list[Plane], rng: np.random.Generator, cfg: SelfAdaptConfig, side: int,
           kernel: torch.Tensor, device):
    """Training crops (y, var, prior) left of the held-out strips, drawn where the plane has
    structure, one random flip/rotation for the batch, applied to the PSF as well (its blur
    must match the turned image)."""
    crops = []
    for _ in range(cfg.batch_size):
        p = planes[int(rng.integers(len(planes)))]
        for _ in range(SIGNAL_TRIES):
            y0 = int(rng.integers(0, p.y.shape[-2] - side + 1))
            x0 = int(rng.integers(0, p.val_start - side + 1))
            if p.has_structure(y0, x0, side):
                break
        cut = (slice(None), slice(y0, y0 + side), slice(x0, x0 + side))
        crops.append([a[cut] for a in (p.y, p.var, p.prior)])
    tensors = [torch.from_numpy(np.stack(group)).to(device) for group in zip(*crops)]
    turns, flip = int(rng.integers(4)), bool(rng.integers(2))

    def turned(t):
        t = torch.rot90(t, turns, dims=(-2, -1))
        return t.flip(-1) if flip else t

    return [turned(t).contiguous() for t in tensors], turned(kernel).contiguous()
