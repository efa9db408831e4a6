"""Deblur an image of any size and layout: axes, normalisation, device, dtype, tiling.

``iter_deblur`` is a generator that yields a ``DeblurProgress`` per tile and returns a
``DeblurResult``; ``deblur`` is its blocking twin. Both accept numpy arrays, memory-mapped
arrays, dask/zarr arrays and ``io.TiffArray``; the input is never modified.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from . import tiling

CLASSICAL_METHODS = ("richardson_lucy", "wiener")
OUTPUT_DTYPES = ("float32", "input")
DEFAULT_TILE = {2: 256, 3: 64}
STATS_MAX_ELEMENTS = 4_000_000


# ----------------------------------------------------------------------------- device


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' picks CUDA, then Apple MPS, then the CPU; other names are checked."""
    if isinstance(device, torch.device):
        return device
    name = str(device).lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r}: CUDA is not available here; use 'auto' or 'cpu'")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={device!r}: Apple MPS is not available here; use 'auto' or 'cpu'")
    if not (name == "cpu" or name == "mps" or name.startswith("cuda")):
        raise ValueError(f"device={device!r} is not one of 'auto', 'cpu', 'cuda', 'cuda:N', 'mps'")
    return torch.device(name)


# ----------------------------------------------------------------------------- axes


def guess_axes(shape: tuple[int, ...]) -> str:
    """A guess for arrays given without axes; pass ``axes`` explicitly when it is wrong."""
    ndim = len(shape)
    if ndim == 2:
        return "YX"
    if ndim == 3:
        return "YXS" if shape[-1] in (3, 4) else "ZYX"
    if ndim == 4:
        if shape[-1] in (3, 4):
            return "ZYXS"
        return "CZYX" if shape[0] <= 4 else "TZYX"
    if ndim == 5:
        return "TCZYX"
    raise ValueError(f"image has {ndim} dimensions (shape {shape}); give axes explicitly")


def check_axes(axes: str | None, shape: tuple[int, ...]) -> str:
    if axes is None:
        return guess_axes(shape)
    if not isinstance(axes, str):
        raise TypeError(f"axes must be a string such as 'ZYX', not {type(axes).__name__}")
    axes = axes.upper()
    if len(axes) != len(shape):
        raise ValueError(
            f"axes={axes!r} has {len(axes)} letters but the image has {len(shape)} dimensions "
            f"(shape {tuple(shape)})"
        )
    if set(axes) - set("TCZYXS") or len(set(axes)) != len(axes):
        raise ValueError(f"axes={axes!r}: use each of the letters T, C, Z, Y, X, S at most once")
    if "Y" not in axes or "X" not in axes:
        raise ValueError(f"axes={axes!r} must contain Y and X")
    if "C" in axes and "S" in axes:
        raise ValueError(f"axes={axes!r} has both C and S; use one channel axis")
    return axes


# ----------------------------------------------------------------------------- methods


@dataclass
class Method:
    """Anything the tiler can run: a batch (B, C, *tile) -> (B, C_out, *tile) on a device."""

    name: str
    forward: Callable[[torch.Tensor], torch.Tensor]
    spatial_dims: int = 2
    halo: int = 0  # pixels per side a tile's border is unreliable (the merge ignores them)
    overlap: int | None = None  # default tile overlap; None: 2 * halo
    size_divisor: int = 1
    in_channels: int | None = None  # None: any number, processed channel by channel
    out_channels: int | None = None
    # "percentile" (networks), "scale" (divide by the maximum: keeps zero, as the linear blur
    # model of deconvolution needs) or "none" (the method sees the input's own units)
    normalization: str = "percentile"
    percentiles: tuple[float, float] = (0.1, 99.9)  # for "percentile": the low/high cut-offs
    parameters: dict = field(default_factory=dict)
    default_tile: int | None = None

    @property
    def default_overlap(self) -> int:
        return self.overlap if self.overlap is not None else 2 * self.halo


def classical_method(
    name: str,
    psf: np.ndarray | str | None,
    *,
    iterations: int = 30,
    balance: float = 0.01,
    tv_weight: float = 0.0,
) -> Method:
    """Richardson-Lucy or Wiener with a given PSF, as a tileable Method."""
    from . import classical
    from .psf import parse_psf

    if psf is None:
        raise ValueError(
            f"method={name!r} needs a PSF: give psf= an array, a TIFF path, or a model such as "
            "'gaussian:1.6', 'disk:3', 'astig:2.5,0.8,30'"
        )
    spec = psf if isinstance(psf, str) else "array"
    kernel = parse_psf(psf) if isinstance(psf, str) else np.asarray(psf, dtype=np.float32)
    # deconvolution reaches beyond the PSF but decays: ignore a PSF radius at a tile's border
    # and blend over psf_halo pixels (see classical.psf_halo for the measurements)
    halo = max(k // 2 for k in kernel.shape)
    overlap = max(classical.psf_halo(kernel))
    kernel_t = torch.from_numpy(np.ascontiguousarray(kernel, dtype=np.float32))
    if name == "richardson_lucy":
        if int(iterations) < 1:
            raise ValueError(f"iterations={iterations} must be >= 1")

        def forward(x: torch.Tensor) -> torch.Tensor:
            return classical.richardson_lucy(
                x, kernel_t.to(x.device), iterations=int(iterations), tv_weight=tv_weight
            )

        parameters = {"psf": spec, "iterations": int(iterations), "tv_weight": tv_weight}
    elif name == "wiener":
        if not balance > 0:
            raise ValueError(f"balance={balance} must be > 0")

        def forward(x: torch.Tensor) -> torch.Tensor:
            return classical.wiener(x, kernel_t.to(x.device), balance=float(balance))

        parameters = {"psf": spec, "balance": float(balance)}
    else:
        raise ValueError(f"method={name!r} is not one of {CLASSICAL_METHODS}")
    return Method(
        name=name,
        forward=forward,
        spatial_dims=kernel.ndim,
        halo=halo,
        overlap=overlap,
        normalization="scale",
        parameters=parameters,
        default_tile=max(DEFAULT_TILE[kernel.ndim], 4 * overlap),
    )


PRECISIONS = ("auto", "float32", "bfloat16", "float16")


def auto_precision(device: torch.device) -> str:
    """bfloat16 on CPUs with bf16 units and on CUDA (measured: GRAN cpu_small 4x faster on this
    CPU, output within 61 dB PSNR of float32); float32 elsewhere (MPS, older CPUs)."""
    if device.type == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    if device.type == "cpu" and torch.backends.mkldnn.is_available():
        try:
            if torch.ops.mkldnn._is_mkldnn_bf16_supported():
                return "bfloat16"
        except (AttributeError, RuntimeError):
            pass
    return "float32"


class NetworkRunner:
    """Runs a network on batches of tiles: on the batch's device, channels-last, in the chosen
    precision under autocast, returning float32. The model is moved to the device once."""

    def __init__(self, model: torch.nn.Module, precision: str = "auto"):
        if precision not in PRECISIONS:
            raise ValueError(f"precision={precision!r} is not one of {PRECISIONS}")
        self.model = model.eval()
        self.precision = precision
        self._device: torch.device | None = None

    def resolved_precision(self, device: torch.device) -> str:
        return auto_precision(device) if self.precision == "auto" else self.precision

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self._device != x.device:
            # The tiler calls us inside inference mode: parameters moved or re-laid-out there
            # would become inference tensors, and the model could never be trained again
            # (fine-tuning after a preview, say).
            with torch.inference_mode(False):
                self.model.to(x.device)
                if x.ndim == 4:
                    self.model.to(memory_format=torch.channels_last)
            self._device = x.device
        if x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        precision = self.resolved_precision(x.device)
        with torch.inference_mode():
            if precision == "float32":
                y = self.model(x)
            else:
                dtype = getattr(torch, precision)
                with torch.autocast(x.device.type, dtype=dtype):
                    y = self.model(x)
            return y.float().contiguous()


def network_method(
    model: torch.nn.Module, name: str | None = None, card=None, *, precision: str = "auto"
) -> Method:
    """Wrap a network (with the attributes every registered architecture has) as a Method."""
    normalization = {"kind": "percentile", "low": 0.1, "high": 99.9}
    if card is not None and getattr(card, "normalization", None):
        normalization.update(card.normalization)
    runner = NetworkRunner(model, precision)
    return Method(
        name=name or type(model).__name__,
        forward=runner,
        spatial_dims=int(getattr(model, "spatial_dims", 2)),
        halo=int(getattr(model, "receptive_field", 0)),
        size_divisor=int(getattr(model, "size_divisor", 1)),
        in_channels=getattr(model, "in_channels", None),
        out_channels=getattr(model, "out_channels", None),
        normalization=normalization["kind"],
        percentiles=(float(normalization.get("low", 0.1)), float(normalization.get("high", 99.9))),
        parameters={
            "card": card.model_dump() if hasattr(card, "model_dump") else card,
            "precision": precision,
        },
    )


def resolve_method(
    method: str | Method | torch.nn.Module,
    *,
    psf=None,
    iterations: int = 30,
    balance: float = 0.01,
    tv_weight: float = 0.0,
    weights: str | None = None,
    precision: str = "auto",
) -> Method:
    """A method name, a Method, or a network -> a Method."""
    if isinstance(method, Method):
        return method
    if isinstance(method, torch.nn.Module):
        return network_method(method, precision=precision)
    if not isinstance(method, str):
        raise TypeError(f"method must be a name, a Method or a torch module, not {type(method)}")
    if method in CLASSICAL_METHODS:
        return classical_method(
            method, psf, iterations=iterations, balance=balance, tv_weight=tv_weight
        )
    try:
        from . import weights as weights_module
    except ImportError:
        weights_module = None
    if weights_module is None:
        raise ValueError(f"method={method!r} is not one of {CLASSICAL_METHODS}")
    if weights is not None:
        model, card = weights_module.load_model(weights, arch=method)
    else:
        model, card = weights_module.load_model(method)
    return network_method(model, name=method, card=card, precision=precision)


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
    """A strided subsample of at most ~STATS_MAX_ELEMENTS values, read without loading it all."""
    shape = image.shape
    stride = max(1, math.ceil((np.prod(shape) / STATS_MAX_ELEMENTS) ** (1 / 2)))
    key = tuple(slice(None, None, stride) if a in "YX" else slice(None) for a in axes)
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
        top = float(np.max(np.abs(sample)))
        return Normalization(0.0, top if top > 0 else 1.0, kind="scale", low=0.0, high=100.0)
    lo, hi = (float(v) for v in np.percentile(sample, [low, high]))
    if hi - lo <= 0:
        lo, hi = float(sample.min()), float(sample.max())
    scale = hi - lo if hi > lo else 1.0
    return Normalization(lo, scale, kind="percentile", low=low, high=high)


# ----------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class DeblurProgress:
    """Progress of a run: ``done`` of ``total`` tiles over all planes."""

    done: int
    total: int
    plane: tuple[int, ...]
    tile: tiling.Tile


@dataclass
class DeblurResult:
    image: object  # the output array (numpy, or the ``out`` that was given)
    method: str
    axes: str
    normalization: Normalization
    parameters: dict
    tile: tuple[int, ...]
    overlap: tuple[int, ...]
    device: str


def _check_image(image) -> None:
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


def _layout(axes: str, shape, method: Method):
    """Split axes into loop axes, the channel axis (if the model takes it), spatial axes."""
    spatial = "ZYX" if method.spatial_dims == 3 else "YX"
    if method.spatial_dims == 3 and "Z" not in axes:
        raise ValueError(f"method {method.name!r} is 3D but axes={axes!r} has no Z axis")
    channel = next((a for a in axes if a in "CS"), None)
    n_channels = shape[axes.index(channel)] if channel else 1
    if channel is None and method.in_channels not in (None, 1):
        raise ValueError(
            f"method {method.name!r} expects {method.in_channels} channels but axes={axes!r} "
            "has no channel axis (C, or S for RGB)"
        )
    # a model with a fixed channel count takes the channel axis whole; otherwise channels loop
    if channel and method.in_channels not in (None, n_channels):
        if method.in_channels == 1:
            channel = None  # each channel deblurred on its own
        else:
            raise ValueError(
                f"method {method.name!r} expects {method.in_channels} channels; the image's "
                f"{axes[axes.index(channel)]} axis has {n_channels}"
            )
    loop = [a for a in axes if a not in spatial and a != channel]
    return loop, channel, spatial


def iter_deblur(
    image,
    *,
    method: str | Method | torch.nn.Module,
    axes: str | None = None,
    tile: int | tuple[int, ...] | None = None,
    overlap: int | tuple[int, ...] | None = None,
    window: str = "cosine",
    device: str | torch.device = "auto",
    psf=None,
    iterations: int = 30,
    balance: float = 0.01,
    tv_weight: float = 0.0,
    weights: str | None = None,
    output_dtype: str = "float32",
    batch_size: int = 1,
    precision: str = "auto",
    normalization: Normalization | None = None,
    out=None,
) -> Generator[DeblurProgress, None, DeblurResult]:
    """Deblur ``image`` tile by tile: a generator of progress records that returns a DeblurResult.

    Every argument is checked when this is called, before any work, so bad input raises here
    rather than at the first ``next()``.

    2D methods run plane by plane over the axes that are not Y, X (or the channel axis a
    network takes whole). The output has the input's shape; ``output_dtype='float32'`` keeps
    the input's intensity units, ``'input'`` casts back to the input dtype, clipped to its range.
    ``out`` may be a writable array of that shape and dtype (a file-backed target, say).
    """
    _check_image(image)
    shape = tuple(int(s) for s in image.shape)
    axes = check_axes(axes, shape)
    if output_dtype not in OUTPUT_DTYPES:
        raise ValueError(f"output_dtype={output_dtype!r} is not one of {OUTPUT_DTYPES}")
    if window not in tiling.WINDOWS:
        raise ValueError(f"window={window!r} is not one of {tiling.WINDOWS}")
    if isinstance(method, str) and method == "auto":
        method = _default_method(axes, shape)
    method = resolve_method(
        method, psf=psf, iterations=iterations, balance=balance, tv_weight=tv_weight,
        weights=weights, precision=precision,
    )
    device = resolve_device(device)
    loop_axes, channel_axis, spatial_axes = _layout(axes, shape, method)
    spatial_shape = tuple(shape[axes.index(a)] for a in spatial_axes)
    if any(s < 2 for s in spatial_shape):
        raise ValueError(
            f"image is too small: spatial axes {spatial_axes} have size {spatial_shape}"
        )
    if tile is None:
        tile = method.default_tile or _default_network_tile(method, len(spatial_axes))
    footprint = 2 * method.halo + 1
    if method.name in CLASSICAL_METHODS and any(footprint > s for s in spatial_shape):
        raise ValueError(
            f"the PSF of {method.name!r} ({footprint} px) is larger than the image "
            f"{spatial_axes} {spatial_shape}"
        )
    tile_t = tiling._as_tuple(tile, len(spatial_axes), "tile")
    for t, size in zip(tile_t, spatial_shape):
        # an axis that fits in one tile has no seams, whatever the receptive field
        if t <= 2 * method.halo and size > t:
            raise ValueError(
                f"tile={tile} is smaller than the receptive field of {method.name!r} "
                f"({2 * method.halo + 1} px); use a tile of at least {2 * method.halo + 2}"
            )
    if overlap is None:  # the method's default, but never as large as a small tile
        overlap = tuple(min(method.default_overlap, max(2 * method.halo, t // 2)) for t in tile_t)
    overlap_t = tiling._as_tuple(overlap, len(spatial_axes), "overlap")
    for t, o in zip(tile_t, overlap_t):
        if o >= t:
            raise ValueError(f"overlap={overlap} must be smaller than tile={tile}")
    out_dtype = np.dtype(np.float32 if output_dtype == "float32" else image.dtype)
    if out is None:
        out = np.empty(shape, dtype=out_dtype)
    elif tuple(out.shape) != shape:
        raise ValueError(f"out has shape {tuple(out.shape)}; expected {shape}")
    if normalization is None:
        norm = compute_normalization(image, axes, method.normalization, *method.percentiles)
    elif isinstance(normalization, Normalization):
        norm = normalization  # fixed by the caller: chunks of one image share one scale
    else:
        raise TypeError(f"normalization must be a Normalization, not {type(normalization)}")
    layout = _Layout(axes, shape, loop_axes, channel_axis, spatial_axes)
    options = _TileOptions(tile_t, overlap_t, window, batch_size, device)
    return _run(image, out, out_dtype, method, norm, layout, options)


def _default_method(axes: str, shape: tuple[int, ...]) -> str:
    """method='auto': the bundled default network for the image's kind (RGB or grayscale)."""
    from .weights import default_weights_name

    rgb = "S" in axes and shape[axes.index("S")] == 3
    name = default_weights_name(rgb)
    if name is None:
        raise ValueError(
            "method='auto' needs bundled weights and none are installed; choose a method: "
            f"{', '.join(CLASSICAL_METHODS)} (with psf=...) or a network with weights"
        )
    return name


def _default_network_tile(method: Method, ndim: int) -> int:
    """DEFAULT_TILE, or larger (up to 4x) for a receptive field that would leave no room."""
    wanted = max(DEFAULT_TILE[ndim], 4 * method.halo)
    wanted = min(wanted, 4 * DEFAULT_TILE[ndim])
    return math.ceil(wanted / method.size_divisor) * method.size_divisor


@dataclass(frozen=True)
class _Layout:
    """How planes and tiles of an image with given axes map to (C, *spatial) blocks."""

    axes: str
    shape: tuple[int, ...]
    loop_axes: list[str]
    channel_axis: str | None
    spatial_axes: str

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(self.shape[self.axes.index(a)] for a in self.spatial_axes)

    @property
    def channels(self) -> int:
        return self.shape[self.axes.index(self.channel_axis)] if self.channel_axis else 1

    @property
    def planes(self) -> list[tuple[int, ...]]:
        sizes = [self.shape[self.axes.index(a)] for a in self.loop_axes]
        return list(itertools.product(*(range(n) for n in sizes)))

    @property
    def _block_axes(self) -> list[str]:
        return ([self.channel_axis] if self.channel_axis else []) + list(self.spatial_axes)

    @property
    def _region_axes(self) -> list[str]:
        # the order in which an indexed region comes back: the original, loop axes dropped
        return [a for a in self.axes if a not in self.loop_axes]

    def index(self, plane: tuple[int, ...], spatial_slices: tuple[slice, ...]) -> tuple:
        where = dict(zip(self.loop_axes, plane))
        where.update(zip(self.spatial_axes, spatial_slices))
        return tuple(where.get(a, slice(None)) for a in self.axes)

    def read(self, image, plane, spatial_slices) -> np.ndarray:
        region = np.asarray(image[self.index(plane, spatial_slices)])
        block = region.transpose([self._region_axes.index(a) for a in self._block_axes])
        return block if self.channel_axis else block[None]

    def write(self, out, plane, spatial_slices, block: np.ndarray) -> None:
        block = block if self.channel_axis else block[0]
        order = [self._block_axes.index(a) for a in self._region_axes]
        out[self.index(plane, spatial_slices)] = block.transpose(order)


@dataclass(frozen=True)
class _TileOptions:
    tile: tuple[int, ...]
    overlap: tuple[int, ...]
    window: str
    batch_size: int
    device: torch.device


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
    image, out, out_dtype, method: Method, norm: Normalization, layout: _Layout,
    options: _TileOptions,
) -> Generator[DeblurProgress, None, DeblurResult]:
    """The work of iter_deblur, once its arguments are checked; retries smaller tiles on OOM."""
    tile_now = options.tile
    planes = layout.planes
    while True:
        plan = tiling.plan_tiles(
            layout.spatial_shape, tile_now, options.overlap, size_divisor=method.size_divisor
        )
        total = len(plan) * len(planes)
        try:
            done = 0
            for plane in planes:
                steps = tiling.iter_tiled_apply(
                    method.forward,
                    lambda sl, plane=plane: layout.read(image, plane, sl),
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
        parameters=dict(method.parameters),
        tile=plan.tile,
        overlap=plan.overlap,
        device=str(options.device),
    )


def drain(generator: Iterator, callback: Callable | None = None):
    """Run a progress generator to its end and return its result."""
    while True:
        try:
            record = next(generator)
        except StopIteration as stop:
            return stop.value
        if callback is not None:
            callback(record)


def deblur(image, *, method, **kwargs) -> np.ndarray:
    """Blocking twin of ``iter_deblur``: returns the deblurred array."""
    return drain(iter_deblur(image, method=method, **kwargs)).image
