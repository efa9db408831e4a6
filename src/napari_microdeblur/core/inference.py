"""Deblur an image of any size and layout: axes, normalisation, device, dtype, tiling.

A deblur is prepared once, ``prepare_deblur(image, axes, MethodSpec(...), TilingSpec(...))``:
every argument is checked, the method resolved and the normalisation computed, before any
work and before an output exists. ``PreparedDeblur.iter_run()`` is then the generator that
yields a ``DeblurProgress`` per tile and returns a ``DeblurResult``. The CLI, the docks, the
cluster path, selective deblurring and batch files all go through it.

``iter_deblur`` and ``deblur`` are the keyword-argument forms of the same thing. Inputs may be
numpy arrays, memory-mapped arrays, dask/zarr arrays and ``io.TiffArray``; never modified."""

from __future__ import annotations

import warnings
from collections.abc import Generator
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from . import inference_lazy, io, notes, tiling, total_check
from .array_inputs import not_an_array
from .axes import (
    Layout,
    check_axes,
    colour_part,
    copy_sample,
    dims_axes,
    guess_axes,
    guess_note,
    has_alpha,
    is_rgb,
    is_rgba,
    z_run_note,
)
from .bundled import auto_method_name
from .channel_psfs import prepare_channels, run_channels
from .deblur_notes import (
    ALPHA_NOTE,
    GRAY_ALPHA_NOTE,
    signed_rl_note,
    small_tile_note,
    warnings_after_success,
)
from .devices import release_cached, resolve_device
from .flat_planes import flat_note, flat_values, write_flat
from .foreign_keywords import check_normalization, foreign_keywords_said
from .image_settings import note_gray_auto, output_dtype_word, spec_for_image
from .inference_settings import auto_unused_message
from .memory import check_result_fits
from .method import (
    CLASSICAL_METHODS,
    DEFAULT_TILE,
    PRECISIONS,
    Method,
    MethodSpec,
    NetworkRunner,
    auto_precision,
    classical_method,
    network_method,
    resolve_method,
)
from .options import AUTO_BALANCE, AUTO_ITERATIONS
from .output_cast import counted_steps
from .plateaus import plateau_note
from .progress import DeblurProgress, DeblurResult, drive
from .psf_file import warn_unscaled_psf_files
from .psf_fit import check_psf_model_fits, fit_psf_to_image_of
from .recent_models import RECENT_MODELS, RecentModels
from .sample_axis import given_axes
from .saturation import clip_and_record, clipped_forward, clips, percentile_range
from .tile_options import TileOptions, tile_options
from .tile_retry import RunTiles
from .tiling_spec import OUTPUT_DTYPES, TilingSpec

__all__ = [
    "CLASSICAL_METHODS", "DEFAULT_TILE", "OUTPUT_DTYPES", "PRECISIONS", "STATS_MAX_ELEMENTS",
    "DeblurProgress", "DeblurResult", "Method", "MethodSpec", "NetworkRunner", "Normalization",
    "PreparedDeblur", "RECENT_MODELS", "RecentModels", "TilingSpec", "WEIGHTS_SUFFIXES",
    "as_method", "auto_method_name", "auto_precision", "check_axes", "check_image", "check_out",
    "classical_method", "compute_normalization", "deblur", "drain", "guess_axes", "image_array",
    "iter_deblur", "network_method", "prepare_deblur", "resolve_device", "resolve_method",
    "split_options",
]

STATS_MAX_ELEMENTS = 4_000_000
#: The most planes (Z, T) the normalisation's sample reads of a stack
STATS_MAX_PLANES = 64
drain = drive  # the name the tests and benchmarks know
#: what a weights file's name ends with: given as method=, it is refused with weights= named
WEIGHTS_SUFFIXES = (".safetensors", ".pt", ".pth", ".zip")


# ----------------------------------------------------------------------------- normalisation


@dataclass(frozen=True)
class Normalization:
    """x_model = (x - offset) / scale; undone on the way out. Stored with every result."""

    offset: float
    scale: float
    kind: str = "percentile"
    low: float = 0.1
    high: float = 99.9
    isolated: float = field(default=0.0, compare=False)  # left out as hot/dead: saturation

    def apply(self, x: np.ndarray) -> np.ndarray:
        """``x`` in model units, float32; worked in float64 where float32 loses ``x``."""
        if self.kind == "none":
            return x.astype(np.float32)
        t = tiling.work_type(x.dtype)
        return tiling.map_in_pieces(x, np.float32, lambda p: np.divide(
            np.subtract(p, t(self.offset), out=p), t(self.scale), out=p), t)

    def undo(self, x: np.ndarray, dtype=np.float32) -> np.ndarray:
        """``x`` (model units) in the image's units as ``dtype`` (``tiling.work_type``); an
        integer one rounded and clipped to its range (``tiling.map_in_pieces``)."""
        # float16 goes through map_in_pieces: clipped to its range and counted (ringing
        # past 65504 had become inf)
        if self.kind == "none" and np.dtype(dtype).kind == "f" and np.dtype(dtype).itemsize >= 4:
            return x.astype(dtype, copy=False)
        scale, offset = (1, 0) if self.kind == "none" else (self.scale, self.offset)
        # float64 where the scale nears float32's top: a 1e300 image had become all inf
        t = tiling.work_type(dtype, scale, offset)
        return tiling.map_in_pieces(x, dtype, lambda p: np.add(
            np.multiply(p, t(scale), out=p), t(offset), out=p), t)


def _sample_key(image, axes: str) -> tuple:
    """The index ``_stats_sample`` reads ``image`` with (its lone pixels are checked there)."""
    return inference_lazy.sample_key(image, axes, STATS_MAX_ELEMENTS, STATS_MAX_PLANES)


def _stats_sample(image, axes: str, whole: np.ndarray | None = None) -> np.ndarray:
    """``inference_lazy.stats_sample`` under this module's limits (``whole``: read already)."""
    return inference_lazy.stats_sample(image, axes, STATS_MAX_ELEMENTS, STATS_MAX_PLANES, whole)


def compute_normalization(image, axes: str, kind: str, low=0.1, high=99.9) -> Normalization:
    return _normalization_of(_stats_sample(image, axes), kind, low, high, axes, image.shape)


def _normalization_of(sample: np.ndarray, kind: str, low, high, axes=None,
                      shape=None) -> Normalization:
    """``compute_normalization`` of ``_stats_sample``, in float64 where float32 loses it;
    "percentile" leaves isolated hot or dead pixels out (``saturation.percentile_range``)."""
    if tiling.work_type(sample.dtype) is np.float32:  # as before; wider ones left as they are
        sample = sample.astype(np.float32, copy=False)
    if sample.dtype.kind == "f" and not np.all(np.isfinite(sample)):
        raise io.nonfinite_error(sample, sample.shape if shape is None else shape)
    if kind == "none":
        return Normalization(0.0, 1.0, kind="none", low=0.0, high=100.0)
    if kind in ("scale", "shift"):  # shift: by the minimum always (``Method.shift_invariant``)
        least = float(np.min(sample))
        if least < 0 or kind == "shift":
            # Richardson-Lucy needs x >= 0 and clamped negatives to 0, which raised the mean of
            # background-subtracted images: shift by the minimum instead (undone on the way out)
            span = float(np.max(sample)) - least
            return Normalization(least, span if span > 0 else 1.0, kind=kind, low=0.0,
                                 high=100.0)
        top = float(np.max(np.abs(sample)))
        return Normalization(0.0, top if top > 0 else 1.0, kind="scale", low=0.0, high=100.0)
    lo, scale, isolated = percentile_range(sample, low, high, axes, shape)
    return Normalization(lo, scale, kind="percentile", low=low, high=high, isolated=isolated)


# ----------------------------------------------------------------------------- preparing


def check_image(image) -> None:
    """An array-like of real intensities with more than one pixel, or TypeError/ValueError.
    A torch tensor is refused here: ``image_array`` turns a CPU one into numpy first."""
    if isinstance(image, torch.Tensor):
        raise TypeError("image is a torch tensor; pass image.detach().cpu().numpy()")
    if not all(hasattr(image, a) for a in ("shape", "dtype", "__getitem__")):
        raise TypeError(not_an_array(image))  # a napari layer: pass its .data
    dtype = np.dtype(image.dtype)
    if dtype.kind in "cbOUSV" or dtype == np.bool_:
        raise TypeError(
            f"image has dtype {dtype}; give real-valued intensities (integer or float), not "
            "complex, boolean or object data (a mask or label image: convert a copy first, "
            "e.g. image.astype(np.uint8) in Python, or save it as 8-bit in Fiji)"
        )
    if np.ma.is_masked(image):  # the run would read the values under the mask
        raise TypeError(f"image is a masked array with {np.ma.count_masked(image)} masked pixels, "
                        "which a deblur cannot leave out: fill them first, e.g. "
                        "image.filled(np.ma.median(image))")
    if int(np.prod(image.shape)) <= 1:
        raise ValueError(f"image with shape {tuple(image.shape)} is empty or a single pixel")


def image_array(image):
    """``image``, a CPU torch tensor as the numpy array sharing its memory (never written: the
    input is not modified); anything else as it is. A tensor on another device, or of a dtype
    numpy lacks (bfloat16), is refused in one line."""
    if not isinstance(image, torch.Tensor):
        return image
    if image.device.type == "meta":  # shapes only: .cpu() cannot copy it either
        raise TypeError("image is a torch tensor on the meta device, which holds no values; "
                        "pass one on the CPU with its pixels")
    if image.device.type != "cpu":
        raise TypeError(f"image is a torch tensor on {image.device}; pass "
                        "image.detach().cpu().numpy()")
    if image.dtype in (torch.bfloat16, torch.float8_e4m3fn, torch.float8_e5m2):
        raise TypeError(f"image is a {image.dtype} tensor, which numpy cannot hold; pass "
                        "image.float().numpy()")
    return image.detach().resolve_conj().resolve_neg().numpy()


def check_out(out, shape, output_dtype, input_dtype) -> None:
    """A given ``out`` has ``shape``, a dtype that holds ``output_dtype`` and can be written,
    or TypeError/ValueError; run before any work (a read-only one failed after a tile)."""
    shape, output_dtype = tuple(shape), np.dtype(output_dtype)
    if tuple(out.shape) != shape:
        raise ValueError(f"out has shape {tuple(out.shape)}; expected {shape}")
    if not np.can_cast(output_dtype, np.dtype(out.dtype), "safe"):
        # float results written into an integer out wrapped (negative ringing -> 65535)
        raise TypeError(
            f"out has dtype {np.dtype(out.dtype)} but the output is {output_dtype}; "
            f"give out of dtype {output_dtype}"
            + ("" if output_dtype == np.dtype(input_dtype) else
               ", or output_dtype='input' for the input's dtype"))
    flags = getattr(out, "flags", None)
    if (flags is not None and not flags.writeable) or getattr(out, "read_only", False):
        raise ValueError(f"out is read-only ({type(out).__name__}); give a writable array: "
                         "np.empty, np.lib.format.open_memmap(PATH, mode='w+', ...) or a zarr "
                         "array opened with mode='w' or 'r+'")


def unaliased(image, out):
    """``image``, copied where ``out`` shares its memory other than as the very same view:
    ``out=image`` is written tile by tile after each is read, but ``out=image[::-1]``
    overwrote planes before they were read (Richardson-Lucy up to 78 grey levels off)."""
    if not (isinstance(image, np.ndarray) and isinstance(out, np.ndarray)
            and np.may_share_memory(image, out)):
        return image
    same = (image.__array_interface__["data"][0] == out.__array_interface__["data"][0]
            and image.strides == out.strides and image.dtype == out.dtype)
    return image if same else image.copy()


def as_method(method, axes: str, shape, models=None) -> Method:
    """A MethodSpec (checked, then resolved for this image, its network taken from ``models``,
    a ``checkpoint.ModelCache``, where given), a Method or a network -> Method. The spec is
    the one ``spec_for_image`` settled: 'auto' given iterations is refused where it stayed
    'auto' (a network), not Richardson-Lucy in 3D."""
    if isinstance(method, MethodSpec):
        spec = fit_psf_to_image_of(method.check(), axes, shape)
        if refusal := auto_unused_message(spec, is_rgb(axes, shape)):
            raise ValueError(refusal)  # settled: 'auto' given iterations stayed a network
        return spec.resolve(rgb=is_rgb(axes, shape), models=models)
    return resolve_method(method)


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
    # (image, its values) read whole for the normalisation, for the next run's tiles
    # (``inference_lazy``); a copy made by ``replace`` with another image does not use it
    held: tuple | None = field(default=None, repr=False, compare=False)

    @property
    def axes(self) -> str:
        return self.layout.axes

    @property
    def shape(self) -> tuple[int, ...]:
        return self.layout.shape if self.rgba is None else tuple(map(int, self.rgba.shape))

    @notes.said_at_caller  # its warnings at the caller's line, not this package's
    def iter_run(self, out=None) -> Generator[DeblurProgress, None, DeblurResult]:
        """The deblur, tile by tile, into ``out`` (a writable array of the image's shape and
        the output dtype; a new numpy array when None). Checks ``out`` before any work."""
        if out is None:
            # np.empty reserves no pages: an output past the host's memory would fail only
            # once the run had filled most of it
            check_result_fits(self.shape, self.output_dtype)
            out = np.empty(self.shape, dtype=self.output_dtype)
        else:
            check_out(out, self.shape, self.output_dtype, self.image.dtype)
        held, self.held = self.held, None  # a kept PreparedDeblur holds no plane after
        image = held[1] if held is not None and held[0] is self.image else self.image
        if self.rgba is not None:
            steps = _run_rgba(self, image, out)
        elif self.channel_runs:
            steps = run_channels(self, out)
        else:
            steps = total_check.noted(_run, self, image, out)  # its total said where moved
        # every plane and channel cast to an integer type counted in one line, not one each
        return counted_steps(steps)

    def run(self, out=None, callback=None) -> DeblurResult:
        """Blocking ``iter_run``; ``callback`` receives each DeblurProgress."""
        return drive(self.iter_run(out), callback)


@notes.said_at_caller
def prepare_deblur(
    image,
    axes: str | None = None,
    method: MethodSpec | Method | torch.nn.Module | None = None,
    tiling_spec: TilingSpec | None = None,
    *,
    normalization: Normalization | None = None,
    models=None,
    channel_psfs=None,
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
    (``GRAY_ALPHA_NOTE``). A PSF per channel ('A;B') runs ``core.channel_psfs``; RGB with three
    identical channels runs as grey (``core.grey_rgb``). A CPU torch tensor is read as numpy."""
    image = image_array(image)
    check_image(image)
    shape = tuple(int(s) for s in image.shape)
    axes = axes if axes is not None else dims_axes(image, shape)  # an xarray's ('c', 'y', 'x')
    guessed, axes = axes is None, given_axes(axes, shape, method)  # CARE's S said as such
    if guessed and (note := guess_note(shape, axes, "give axes={0!r}")):
        warnings.warn(note, notes.DeblurWarning, stacklevel=2)  # (2, Y, X): planes or channels?
    if (per_channel := prepare_channels(image, axes, method, tiling_spec,
                                        normalization=normalization, models=models,
                                        psfs=channel_psfs)):
        return per_channel
    if has_alpha(axes, shape):
        prepared = prepare_deblur(colour_part(image, axes), axes, method, tiling_spec,
                                  normalization=normalization, models=models)
        note = ALPHA_NOTE if is_rgba(axes, shape) else GRAY_ALPHA_NOTE  # after its lines
        warnings.warn(note, notes.DeblurNote, stacklevel=2)
        return replace(prepared, rgba=image)
    from .grey_rgb import prepare_grey_rgb  # here: it subclasses PreparedDeblur
    if grey := prepare_grey_rgb(image, axes, method, tiling_spec, normalization, models):
        return grey
    method, sample, whole = MethodSpec() if method is None else method, None, None
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
        if guessed and (note := z_run_note(shape, layout, method.name, "give axes={0!r}")):
            warnings.warn(note, notes.DeblurWarning, stacklevel=2)  # a time series run in 3D?
        options = tile_options(method, layout, tiling_spec)
        if tiling_spec.tile is not None and (note := small_tile_note(
                method, layout, options, tiling_spec.tile)):
            warnings.warn(note, notes.DeblurWarning, stacklevel=2)
        if normalization is None:  # inside: an image with NaNs gives its error alone
            # read once: the clip check below counts its pixels too, the tiles slice ``whole``
            whole = inference_lazy.read_whole(image, layout)
            sample = _stats_sample(image, axes, whole)
            normalization = _normalization_of(sample, method.normalization_kind,
                                              *method.percentiles, axes, shape)
    check_normalization(normalization)  # CARE's 'percentile' or (1, 99.8): the call to make
    if method.name == "richardson_lucy" and normalization.kind == "scale" \
            and normalization.offset < 0:
        warnings.warn(signed_rl_note(normalization.offset), notes.DeblurNote, stacklevel=2)
    if clips(method, normalization) and (sample is not None or not method.is_classical):
        if sample is None:
            whole = inference_lazy.read_whole(image, layout)
            sample = _stats_sample(image, axes, whole)
        method = clip_and_record(sample, image.shape, method, normalization, axes,
                                 image if whole is None else whole, _sample_key(image, axes))
    if sample is not None and (note := plateau_note(sample, axes, method.name)):
        warnings.warn(note, notes.DeblurNote, stacklevel=2)  # clipping, not the PSF, may ring
    out_dtype = np.dtype(np.float32 if tiling_spec.output_dtype == "float32" else image.dtype)
    return PreparedDeblur(image, method, layout, normalization, options, out_dtype,
                          held=None if whole is None else (image, whole))


def split_options(method="auto", *, psf=None, iterations: int | str = AUTO_ITERATIONS,
                  balance: float | str = AUTO_BALANCE,
                  tv_weight: float = 0.0, weights: str | None = None, precision: str = "auto",
                  modality: str = "auto", tile=None, overlap=None, window: str = "cosine",
                  device="auto", output_dtype: str = "float32", batch_size: int = 1,
                  noise_scale: float = 1.0):
    """Keyword options (the ``iter_deblur`` form) -> (method, TilingSpec). A name becomes a
    MethodSpec; a Method or network is passed through."""
    given = dict(psf=psf, iterations=iterations, balance=balance, tv_weight=tv_weight,
                 weights=weights, precision=precision, modality=modality,
                 noise_scale=noise_scale)
    if isinstance(method, str):
        if method.lower().endswith(WEIGHTS_SUFFIXES) or "/" in method or "\\" in method:
            raise ValueError(f"method={method!r} is a file: give weights={method!r} (with "
                             "method='auto'; a .pt/.pth state dict with its architecture, e.g. "
                             "method='gran')")
        method = MethodSpec(method, **given)
    else:  # a spec, Method or network holds its own settings: one given beside it was lost
        defaults = MethodSpec()
        lost = [k for k, v in given.items() if v != getattr(defaults, k)
                and not (k == "precision" and isinstance(method, torch.nn.Module))]
        if lost:
            shown = ", ".join(f"{k}={given[k]!r}" for k in lost)
            raise TypeError(f"{shown} beside method={type(method).__name__}(...), which "
                            "holds its own settings: give them in it (MethodSpec(..., "
                            f"{lost[0]}=...)) or pass the method's name")
        if isinstance(method, torch.nn.Module):
            method = network_method(method, precision=precision)
    return method, TilingSpec(tile=tile, overlap=overlap, window=window, batch_size=batch_size,
                              device=device, output_dtype=output_dtype)


@foreign_keywords_said  # CSBDeep's n_tiles=, normalizer=: what to give here
@notes.said_at_caller
def iter_deblur(image, *, method, axes: str | None = None, normalization=None, out=None,
                models=None, **options) -> Generator[DeblurProgress, None, DeblurResult]:
    """Generator twin of ``deblur``, with its keywords (listed in ``help(deblur)``; the
    ``split_options`` names): a ``DeblurProgress`` per tile, then returns the ``DeblurResult``
    (``image``, ``method`` that ran, ``normalization``, ``tile`` (the last used: smaller where
    memory ran out, a note says from which plane) ...; ``core.progress.drive`` runs it to the
    end and returns it). Every argument is checked when this is called, before
    any work; ``out`` (and the memory an in-memory result needs) before the image is read."""
    image = image_array(image)
    check_image(image)
    if normalization is not None:  # before a network loads: CARE's (1, 99.8) said at once
        check_normalization(normalization)
    if "output_dtype" in options:  # np.float32 or the input's own dtype, as their names
        options["output_dtype"] = output_dtype_word(options["output_dtype"], image.dtype)
    spec, tiling_spec = split_options(method, **options)
    tiling_spec.check()
    # before the image is read (an automatic balance or PSF search can take a while)
    out_dtype = np.dtype(np.float32 if tiling_spec.output_dtype == "float32" else image.dtype)
    if out is None:
        check_result_fits(image.shape, out_dtype, caller="python")
    else:
        check_out(out, tuple(int(n) for n in image.shape), out_dtype, image.dtype)
        image = unaliased(image, out)
    models = RECENT_MODELS.on(tiling_spec.device) if models is None else models
    prepared = prepare_deblur(image, axes, spec, tiling_spec, normalization=normalization,
                              models=models)
    note_gray_auto(spec, prepared.method.name, prepared.axes, prepared.shape, image.dtype)
    warn_unscaled_psf_files(spec.psf if isinstance(spec, MethodSpec) else None)  # no voxels
    return prepared.iter_run(out)


# the defaults ``deblur`` shows are the specs' own fields, so they cannot drift from them
_METHOD_DEFAULTS = MethodSpec()
_TILING_DEFAULTS = TilingSpec()


@foreign_keywords_said
def deblur(
    image, *, method, modality: str = _METHOD_DEFAULTS.modality, axes: str | None = None,
    tile=_TILING_DEFAULTS.tile, overlap=_TILING_DEFAULTS.overlap,
    window: str = _TILING_DEFAULTS.window, device=_TILING_DEFAULTS.device,
    psf=_METHOD_DEFAULTS.psf, iterations: int | str = _METHOD_DEFAULTS.iterations,
    balance: float | str = _METHOD_DEFAULTS.balance,
    tv_weight: float = _METHOD_DEFAULTS.tv_weight, weights: str | None = _METHOD_DEFAULTS.weights,
    output_dtype: str | np.dtype | type = _TILING_DEFAULTS.output_dtype,
    batch_size: int = _TILING_DEFAULTS.batch_size, precision: str = _METHOD_DEFAULTS.precision,
    noise_scale: float = _METHOD_DEFAULTS.noise_scale, normalization=None, out=None, models=None,
) -> np.ndarray:
    """The deblurred array of ``image`` (numpy-like or CPU tensor), of its shape; blocking
    twin of ``iter_deblur``, which takes the same keywords.

    ``output_dtype='float32'`` (or ``np.float32``): float32 in the input's units but not its
    range: deconvolution rings, so values can be negative or exceed what the input's dtype
    holds (Wiener on uint8 EM gave -168..392; skimage's ``img_as_ubyte`` refuses it).
    ``'input'`` (or the input's numpy dtype): rounded and clipped to the input's dtype.

    ``method``: a name ('auto', 'wiener', 'richardson_lucy', a bundled network such as
    'gran.em_v1'), a ``MethodSpec``, a ``Method`` or a network; the method keywords (``psf``,
    ``iterations``, ``balance``, ``tv_weight``, ``weights``, ``precision``, ``modality``,
    ``noise_scale``) apply to a name, as ``MethodSpec`` fields. 'auto' without a PSF runs the
    network of ``modality`` ('em', 'fluorescence', 'brightfield'; 'auto': RGB brightfield,
    grayscale fluorescence, with a DeblurNote: EM needs ``modality='em'``). ``axes`` e.g. 'ZYX'
    (None: guessed); ``tile``, ``overlap`` (None: the method's own), ``window``,
    ``batch_size``, ``device`` are ``TilingSpec`` fields. ``normalization``: a fixed
    ``Normalization`` (None: computed over the image); ``out``: a writable array to fill;
    ``models``: a ``checkpoint.ModelCache`` (None: ``RECENT_MODELS``)."""
    options = dict(modality=modality, tile=tile, overlap=overlap, window=window, device=device,
                   psf=psf, iterations=iterations, balance=balance, tv_weight=tv_weight,
                   weights=weights, output_dtype=output_dtype, batch_size=batch_size,
                   precision=precision, noise_scale=noise_scale)
    return drive(iter_deblur(image, method=method, axes=axes, normalization=normalization,
                             out=out, models=models, **options)).image


# ----------------------------------------------------------------------------- the run


def _to_model_units(norm: Normalization, block: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(x := norm.apply(block))):
        raise io.nonfinite_error(x, None)  # a tile's count: the rest is unread
    return x


_to_output_units = Normalization.undo  # (norm, block, dtype); a name tests can wrap


def _run(
    image, out, out_dtype, method: Method, norm: Normalization, layout: Layout,
    options: TileOptions,
) -> Generator[DeblurProgress, None, DeblurResult]:
    """The work of iter_deblur, once its arguments are checked. Out of memory, the plane that
    failed and the planes after it run with smaller tiles; those before it are kept
    (``core.tile_retry``), a note says where, and the result's ``tile`` is the last used."""
    planes = layout.planes
    # the package's methods (a Method of one's own forward runs as given, e.g. x * 2)
    passes_flat = (method.is_classical or isinstance(method.forward, NetworkRunner)) and (
        method.out_channels or layout.channels) == layout.channels
    tiles = RunTiles.planned(image, layout, options.tile, options.overlap, halo=method.halo,
                             size_divisor=method.size_divisor, passes_flat=passes_flat)
    done, total, flat = 0, len(tiles.plan) * len(planes), 0
    for index, plane in enumerate(planes):
        first, counts = done, tiles.fill_counts()  # where this plane starts again from
        while True:
            try:
                read = tiles.reader(plane)
                if passes_flat and (values := flat_values(read, layout.spatial_shape,
                                                          tiles.edges)) is not None:
                    # no blur to undo: a network's bias would add values
                    write_flat(layout, out, plane, values, out_dtype, layout.channels)
                    flat += 1
                    steps = iter(tiles.plan.tiles)
                else:
                    steps = _plane_steps(read, out, out_dtype, method, norm, layout, options,
                                         tiles, plane)
                for tile in steps:
                    done += 1
                    yield DeblurProgress(done, total, plane, tile)
                break
            except Exception as error:  # noqa: BLE001 - only out-of-memory is retried
                smaller = tiles.smaller(error, counts, index)
                if smaller is None:
                    raise
            # out of the except block: its traceback held the failed attempt's frames (the
            # batch, the merge rows, the activations), so the cache emptied in there freed
            # nothing
            tiles = smaller
            release_cached(options.device)
            done, total = first, first + len(tiles.plan) * (len(planes) - index)
    word = "channels" if layout.loop_axes == ("S",) else "planes"
    # the retry's note says where the tile changed: the result's ``tile`` is the last alone
    for note in (flat_note(flat, len(planes), word), tiles.fills.note(len(planes)),
                 tiles.note(len(planes), word)):
        if note:
            warnings.warn(note, notes.DeblurNote, stacklevel=2)
    return DeblurResult(
        image=out, method=method.name, axes=layout.axes, normalization=norm,
        # the tile grid's starts follow the divisor (a result's tile-grid overlay needs it)
        parameters=dict(method.parameters, **({"size_divisor": method.size_divisor}
                                              if method.size_divisor > 1 else {})),
        tile=tiles.plan.tile, overlap=tiles.plan.overlap, device=str(options.device))


def _plane_steps(read, out, out_dtype, method: Method, norm: Normalization, layout: Layout,
                 options: TileOptions, tiles, plane):
    """The tiles of one plane that is not flat (a ``Tile`` each as it is merged), its edge
    fill's values written back at the end."""
    forward = clipped_forward(method.forward) if clips(method, norm) else method.forward
    # shown each plane before its tiles (a PSF-aware network's noise level: core.psf_aware)
    if (start_plane := getattr(method.forward, "start_plane", None)) is not None:
        start_plane(read, layout.spatial_shape, lambda b: _to_model_units(norm, b),
                    device=options.device, tiles=len(tiles.plan.tiles), forward=forward)
    steps = tiling.iter_tiled_apply(
        forward, read,
        lambda sl, block: layout.write(out, plane, sl, _to_output_units(norm, block, out_dtype)),
        tiles.plan, channels=layout.channels,
        out_channels=method.out_channels or layout.channels, window=options.window,
        halo=method.halo, batch_size=options.batch_size, device=options.device,
        prepare=lambda block: _to_model_units(norm, block),
    )
    for step in steps:
        yield step.tile
    tiles.fills.restore(out, plane, out_dtype)


def _run_rgba(prepared: PreparedDeblur, image, out) -> Generator[DeblurProgress, None,
                                                                  DeblurResult]:
    """``_run`` on ``image``, the colours (or gray) of an image with alpha (``prepared.image``
    or its values), into ``out``'s; then its alpha."""
    result = yield from _run(image, colour_part(out, prepared.axes),
                             prepared.output_dtype, prepared.method, prepared.normalization,
                             prepared.layout, prepared.options)
    copy_sample(prepared.rgba, out, prepared.axes, prepared.shape[prepared.axes.index("S")] - 1,
                prepared.output_dtype)
    return replace(result, image=out)
