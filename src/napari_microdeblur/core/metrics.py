"""Image-quality metrics (docs/evaluation.md): PSNR and SSIM with an explicit data range.

The arithmetic runs in torch (float64; SSIM's filtered moments in float32 about the reference's
mean, within 1e-6) on the device of the first tensor given, numpy arrays (dask, zarr: read) on
the CPU; 2D images in row bands
(``plane_scores``: no full-size float64 copies). Results are Python floats or numpy arrays.

SSIM is Wang et al. (2004) exactly as scikit-image computes it with
``gaussian_weights=True, sigma=1.5, use_sample_covariance=False``: an 11-tap Gaussian window
(truncate 3.5), K1 = 0.01, K2 = 0.03, scipy's ``'reflect'`` (half-sample symmetric) boundary, and
the window radius cropped off every spatial axis before averaging.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from numbers import Real

import numpy as np
import torch
import torch.nn.functional as F

from . import devices
from .array_inputs import metric_tensor
from .axes import axis_index

__all__ = [
    "reference_scale",
    "to_reference_scale",
    "psnr",
    "ssim",
    "ssim_many",
    "psnr_per_slice",
    "stack_psnr",
    "ssim_per_slice",
    "evaluate",
]

_SSIM_SIGMA = 1.5
_SSIM_TRUNCATE = 3.5
_SSIM_RADIUS = int(_SSIM_TRUNCATE * _SSIM_SIGMA + 0.5)  # 5, as scipy.ndimage computes it
_SSIM_WIN = 2 * _SSIM_RADIUS + 1  # 11
_THREADED_FILTER_MIN_SIZE = 1 << 20  # smaller stacks: thread start-up costs more than it saves
_K1 = 0.01
_K2 = 0.03


# ----------------------------------------------------------------------------- input handling


def _check_array(a, name: str):
    if isinstance(a, torch.Tensor):
        return metric_tensor(a, name)
    if isinstance(a, np.ndarray):
        if a.dtype.kind not in "uif":
            raise TypeError(
                f"{name} has dtype {a.dtype}; accepted: real integer or float arrays"
            )
        return a
    if all(hasattr(a, n) for n in ("__array__", "shape", "dtype")):
        # a dask, zarr or xarray image the user holds: scoring reads every pixel anyway
        return _check_array(np.asarray(a), name)
    raise TypeError(f"{name} is a {type(a).__name__}; accepted: numpy.ndarray, torch.Tensor or "
                    "an array with __array__ (dask, zarr)")


def _check_finite(a, name: str) -> None:
    finite = bool(torch.isfinite(a).all()) if isinstance(a, torch.Tensor) else bool(
        np.isfinite(a).all())
    if not finite:
        raise ValueError(f"{name} holds NaN or Inf pixels; accepted: finite values only "
                         "(replace them first, e.g. with numpy.nan_to_num)")


def _device_of(*arrays) -> torch.device:
    """Where the figures are computed: the tensors' device, or the CPU for arrays and for a
    device without float64 (Apple MPS)."""
    for a in arrays:
        if isinstance(a, torch.Tensor):
            return a.device if devices.has_float64(a.device) else torch.device("cpu")
    return torch.device("cpu")


def _to_f64(a, device: torch.device) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a.detach().to(device).to(torch.float64)  # moved first: MPS has no float64
    # astype copies, so the caller's array is never shared with (or changed by) torch.
    return torch.from_numpy(np.asarray(a, dtype=np.float64).copy()).to(device)


def _check_same_shape(x, ref, xname: str = "x", refname: str = "ref") -> None:
    if tuple(x.shape) != tuple(ref.shape):
        raise ValueError(
            f"{xname} has shape {tuple(x.shape)} but {refname} has shape {tuple(ref.shape)}; "
            "accepted: arrays of identical shape"
        )


def _check_data_range(data_range) -> float:
    if isinstance(data_range, bool) or not isinstance(data_range, Real):
        raise TypeError(
            f"data_range is a {type(data_range).__name__}; accepted: a positive finite number "
            "(1.0 for images mapped with to_reference_scale)"
        )
    value = float(data_range)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"data_range is {data_range!r}; accepted: a positive finite number")
    return value


# ----------------------------------------------------------------------------- intensity scale


def reference_scale(ref, *, name: str = "ref") -> tuple[float, float]:
    """(offset, scale) that map ``ref`` to [0, 1] as docs/evaluation.md prescribes.

    uint8: (0, 255); other integer types: (0, ref.max()), or min-max as floats when ref
    holds negative values; floats: (ref.min(), ref.max() - ref.min()). ``name`` is what the
    errors call ``ref`` (the Compare & QC dock names the ground-truth layer).
    """
    ref = _check_array(ref, name)
    size = ref.numel() if isinstance(ref, torch.Tensor) else ref.size
    if size == 0:
        raise ValueError(f"{name} is empty (size 0); accepted: a non-empty image")
    if isinstance(ref, torch.Tensor):
        is_uint8 = ref.dtype == torch.uint8
        is_float = ref.dtype.is_floating_point
        dtype = ref.dtype
        # Integer max is exact in int64; floats go through float64 for the range.
        vals = ref.detach().cpu()  # on the host: Apple MPS has no float64
        vals = vals.to(torch.float64) if is_float else vals.to(torch.int64)
        lo, hi = vals.min().item(), vals.max().item()
    else:
        is_uint8 = ref.dtype == np.uint8
        is_float = ref.dtype.kind == "f"
        dtype = ref.dtype
        lo, hi = ref.min().item(), ref.max().item()
    if is_uint8:
        return 0.0, 255.0
    if not is_float and lo >= 0:
        if hi <= 0:
            raise ValueError(
                f"{name} ({dtype}) has maximum {hi}; integer references other than uint8 are "
                "scaled by their maximum, which must be positive"
            )
        return 0.0, float(hi)
    # negative integers: zero is not the dark level (a background-subtracted int16), and
    # dividing by the maximum made the scores depend on a constant offset: min-max, as floats
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{name} ({dtype}) holds NaN or Inf pixels; accepted: finite values "
                         "only (replace them first, e.g. with numpy.nan_to_num)")
    if hi - lo <= 0:
        raise ValueError(
            f"{name} ({dtype}) is constant (min = max = {lo}); a float reference (or an "
            "integer one holding negative values) is min-max scaled, which needs a non-zero range"
        )
    return lo, hi - lo


def to_reference_scale(x, ref) -> tuple[np.ndarray, np.ndarray]:
    """Map ``x`` and ``ref`` to float32 with the reference's (offset, scale) (never x's own)."""
    x = _check_array(x, "x")
    ref = _check_array(ref, "ref")
    _check_same_shape(x, ref)
    offset, scale = reference_scale(ref)
    cpu = torch.device("cpu")
    x01 = ((_to_f64(x, cpu) - offset) / scale).to(torch.float32).numpy()
    ref01 = ((_to_f64(ref, cpu) - offset) / scale).to(torch.float32).numpy()
    return x01, ref01


# ----------------------------------------------------------------------------- PSNR


def _psnr_t(x: torch.Tensor, ref: torch.Tensor, data_range: float, dims=None) -> torch.Tensor:
    mse = ((x - ref) ** 2).mean() if dims is None else ((x - ref) ** 2).mean(dim=dims)
    return _psnr_from_mse(mse, data_range)


def _psnr_from_mse(mse: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    # mse == 0 gives +inf, as scikit-image does for identical images. An Inf pixel gave
    # -inf, which the QC dock showed as 'inf' and stack_psnr left out as a perfect plane:
    # undefined (NaN), as a NaN pixel already is.
    value = 10.0 * torch.log10(data_range**2 / mse)
    return torch.where(torch.isfinite(mse), value, torch.full_like(value, math.nan))


def psnr(x, ref, *, data_range) -> float:
    """Peak signal-to-noise ratio in dB: 10 log10(data_range^2 / MSE)."""
    x = _check_array(x, "x")
    ref = _check_array(ref, "ref")
    _check_same_shape(x, ref)
    dr = _check_data_range(data_range)
    dev = _device_of(x, ref)
    return float(_psnr_t(_to_f64(x, dev), _to_f64(ref, dev), dr).item())


def stack_psnr(plane_psnrs) -> float:
    """The PSNR of a stack (z or time) from its planes' PSNRs: the mean over planes (each
    scored as it would be alone, the figure docs/evaluation.md and the benchmarks report) of
    those that differ from the reference. A plane equal to it has an infinite PSNR, which made
    the mean infinite however much the others differ; it is left out (``psnr_per_slice`` still
    lists it), so the stack's PSNR is infinite only when every plane equals the reference.
    A NaN plane (NaN or Inf pixels) makes it NaN: a mean of the other planes read as the
    stack's."""
    values = np.asarray(plane_psnrs, dtype=np.float64).ravel()
    if np.isnan(values).any():
        return float("nan")
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("inf")


def psnr_per_slice(x, ref, *, data_range, axis=0) -> np.ndarray:
    """PSNR of each slice of ``x`` along ``axis`` against the same slice of ``ref``."""
    x = _check_array(x, "x")
    ref = _check_array(ref, "ref")
    _check_same_shape(x, ref)
    dr = _check_data_range(data_range)
    if x.ndim < 2:
        raise ValueError(f"x has {x.ndim} dimension(s); accepted: at least 2 (a stack of slices)")
    axis = axis_index(axis, x.ndim, "axis")
    dev = _device_of(x, ref)
    xt = torch.movedim(_to_f64(x, dev), axis, 0).reshape(x.shape[axis], -1)
    rt = torch.movedim(_to_f64(ref, dev), axis, 0).reshape(x.shape[axis], -1)
    return _psnr_t(xt, rt, dr, dims=1).cpu().numpy()


# ----------------------------------------------------------------------------- SSIM


def _gauss_kernel(device: torch.device) -> torch.Tensor:
    # The same taps as scipy.ndimage.gaussian_filter1d(sigma=1.5, truncate=3.5).
    t = torch.arange(-_SSIM_RADIUS, _SSIM_RADIUS + 1, dtype=torch.float64, device=device)
    k = torch.exp(-0.5 * (t / _SSIM_SIGMA) ** 2)
    return k / k.sum()


def _symmetric_index(n: int, pad: int, device: torch.device) -> torch.Tensor:
    # Half-sample symmetric extension (scipy's 'reflect'), valid for any pad, even pad > n.
    i = torch.arange(-pad, n + pad, device=device) % (2 * n)
    return torch.where(i >= n, 2 * n - 1 - i, i)


def _gauss_filter(a: torch.Tensor, nsp: int, kernel: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian over the last ``nsp`` axes of ``a``, scipy 'reflect' boundary."""
    r = _SSIM_RADIUS
    if a.device.type == "cpu":
        # torch's 1-channel conv1d is slow on the CPU: scipy's filter is ~4x faster, same numbers
        from scipy.ndimage import correlate1d

        taps = kernel.numpy()
        arr = a.numpy()
        out = np.empty_like(arr)
        axes = list(range(a.ndim - nsp, a.ndim))

        def filt(rows: slice) -> None:
            block = arr[rows]
            for axis in axes[:-1]:
                block = correlate1d(block, taps, axis=axis, mode="reflect")
            correlate1d(block, taps, axis=axes[-1], mode="reflect", output=out[rows])

        workers = min(torch.get_num_threads(), arr.shape[0] if arr.ndim > nsp else 1)
        if workers < 2 or arr.size < _THREADED_FILTER_MIN_SIZE:
            filt(slice(None))
        else:
            # scipy releases the GIL while filtering: split the leading axis over torch's
            # thread count (a 1024 x 1024 QC slice, 8 moment maps: ~30 % faster on 2 cores)
            bounds = np.linspace(0, arr.shape[0], workers + 1).astype(int)
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(filt, [slice(i, j) for i, j in zip(bounds[:-1], bounds[1:])]))
        return torch.from_numpy(out)
    for axis in range(a.ndim - nsp, a.ndim):
        n = a.shape[axis]
        moved = torch.movedim(a, axis, -1)
        lead = moved.shape[:-1]
        padded = moved.index_select(-1, _symmetric_index(n, r, a.device))
        out = F.conv1d(padded.reshape(-1, 1, n + 2 * r), kernel.view(1, 1, -1))
        a = torch.movedim(out.reshape(*lead, n), -1, axis)
    return a


def _check_window(spatial: tuple, nsp: int) -> None:
    if any(s < _SSIM_WIN for s in spatial):
        # 'pass channel_axis' alone misled a short z-stack (5, 512, 512) or a tiny image
        hint = ("pass channel_axis for a colour image, or score a stack of fewer planes "
                "plane by plane (ssim_per_slice)" if nsp > 2 else
                "pass channel_axis for a colour image; a smaller image has no SSIM (score it "
                "with PSNR)")
        raise ValueError(
            f"SSIM needs every spatial side >= {_SSIM_WIN} (its Gaussian window), got spatial "
            f"shape {spatial}; {hint}"
        )


def _as_planes(a, channel_axis):
    """A (P, C, Y, X) view of ``a`` (numpy or tensor): channels at -3, other axes as planes."""
    if channel_axis is None:
        a = a[..., None, :, :]
    else:
        ca = axis_index(channel_axis, a.ndim, "channel_axis")
        a = torch.movedim(a, ca, -3) if isinstance(a, torch.Tensor) else np.moveaxis(a, ca, -3)
    return a.reshape(-1, *a.shape[-3:])


def _ssim_from_moments(f: torch.Tensor, n: int, shift: torch.Tensor) -> list:
    """float32 SSIM maps (data_range 1) from filtered moments [uy, uyy, (ux, uxx, uxy) x n] of
    images less ``shift``; the luminance term takes the means back, as 1 - (ux - uy)^2 / (ux^2 +
    uy^2 + C1), which equals (2 ux uy + C1) / (ux^2 + uy^2 + C1) and cannot cancel."""
    uy = f[0]
    vy = f[1] - uy * uy
    uy_c1 = (uy + shift).square_().add_(_K1**2)  # C1 = (K1 * data_range)^2, data_range 1
    maps = []
    for i in range(n):
        ux, uxx, uxy = f[2 + 3 * i:5 + 3 * i]
        d = ux - uy
        lum = d.square_().div_((ux + shift).square_().add_(uy_c1)).neg_().add_(1)
        cs = (uxy - ux * uy).mul_(2).add_(_K2**2).div_((uxx - ux * ux).add_(vy).add_(_K2**2))
        maps.append(lum.mul_(cs))
    return maps


def _ssim_maps(xs: list, y: torch.Tensor, data_range: float, nsp: int) -> list:
    """SSIM maps (float64) of each of ``xs`` against ``y`` over the last ``nsp`` axes, with the
    window radius cropped from each of them. The reference's moments are filtered once for all.

    The moments are filtered and combined in float32 on the ``(x - mean(y)) / data_range`` scale
    (E[x^2] - E[x]^2 of raw uint16 at 60000 with data_range 100 scored -1.2): SSIM stays within
    1e-6 of float64 and a 1024 x 1024 QC slice takes ~40 % less time.
    """
    _check_window(tuple(y.shape[y.ndim - nsp:]), nsp)
    inv = 1.0 / data_range
    shift = y.mean(dim=tuple(range(y.ndim - nsp, y.ndim)), keepdim=True)  # per channel
    # All the moments in one float32 array, written in place (the offset removed in float64)
    stack = torch.empty((2 + 3 * len(xs), *y.shape), dtype=torch.float32, device=y.device)
    torch.sub(y, shift, out=stack[0]).mul_(inv)
    torch.mul(stack[0], stack[0], out=stack[1])
    for i, x in enumerate(xs):
        xi = torch.sub(x, shift, out=stack[2 + 3 * i]).mul_(inv)
        torch.mul(xi, xi, out=stack[3 + 3 * i])
        torch.mul(xi, stack[0], out=stack[4 + 3 * i])
    k = _gauss_kernel(y.device).to(torch.float32)
    moments = _gauss_filter(stack, nsp, k)
    crop = (Ellipsis,) + (slice(_SSIM_RADIUS, -_SSIM_RADIUS),) * nsp
    maps = _ssim_from_moments(moments, len(xs), (shift * inv).to(torch.float32))
    return [m[crop].to(torch.float64) for m in maps]


_BAND_ELEMS = 1 << 17  # per moment map and band on the CPU: cache-sized (1 MB of float32)


def _band_rows(a, idx: np.ndarray):
    """Rows ``idx`` (axis -2) of a (P, C, Y, X) array or tensor: a view where they run on."""
    if idx.size and idx[-1] - idx[0] == idx.size - 1 and (np.diff(idx) == 1).all():
        return a[..., int(idx[0]):int(idx[-1]) + 1, :]
    if isinstance(a, torch.Tensor):
        return a.index_select(-2, torch.from_numpy(idx).to(a.device))
    return a[..., idx, :]


def _mapped(a, idx, planes: slice, dev, offset: float, scale: float) -> torch.Tensor:
    """float64 ``(a - offset) / scale`` of rows ``idx`` of planes ``planes``; a new tensor."""
    rows = _band_rows(a[planes], idx)
    if isinstance(rows, torch.Tensor):
        t = rows.detach().to(dev).to(torch.float64)  # moved first: MPS has no float64
    else:
        t = torch.from_numpy(np.array(rows, dtype=np.float64)).to(dev)
    return (t - offset) / scale


def _filter_band(m: torch.Tensor, rows: int, k: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian of a band padded by the window radius on its last two axes, as
    shifted-slice sums (vectorised float32; scipy's filter runs a scalar loop, ~5x slower)."""
    r, taps = _SSIM_RADIUS, k.tolist()
    v = m[..., r:r + rows, :] * taps[r]
    for j in range(r):
        v.add_(m[..., j:j + rows, :], alpha=taps[j]).add_(m[..., 2 * r - j:2 * r - j + rows, :],
                                                          alpha=taps[j])
    nx = m.shape[-1] - 2 * r
    h = v[..., r:r + nx] * taps[r]
    for j in range(r):
        h.add_(v[..., j:j + nx], alpha=taps[j]).add_(v[..., 2 * r - j:2 * r - j + nx],
                                                     alpha=taps[j])
    return h


def _ssim_band(xs: list, y: torch.Tensor, rows: int, k: torch.Tensor, shift) -> list:
    """float32 SSIM maps (data_range 1) of the unpadded part of a band padded along Y, less
    ``shift``; X padding written here (an index_select of the whole band cost ~15 % of the time)."""
    r, nx = _SSIM_RADIUS, y.shape[-1]
    edge = _symmetric_index(nx, r, y.device)
    edge = torch.cat([edge[:r], edge[-r:]])
    m = torch.empty((2 + 3 * len(xs), *y.shape[:-1], nx + 2 * r), dtype=torch.float32,
                    device=y.device)
    slots = [0] + [2 + 3 * i for i in range(len(xs))]
    for slot, src in zip(slots, [y, *xs], strict=True):
        sides = src.index_select(-1, edge)
        m[slot, ..., r:r + nx].copy_(src)
        m[slot, ..., :r].copy_(sides[..., :r])
        m[slot, ..., r + nx:].copy_(sides[..., r:])
    torch.mul(m[0], m[0], out=m[1])
    for i in range(len(xs)):
        torch.mul(m[2 + 3 * i], m[2 + 3 * i], out=m[3 + 3 * i])
        torch.mul(m[2 + 3 * i], m[0], out=m[4 + 3 * i])
    return _ssim_from_moments(_filter_band(m, rows, k), len(xs), shift)


def _window_sums(a: torch.Tensor, y0: int, shape, borders, margin: int) -> list:
    """float64 sums per plane of band ``a`` (its first row is image row ``y0``) inside each
    border's window [border + margin, side - border - margin) on both axes."""
    ny, nx = shape
    a = a.to(torch.float64)
    out = []
    for b in borders:
        lo, hi = max(b + margin - y0, 0), min(ny - b - margin - y0, a.shape[-2])
        part = a[..., max(lo, 0):max(hi, 0), b + margin:nx - b - margin]
        out.append(part.sum(dim=(-3, -2, -1)))
    return out


def plane_scores(xs, ref, *, ref_scale=(0.0, 1.0), borders=(0,), psnr=True, ssim=True):
    """PSNR and SSIM of each of ``xs`` against ``ref``, all of shape (P, C, Y, X) (P planes of
    C channels; numpy arrays or tensors, mapped with ``ref_scale`` (offset, scale) to
    data_range 1), for each border in ``borders`` excluded from Y and X, in one pass.

    Returns {"psnr": [[(P,) per border] per x], "ssim": ...} (float64). Rows go in cache-sized
    bands (memory: the inputs plus a few MB); every border's SSIM is the whole-image map over
    its window (away from the edge the map does not depend on the padding).
    """
    offset, scale = float(ref_scale[0]), float(ref_scale[1])
    dev = _device_of(*xs, ref)
    npl, nch, ny, nx = ref.shape
    r = _SSIM_RADIUS
    if ssim and min(ny, nx) - 2 * max(borders) < _SSIM_WIN:
        raise ValueError(f"SSIM needs every spatial side >= {_SSIM_WIN} (its Gaussian window) "
                         f"after the border, got {ny} x {nx} with border {max(borders)}")
    target, plane = (_BAND_ELEMS if dev.type == "cpu" else 1 << 26), nch * (nx + 2 * r)
    per = max(1, target // (plane * (ny + 2 * r)))  # planes per band when a plane fits
    band = ny if per > 1 else max(8, target // plane - 2 * r)
    k = _gauss_kernel(dev).to(torch.float32) if ssim else None
    rows_all = _symmetric_index(ny, r, torch.device("cpu")).numpy()
    acc = torch.zeros((2, len(xs), len(borders), npl), dtype=torch.float64)  # SSE, SSIM sums
    for p0 in range(0, npl, per):
        planes = slice(p0, min(npl, p0 + per))
        for y0 in range(0, ny, band):
            y1 = min(ny, y0 + band)
            idx = rows_all[y0:y1 + 2 * r] if ssim else np.arange(y0, y1)
            yt = _mapped(ref, idx, planes, dev, offset, scale)
            shift = yt.mean(dim=(-2, -1), keepdim=True)  # float32 moments: about the mean
            yt.sub_(shift)
            xts = [_mapped(x, idx, planes, dev, offset, scale).sub_(shift) for x in xs]
            pad = r if ssim else 0
            for i, xt in enumerate(xts if psnr else []):
                d = (xt - yt)[..., pad:pad + y1 - y0, :]
                for j, s in enumerate(_window_sums(d * d, y0, (ny, nx), borders, 0)):
                    acc[0, i, j, planes] += s.cpu()
            for i, mp in enumerate(_ssim_band(xts, yt, y1 - y0, k, shift.float()) if ssim else []):
                for j, s in enumerate(_window_sums(mp, y0, (ny, nx), borders, r)):
                    acc[1, i, j, planes] += s.cpu()
    out = {}
    for n, (key, margin) in enumerate((("psnr", 0), ("ssim", r))):
        if psnr if n == 0 else ssim:
            counts = torch.tensor([nch * (ny - 2 * b - 2 * margin) * (nx - 2 * b - 2 * margin)
                                   for b in borders], dtype=torch.float64)
            vals = acc[n] / counts[:, None]
            out[key] = list((_psnr_from_mse(vals) if n == 0 else vals).numpy())
    return out


def _prepare_channels(x, ref, channel_axis, dev):
    """float64 tensors shaped (C, *spatial); C = 1 when there is no channel axis."""
    xt, rt = _to_f64(x, dev), _to_f64(ref, dev)
    if channel_axis is None:
        return xt.unsqueeze(0), rt.unsqueeze(0)
    ca = axis_index(channel_axis, xt.ndim, "channel_axis")
    return torch.movedim(xt, ca, 0), torch.movedim(rt, ca, 0)


def ssim(x, ref, *, data_range, channel_axis=None) -> float:
    """Mean SSIM (Wang et al. 2004) over all spatial axes; the mean over channels if given."""
    x = _check_array(x, "x")
    ref = _check_array(ref, "ref")
    _check_same_shape(x, ref)
    dr = _check_data_range(data_range)
    return ssim_many([x], ref, data_range=dr, channel_axis=channel_axis)[0]


def ssim_many(xs, ref, *, data_range, channel_axis=None) -> list[float]:
    """``[ssim(x, ref) for x in xs]`` with the reference's share of the work done once (the QC
    table compares blurry and deblurred against one ground truth: 8 filtered maps, not 10)."""
    ref = _check_array(ref, "ref")
    xs = [_check_array(x, f"xs[{i}]") for i, x in enumerate(xs)]
    for i, x in enumerate(xs):
        _check_same_shape(x, ref, f"xs[{i}]")
    if not xs:
        return []
    dr = _check_data_range(data_range)
    nsp = ref.ndim - (channel_axis is not None)
    if nsp < 1:
        raise ValueError(f"ref has shape {tuple(ref.shape)}; accepted: an image with spatial axes")
    if nsp == 2:  # images: banded, no full-size float64 copies
        ca = None if channel_axis is None else axis_index(channel_axis, ref.ndim, "channel_axis")
        _check_window(tuple(s for i, s in enumerate(ref.shape) if i != ca), nsp)
        out = plane_scores([_as_planes(x, ca) for x in xs], _as_planes(ref, ca),
                           ref_scale=(0.0, dr), psnr=False)["ssim"]
        return [float(v[0][0]) for v in out]
    dev = _device_of(*xs, ref)
    pairs = [_prepare_channels(x, ref, channel_axis, dev) for x in xs]
    rt = pairs[0][1]
    maps = _ssim_maps([xt for xt, _ in pairs], rt, dr, nsp)
    return [float(m.mean().item()) for m in maps]


def ssim_per_slice(x, ref, *, data_range, axis=0, channel_axis=None) -> np.ndarray:
    """2D SSIM of each slice along ``axis`` (``channel_axis`` indexes the full array's axes)."""
    x = _check_array(x, "x")
    ref = _check_array(ref, "ref")
    _check_same_shape(x, ref)
    dr = _check_data_range(data_range)
    axis = axis_index(axis, x.ndim, "axis")
    expected = 3 if channel_axis is None else 4
    if x.ndim != expected:
        raise ValueError(
            f"x has shape {tuple(x.shape)}; accepted: a stack of 2D images, i.e. {expected} "
            f"dimensions with channel_axis={channel_axis!r}"
        )
    def planes(a):  # (slices, C, Y, X) views
        move = torch.movedim if isinstance(a, torch.Tensor) else np.moveaxis
        if channel_axis is None:
            return move(a, axis, 0)[:, None]
        return move(a, (axis, ca), (0, 1))

    ca = None if channel_axis is None else axis_index(channel_axis, x.ndim, "channel_axis")
    if ca == axis:
        raise ValueError(f"axis and channel_axis are both {axis}; accepted: different axes")
    xp, rp = planes(x), planes(ref)
    _check_window(tuple(rp.shape[-2:]), 2)
    return plane_scores([xp], rp, ref_scale=(0.0, dr), psnr=False)["ssim"][0][0]


def evaluate(prediction, reference, *, border=16, axes=None, channel_axis=None,
             ref_scale=None) -> dict:
    """docs/evaluation.md end to end: reference-scaled PSNR and SSIM with data_range 1.

    ``psnr``/``ssim`` exclude a ``border``-pixel frame on the last two spatial axes (YX);
    ``psnr_whole``/``ssim_whole`` use the whole image. An image under SSIM's 11 x 11 window
    has PSNR alone (its SSIMs None); a border leaving less than the window (no pixel, for such
    an image) is refused. With more than two spatial axes (ZYX, or a time series) the image
    is a stack of 2D planes: per-plane figures are returned as ``psnr_per_slice`` and
    ``ssim_per_slice`` (border excluded), and every headline figure is
    the mean over planes; a plane equal to the reference (PSNR infinite) is left out of the
    PSNR's mean (``stack_psnr``), infinite only when every plane is. ``axes`` (deblur's
    letters: 'YX', 'ZYX', 'CYX', 'YXS', ...) scores as ``microdeblur evaluate`` scores a file
    of those axes: a C or S axis pooled into one mean error per plane, a stack's
    ``slice_labels``, and a C axis's ``channels``, each on its own range
    (``metrics_axes.axes_extras``); ``channel_axis`` (an index) pools without them. Given
    neither, a first axis of 2 to 4 is warned about (``DeblurWarning``): it is scored as
    planes. ``ref_scale``: the (offset, scale) of another image (the reference before
    registration), not its own (without it: a ``DeblurWarning`` when the two look like two
    intensity scales)."""
    from .metrics_axes import axes_extras, border_scores, check_border, evaluate_layout, host_array

    prediction = _check_array(prediction, "prediction")
    reference = _check_array(reference, "reference")
    _check_same_shape(prediction, reference, "prediction", "reference")
    # NaN would come back as 'PSNR nan', which reads like a result; the reference's own
    # check is reference_scale's
    _check_finite(prediction, "prediction")
    if isinstance(border, bool) or not isinstance(border, (int, np.integer)) or border < 0:
        raise ValueError(f"border is {border!r}; accepted: a non-negative integer (pixels)")
    prediction, reference, channel_axis, axes = evaluate_layout(
        prediction, reference, axes, channel_axis, alone=ref_scale is None)
    ca = None if channel_axis is None else axis_index(channel_axis, prediction.ndim,
                                                      "channel_axis")
    nsp = prediction.ndim - (ca is not None)
    if nsp < 2:  # before the scale: a 0-d pair was refused as 'reference is constant'
        raise ValueError(f"prediction has shape {tuple(prediction.shape)} with channel_axis="
                         f"{channel_axis!r}; accepted: at least two spatial axes (YX)")
    offset, scale = ref_scale or reference_scale(reference, name="reference")
    rs = _as_planes(reference, ca)  # (slices, C, Y, X): leading spatial axes become planes
    check_border(prediction.shape, *rs.shape[-2:], border, given_axes=axes is not None
                 or channel_axis is not None, window=_SSIM_WIN)
    if ref_scale is None:  # called alone: two intensity scales, said as evaluate's CLI does
        from .plane_metrics import warn_scale_mismatch
        # on the host: its numpy scan refused tensors (TypeError from mean's dtype)
        warn_scale_mismatch(host_array(prediction), host_array(reference), ca, offset)
    result = border_scores(_as_planes(prediction, ca), rs, (offset, scale), border, _SSIM_WIN,
                           per_slice=nsp > 2)
    return {**result, **axes_extras(prediction, reference, axes, border, (offset, scale))}
