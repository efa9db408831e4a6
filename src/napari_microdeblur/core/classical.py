"""Classical deconvolution with a known PSF: Richardson-Lucy (optionally with total variation)
and Wiener-Hunt, in torch, on the device where the input tensor lives.

FFT convolution assumes a periodic image, which would couple the left edge to the right one.
Both methods therefore extend the image first, on every axis the PSF blurs along: ``margin``
pixels of its half-sample symmetric mirror on each side (scipy.ndimage's ``'reflect'``, the
boundary that ``degrade`` blurs with), then a smooth cosine cross-fade from the mirror of the
right edge to the mirror of the left one, so the periodic FFT domain has no jump anywhere, and
as long as makes the whole a fast FFT length. The FFT runs on the extended array and the
result is cropped back, so the border of the result is restored as well as its interior. A jump
at the wrap-around (plain zero or periodic padding) would ring tens of pixels into the image
under a disk PSF; beyond a margin of ``psf_halo`` the fill no longer matters (the tests measure
both).

Speed: real-to-real transforms over the blurred axes only, FFT lengths with factors 2, 3, 5, 7,
float32 (float64 for float64 input), the PSF's transfer function cached per FFT shape (tiles
of one image share it), and the Richardson-Lucy loop updating four preallocated buffers in
place. ``plan_fft_tile`` says whether an image fits a memory budget whole (one FFT, no seams)
or which tile to cut it into. The extension, the transfer-function cache and the plan live in
``fft_domain``; their public names are importable from here as well.
"""

from __future__ import annotations

import functools
import math
from numbers import Real
from typing import NamedTuple

import numpy as np
import torch

from napari_microdeblur.core.devices import fft_device, wide_dtype
from napari_microdeblur.core.fft_domain import (
    FFT_MEMORY_BUDGET,
    AxisExtension,
    cached_otf,
    crop,
    extend,
    extension_plan,
    fast_length,
    fft_dims,
    fft_shape,
    fft_working_bytes,
    plan_fft_tile,
    psf_halo,
    psf_key,
    transfer_cache,
)
from napari_microdeblur.core.progress import check_stop
from napari_microdeblur.core.saturation import fill_lone, lone_pixels

__all__ = [
    "HeldOutCount",
    "held_out_check",
    "held_out_iterations",
    "richardson_lucy",
    "still_improving_text",
    "wiener",
    # re-exported from fft_domain, where they live
    "psf_halo", "AxisExtension", "extension_plan", "extend", "crop", "fast_length",
    "fft_working_bytes", "plan_fft_tile", "transfer_cache", "FFT_MEMORY_BUDGET",
]

_TV_EPS = 1e-3  # |grad u| floor, relative to the image maximum (RL works on u / max)
_SQUARE_PIECE = 1 << 18  # values squared at a time in _sum_of_squares (1 MB of float32)


# ----------------------------------------------------------------------------- checks


def _check_x(x) -> int:
    """Validate an (N, C, Y, X) or (N, C, Z, Y, X) float tensor; return its spatial ndim."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"x is a {type(x).__name__}; accepted: a float torch.Tensor shaped (N, C, Y, X) or "
            "(N, C, Z, Y, X)"
        )
    if not x.dtype.is_floating_point:
        raise TypeError(f"x has dtype {x.dtype}; accepted: a floating-point tensor")
    if x.ndim not in (4, 5):
        raise ValueError(
            f"x has shape {tuple(x.shape)}; accepted: (N, C, Y, X) or (N, C, Z, Y, X)"
        )
    if x.numel() == 0:
        raise ValueError(f"x has shape {tuple(x.shape)} with no elements; accepted: non-empty")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x holds NaN or infinite values; accepted: finite values")
    return x.ndim - 2


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    # Half precision FFTs are too inaccurate for iterative deconvolution.
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _psf_tensor(psf, x: torch.Tensor, nsp: int) -> torch.Tensor:
    """The PSF as a tensor on x's device, normalised to sum 1, checked against x's shape."""
    if isinstance(psf, np.ndarray):
        if psf.dtype.kind not in "uif":
            raise TypeError(f"psf has dtype {psf.dtype}; accepted: real integer or float values")
        p = np.array(psf, dtype=np.float64)
    elif isinstance(psf, torch.Tensor):
        if psf.is_complex() or psf.dtype == torch.bool:
            raise TypeError(f"psf has dtype {psf.dtype}; accepted: real integer or float values")
        p = psf.detach().cpu()
        # numpy has no bfloat16; float32 holds half precision exactly
        p = (p.float() if p.dtype in (torch.bfloat16, torch.float16) else p).numpy()
        p = p.astype(np.float64)
    else:
        raise TypeError(f"psf is a {type(psf).__name__}; accepted: numpy.ndarray or torch.Tensor")
    if p.ndim != nsp:
        layout = "(N, C, Y, X)" if nsp == 2 else "(N, C, Z, Y, X)"
        hint = (
            " For a 2D PSF on a stack, either give a 3D PSF (psf[None] deconvolves plane by "
            "plane) or fold Z into N: x.transpose(1, 2).reshape(N * Z, C, Y, X)."
            if p.ndim == 2 and nsp == 3
            else ""
        )
        raise ValueError(
            f"psf has {p.ndim} dimension(s) (shape {tuple(p.shape)}) but x {layout} has {nsp} "
            f"spatial dimensions; accepted: a PSF with exactly {nsp} dimensions.{hint}"
        )
    spatial = tuple(x.shape[2:])
    if any(k > n for k, n in zip(p.shape, spatial)):
        raise ValueError(
            f"psf shape {tuple(p.shape)} is larger than the image's spatial shape {spatial}; "
            "accepted: a PSF no larger than the image on every axis"
        )
    if not bool(np.isfinite(p).all()) or bool((p < 0).any()):
        raise ValueError("psf holds negative, NaN or infinite values; accepted: finite values >= 0")
    total = p.sum()
    if total <= 0:
        raise ValueError(f"psf (shape {tuple(p.shape)}) sums to 0; accepted: a positive sum")
    # checked and normalised in float64 on the host (Apple MPS has none), then moved
    return torch.from_numpy(p / total).to(device=x.device, dtype=_compute_dtype(x))


def _check_number(value, name: str, accepted: str, ok) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} is {value!r}; accepted: {accepted}")
    v = float(value)
    if not (math.isfinite(v) and ok(v)):
        raise ValueError(f"{name} is {value!r}; accepted: {accepted}")
    return v


# ----------------------------------------------------------------------------- total variation


def _sum_of_squares(grads: list[torch.Tensor]) -> torch.Tensor:
    """sum(g * g for g in grads) of contiguous tensors, the same values, squaring 1 MB at a
    time: no square of a whole gradient beside the sum (larger pieces, 8 to 16 MB, were kept
    by the C allocator after use: up to 2.7 more arrays of peak RSS on a 4096 px plane)."""
    total = grads[0] * grads[0]
    flat = total.view(-1)
    for g in grads[1:]:
        for part, g_part in zip(flat.split(_SQUARE_PIECE), g.view(-1).split(_SQUARE_PIECE)):
            part.add_(g_part * g_part)
    return total


def _tv_divergence(u: torch.Tensor, axes: tuple[int, ...]) -> torch.Tensor:
    """div(grad u / |grad u|) over ``axes``: forward differences and their adjoint divergence.
    Built in place (the same values as out of place): one gradient per axis and their norm at
    a time, which ``fft_working_bytes`` counts."""
    grads = []
    for axis in axes:
        g = torch.zeros_like(u, memory_format=torch.contiguous_format)
        n = u.shape[axis]
        torch.sub(u.narrow(axis, 1, n - 1), u.narrow(axis, 0, n - 1),
                  out=g.narrow(axis, 0, n - 1))
        grads.append(g)
    norm = _sum_of_squares(grads).add_(_TV_EPS**2).sqrt_()
    for g in grads:
        g.div_(norm)  # the unit gradient
    del norm
    div = torch.zeros_like(u)
    for unit, axis in zip(grads, axes):
        div += unit
        n = u.shape[axis]
        div.narrow(axis, 1, n - 1).sub_(unit.narrow(axis, 0, n - 1))
    return div


# ----------------------------------------------------------------------------- methods


class _MirrorConvolution:
    """Convolution with the mirror boundary for a PSF symmetric along every blurred axis, on
    the CPU: the discrete cosine transform (type II, orthonormal) diagonalises it exactly,
    since the half-sample symmetric extension of the image is what that transform assumes.
    The same result as the FFT on whole mirror periods (2n per axis) at the cost of a length-n
    transform, with no padding; K is self-adjoint."""

    def __init__(self, p: torch.Tensor, x: torch.Tensor):
        self.axes = fft_dims(tuple(p.shape), x.ndim)
        spatial = tuple(x.shape[2:])
        self.gain = transfer_cache.get(
            ("dct", *psf_key(p), spatial), lambda: _dct_transfer(p, spatial)
        )
        self.workers = max(1, torch.get_num_threads())

    def extend(self, t: torch.Tensor) -> torch.Tensor:
        return t  # the transform assumes the mirror: nothing to add

    def crop(self, t: torch.Tensor) -> torch.Tensor:
        return t

    def transform_(self, t: torch.Tensor, inverse: bool = False) -> None:
        """The orthonormal DCT-II (or its inverse) of a contiguous ``t``, in place (scipy's
        transforms run on the tensor's memory and release the GIL)."""
        import scipy.fft

        if not self.axes:  # a 1-pixel PSF: nothing to transform
            return
        fn = scipy.fft.idctn if inverse else scipy.fft.dctn
        array = t.numpy()
        result = fn(array, type=2, axes=self.axes, norm="ortho", workers=self.workers,
                    overwrite_x=True)
        if not np.shares_memory(result, array):  # scipy may decline; never seen here
            array[...] = result

    def filtered(self, u: torch.Tensor, gain: torch.Tensor, out: torch.Tensor | None = None
                 ) -> torch.Tensor:
        """The inverse transform of (gain * transform(u)), into ``out`` if given (``out`` may
        be ``u``), else into a new tensor; ``u`` is not changed unless it is ``out``. Both
        transforms run in place: on this project's 2-core machine a 64 x 512 x 512 float32
        transform took 53 ms in place against 69 ms into a new array."""
        direct = out is not None and out.is_contiguous()
        target = out if direct else torch.empty_like(u, memory_format=torch.contiguous_format)
        if target is not u:
            target.copy_(u)
        self.transform_(target)
        self.transform_(target.mul_(gain), inverse=True)
        return target if out is None or direct else out.copy_(target)

    def __call__(self, u: torch.Tensor, out: torch.Tensor, adjoint: bool = False) -> None:
        self.filtered(u, self.gain, out)  # symmetric PSF: K^T = K


class _PaddedConvolution:
    """Convolution with the mirror boundary for any PSF, on any device: real FFTs of the image
    extended by ``extension_plan`` (the mirror, then a cross-fade to a fast length)."""

    def __init__(self, p: torch.Tensor, x: torch.Tensor):
        self.spatial = tuple(x.shape[2:])
        self.plan = extension_plan(self.spatial, tuple(p.shape))
        self.shape = fft_shape(self.spatial, self.plan)
        self.axes = fft_dims(tuple(p.shape), x.ndim)
        self.sizes = [self.shape[d - x.ndim + len(self.shape)] for d in self.axes]
        self.p = p
        self.gain = cached_otf(p, self.shape)

    def extend(self, t: torch.Tensor) -> torch.Tensor:
        return extend(t, self.plan)

    def crop(self, t: torch.Tensor) -> torch.Tensor:
        return crop(t, self.plan, self.spatial)

    def filtered(self, u: torch.Tensor, gain: torch.Tensor, out: torch.Tensor | None = None,
                 adjoint: bool = False) -> torch.Tensor:
        """The inverse FFT of (gain * FFT(u)) (conj(gain) if ``adjoint``), into ``out``."""
        if not self.axes:  # a 1-pixel PSF: a constant gain
            return torch.mul(u, gain.real, out=out)
        # a new spectrum each call: rfftn(out=) writes a new one first anyway, and one kept
        # between calls would add an array to the total-variation step and the crop
        spectrum = torch.fft.rfftn(u, dim=self.axes)
        if adjoint:  # conj(H) as conj(conj(S) * H): no conjugate copy of H
            spectrum.conj_physical_().mul_(gain).conj_physical_()
        else:
            spectrum.mul_(gain)
        return torch.fft.irfftn(spectrum, s=self.sizes, dim=self.axes, out=out)

    def __call__(self, u: torch.Tensor, out: torch.Tensor, adjoint: bool = False) -> None:
        self.filtered(u, self.gain, out, adjoint)


def _is_mirror_symmetric(p: torch.Tensor) -> bool:
    """Odd length and h(c - j) == h(c + j) on every axis the PSF blurs (c its centre)."""
    tol = 1e-6 * float(p.max())
    return all(
        k == 1 or (k % 2 == 1 and float((p - p.flip(d)).abs().max()) <= tol)
        for d, k in enumerate(p.shape)
    )


def _dct_transfer(p: torch.Tensor, spatial: tuple[int, ...]) -> torch.Tensor:
    """H[k] = sum_j h[j] prod_d cos(pi k_d j_d / n_d), j relative to the PSF's centre: the
    PSF's transfer function on the 2n-periodic mirror domain at the DCT-II frequencies."""
    # in float64 on the host (Apple MPS has none; the tables are small), then moved
    h = p.detach().cpu().numpy().astype(np.float64)
    for d, (k, n) in enumerate(zip(p.shape, spatial)):
        if k == 1:
            continue
        j = np.arange(k, dtype=np.float64) - k // 2
        freq = np.arange(n, dtype=np.float64)
        cosines = np.cos(math.pi * freq[:, None] * j[None, :] / n)  # (n, k)
        h = np.moveaxis(np.tensordot(h, cosines, axes=([d], [1])), -1, d)
    return torch.from_numpy(np.ascontiguousarray(h)).to(device=p.device, dtype=p.dtype)


def _convolution(p: torch.Tensor, x: torch.Tensor):
    if x.device.type == "cpu" and _is_mirror_symmetric(p):
        return _MirrorConvolution(p, x)
    return _PaddedConvolution(p, x)


def _where_fft_runs(method):
    """``method(x, psf, ...)`` run on the device ``devices.fft_device`` gives for ``x``'s, its
    result moved back: on the CPU, whole, where x's device has no FFT (Apple MPS before torch
    2.3); the iterations then run there without a round trip per FFT."""

    @functools.wraps(method)
    def run(x, psf, **options):
        if not isinstance(x, torch.Tensor):  # refused by the method's own check
            return method(x, psf, **options)
        home = x.device
        return method(x.to(fft_device(home)), psf, **options).to(home)

    return run


@_where_fft_runs
@torch.no_grad()
def richardson_lucy(x, psf, *, iterations=30, tv_weight=0.0, eps=1e-6) -> torch.Tensor:
    """Richardson-Lucy deconvolution of (N, C, Y, X) or (N, C, Z, Y, X) ``x`` with ``psf``.

    Negative input values are clamped to 0 (RL models photon counts); ``inference.deblur``
    raises an image holding negatives by its minimum first (``compute_normalization``).
    ``tv_weight`` > 0 adds the total-variation prior of Dey et al. (2006): the multiplicative
    update is divided by 1 - tv_weight * div(grad u / |grad u|). ``eps`` guards the division,
    relative to the image maximum. Returns a tensor with x's shape, dtype and device. Run
    inside ``progress.stoppable``, a stop ends it before its next iteration (``Cancelled``).
    """
    nsp = _check_x(x)
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)):
        raise TypeError(f"iterations is {iterations!r}; accepted: a positive integer")
    if iterations < 1:
        raise ValueError(f"iterations is {iterations}; accepted: a positive integer")
    p = _psf_tensor(psf, x, nsp)
    # TV acts along the axes the PSF blurs, so a (1, Y, X) PSF keeps planes independent.
    tv_axes = tuple(x.ndim - nsp + d for d in range(nsp) if p.shape[d] > 1)
    # Each backward difference adds at most 2 per axis to |div|, so below 1 / (2 * axes) the
    # denominator stays positive and u stays non-negative.
    tv_max = 1.0 / (2 * max(1, len(tv_axes)))
    tv = _check_number(
        tv_weight, "tv_weight", f"a number in [0, {tv_max:.4g}) for this {nsp}D PSF",
        lambda v: 0 <= v < tv_max,
    )
    eps = _check_number(eps, "eps", "a positive number (e.g. 1e-6)", lambda v: v > 0)

    blur = _convolution(p, x)
    y = blur.extend(x.to(_compute_dtype(x)).clamp_min(0))
    # RL is scale-equivariant; working on y / max makes eps and the TV floor relative.
    sdims = tuple(range(2, y.ndim))
    scale = y.amax(dim=sdims, keepdim=True).clamp_min(torch.finfo(y.dtype).tiny)
    y.div_(scale)
    # A flat start: from any constant, the first iterate is the same (K^T y with K 1 = 1).
    u = torch.empty_like(y)
    u.copy_(y.mean(dim=sdims, keepdim=True).expand_as(y))
    ratio = torch.empty_like(y)
    for _ in range(iterations):
        check_stop()  # a dock's Cancel ends a one-tile run here, not after all iterations
        blur(u, out=ratio)
        # FFT round-off can leave tiny negatives in K u
        torch.div(y, ratio.clamp_min_(0).add_(eps), out=ratio)
        blur(ratio, out=ratio, adjoint=True)
        if tv > 0 and tv_axes:
            # 1 - tv * div, in place: the same values without two more arrays
            ratio.div_(_tv_divergence(u, tv_axes).mul_(tv).neg_().add_(1.0))
        # RL iterates are non-negative by construction; round-off is clamped away
        u.mul_(ratio).clamp_min_(0)
    del ratio, y
    # contiguous: a view would keep the whole extended array alive
    return blur.crop(u.mul_(scale)).contiguous().to(x.dtype)


#: The share of pixels ``held_out_iterations`` hides from Richardson-Lucy to score it with.
HELD_OUT_SHARE = 0.1
#: Fewer hidden pixels than this tell too little: the check then gives no count (None).
MIN_HELD_OUT_PIXELS = 1000
#: With a one-plane PSF the planes of a stack are independent: the check scores the central
#: planes holding at least this many pixels (8 planes of 256 x 256), not all of them. On
#: 32 x 256 x 256 stacks it then chose 54-56 iterations where all planes chose 59-62 (and
#: another random mask moves the count as much), in 0.7 s instead of 4.1 s.
HELD_OUT_STACK_PIXELS = 8 * 256 * 256


class HeldOutCount(NamedTuple):
    """What ``held_out_check`` found: the iteration count, and whether the held-out error was
    still falling at ``max_iterations`` (its lowest at the last iteration run: the cap, not
    the noise, stopped it, and more iterations may gain more)."""

    iterations: int
    still_improving: bool


def held_out_iterations(x, psf, *, max_iterations: int, share: float = HELD_OUT_SHARE,
                        seed: int = 0, patience: int = 20, eps: float = 1e-6) -> int | None:
    """The count of ``held_out_check`` (None where it gives none)."""
    found = held_out_check(x, psf, max_iterations=max_iterations, share=share, seed=seed,
                           patience=patience, eps=eps)
    return None if found is None else found.iterations


def still_improving_text(cap: int) -> str:
    """What a note on iterations 'auto' adds where ``held_out_check`` was still improving at
    the cap ``cap``: the count is the cap's, not the image's."""
    more = max(100, 2 * cap)  # worded as the axes hint (``axes.GIVE_AXES``): Python, then CLI
    return (f"stopped at the cap of {cap} while the held-out check was still improving: give "
            f"iterations a number above {cap} for more, e.g. iterations={more} (--iterations "
            f"{more} on the command line)")


@torch.no_grad()
def held_out_check(x, psf, *, max_iterations: int, share: float = HELD_OUT_SHARE,
                   seed: int = 0, patience: int = 20, eps: float = 1e-6) -> HeldOutCount | None:
    """How many Richardson-Lucy iterations, at most ``max_iterations``, ``x`` takes before RL
    starts fitting its noise: cross-validation, as Coakley (1991) stops the EM algorithm.

    A random ``share`` of the pixels is hidden, RL runs on the others (its update weighted by
    where there are data: u <- u * K^T(m y / K u) / K^T m), and after every iteration the
    blurred estimate K u is scored on the hidden pixels. The iteration with the lowest squared
    error is returned (at least 1); the check ends ``patience`` iterations after the last new
    lowest error (the error rises steadily once RL fits the noise). Clean data keep improving
    to ``max_iterations``; the more noise, the earlier the error turns up. ``x``: a (Z, Y, X)
    or (Y, X) array of intensities (one holding negatives is raised by its minimum, as
    ``inference.deblur`` raises an image for ``richardson_lucy``); ``psf``
    with as many dimensions (a one-plane PSF on a stack: only its central planes holding
    ``HELD_OUT_STACK_PIXELS`` are scored). None where ``x`` is too small to hide
    ``MIN_HELD_OUT_PIXELS``. ``still_improving``: the lowest error came at ``max_iterations``
    (a widefield bead stack capped at 30 gained 4-9 dB more at 100-200 iterations).
    Deterministic for a given ``seed``. Runs on the CPU: callers pass a crop.
    """
    if isinstance(max_iterations, bool) or not isinstance(max_iterations, (int, np.integer)) \
            or max_iterations < 1:
        raise ValueError(f"max_iterations is {max_iterations!r}; accepted: a positive integer")
    x = np.asarray(x, dtype=np.float32)
    least = float(x.min()) if x.size else 0.0
    if least < 0:
        # as deblur shifts the image for RL; clamping at 0 chose 102, 11 and 17 iterations for
        # one image lowered by 100, 120 and 200 (shifted: 61 for each)
        x = x - np.float32(least)
    if x.ndim == 3 and np.ndim(psf) == 3 and np.shape(psf)[0] == 1:
        keep = min(len(x), -(-HELD_OUT_STACK_PIXELS // (x.shape[1] * x.shape[2])))
        x = x[(len(x) - keep) // 2:][:keep]
    t = torch.as_tensor(x)
    nsp = t.ndim
    t = t[None, None]
    p = _psf_tensor(psf, t, nsp)
    # a hot or dead pixel is no datum: one at 65535 among 100-3000 set the count from 6 to 1
    # (as a deblur shows it: its 3 x 3 median, left out of the fit and of the score)
    lone = lone_pixels(t)
    if lone is not None:
        t = fill_lone(t, lone)
    blur = _convolution(p, t)
    y = blur.extend(t.clamp_min(0))
    y.div_(y.amax().clamp_min(torch.finfo(y.dtype).tiny))
    hidden_here = (torch.rand(t.shape, generator=torch.Generator().manual_seed(seed))
                   < share).to(y.dtype)
    if lone is not None:
        hidden_here[lone] = 0
    if float(hidden_here.sum()) < MIN_HELD_OUT_PIXELS:
        return None
    # the mask is extended as the image is, so no mirrored copy shows a hidden pixel
    kept = blur.extend(1 - hidden_here if lone is None else 1 - hidden_here - lone.to(y.dtype))
    weight = torch.empty_like(y)
    blur(kept, out=weight, adjoint=True)
    weight.clamp_min_(eps)
    u = torch.full_like(y, float((y * kept).sum() / kept.sum()))
    ratio = torch.empty_like(y)
    errors = []
    for k in range(max_iterations + 1):
        check_stop()  # iterations 'auto' runs this before the first tile
        blur(u, out=ratio)
        miss = blur.crop(y - ratio)
        errors.append(float((miss * miss * hidden_here).sum(dtype=wide_dtype(y.device))))  # it. k
        if k == max_iterations or k - int(np.argmin(errors)) >= patience:
            break
        torch.div(y * kept, ratio.clamp_min_(0).add_(eps), out=ratio)
        blur(ratio, out=ratio, adjoint=True)
        u.mul_(ratio.div_(weight)).clamp_min_(0)
    best = int(np.argmin(errors))
    return HeldOutCount(max(1, best), best == max_iterations)


def _laplacian_gain(shape: tuple[int, ...], blurred: list[int], half_last: bool, mirror: bool,
                    dtype, device) -> torch.Tensor:
    """|L|^2 of the discrete Laplacian, sum_d (2 - 2 cos w_d), the same as skimage's
    uft.laplacian, over the blurred axes only: a (1, Y, X) PSF then deconvolves each plane on
    its own instead of smoothing across planes that were never blurred together. ``mirror``:
    at the DCT frequencies w = pi k / n; otherwise at the (r)FFT frequencies of ``shape``."""
    out_shape = [1] * len(shape)
    lap = torch.zeros((), dtype=dtype, device=device)
    for d in blurred:
        n = shape[d]
        if mirror:
            w = math.pi * torch.arange(n, dtype=dtype, device=device) / n
        else:
            freq = torch.fft.rfftfreq(n) if (half_last and d == blurred[-1]) else (
                torch.fft.fftfreq(n))
            w = 2 * math.pi * freq.to(device=device, dtype=dtype)
        out_shape[d] = w.numel()
        lap = lap + (2.0 - 2.0 * torch.cos(w)).reshape([-1 if i == d else 1
                                                          for i in range(len(shape))])
    return lap**2 if blurred else torch.zeros(out_shape, dtype=dtype, device=device)


def _wiener_filter(p: torch.Tensor, blur, balance: float) -> torch.Tensor:
    blurred = [d for d in range(p.ndim) if p.shape[d] > 1]
    if isinstance(blur, _MirrorConvolution):
        h = blur.gain  # real: the PSF is symmetric
        lap2 = _laplacian_gain(h.shape, blurred, False, True, p.dtype, p.device)
        return h / (h * h + balance * lap2)
    lap2 = _laplacian_gain(blur.shape, blurred, True, False, p.dtype, p.device)
    otf = blur.gain
    return otf.conj() / (otf.abs() ** 2 + balance * lap2)


@_where_fft_runs
def wiener(x, psf, *, balance=0.01) -> torch.Tensor:
    """Wiener-Hunt deconvolution with a Laplacian regulariser, as skimage.restoration.wiener.

    The filter is conj(H) / (|H|^2 + balance * |L|^2), H the PSF's and L the discrete
    Laplacian's transfer function (over the axes where the PSF is longer than 1). It is linear,
    so ``balance`` does not depend on intensity units. Values are not clipped. Returns a
    tensor with x's shape, dtype and device.
    """
    nsp = _check_x(x)
    bal = _check_number(
        balance, "balance", "a positive number (typically 1e-3 to 1e-1)", lambda v: v > 0
    )
    p = _psf_tensor(psf, x, nsp)
    blur = _convolution(p, x)
    y = blur.extend(x.to(_compute_dtype(x)))
    kind = "wiener-dct" if isinstance(blur, _MirrorConvolution) else "wiener-fft"
    filt = transfer_cache.get(
        (kind, *psf_key(p), tuple(y.shape[2:]), bal), lambda: _wiener_filter(p, blur, bal)
    )
    out = blur.filtered(y, filt)
    return blur.crop(out).contiguous().to(x.dtype)
