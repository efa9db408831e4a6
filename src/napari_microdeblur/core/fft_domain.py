"""The FFT domain of classical deconvolution: how an image is extended before its FFT (the
mirror, then a cosine cross-fade to a fast FFT length, so the periodic domain has no jump), the
PSF's transfer functions cached per FFT shape, and the memory plan that says whether an image
runs whole or in tiles. ``classical`` runs Richardson-Lucy and Wiener on this domain and
re-exports the public names here; ``archs.wiener_unet`` uses the same extension."""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import torch

from napari_microdeblur.core.memory import host_available_bytes

__all__ = [
    "psf_halo",
    "AxisExtension",
    "extension_plan",
    "extend",
    "crop",
    "fast_length",
    "fft_shape",
    "fft_dims",
    "TransferCache",
    "transfer_cache",
    "psf_key",
    "cached_otf",
    "fft_working_bytes",
    "fft_memory_budget",
    "plan_fft_tile",
    "FFT_MEMORY_BUDGET",
    "FFT_AVAILABLE_SHARE",
    "FFT_TILE_SIDE",
]

_MIN_HALO = 32  # see psf_halo
_MIN_FADE = 16  # shortest cross-fade between the two mirrors (pixels)
# What one classical tile holds at its peak, measured by peak RSS on 4096 and 8192 px planes
# (tests/test_fft_memory_2026_12_09.py checks the count). In arrays of the FFT shape:
# Richardson-Lucy's loop holds data, estimate and ratio (real) and the transfer function
# (half spectrum); inside a blur, the image's spectrum, the copy of it a complex-to-real FFT
# makes and the real result torch's irfftn(out=) writes before copying it into ``out``: 4 real
# + 3 spectra. The total-variation step holds the loop's arrays less the spectrum and its
# copies, plus one gradient per blurred axis and their norm. Wiener holds at most 2 real + 4
# spectra, the DCT path fewer, and both less at any other step. Plus the input tile the caller
# passes in. The old count (6 arrays; no input, no total variation) was short: on an 8192 px
# plane RL held 2.16 GB, and 3.2 GB with total variation (now 2.16), against 1.6 GB counted.
_LOOP_REAL = 4
_LOOP_SPECTRA = 3
_TV_REAL = 4  # data, estimate, ratio, gradient norm; plus one gradient per blurred axis
# FFT library workspace and what the C allocator keeps of freed arrays: 15-40 MB measured above
# the arrays' count, on 1024 to 8192 px planes
_FFT_SLACK = 64 * 1024**2
#: how much longer a tile's padded FFT may be for the tile itself to be a fast length (4096 px
#: in two: 2100 px, padded to 2187, rather than 2067 = 3 x 13 x 53, padded to 2160)
_PADDED_SLACK = 1.03
FFT_MEMORY_BUDGET = 2 * 1024**3  # bytes of FFT working set below which an image runs whole
#: the longest side (px, plus the overlap on both ends) of a default classical tile along a
#: blurred axis. Larger tiles were slower as well as larger: on an 8192 px uint8 plane the
#: 2 GiB budget's 4200 x 8192 tiles ran Richardson-Lucy (10 iterations) in 31 s and 1.1 GB
#: at 1 thread, 2100 px tiles in 18 s and 0.5 GB (1080 px: 12.5 s, 0.3 GB, but with 2
#: threads beside another busy process 37 s against 32 s and 23 s at 2100 px); Wiener alike.
#: tests/test_classical_tile_2026_12_10.py has the table.
FFT_TILE_SIDE = 2048
#: the share of the host memory available now that one tile may take (the rest: the image, its
#: result, the tiler's band and other work); the budget is the smaller of this and the above
FFT_AVAILABLE_SHARE = 0.25


def _check_shape(value, name: str) -> tuple[int, ...]:
    shape = tuple(value) if isinstance(value, (tuple, list)) else None
    if (
        shape is None
        or len(shape) not in (2, 3)
        or not all(isinstance(s, (int, np.integer)) and s >= 1 for s in shape)
    ):
        raise ValueError(f"{name} is {value!r}; accepted: 2 or 3 positive integers")
    return tuple(int(s) for s in shape)



# ----------------------------------------------------------------------------- extension


def psf_halo(psf) -> tuple[int, ...]:
    """Overlap per spatial axis that a tiler needs for deconvolution with ``psf``.

    Deconvolution is not local to the PSF's footprint: the inverse of a blur (Wiener's filter, or
    RL's chain of convolutions) reaches further than the PSF, most of all for sharp-edged PSFs
    whose transfer function has zeros (a defocus disk). Measured on a 256 x 256 EPFL FIB-SEM crop,
    the tiled-minus-whole difference at a seam on the [0, 1] scale with 32 px overlap is about
    3e-6 (protocol A), 4e-5 (B) and 3e-5 (C) for RL 50 iterations and below 5e-4 for Wiener with
    balance 0.01, but 4e-2 for the disk with only 8 px. So: twice the PSF half-size, at least
    32 px. Axes where the PSF has size 1 couple nothing and need no overlap.
    """
    if isinstance(psf, torch.Tensor):
        shape = tuple(psf.shape)
    elif isinstance(psf, np.ndarray):
        shape = psf.shape
    elif isinstance(psf, (tuple, list)):
        shape = tuple(psf)  # a PSF's shape is enough
    else:
        raise TypeError(
            f"psf is a {type(psf).__name__}; accepted: numpy.ndarray, torch.Tensor or its shape"
        )
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise ValueError(f"psf has shape {shape}; accepted: a non-empty 2D or 3D PSF")
    return tuple(0 if k == 1 else max(_MIN_HALO, 2 * (k // 2)) for k in shape)


def fast_length(n: int) -> int:
    """The smallest length >= n whose only prime factors are 2, 3, 5 and 7 (fast FFTs)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n is {n!r}; accepted: a positive integer")
    m = int(n)
    while True:
        rest = m
        for p in (2, 3, 5, 7):
            while rest % p == 0:
                rest //= p
        if rest == 1:
            return m
        m += 1


class AxisExtension(NamedTuple):
    """How one spatial axis is extended: ``before`` + n + ``after`` samples, of which ``margin``
    on each side are the plain mirror and the rest a cross-fade between the two mirrors."""

    before: int
    after: int
    margin: int


def extension_plan(spatial, psf_shape) -> tuple[AxisExtension, ...]:
    """The extension of an image of ``spatial`` shape for FFT deconvolution with a PSF of
    ``psf_shape``: ``psf_halo`` of mirror per side (where deconvolution still reaches), then a
    cross-fade of at least _MIN_FADE px, to a fast FFT length. Axes the PSF does not blur
    (size 1) are not extended and not transformed."""
    spatial = _check_shape(spatial, "spatial")
    psf_shape = _check_shape(psf_shape, "psf_shape")
    if len(spatial) != len(psf_shape):
        raise ValueError(
            f"psf_shape {psf_shape} has {len(psf_shape)} axes but spatial {spatial} has "
            f"{len(spatial)}; accepted: the same number"
        )
    plan = []
    for n, margin in zip(spatial, psf_halo(psf_shape)):
        if margin == 0:
            plan.append(AxisExtension(0, 0, 0))
            continue
        extra = fast_length(n + 2 * margin + _MIN_FADE) - n
        plan.append(AxisExtension(extra // 2, extra - extra // 2, margin))
    return tuple(plan)


def fft_shape(spatial: tuple[int, ...], plan: Sequence[AxisExtension]) -> tuple[int, ...]:
    """The shape of an image of ``spatial`` shape once extended as ``plan`` says."""
    return tuple(n + e.before + e.after for n, e in zip(spatial, plan))


def _mirror_index(positions: torch.Tensor, n: int) -> torch.Tensor:
    """Index into a length-n axis of its half-sample symmetric, 2n-periodic extension."""
    idx = positions % (2 * n)
    return torch.where(idx >= n, 2 * n - 1 - idx, idx)


def _fade_weights(fill: int, margin: int) -> torch.Tensor:
    """(fill,) float64 raised-cosine weights: 0 for the first ``margin``, 1 for the last."""
    j = np.arange(fill)
    fade = fill - 2 * margin
    ramp = (np.clip(j - margin, 0, fade) + 0.5) / fade
    w = 0.5 - 0.5 * np.cos(math.pi * np.minimum(ramp, 1.0))
    w[j < margin] = 0.0
    w[j >= fill - margin] = 1.0
    return torch.from_numpy(w)


def extend(t: torch.Tensor, plan: Sequence[AxisExtension]) -> torch.Tensor:
    """``t`` (..., *spatial) extended along its last len(plan) axes as ``plan`` says."""
    nsp = len(plan)
    for i, e in enumerate(plan):
        fill = e.before + e.after
        if fill == 0:
            continue
        axis = t.ndim - nsp + i
        n = t.shape[axis]
        # fill[j] follows the image end circularly: right mirror x[n-1-j] fading into the
        # left mirror x[fill-1-j], which meets the image start on the other side
        j = torch.arange(fill, device=t.device)
        right = t.index_select(axis, _mirror_index(n + j, n))
        left = t.index_select(axis, _mirror_index(j - fill, n))
        # the fade's weights in float64 on the host (Apple MPS has no float64), then moved
        w = _fade_weights(fill, e.margin)
        w = w.to(device=t.device, dtype=t.dtype).reshape(
            [-1 if d == axis else 1 for d in range(t.ndim)])
        filled = torch.lerp(right, left, w)
        t = torch.cat([filled.narrow(axis, e.after, e.before), t, filled.narrow(axis, 0, e.after)],
                      dim=axis)
    return t


def crop(t: torch.Tensor, plan: Sequence[AxisExtension], spatial) -> torch.Tensor:
    """The image region of an array extended by ``extend``."""
    index = (Ellipsis,) + tuple(slice(e.before, e.before + n) for e, n in zip(plan, spatial))
    return t[index]


# ----------------------------------------------------------------------------- transfer functions


class TransferCache:
    """The transfer functions of recent PSFs, keyed by the PSF's values and the FFT shape, so
    the tiles of one image (and repeated runs) transform the PSF once. Holds at most
    ``max_bytes``; a larger transfer function is built for its call and not kept. Safe to
    share between threads (two ``deblur`` calls at once): a lookup and an eviction of another
    thread could meet between the membership test and the read."""

    def __init__(self, max_bytes: int = 256 * 1024**2):
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[tuple, torch.Tensor] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, build: Callable[[], torch.Tensor]) -> torch.Tensor:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self.hits += 1
                self._entries.move_to_end(key)
                return value
            self.misses += 1
        value = build()  # outside the lock: another thread's PSF need not wait for this one
        size = value.numel() * value.element_size()
        if size <= self.max_bytes:
            with self._lock:
                self._entries[key] = value
                while sum(v.numel() * v.element_size() for v in self._entries.values()) > (
                    self.max_bytes
                ):
                    self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0


transfer_cache = TransferCache()


def psf_key(p: torch.Tensor) -> tuple:
    """A cache key for a PSF tensor: a digest of its values, its shape, dtype and device."""
    digest = hashlib.blake2b(p.cpu().numpy().tobytes(), digest_size=16).hexdigest()
    return (digest, tuple(p.shape), p.dtype, str(p.device))


def fft_dims(psf_shape: tuple[int, ...], ndim: int) -> tuple[int, ...]:
    """The tensor dims to transform: the spatial axes the PSF blurs along."""
    nsp = len(psf_shape)
    return tuple(ndim - nsp + d for d, k in enumerate(psf_shape) if k > 1)


def _otf(p: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Transfer function on ``shape`` over the blurred axes, size 1 on the others: the PSF
    zero-padded with its centre (k // 2) rolled to 0."""
    blurred = [d for d, k in enumerate(p.shape) if k > 1]
    big_shape = tuple(shape[d] if d in blurred else 1 for d in range(p.ndim))
    big = torch.zeros(big_shape, dtype=p.dtype, device=p.device)
    big[tuple(slice(0, k) for k in p.shape)] = p
    big = torch.roll(big, shifts=tuple(-(k // 2) for k in p.shape), dims=tuple(range(p.ndim)))
    return torch.fft.rfftn(big, dim=blurred) if blurred else big.to(_complex(p.dtype))


def _complex(dtype: torch.dtype) -> torch.dtype:
    return torch.complex128 if dtype == torch.float64 else torch.complex64


def cached_otf(p: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    return transfer_cache.get(("otf", *psf_key(p), shape), lambda: _otf(p, shape))


# ----------------------------------------------------------------------------- planning


def fft_working_bytes(image_shape, psf_shape, *, itemsize: int = 4) -> int:
    """Bytes a classical deconvolution (Richardson-Lucy with or without total variation, or
    Wiener) holds at its peak for one image (or tile) of ``image_shape``, its input included."""
    image_shape = _check_shape(image_shape, "image_shape")
    psf_shape = _check_shape(psf_shape, "psf_shape")
    shape = fft_shape(image_shape, extension_plan(image_shape, psf_shape))
    real = itemsize * math.prod(shape)
    blurred = [d for d, k in enumerate(psf_shape) if k > 1]
    # the half spectrum over the last blurred axis, complex: two values per frequency
    last = shape[blurred[-1]] if blurred else 2
    spectrum = 2 * itemsize * math.prod(shape) // last * (last // 2 + 1)
    loop = _LOOP_REAL * real + _LOOP_SPECTRA * spectrum
    tv = (_TV_REAL + len(blurred)) * real + spectrum
    return max(loop, tv) + itemsize * math.prod(image_shape) + _FFT_SLACK


def fft_memory_budget(available: int | None = None) -> int:
    """Bytes one tile of classical deconvolution may hold: FFT_MEMORY_BUDGET, or
    FFT_AVAILABLE_SHARE of the host memory ``available`` (default: what is available now)
    where that is less, so a small machine or a full one cuts smaller tiles."""
    free = host_available_bytes() if available is None else available
    if free is None:  # the system cannot say
        return FFT_MEMORY_BUDGET
    return max(1, min(FFT_MEMORY_BUDGET, int(free * FFT_AVAILABLE_SHARE)))


def plan_fft_tile(image_shape, psf_shape, budget_bytes: int | None = None,
                  side: int | None = None) -> tuple[int, ...]:
    """The tile for FFT deconvolution of an image: the image itself when no blurred axis is
    longer than ``side`` (default ``FFT_TILE_SIDE``) plus twice its ``psf_halo`` and its
    working set (``fft_working_bytes``) fits ``budget_bytes`` (default
    ``fft_memory_budget()``); otherwise tiles of at most that side that fit the budget, evened
    out so the tiles (overlapping by ``psf_halo``) cover the image in as few as that allows,
    and sized so that the tile plus its extension is a fast FFT length (the tile itself too
    where that makes its padded FFT at most 3% longer)."""
    image_shape = _check_shape(image_shape, "image_shape")
    psf_shape = _check_shape(psf_shape, "psf_shape")
    budget = fft_memory_budget() if budget_bytes is None else budget_bytes
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget <= 0:
        raise ValueError(f"budget_bytes is {budget_bytes!r}; accepted: a positive integer")
    side = FFT_TILE_SIDE if side is None else side
    if isinstance(side, bool) or not isinstance(side, (int, np.integer)) or side < 1:
        raise ValueError(f"side is {side!r}; accepted: a positive integer")
    halo = psf_halo(psf_shape)
    # an axis the PSF does not blur has no FFT along it: only the budget bounds it
    longest = [n if h == 0 else int(side) + 2 * h for n, h in zip(image_shape, halo)]
    tile = [min(n, m) for n, m in zip(image_shape, longest)]
    if tuple(tile) == image_shape and fft_working_bytes(image_shape, psf_shape) <= budget:
        return image_shape
    # shrink the longest axis (relative to its halo) until the working set fits
    while fft_working_bytes(tuple(tile), psf_shape) > budget:
        axis = max(range(len(tile)), key=lambda d: tile[d] / max(1, 4 * halo[d]))
        if tile[axis] <= 4 * max(halo[axis], 1):
            break  # smaller tiles would be mostly overlap: take the smallest sensible one
        tile[axis] = max(4 * max(halo[axis], 1), int(tile[axis] * 0.8))
    return tuple(
        n if t >= n else _even_length(n, t, h, e.before + e.after)
        for n, t, h, e in zip(image_shape, tile, halo, extension_plan(tuple(tile), psf_shape))
    )


def _even_length(n: int, t: int, h: int, fill: int) -> int:
    """The tile length along an axis of ``n`` px that tiles of at most ``t`` px, overlapping by
    ``h``, cover evenly; ``fill``: the extension of a ``t`` px tile."""
    # the tiler overlaps classical tiles by h (``Method.overlap``); counted as 2h, an 8192 px
    # axis in tiles of at most 2112 px came out 2104 px, between two fast lengths
    count = math.ceil((n - h) / (t - h))  # tiles along this axis
    even = math.ceil((n + (count - 1) * h) / count)
    if not h:
        return min(n, even)
    # grow to the fast length the extension would reach anyway (no extra FFT cost)
    fast = fast_length(even + fill) - fill
    pick = max(even, fast if fast <= t else even)
    # but a fast length itself where its padded FFT is at most _PADDED_SLACK longer: the DCT
    # path (a symmetric PSF on the CPU) transforms the tile unpadded: the halves of an 8192 px
    # plane came out 4153 px (prime), whose DCTs took 2.3x as long as at 4200 px
    smooth = [m for m in range(even, t + 1) if fast_length(m) == m]
    if smooth:
        best = min(smooth, key=lambda m: (_padded_length(m, h), m))
        if _padded_length(best, h) <= _PADDED_SLACK * _padded_length(pick, h):
            pick = best
    return min(n, pick)


def _padded_length(n: int, h: int) -> int:
    """The FFT length of an ``n`` px axis with a halo of ``h``, as ``extension_plan`` pads it."""
    return fast_length(n + 2 * h + _MIN_FADE)
