"""What to run: ``MethodSpec`` and the runnable ``Method`` (how to tile it: ``tiling_spec``).

A ``MethodSpec`` names a method and its options (PSF source, iterations, balance, weights ...).
It is frozen, hashable and JSON-serialisable, so the CLI, the docks, the cluster path and
batch files all carry the same object; ``check()`` validates it without loading anything heavy
and ``resolve()`` turns it into the ``Method`` the tiler runs. ``tiling_spec.TilingSpec`` holds
the tiling options (tile, overlap, window, batch size, device, output dtype) in the same way.

Method names:

- ``'auto'``: the bundled default for the image (see ``bundled.auto_method_name``), or, with
  ``weights=FILE``, the network that file describes; with a PSF given, the bundled PSF-aware
  network (``core.psf_aware``) bound to that PSF (but Richardson-Lucy in 3D for a
  widefield-like 3D PSF on a z-stack: ``bundled.auto_runs_in_3d``, applied by
  ``image_settings.spec_for_image``, which sees the image); without one, for EM and brightfield
  images the same network given a PSF estimated from the image (``bundled.auto_psf``), for
  fluorescence the blind network;
- ``'richardson_lucy'``, ``'wiener'``: classical deconvolution with ``psf``; their default
  ``iterations='auto'`` and ``balance='auto'`` are found on the image
  (``image_settings.iterations_for``, ``image_settings.balance_for``);
- a bundled ``arch.tag`` such as ``'gran.em_v1'``;
- a registered architecture name (``'gran'``) together with ``weights=FILE``.

An in-memory PSF is held as a ``PsfArray`` (float32 bytes and shape), so a spec with an array
PSF stays hashable (``MethodSpec(psf=array)`` wraps it).
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from . import devices, shown
from .bundled_table import bundled_name_hint, bundled_names  # torch-free for cli_info
from .fusion import shared_inference_copy
from .notes import DeblurWarning
from .options import (
    AUTO_BALANCE,
    AUTO_ITERATIONS,
    FIXED_BALANCE,
    FIXED_ITERATIONS,
    check_balance,
    check_iterations,
    check_noise_scale,
    check_tv_weight,
)
from .tiling_spec import known_keys

CLASSICAL_METHODS = ("richardson_lucy", "wiener")
PRECISIONS = ("auto", "float32", "bfloat16", "float16")
MODALITIES = ("auto", "em", "fluorescence", "brightfield")
OUTPUT_DTYPES = ("float32", "input")
DEFAULT_TILE = {2: 256, 3: 64}


# ----------------------------------------------------------------------------- runnable method


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
    # the tile for an image's spatial shape, when it depends on it (classical: the whole
    # image while its FFT fits the memory budget); overrides default_tile
    tile_for: Callable[[tuple[int, ...]], tuple[int, ...]] | None = None
    # a classical method's PSF shape, per spatial axis: what must fit in the image (a z-stack
    # of few planes takes a PSF laterally wider than its plane count)
    psf_shape: tuple[int, ...] | None = None
    # this method for one grey channel, where it runs RGB its own way (the PSF-aware network's
    # opponent colour path): an RGB image with identical channels runs it (``core.grey_rgb``)
    grey: Callable[[], Method] | None = None
    # the result of x + c is the result of x plus c (Wiener: a constant passes its filter
    # unchanged), so "scale" may shift by the image's minimum: a small signal on a large offset
    # keeps its float32 precision (1e6 + 0.05 * b came out in 9 distinct values, divided by 1e6)
    shift_invariant: bool = False

    @property
    def normalization_kind(self) -> str:
        """The kind of ``inference.Normalization`` a run computes: 'shift' where a shift-invariant
        method's "scale" shifts by the minimum."""
        return "shift" if self.shift_invariant and self.normalization == "scale" else \
            self.normalization

    @property
    def default_overlap(self) -> int:
        return self.overlap if self.overlap is not None else 2 * self.halo

    @property
    def is_classical(self) -> bool:
        return self.name in CLASSICAL_METHODS


def _richardson_lucy(kernel_t: torch.Tensor, *, iterations, balance, tv_weight):
    from .classical import richardson_lucy

    check_iterations(iterations, auto=False)
    return (lambda x: richardson_lucy(x, kernel_t.to(x.device), iterations=int(iterations),
                                      tv_weight=tv_weight),
            {"iterations": int(iterations), "tv_weight": tv_weight})


def _wiener(kernel_t: torch.Tensor, *, iterations, balance, tv_weight):
    from .classical import wiener

    check_balance(balance, auto=False)
    return (lambda x: wiener(x, kernel_t.to(x.device), balance=float(balance)),
            {"balance": float(balance)})


@dataclass(frozen=True)
class ClassicalRecipe:
    """How one classical method runs: ``build(kernel_t, iterations=, balance=, tv_weight=)``
    gives ``(forward, settings it ran with)``; ``shift_invariant`` as in ``Method``."""

    build: Callable
    shift_invariant: bool = False


#: each name of CLASSICAL_METHODS -> its recipe (a name without one ran Wiener's code)
CLASSICAL_RECIPES = {"richardson_lucy": ClassicalRecipe(_richardson_lucy),
                     # a constant passes Wiener's filter; Richardson-Lucy needs x >= 0 as it is
                     "wiener": ClassicalRecipe(_wiener, shift_invariant=True)}


def check_classical_wiring(name: str) -> None:
    """Refuse a name of CLASSICAL_METHODS without its recipe here or what it reads in
    ``inference_settings.CLASSICAL_READS`` (docs/contributing.md)."""
    from .inference_settings import CLASSICAL_READS

    missing = [part for part, table in (
        ("a ClassicalRecipe in CLASSICAL_RECIPES (core/method.py)", CLASSICAL_RECIPES),
        ("the settings it reads in CLASSICAL_READS (core/inference_settings.py)",
         CLASSICAL_READS)) if name not in table]
    if missing:
        raise ValueError(
            f"method={name!r} is in CLASSICAL_METHODS but has no {' and no '.join(missing)}: "
            "add them (docs/contributing.md, 'Adding a classical method')")


def classical_method(
    name: str,
    psf: np.ndarray | str | None,
    *,
    iterations: int = FIXED_ITERATIONS,
    balance: float = FIXED_BALANCE,
    tv_weight: float = 0.0,
) -> Method:
    """A classical method (its ``CLASSICAL_RECIPES`` entry) with a given PSF, as a Method."""
    from . import classical
    from .psf import parse_psf
    from .saturation import classical_input

    if name not in CLASSICAL_METHODS:
        raise ValueError(f"method={name!r} is not one of {CLASSICAL_METHODS}")
    check_classical_wiring(name)
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
    recipe = CLASSICAL_RECIPES[name]
    forward, settings = recipe.build(kernel_t, iterations=iterations, balance=balance,
                                     tv_weight=tv_weight)
    forward = classical_input(forward)  # lone hot or dead pixels: filled, put back
    return Method(
        name=name, forward=forward, spatial_dims=kernel.ndim, halo=halo, overlap=overlap,
        normalization="scale", parameters={"psf": spec, **settings},
        default_tile=max(DEFAULT_TILE[kernel.ndim], 4 * overlap),
        tile_for=functools.partial(classical.plan_fft_tile, psf_shape=kernel.shape),
        psf_shape=tuple(int(k) for k in kernel.shape),
        shift_invariant=recipe.shift_invariant,
    )


def auto_precision(device: torch.device, model: torch.nn.Module | None = None) -> str:
    """bfloat16 on CPUs with bf16 units and on CUDA (measured: GRAN cpu_small 4x faster on this
    CPU, output within 61 dB PSNR of float32); float32 elsewhere (MPS, older CPUs, AVX-512
    CPUs that only emulate bf16: ``devices.cpu_runs_bf16``). CUDA without bf16: float16, but
    float32 for a ``model`` whose float16 output overflows (``devices.float16_overflows``)."""
    if device.type == "cuda":  # bf16 units only: torch's is_bf16_supported() counts emulation
        return devices.cuda_auto_precision(model, device)
    if device.type == "cpu" and devices.cpu_runs_bf16():
        return "bfloat16"
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
        self._inference = shared_inference_copy(self.model)  # BatchNorm folded, once per model

    def resolved_precision(self, device: torch.device) -> str:
        """What the tiles compute in (the run's record): a precision this torch has no autocast
        to on ``device`` runs float32 (``devices.runs_in``), and the record says so."""
        chosen = auto_precision(device, self.model) if self.precision == "auto" else self.precision
        return devices.runs_in(device.type, chosen)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self._device != x.device:
            # The tiler calls us inside inference mode: parameters moved or re-laid-out there
            # would become inference tensors, and the model could never be trained again
            # (fine-tuning after a preview, say). Under the copy's lock: another thread may
            # be folding or running the same model (fusion.InferenceCopy).
            with self._inference.lock, torch.inference_mode(False):
                self.model.to(x.device)
                if x.ndim == 4:
                    self.model.to(memory_format=torch.channels_last)
            self._device = x.device
        with torch.inference_mode(False):
            model = self._inference.get(torch.channels_last if x.ndim == 4 else None)
        if x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            y = devices.forward_in(model, x, self.resolved_precision(x.device))
            return y.float().contiguous()


def network_method(
    model: torch.nn.Module, name: str | None = None, card=None, *, precision: str = "auto"
) -> Method:
    """Wrap a network (with the attributes every registered architecture has) as a Method."""
    normalization = {"kind": "percentile", "low": 0.1, "high": 99.9}
    if card is not None and getattr(card, "normalization", None):
        normalization.update(card.normalization)
    runner = NetworkRunner(model, precision)
    # a measured halo (the card's) beats the theoretical receptive field, which for a deep
    # U-Net is hundreds of pixels and would make every tile mostly overlap
    tiling = dict(getattr(card, "tiling", None) or {})
    return Method(
        name=name or type(model).__name__,
        forward=runner,
        spatial_dims=int(getattr(model, "spatial_dims", 2)),
        halo=int(tiling.get("halo", getattr(model, "receptive_field", 0))),
        default_tile=tiling.get("tile"),
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


# ----------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class PsfArray:
    """An in-memory PSF, hashable: its float32 values as bytes and its shape; ``origin``, the
    file it was read from, if any (its voxel size is checked against each image's)."""

    data: bytes
    shape: tuple[int, ...]
    origin: str | None = field(default=None, compare=False)

    @classmethod
    def from_array(cls, array, origin: str | None = None) -> PsfArray:
        values = np.ascontiguousarray(array, dtype=np.float32)
        while values.ndim > 2 and values.shape[0] == 1:  # as psf.read_psf drops a file's: a
            values = values[0]  # (1, N, N) array was refused as 3D on a 2D image, its file ran
        if values.ndim not in (2, 3) or values.size == 0:
            raise ValueError(f"psf array has shape {values.shape}; give a 2D or 3D kernel")
        if not np.all(np.isfinite(values)):
            raise ValueError("psf array contains NaN or Inf values")
        return cls(values.tobytes(), tuple(int(s) for s in values.shape), origin)

    @property
    def array(self) -> np.ndarray:
        return np.frombuffer(self.data, dtype=np.float32).reshape(self.shape).copy()


def _arch_names() -> tuple[str, ...]:
    from . import registry

    return tuple(registry.list_archs())


def _needs_psf(name: str) -> bool:
    """Whether ``name`` (a bundled ``arch.tag`` or an architecture) is a PSF-aware network."""
    from . import registry

    arch = name.partition(".")[0] if name in bundled_names() else name
    if arch not in _arch_names():
        return False
    return bool(getattr(registry.get_arch(arch).module_cls, "needs_psf", False))


@dataclass(frozen=True)
class MethodSpec:
    """Which method runs, with which options; see the module docstring for the names."""

    name: str = "auto"
    psf: str | PsfArray | None = None  # a TIFF path, a model such as 'gaussian:1.6', an array
    iterations: int | str = AUTO_ITERATIONS  # Richardson-Lucy; 'auto': found per image
    balance: float | str = AUTO_BALANCE  # Wiener regularisation; 'auto': by GCV per image
    tv_weight: float = 0.0  # Richardson-Lucy total-variation weight (0: off)
    weights: str | None = None  # a weights file; with name 'auto' the file says which network
    precision: str = "auto"  # network arithmetic: auto, float32, bfloat16, float16
    modality: str = "auto"  # for name 'auto': auto, em, fluorescence, brightfield
    # PSF-aware networks: x the noise level they estimate (> 1 regularises more, for a PSF that
    # is only approximately right: fitted, guessed, measured on another day)
    noise_scale: float = 1.0

    def __post_init__(self):
        # normalise the carriers (arrays and paths), so equal specs hash equal; no validation
        if self.psf is not None and not isinstance(self.psf, (str, PsfArray)):
            if isinstance(self.psf, os.PathLike):
                object.__setattr__(self, "psf", os.fspath(self.psf))
            elif hasattr(self.psf, "shape"):
                object.__setattr__(self, "psf", PsfArray.from_array(self.psf))
        if isinstance(self.weights, os.PathLike):
            object.__setattr__(self, "weights", os.fspath(self.weights))

    @property
    def psf_value(self):
        """The PSF as ``classical_method`` takes it: a source string, an array, or None."""
        return self.psf.array if isinstance(self.psf, PsfArray) else self.psf

    def psf_kernel(self):
        """The PSF as an array (read or computed); None for none, 'estimate' or one PSF per
        channel ('A;B', ``core.channel_psfs``)."""
        from .channel_psfs import channel_sources
        from .psf import parse_psf
        from .psf_estimate import is_estimate

        value = self.psf_value
        if value is None or is_estimate(value) or channel_sources(value):
            return None
        return value if hasattr(value, "ndim") else parse_psf(value)

    def psf_for_image(self, axes: str, shape):
        """The PSF as the deblur uses it on an image of ``axes`` and ``shape``: one as large as
        the image cut to its support (``psf.fit_psf_to_image``); None for none or 'estimate'.
        Too many dimensions for the image are refused as the layout check refuses them."""
        from .psf import fit_psf_to_image

        kernel = self.psf_kernel()
        if kernel is None:
            return None
        spatial = [a for a in "ZYX" if a in axes]
        if kernel.ndim > len(spatial):
            raise ValueError(f"the PSF {kernel.shape} is 3D but axes={axes!r} has no Z axis")
        sizes = tuple(shape[axes.index(a)] for a in spatial[-kernel.ndim:])
        # a file read is named in a refusal (it said "psf (shape (101, 101))")
        label = shown.shown_path(self.psf) if isinstance(self.psf, str) else None
        return fit_psf_to_image(kernel, sizes, psf_label=label)[0]

    def replace(self, **changes) -> MethodSpec:
        return replace(self, **changes)

    def check(self) -> MethodSpec:
        """Validate every option (files exist, numbers in range, names known, and each setting
        given read by the method named: ``core.inference_settings``); loads nothing heavy.
        Raises ValueError/TypeError naming the option; returns the spec."""
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"method={self.name!r} must be a method name (a string)")
        if self.name in CLASSICAL_METHODS:  # before its settings are looked up by name
            check_classical_wiring(self.name)
        check_iterations(self.iterations)
        check_balance(self.balance)
        check_tv_weight(self.tv_weight)
        check_noise_scale(self.noise_scale)
        if self.noise_scale != 1 and self.name in CLASSICAL_METHODS:
            raise ValueError(
                f"noise_scale applies to PSF-aware networks, not method={self.name!r}: "
                + ("use balance (larger: smoother)" if self.name == "wiener" else
                   "use fewer iterations or tv_weight (smoother)"))
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision={self.precision!r} is not one of {PRECISIONS}")
        if self.modality not in MODALITIES:
            raise ValueError(f"modality={self.modality!r} is not one of {MODALITIES}")
        self._check_psf()
        self._check_name_and_weights()
        from .inference_settings import unused_message

        if refusal := unused_message(self):  # a setting given that the method does not read
            raise ValueError(refusal)
        return self

    def _check_psf(self) -> None:
        if self.psf is None or isinstance(self.psf, PsfArray):
            if self.psf is None and _needs_psf(self.name):
                raise ValueError(
                    f"method={self.name!r} is PSF-aware and needs a PSF: give psf a TIFF path, "
                    "an array or a model such as 'gaussian:1.6'"
                )
            if self.psf is None and self.name in CLASSICAL_METHODS:
                raise ValueError(
                    f"method={self.name!r} needs a PSF: give psf a TIFF path or a model such "
                    "as 'gaussian:1.6', 'disk:3', 'astig:2.5,0.8,30'"
                )
            return
        if not isinstance(self.psf, str):
            raise TypeError(f"psf must be a TIFF path, a model string or an array, "
                            f"not {type(self.psf).__name__}")
        from .channel_psfs import channel_sources, check_channel_sources
        from .psf import is_psf_model, parse_psf, unknown_source_message
        from .psf_estimate import is_estimate

        if channel_sources(self.psf):  # 'A;B': one per channel, each checked
            return check_channel_sources(self)
        if is_estimate(self.psf):
            return  # estimated from the image when the deblur is prepared

        if is_psf_model(self.psf):
            try:  # cheap for the analytic models; an optical PSF is cached for resolve()
                parse_psf(self.psf)
            except ValueError as error:
                message = str(error)
                if not message.startswith("psf"):
                    message = f"psf={self.psf!r}: {message}"
                raise ValueError(message) from None
        elif not Path(self.psf).is_file():
            raise ValueError(unknown_source_message(self.psf))

    def _check_name_and_weights(self) -> None:
        if self.weights is not None:
            if not isinstance(self.weights, str):
                raise TypeError(f"weights must be a file path, not {type(self.weights).__name__}")
            if not Path(self.weights).is_file():  # a folder: 'no such file' sent users looking
                from .foreign_files import folder_not_weights  # a CARE folder: Keras

                why = (f" {folder_not_weights(self.weights)}" if Path(self.weights).is_dir()
                       else ": no such file" + bundled_name_hint(self.weights))
                raise ValueError(f"weights={shown.shown_path(self.weights)}{why}")
        if self.name == "auto" or self.name in CLASSICAL_METHODS or self.name in bundled_names():
            return
        if self.name in _arch_names():
            if self.weights is None:
                raise ValueError(
                    f"method={self.name!r} is an architecture: give weights=FILE, or use a "
                    f"bundled name ({', '.join(bundled_names()) or 'none installed'})"
                )
            return
        known = ("auto",) + CLASSICAL_METHODS + bundled_names() + _arch_names()
        raise ValueError(f"method={self.name!r} is not one of {', '.join(known)}")

    def resolve(self, *, rgb: bool = False, models=None) -> Method:
        """The runnable Method; a network is loaded here, or taken from ``models`` (a batch's
        ``checkpoint.ModelCache``). ``rgb`` picks the default network for 'auto'."""
        if self.name in CLASSICAL_METHODS:
            return classical_method(self.name, self.psf_value, iterations=self.iterations,
                                    balance=self.balance, tv_weight=self.tv_weight)
        from .bundled import auto_method_name, auto_psf
        from .checkpoint import load_model

        load = load_model if models is None else models.load
        name = auto_method_name(self, rgb)
        if self.weights is not None:
            arch = None if name == "auto" else name
            model, card = load(self.weights, arch=arch)
            label = name if arch else Path(self.weights).name
        elif name in CLASSICAL_METHODS:  # the 'auto' hook picked a classical method
            return self.replace(name=name).resolve(rgb=rgb)
        else:
            model, card = load(name)
            label = name
        if getattr(model, "needs_psf", False):  # a PSF-aware network runs bound to the PSF
            from .psf_aware import psf_aware_method

            if self.psf is None and auto_psf(self, rgb):
                from .bundled import image_type

                raise ValueError(
                    f"method='auto' runs {label} with a PSF estimated from the image for "
                    f"{image_type(self.modality, rgb)} images: deblur() and prepare_deblur() "
                    "estimate it; or give psf=...")
            if self.psf is None:  # 'auto' with weights: the user named the file, not a method
                from .psf_aware import FINETUNED_PSF_KEY

                option = "weights" if name == "auto" else "method"
                tuned = (getattr(card, "metrics", None) or {}).get(FINETUNED_PSF_KEY)
                hint = f"; these weights were fine-tuned with psf={tuned!r}" if tuned else ""
                raise ValueError(f"{option}={label!r} is PSF-aware and needs a PSF: give "
                                 f"psf=...{hint}")
            return psf_aware_method(model, self.psf_value, card, precision=self.precision,
                                    name=label, noise_scale=self.noise_scale, rgb=rgb)
        if self.noise_scale != 1:
            raise ValueError(f"noise_scale applies to PSF-aware networks; {label!r} is blind "
                             "(it takes no PSF): leave noise_scale at 1")
        if self.psf is not None:
            warnings.warn(f"{label!r} is a blind network (it takes no PSF): the PSF given is not "
                          "used; for a method that uses it, choose auto, a PSF-aware network or "
                          "richardson_lucy / wiener", DeblurWarning, stacklevel=2)
        return network_method(model, name=label, card=card, precision=self.precision)

    def without_unused(self) -> MethodSpec:
        """This spec with each setting its method does not read at its default, for a caller
        that fills every field on the user's behalf (``check`` refuses them)."""
        from .inference_settings import without_unused

        return without_unused(self)

    def takes_psf(self) -> bool:
        """Whether the method this spec names uses a PSF, as far as the name tells (a weights
        file is only known once loaded: True)."""
        if self.name == "auto" or self.name in CLASSICAL_METHODS or self.weights is not None:
            return True
        return _needs_psf(self.name)

    def to_dict(self) -> dict:
        """A JSON-compatible dict; ``from_dict`` reads it back to an equal spec."""
        out = asdict(self)
        if isinstance(self.psf, PsfArray):
            out["psf"] = {"shape": list(self.psf.shape), "values": self.psf.array.ravel().tolist()}
        return out

    @classmethod
    def from_dict(cls, data: dict) -> MethodSpec:
        data = known_keys(cls, data, "method spec")
        psf = data.get("psf")
        if isinstance(psf, dict):
            data["psf"] = np.asarray(psf["values"], dtype=np.float32).reshape(psf["shape"])
        return cls(**data)


def resolve_method(
    method: str | Method | torch.nn.Module | MethodSpec,
    *,
    psf=None,
    iterations: int = FIXED_ITERATIONS,
    balance: float = FIXED_BALANCE,
    tv_weight: float = 0.0,
    weights: str | None = None,
    precision: str = "auto",
    rgb: bool = False,
    noise_scale: float = 1.0,
) -> Method:
    """A method name (with its options), a MethodSpec, a Method, or a network -> a Method."""
    if isinstance(method, Method):
        return method
    if isinstance(method, MethodSpec):
        return method.resolve(rgb=rgb)
    if isinstance(method, torch.nn.Module):
        return network_method(method, precision=precision)
    if not isinstance(method, str):
        raise TypeError("method must be a name, a MethodSpec, a Method or a torch module, "
                        f"not {type(method).__name__}")
    spec = MethodSpec(method, psf=psf, iterations=iterations, balance=balance,
                      tv_weight=tv_weight, weights=weights, precision=precision,
                      noise_scale=noise_scale)
    return spec.resolve(rgb=rgb)
