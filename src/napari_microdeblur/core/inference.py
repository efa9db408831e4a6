"""Deblur an image of any size and layout: axes, normalisation, device, dtype, tiling.

A deblur is prepared once, ``prepare_deblur(image, axes, MethodSpec(...), TilingSpec(...))``:
every argument is checked, the method resolved and the normalisation computed, before any
work and before an output exists. ``PreparedDeblur.iter_run()`` is then the generator that
yields a ``DeblurProgress`` per tile and returns a ``DeblurResult``. The CLI, the docks, the
cluster path, selective deblurring and batch files all go through it.

``iter_deblur`` and ``deblur`` are the keyword-argument forms of the same thing. Inputs may be
numpy arrays, memory-mapped arrays, dask/zarr arrays and ``io.TiffArray``; the input is never
modified.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Generator
from dataclasses import dataclass, replace

import numpy as np
import torch

from . import tiling
from .axes import (
    Layout,
    check_axes,
    colour_part,
    copy_sample,
    guess_axes,
    guess_note,
    has_alpha,
    is_rgb,
    is_rgba,
)
from .bundled import auto_3d_kernel, auto_method_name, auto_psf, default_for_modality
from .channel_psfs import channel_sources, one_psf_only, prepare_channels, run_channels
from .deblur_notes import ALPHA_NOTE, GRAY_ALPHA_NOTE, signed_rl_note, warnings_after_success
from .memory import check_result_fits
from .method import (
    CLASSICAL_METHODS,
    DEFAULT_TILE,
    OUTPUT_DTYPES,
    PRECISIONS,
    Method,
    MethodSpec,
    NetworkRunner,
    TilingSpec,
    auto_precision,
    classical_method,
    network_method,
    resolve_device,
    resolve_method,
)
from .options import AUTO_BALANCE, AUTO_ITERATIONS, FIXED_BALANCE, FIXED_ITERATIONS
from .progress import DeblurProgress, DeblurResult, drive
from .psf_fit import check_psf_model_fits, fit_psf_to_image_of
from .tile_options import TileOptions, tile_options

__all__ = [
    "CLASSICAL_METHODS", "DEFAULT_TILE", "OUTPUT_DTYPES", "PRECISIONS", "STATS_MAX_ELEMENTS",
    "DeblurProgress", "DeblurResult", "Method", "MethodSpec", "NetworkRunner", "Normalization",
    "PreparedDeblur", "TilingSpec", "auto_method_name", "auto_precision", "check_axes",
    "check_image", "classical_method", "compute_normalization",
    "deblur", "drain", "guess_axes", "iter_deblur", "network_method", "prepare_deblur",
    "resolve_device", "resolve_method", "as_method", "split_options",
]

STATS_MAX_ELEMENTS = 4_000_000
#: The most planes (Z, T) the normalisation's sample reads of a stack
STATS_MAX_PLANES = 64
drain = drive  # the name the tests and benchmarks know


# ----------------------------------------------------------------------------- normalisation


@dataclass(frozen=True)
class Normalization:
    """x_model = (x - offset) / scale; undone on the way out. Stored with every result."""

    offset: float
    scale: float
    kind: str = "percentile"
    low: float = 0.1
    high: float = 99.9

    def apply(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "none":
            return x.astype(np.float32)
        return ((x.astype(np.float32) - np.float32(self.offset)) / np.float32(self.scale)).astype(
            np.float32
        )

    def undo(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "none":
            return x
        return x * np.float32(self.scale) + np.float32(self.offset)


def _stats_sample(image, axes: str) -> np.ndarray:
    """A strided subsample of at most ~STATS_MAX_ELEMENTS values, read without loading it all:
    at most ``STATS_MAX_PLANES`` planes (evenly strided over Z and T), each strided in Y, X."""
    shape = tuple(int(n) for n in image.shape)
    steps = [1] * len(shape)
    # a lazy stack (dask, zarr) is read chunk by chunk: a stride in Y, X alone still read every
    # plane (a 'current slice' deblur of a 4 GB stack read all 2000); numpy and uncompressed
    # TIFFs (cheap_regions) keep every plane, as before
    lazy = not isinstance(image, np.ndarray) and not getattr(image, "cheap_regions", False)
    plane_axes = [i for i, a in enumerate(axes) if a not in "YXSC"] if lazy else []

    def kept(i: int) -> int:
        return -(-shape[i] // steps[i])

    while plane_axes and math.prod(kept(i) for i in plane_axes) > STATS_MAX_PLANES:
        steps[max(plane_axes, key=kept)] *= 2
    total = math.prod(kept(i) if i in plane_axes else n for i, n in enumerate(shape))
    stride = max(1, math.ceil((total / STATS_MAX_ELEMENTS) ** (1 / 2)))
    key = tuple(slice(None, None, stride) if a in "YX" else slice(None, None, steps[i])
                for i, a in enumerate(axes))
    sample = np.asarray(image[key])
    # other axes (Z, T, C) may still be long: thin them too
    while sample.size > 4 * STATS_MAX_ELEMENTS and sample.shape[0] > 1:
        sample = sample[::2]
    return sample


def compute_normalization(image, axes: str, kind: str, low=0.1, high=99.9) -> Normalization:
    sample = _stats_sample(image, axes).astype(np.float32, copy=False)
    if not np.all(np.isfinite(sample)):
        raise ValueError("image contains NaN or Inf pixels; replace them (e.g. np.nan_to_num)")
    if kind == "none":
        return Normalization(0.0, 1.0, kind="none", low=0.0, high=100.0)
    if kind == "scale":
        least = float(np.min(sample))
        if least < 0:
            # Richardson-Lucy needs x >= 0 and clamped negatives to 0, which raised the mean of
            # background-subtracted images: shift by the minimum instead (undone on the way out)
            span = float(np.max(sample)) - least
            return Normalization(least, span if span > 0 else 1.0, kind="scale", low=0.0,
                                 high=100.0)
        top = float(np.max(np.abs(sample)))
        return Normalization(0.0, top if top > 0 else 1.0, kind="scale", low=0.0, high=100.0)
    lo, hi = (float(v) for v in np.percentile(sample, [low, high]))
    if hi - lo <= 0:
        lo, hi = float(sample.min()), float(sample.max())
    scale = hi - lo if hi > lo else 1.0
    return Normalization(lo, scale, kind="percentile", low=low, high=high)


# ----------------------------------------------------------------------------- preparing


def check_image(image) -> None:
    """An array-like of real intensities with more than one pixel, or TypeError/ValueError."""
    if not all(hasattr(image, a) for a in ("shape", "dtype", "__getitem__")):
        raise TypeError(
            f"image must be an array (numpy, memmap, dask, zarr), not {type(image).__name__}"
        )
    dtype = np.dtype(image.dtype)
    if dtype.kind in "cbOUSV" or dtype == np.bool_:
        raise TypeError(
            f"image has dtype {dtype}; give real-valued intensities (integer or float), not "
            "complex, boolean or object data"
        )
    if int(np.prod(image.shape)) <= 1:
        raise ValueError(f"image with shape {tuple(image.shape)} is empty or a single pixel")


def as_method(method, axes: str, shape, models=None) -> Method:
    """A MethodSpec (checked, then resolved for this image, its network taken from ``models``,
    a ``checkpoint.ModelCache``, where given), a Method or a network -> Method."""
    if isinstance(method, MethodSpec):
        spec = fit_psf_to_image_of(method.check(), axes, shape)
        return spec.resolve(rgb=is_rgb(axes, shape), models=models)
    return resolve_method(method)


def spec_for_image(spec, image, axes: str, *, in_3d: bool = True):
    """The spec as it runs on ``image``: what only the image can settle, settled once per
    image before any tile work.

    ``psf='estimate'`` is replaced by the PSF estimated from ``image``
    (``core.psf_estimate``); the line saying which goes out as a warning. So is 'auto' without
    a PSF for an image type that estimates one (``bundled.auto_psf``: EM, brightfield); where
    its image gives no estimate (too small, constant), that 'auto' runs the image type's blind
    network instead and says so. 'auto' with a 3D PSF for a z-stack becomes Richardson-Lucy
    in 3D (``in_3d_where_auto_should``) unless ``in_3d`` is False (a caller that deblurs
    plane by plane). Richardson-Lucy with ``iterations='auto'`` gets its count from the image
    (``iterations_for``), Wiener with ``balance='auto'`` its balance (``balance_for``).
    Anything else is returned as it is."""
    if not isinstance(spec, MethodSpec):
        return spec
    one_psf_only(spec)
    image = colour_part(image, axes)  # RGBA, gray + alpha: settled on what runs, not alpha
    spec = _with_psf_of(spec, image, axes, in_3d)
    return balance_for(iterations_for(spec, image, axes), image, axes)


def spec_before_image(spec: MethodSpec, axes: str, shape) -> MethodSpec | None:
    """The spec as ``spec_for_image`` settles it, without reading the image: what decides the
    method's reach (and so the smallest tile it runs on), for a check before a run starts.
    'auto' with a 3D PSF on a z-stack is Richardson-Lucy; iterations and balance 'auto' are
    fixed (they do not change the reach). None where the PSF comes from the image itself
    ('estimate', or 'auto' for EM and brightfield): only the image settles that one."""
    from .psf_estimate import is_estimate

    shape = tuple(int(n) for n in shape)
    if is_estimate(spec.psf) or channel_sources(spec.psf) or auto_psf(spec, is_rgb(axes, shape)):
        return None
    if auto_3d_kernel(spec, axes, shape) is not None:
        spec = spec.replace(name="richardson_lucy")
    return spec.replace(iterations=FIXED_ITERATIONS, balance=FIXED_BALANCE)


def _with_psf_of(spec: MethodSpec, image, axes: str, in_3d: bool) -> MethodSpec:
    """``spec_for_image`` but for the iteration count and the balance."""
    from .psf_estimate import estimate_psf, estimation_plane, is_estimate

    if in_3d:
        spec = in_3d_where_auto_should(spec, image, axes)
    rgb = is_rgb(axes, tuple(image.shape))
    default = auto_psf(spec, rgb)
    if default is not None:
        spec = spec.replace(psf=default)
    if not is_estimate(spec.psf):
        return spec
    if not spec.takes_psf():  # a blind network: nothing to estimate (resolving it says so)
        return spec
    try:
        plane = estimation_plane(image, axes)
        estimated = estimate_psf(plane)
        if any(k > n for k, n in zip(estimated.kernel.shape, plane.shape)):
            # a blur that wide leaves too little of a small image to deblur, or to trust
            raise ValueError(f"the estimate, {estimated.spec}, is "
                             f"{' x '.join(map(str, estimated.kernel.shape))} px, larger than "
                             f"the image ({' x '.join(map(str, plane.shape))} px); give a "
                             "PSF (file or model) instead")
    except ValueError as error:
        if default is None:  # 'estimate' asked for by name: the user hears why
            raise
        blind = default_for_modality(spec.modality, rgb)
        warnings.warn(f"no PSF could be estimated from this image ({error}); ran the blind "
                      f"network {blind} instead", stacklevel=2)
        return spec.replace(name=blind, psf=None)
    warnings.warn(estimated.describe(), stacklevel=2)
    return spec.replace(psf=estimated.spec)  # the same kernel, named (psf_estimate rounds)


#: The lateral size of the central crop (all its planes) on which the settings found per image
#: are checked: Richardson-Lucy's iterations (``classical.held_out_iterations``, which scores
#: the central 8 planes of a stack under a one-plane PSF: 0.7 s at up to 100 iterations on this
#: project's 2-core CPU; every plane under a 3D PSF) and Wiener's balance (``gcv_balance``).
CHECK_CROP = 256
#: The most iterations ``iterations='auto'`` lets that check choose with a 2D PSF.
AUTO_ITERATIONS_MAX = 100
#: ... and with a 3D PSF, deconvolving in 3D: on a smooth confocal nucleus (the test split of
#: benchmarks/psf3d_auto.py, seen when this was chosen) the check ran to 100 where 20 was best,
#: 1.5 to 4.4 dB below 30; at most 30 it stops earlier only where the stack's noise says so.
AUTO_ITERATIONS_MAX_3D = FIXED_ITERATIONS


def in_3d_where_auto_should(spec: MethodSpec, image, axes: str) -> MethodSpec:
    """'auto' given a 3D PSF for a grayscale z-stack as Richardson-Lucy in 3D
    (``bundled.auto_runs_in_3d``), with a line saying so; any other spec as it is. It runs at
    most ``spec.iterations`` (``AUTO_ITERATIONS_MAX_3D`` for 'auto'), fewer where a held-out check
    on a central crop of the stack (``held_out_count``) finds that RL fits the noise sooner: on
    a noisy stack of dense texture 30 iterations lost up to 4 dB to the network
    (benchmarks/psf3d_auto.py)."""
    kernel = auto_3d_kernel(spec, axes, tuple(image.shape))
    if kernel is None:
        return spec
    most = AUTO_ITERATIONS_MAX_3D if spec.iterations == AUTO_ITERATIONS else spec.iterations
    iterations = held_out_count(kernel, image, axes, most) or min(most, FIXED_ITERATIONS)
    count = (_iterations_text(iterations) if iterations == most else
             f"{_iterations_text(iterations)}: past that it fitted the noise of the stack, by a "
             f"check on voxels held out of it; at most {most}")
    warnings.warn(
        f"method 'auto' with a 3D PSF on a z-stack runs Richardson-Lucy in 3D ({count}), which "
        "removes the light other planes send into each plane; the PSF-aware network sees one "
        "plane at a time (choose it by name to run it with the PSF's in-focus plane)",
        stacklevel=3)
    return spec.replace(name="richardson_lucy", iterations=iterations)


def iterations_for(spec: MethodSpec, image, axes: str) -> MethodSpec:
    """Richardson-Lucy with ``iterations='auto'`` with the count ``held_out_count`` finds on
    ``image`` (at most ``AUTO_ITERATIONS_MAX``, ``AUTO_ITERATIONS_MAX_3D`` for a 3D PSF), and a
    line saying it; other specs as they are."""
    if spec.name != "richardson_lucy" or spec.iterations != AUTO_ITERATIONS:
        return spec
    kernel = spec.psf_for_image(axes, tuple(image.shape))
    if kernel is None:
        return spec
    most = AUTO_ITERATIONS_MAX_3D if is_3d_kernel(kernel) else AUTO_ITERATIONS_MAX
    iterations = held_out_count(kernel, image, axes, most)
    if iterations is None:
        iterations = FIXED_ITERATIONS
        why = "the image is too small to hold pixels out of it"
    else:
        why = ("where its blurred estimate best predicted pixels held out of the image; at most "
               f"{most}")
    warnings.warn(f"richardson_lucy: {_iterations_text(iterations)} (iterations 'auto': {why})",
                  stacklevel=3)
    return spec.replace(iterations=iterations)


def balance_for(spec: MethodSpec, image, axes: str) -> MethodSpec:
    """Wiener with ``balance='auto'`` with the balance ``psf_estimate.gcv_balance`` finds on the
    centre crop of the image's middle plane, first channel (each channel is deconvolved with
    the balance, and a mean of channels would show less noise than any of them: on the RGB
    rows of benchmarks/classical_auto.py it chose balances 0.4-0.5 dB worse than the tuned
    one), and a line saying it; other specs as they are. GCV judges a 2D PSF: a 3D one (or one
    wider than the crop) runs ``FIXED_BALANCE``, and the line says why."""
    from .psf_estimate import gcv_balance

    if spec.name != "wiener" or spec.balance != AUTO_BALANCE:
        return spec
    kernel = spec.psf_for_image(axes, tuple(image.shape))
    if kernel is None:
        return spec
    plane = central_volume(image, axes, max(CHECK_CROP, 2 * max(kernel.shape)))
    try:
        balance = gcv_balance(plane[plane.shape[0] // 2] if plane.ndim == 3 else plane,
                              kernel[0] if kernel.ndim == 3 and not is_3d_kernel(kernel)
                              else kernel)
        why = "by generalised cross-validation on the image"
    except ValueError as error:  # a 3D PSF, or one wider than the image offers
        balance, why = FIXED_BALANCE, f"the fixed value; {error}"
    warnings.warn(f"wiener: balance {balance:.3g} (balance 'auto': {why})", stacklevel=3)
    return spec.replace(balance=balance)


def _iterations_text(count: int) -> str:
    return "1 iteration" if count == 1 else f"{count} iterations"


def is_3d_kernel(kernel: np.ndarray) -> bool:
    """Whether a PSF deconvolves in 3D (more than one plane)."""
    return kernel.ndim == 3 and kernel.shape[0] > 1


def held_out_count(kernel: np.ndarray, image, axes: str, most: int) -> int | None:
    """The Richardson-Lucy iteration count, at most ``most``, that
    ``classical.held_out_iterations`` finds on a central crop of ``image`` (every plane, at
    least ``CHECK_CROP`` pixels wide and twice the PSF, the first channel or time
    point) with ``kernel`` (a 2D one on a stack deconvolves each plane); None for an image too
    small to tell."""
    from .classical import held_out_iterations

    crop = central_volume(image, axes, max(CHECK_CROP, 2 * max(kernel.shape[-2:])))
    if crop.ndim == 3 and kernel.ndim == 2:
        kernel = kernel[None]
    return held_out_iterations(crop, kernel, max_iterations=int(most))


def central_volume(image, axes: str, lateral: int) -> np.ndarray:
    """The (Z, Y, X) (or (Y, X) without Z) float32 volume at the centre of ``image``: every
    plane, at most ``lateral`` pixels along Y and X, the first index of any other axis (time,
    channel, RGB). Reads only that part of a lazy (dask, zarr) array."""
    key = []
    for axis, n in zip(axes, image.shape):
        if axis in "YX":
            start = max(0, (n - lateral) // 2)
            key.append(slice(start, start + lateral))
        else:
            key.append(slice(None) if axis == "Z" else 0)
    volume = np.asarray(image[tuple(key)], dtype=np.float32)
    kept = [a for a in axes if a in "ZYX"]
    return np.transpose(volume, [kept.index(a) for a in "ZYX" if a in kept])


@dataclass
class PreparedDeblur:
    """A checked deblur, ready to run: the resolved method, layout, tiling and normalisation."""

    image: object
    method: Method
    layout: Layout
    normalization: Normalization
    options: TileOptions
    output_dtype: np.dtype
    # an input with alpha (RGBA, gray + alpha): ``image`` is its colours, its alpha copied as is
    rgba: object = None
    channel_runs: tuple = ()  # one PSF per channel: each channel's run (``core.channel_psfs``)

    @property
    def axes(self) -> str:
        return self.layout.axes

    @property
    def shape(self) -> tuple[int, ...]:
        return self.layout.shape if self.rgba is None else tuple(map(int, self.rgba.shape))

    def iter_run(self, out=None) -> Generator[DeblurProgress, None, DeblurResult]:
        """The deblur, tile by tile, into ``out`` (a writable array of the image's shape and
        the output dtype; a new numpy array when None). Checks ``out`` before any work."""
        if out is None:
            # np.empty reserves no pages: an output past the host's memory would fail only
            # once the run had filled most of it
            check_result_fits(self.shape, self.output_dtype)
            out = np.empty(self.shape, dtype=self.output_dtype)
        elif tuple(out.shape) != self.shape:
            raise ValueError(f"out has shape {tuple(out.shape)}; expected {self.shape}")
        elif not np.can_cast(self.output_dtype, np.dtype(out.dtype), "safe"):
            # float results written into an integer out wrapped (negative ringing -> 65535)
            raise TypeError(
                f"out has dtype {np.dtype(out.dtype)} but the output is {self.output_dtype}; "
                f"give out of dtype {self.output_dtype}"
                + ("" if self.output_dtype == self.image.dtype else
                   ", or output_dtype='input' for the input's dtype"))
        if self.rgba is not None:
            return _run_rgba(self, out)
        if self.channel_runs:
            return run_channels(self, out)
        return _run(self.image, out, self.output_dtype, self.method, self.normalization,
                    self.layout, self.options)

    def run(self, out=None, callback=None) -> DeblurResult:
        """Blocking ``iter_run``; ``callback`` receives each DeblurProgress."""
        return drive(self.iter_run(out), callback)


def prepare_deblur(
    image,
    axes: str | None = None,
    method: MethodSpec | Method | torch.nn.Module | None = None,
    tiling_spec: TilingSpec | None = None,
    *,
    normalization: Normalization | None = None,
    models=None,
) -> PreparedDeblur:
    """Check everything and compute the normalisation (over the whole image, unless a fixed
    ``normalization`` is given: chunks of one image share one scale). Does no tile work.
    ``method`` None is ``MethodSpec()`` ('auto'); ``tiling_spec`` None is ``TilingSpec()``;
    ``models``: a ``checkpoint.ModelCache`` shared by a batch of images (networks load once).
    2D methods run plane by plane over the axes that are not Y, X (or the channel axis a
    network takes whole). The output has the input's shape; output dtype 'float32' keeps the
    input's intensity units, 'input' casts back to the input dtype, clipped to its range.
    RGBA (an S axis of 4): the colours are deblurred as RGB, the alpha copied (``ALPHA_NOTE``);
    gray + alpha (an S axis of 2) likewise: the gray deblurred, the alpha copied
    (``GRAY_ALPHA_NOTE``). A PSF per channel ('A;B') runs ``core.channel_psfs``."""
    check_image(image)
    shape = tuple(int(s) for s in image.shape)
    guessed = axes is None
    axes = check_axes(axes, shape)
    if guessed and (note := guess_note(shape, axes, "give axes={0!r}")):
        warnings.warn(note, stacklevel=2)  # (2, Y, X): two planes or two channels?
    if (per_channel := prepare_channels(image, axes, method, tiling_spec,
                                        normalization=normalization, models=models)):
        return per_channel
    if has_alpha(axes, shape):
        prepared = prepare_deblur(colour_part(image, axes), axes, method, tiling_spec,
                                  normalization=normalization, models=models)
        # after success, like the lines it settled
        warnings.warn(ALPHA_NOTE if is_rgba(axes, shape) else GRAY_ALPHA_NOTE, stacklevel=2)
        return replace(prepared, rgba=image)
    method = MethodSpec() if method is None else method
    tiling_spec = TilingSpec() if tiling_spec is None else tiling_spec
    if not isinstance(tiling_spec, TilingSpec):
        raise TypeError(f"tiling must be a TilingSpec, not {type(tiling_spec).__name__}")
    tiling_spec.check()
    with warnings_after_success():
        if isinstance(method, MethodSpec):
            method = method.check()
            check_psf_model_fits(method, axes, shape, tile=tiling_spec.tile)
            method = spec_for_image(method, image, axes)
        method = as_method(method, axes, shape, models)
        layout = Layout.for_method(axes, shape, method)
        options = tile_options(method, layout, tiling_spec)
    if normalization is None:
        normalization = compute_normalization(image, axes, method.normalization,
                                              *method.percentiles)
    elif not isinstance(normalization, Normalization):
        raise TypeError(f"normalization must be a Normalization, not {type(normalization)}")
    if method.name == "richardson_lucy" and normalization.kind == "scale" \
            and normalization.offset < 0:
        warnings.warn(signed_rl_note(normalization.offset), stacklevel=2)
    out_dtype = np.dtype(np.float32 if tiling_spec.output_dtype == "float32" else image.dtype)
    return PreparedDeblur(image, method, layout, normalization, options, out_dtype)


def split_options(method="auto", *, psf=None, iterations: int | str = AUTO_ITERATIONS,
                  balance: float | str = AUTO_BALANCE,
                  tv_weight: float = 0.0, weights: str | None = None, precision: str = "auto",
                  modality: str = "auto", tile=None, overlap=None, window: str = "cosine",
                  device="auto", output_dtype: str = "float32", batch_size: int = 1,
                  noise_scale: float = 1.0):
    """Keyword options (the ``iter_deblur`` form) -> (method, TilingSpec). A name becomes a
    MethodSpec; a Method or network is passed through."""
    if isinstance(method, str):
        method = MethodSpec(method, psf=psf, iterations=iterations, balance=balance,
                            tv_weight=tv_weight, weights=weights, precision=precision,
                            modality=modality, noise_scale=noise_scale)
    elif isinstance(method, torch.nn.Module):
        method = network_method(method, precision=precision)
    return method, TilingSpec(tile=tile, overlap=overlap, window=window, batch_size=batch_size,
                              device=device, output_dtype=output_dtype)


def iter_deblur(image, *, method, axes: str | None = None, normalization=None, out=None,
                **options) -> Generator[DeblurProgress, None, DeblurResult]:
    """``prepare_deblur(...).iter_run(out)`` with the options as keywords (see
    ``split_options``). Every argument is checked when this is called, before any work."""
    spec, tiling_spec = split_options(method, **options)
    prepared = prepare_deblur(image, axes, spec, tiling_spec, normalization=normalization)
    return prepared.iter_run(out)


def deblur(image, *, method, **kwargs) -> np.ndarray:
    """Blocking twin of ``iter_deblur``: returns the deblurred array."""
    return drive(iter_deblur(image, method=method, **kwargs)).image


# ----------------------------------------------------------------------------- the run


def _to_model_units(norm: Normalization, block: np.ndarray) -> np.ndarray:
    x = norm.apply(block)
    if not np.all(np.isfinite(x)):
        raise ValueError("image contains NaN or Inf pixels; replace them (e.g. np.nan_to_num)")
    return x


def _to_output_units(norm: Normalization, block: np.ndarray, dtype: np.dtype) -> np.ndarray:
    y = norm.undo(block)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.clip(np.rint(y), info.min, info.max).astype(dtype)
    return y.astype(dtype, copy=False)


def _run(
    image, out, out_dtype, method: Method, norm: Normalization, layout: Layout,
    options: TileOptions,
) -> Generator[DeblurProgress, None, DeblurResult]:
    """The work of iter_deblur, once its arguments are checked; retries smaller tiles on OOM."""
    tile_now = options.tile
    planes = layout.planes
    while True:
        plan = tiling.plan_tiles(
            layout.spatial_shape, tile_now, options.overlap, size_divisor=method.size_divisor
        )
        total = len(plan) * len(planes)
        once = len(plan) > 1 and tiling.holds_plane(image, layout.spatial_shape, layout.channels)
        try:
            done = 0
            for plane in planes:
                read = lambda sl, plane=plane: layout.read(image, plane, sl)  # noqa: E731
                steps = tiling.iter_tiled_apply(
                    method.forward,
                    tiling.read_once(read, layout.spatial_shape) if once else read,
                    lambda sl, block, plane=plane: layout.write(
                        out, plane, sl, _to_output_units(norm, block, out_dtype)
                    ),
                    plan,
                    channels=layout.channels,
                    out_channels=method.out_channels or layout.channels,
                    window=options.window,
                    halo=method.halo,
                    batch_size=options.batch_size,
                    device=options.device,
                    prepare=lambda block: _to_model_units(norm, block),
                )
                for step in steps:
                    done += 1
                    yield DeblurProgress(done, total, plane, step.tile)
            break
        except Exception as error:  # noqa: BLE001 - only out-of-memory is retried
            smaller = tuple(max(method.size_divisor, t // 2) for t in tile_now)
            if not tiling.is_out_of_memory(error) or smaller == tile_now or any(
                s <= max(o, 2 * method.halo) for s, o in zip(smaller, options.overlap)
            ):
                raise
            if options.device.type == "cuda":
                torch.cuda.empty_cache()
            tile_now = smaller  # start again with smaller tiles
    return DeblurResult(
        image=out,
        method=method.name,
        axes=layout.axes,
        normalization=norm,
        # the tile grid's starts follow the divisor (a result's tile-grid overlay needs it)
        parameters=dict(method.parameters, **({"size_divisor": method.size_divisor}
                                              if method.size_divisor > 1 else {})),
        tile=plan.tile,
        overlap=plan.overlap,
        device=str(options.device),
    )


def _run_rgba(prepared: PreparedDeblur, out) -> Generator[DeblurProgress, None, DeblurResult]:
    """``_run`` on the colours (or gray) of an image with alpha into those of ``out``; then
    its alpha, the last sample."""
    result = yield from _run(prepared.image, colour_part(out, prepared.axes),
                             prepared.output_dtype, prepared.method, prepared.normalization,
                             prepared.layout, prepared.options)
    alpha = prepared.shape[prepared.axes.index("S")] - 1
    copy_sample(prepared.rgba, out, prepared.axes, alpha, prepared.output_dtype)
    return replace(result, image=out)
