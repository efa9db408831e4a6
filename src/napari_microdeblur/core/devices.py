"""Which compute device runs (``resolve_device``), and what a device lacks that the code must
ask about.

Apple MPS has no float64: a float64 tensor on it (``.double()``, ``torch.arange(...,
dtype=torch.float64, device=mps)``) raises. Code that runs on the compute device asks
``wide_dtype`` for its accumulators; small constants that want float64 (window ramps, cosine
tables) are computed on the host with numpy and moved over in the working dtype.

``cpu_runs_bf16`` says whether this CPU computes bfloat16 in hardware: oneDNN accepts bf16 on
any AVX-512 x86 CPU, but without avx512_bf16 or AMX it emulates it, slower than float32.

Apple MPS has FFTs from torch 2.3 on macOS 14 only (setup.cfg allows torch 2.1): the Fourier
steps (Wiener, Richardson-Lucy, the PSF-aware networks and their safeguard) ask ``fft_device``
where to run, and run on the CPU, their results moved back, where ``fft_works`` says no.
"""

from __future__ import annotations

import contextlib
import platform
import warnings

import torch

from .notes import DeblurNote
from .tiling_spec import DEVICE_FORMS, device_form

__all__ = [
    "DEVICE_FORMS", "FFT_ON_CPU", "FLOAT16_OVERFLOWS", "autocast_supported", "autocasts_to",
    "cpu_runs_bf16", "cuda_auto_precision", "cuda_has_bf16", "fft_device", "fft_works",
    "float16_overflows", "forward_in", "full_precision", "gpu_names", "has_float64",
    "release_cached", "resolve_device", "runs_in", "wide_dtype",
]



def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' picks CUDA, then Apple MPS, then the CPU; other names are checked, each refusal
    one line: the form ('cuda:x' is no device), the backend (CUDA or MPS not here), the GPU
    index (against ``torch.cuda.device_count()``). 'cpu:0' and 'mps:0' are 'cpu' and 'mps'."""
    if isinstance(device, torch.device):
        if device.type == "cuda" and device.index is not None:
            _check_gpu_index(device, device.index)
        return device
    name = str(device).strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    match = device_form(device)  # the form, checked without torch by the CLI first
    kind, index = match.group(1), match.group(2)
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r}: CUDA is not available here; use 'auto' or 'cpu'")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={device!r}: Apple MPS is not available here; use 'auto' or 'cpu'")
    if kind == "cuda":
        return torch.device("cuda") if index is None else _check_gpu_index(device, int(index))
    if index is not None and int(index) != 0:  # one CPU device, one MPS device
        raise ValueError(f"device={device!r}: there is one {kind.upper()} device; use {kind!r}")
    return torch.device(kind)  # 'cpu:0' and 'mps:0' normalised: one name per device


def gpu_names() -> list[str]:
    """'cuda:N (its name)' for each CUDA device here; empty without CUDA."""
    if not torch.cuda.is_available():
        return []
    names = []
    for i in range(torch.cuda.device_count()):
        try:
            names.append(f"cuda:{i} ({torch.cuda.get_device_name(i)})")
        except (RuntimeError, AssertionError):  # a GPU the driver cannot describe
            names.append(f"cuda:{i}")
    return names


def _check_gpu_index(device, index: int) -> torch.device:
    """``cuda:index`` if that GPU exists (else torch fails only at the first tile)."""
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        if index >= count:
            raise ValueError(
                f"device={str(device)!r}: there is no GPU {index}; this machine has {count}: "
                f"{', '.join(gpu_names())}; use one of those, 'cuda' or 'auto'")
    return torch.device("cuda", index)


def autocast_supported(device_type: str) -> bool:
    """Whether this torch has autocast for ``device_type``: CPU and CUDA always (torch>=2.1);
    MPS only where ``torch.amp.is_autocast_available`` says so (torch 2.1-2.4 raise on
    ``torch.autocast('mps')`` even with ``enabled=False``)."""
    if device_type in ("cpu", "cuda"):
        return True
    available = getattr(getattr(torch, "amp", None), "is_autocast_available", None)
    if available is None:  # torch < 2.4: CPU and CUDA only, for our devices
        return False
    try:
        return bool(available(device_type))
    except (RuntimeError, ValueError):
        return False


#: (device type, dtype, torch.autocast) -> whether autocast there computes in that dtype
_AUTOCASTS: dict[tuple, bool] = {}


def autocasts_to(device_type: str, dtype: torch.dtype) -> bool:
    """Whether ``torch.autocast(device_type, dtype=dtype)`` computes in ``dtype``, asked of
    torch.autocast itself, as torch validates: on MPS torch 2.5 autocast float16 only, 2.6
    added bfloat16 (macOS 14+), and a dtype it refuses is switched off with a warning, so the
    run was float32 while the record said bfloat16. Needs no device of that type. CUDA: True
    (torch raises for a dtype the GPU lacks rather than run float32)."""
    if device_type == "cuda":
        return True
    key = (device_type, dtype, torch.autocast)
    if key not in _AUTOCASTS:  # once per process: catch_warnings is not thread-safe
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                with torch.autocast(device_type, dtype=dtype):
                    on = torch.is_autocast_enabled(device_type)
                    _AUTOCASTS[key] = bool(on) and torch.get_autocast_dtype(device_type) == dtype
            except TypeError:  # torch < 2.4 takes no device here: CPU and CUDA only
                _AUTOCASTS[key] = device_type == "cpu" and dtype == torch.bfloat16
            except (RuntimeError, ValueError, AssertionError, AttributeError):
                _AUTOCASTS[key] = False
    return _AUTOCASTS[key]


def runs_in(device_type: str, precision: str) -> str:
    """The arithmetic ``forward_in`` computes ``precision`` in on ``device_type``: itself, or
    'float32' where this torch has no autocast to it there (what a run's record should say)."""
    if precision == "float32":
        return precision
    if autocast_supported(device_type) and autocasts_to(device_type, getattr(torch, precision)):
        return precision
    return "float32"


def cuda_has_bf16(device: torch.device | str | None = None) -> bool:
    """Whether the CUDA GPU ``device`` computes bfloat16 natively (compute capability 8.0 and
    later: Ampere on); None or a bare 'cuda': the current GPU. 'cuda:N' is asked of GPU N's
    properties: ``torch.cuda.is_bf16_supported()`` reads the current GPU whichever one runs
    (cuda:1, a V100 beside an Ampere cuda:0, got bfloat16), and with emulation counted also
    says yes on a T4 or V100, where bf16 is slower than float16."""
    index = None if device is None else torch.device(device).index
    if index is None or torch.version.hip:  # the current GPU (ROCm: torch's own answer)
        try:
            return bool(torch.cuda.is_bf16_supported(including_emulation=False))
        except TypeError:  # torch < 2.3: native only
            return bool(torch.cuda.is_bf16_supported())
    try:
        return torch.cuda.get_device_properties(index).major >= 8
    except (RuntimeError, AssertionError, ValueError):  # a GPU the driver cannot describe
        return False


def full_precision(device_type: str):
    """A context in which nothing is autocast on ``device_type``: ``torch.autocast(...,
    enabled=False)`` where this torch has autocast there, else a no-op (nothing there can be
    autocast either)."""
    if autocast_supported(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()


_X86 = ("x86_64", "amd64", "i386", "i686", "x86")


def has_float64(device: torch.device | str) -> bool:
    """Whether ``device`` computes in float64 (CPU and CUDA do; Apple MPS does not)."""
    return torch.device(device).type != "mps"


def wide_dtype(device: torch.device | str) -> torch.dtype:
    """float64 where ``device`` has it, else float32: for sums and accumulators."""
    return torch.float64 if has_float64(device) else torch.float32


def _x86_bf16_units() -> bool | None:
    """Whether this x86 CPU has bf16 units (avx512_bf16 or AMX); None if torch cannot say."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):  # private helpers, absent from some torch versions
        return None


def cpu_runs_bf16() -> bool:
    """Whether bfloat16 on this CPU is computed in hardware, so worth choosing over float32."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return False
    except (AttributeError, RuntimeError):
        return False
    if platform.machine().lower() in _X86:
        units = _x86_bf16_units()
        return True if units is None else units  # unknown: oneDNN's answer, as before
    return True  # ARM and others: oneDNN says yes only where the CPU has bf16 instructions


#: Modules whose float16 output is inf: GRAN's GRAB sums products over every position of the
#: tile before dividing by their number, so gran.em_v1 and gran.fluo_v1 gave inf/NaN from
#: 384 px (em) and 512 px (fluo) tiles under float16 autocast (256 px: 82 dB PSNR against
#: float32; bfloat16 held 64 dB at every size). Every other bundled network stayed finite and
#: within 76-98 dB at 1024 px. A class that sums in float32 sets ``float16_safe = True``.
FLOAT16_OVERFLOWS = ("GRAB",)


def float16_overflows(model: torch.nn.Module | None) -> bool:
    """Whether ``model`` holds a module whose float16 output overflows (``FLOAT16_OVERFLOWS``)."""
    if model is None:
        return False
    return any(type(m).__name__ in FLOAT16_OVERFLOWS and not getattr(m, "float16_safe", False)
               for m in model.modules())


def cuda_auto_precision(model: torch.nn.Module | None = None,
                        device: torch.device | str | None = None) -> str:
    """What the CUDA GPU ``device`` (None: the current one) runs ``model`` in when left to
    choose: 'bfloat16' with bf16 units; without (T4, V100) 'float16', but 'float32' for a model
    that ``float16_overflows``."""
    # the current GPU (None, a bare 'cuda') asked without an argument, as before
    current = device is None or torch.device(device).index is None
    if cuda_has_bf16() if current else cuda_has_bf16(device):
        return "bfloat16"
    return "float32" if float16_overflows(model) else "float16"


def forward_in(model: torch.nn.Module, x: torch.Tensor, precision: str) -> torch.Tensor:
    """``model(x)`` in ``precision`` (float32, or autocast to bfloat16 / float16). A float16
    result holding inf or NaN where ``x`` is finite (an overflow: float16 stops at 65504) is
    computed again in float32, with one warning line, rather than returned as a blank tile.
    On a device this torch has no autocast to ``precision`` for (MPS before torch 2.5;
    bfloat16 on MPS before 2.6: ``runs_in``) the tile runs in float32, with one
    ``DeblurNote``: the result is the float32 one, only slower."""
    if precision == "float32":
        return model(x)
    if runs_in(x.device.type, precision) == "float32":
        warnings.warn(
            f"precision {precision!r} needs autocast to {precision} on {x.device.type}, "
            f"which torch {torch.__version__} lacks; computed in float32 (on MPS torch >= 2.5 "
            "has float16, >= 2.6 bfloat16 on macOS 14+; choose precision float32 to silence "
            "this line)", DeblurNote, stacklevel=3)
        return model(x)
    with torch.autocast(x.device.type, dtype=getattr(torch, precision)):
        y = model(x)
    if precision == "float16" and not bool(torch.isfinite(y).all()) and bool(
            torch.isfinite(x).all()):
        warnings.warn(
            f"{type(model).__name__} overflowed in float16 on a {tuple(x.shape[-2:])} tile; "
            "that tile was computed in float32 (choose precision float32, or a smaller tile, "
            "to avoid the second pass)", RuntimeWarning, stacklevel=3)
        y = model(x)
    return y


#: str(device) -> whether real FFTs run there (``fft_works``), asked once per process
_FFT_WORKS: dict[str, bool] = {}
#: the devices ``fft_device`` said ``FFT_ON_CPU`` of: once per process (a line per tile, each
#: re-said at the caller's line, passed Python's default filter every time)
_FFT_SAID: set[str] = set()
FFT_ON_CPU = (
    "torch {version} has no FFT on {device} (Apple MPS has it from torch 2.3 on macOS 14): "
    "the Fourier steps of Wiener, Richardson-Lucy and the PSF-aware networks run on the CPU, "
    "their results moved back, which is slower; update torch (pip install -U torch, 2.3 or "
    "later, on macOS 14 or later) or choose device 'cpu' to silence this line")


def fft_works(device: torch.device | str) -> bool:
    """Whether real FFTs (rfftn, irfftn) run on ``device`` and give back what went in, asked of
    the device once per process with a tiny round trip: MPS before torch 2.3 or macOS 14 raises
    ("Trying to convert ComplexFloat to the MPS backend", NotImplementedError)."""
    key = str(torch.device(device))
    if key not in _FFT_WORKS:
        probe = torch.arange(12, dtype=torch.float32).reshape(3, 4)
        try:
            back = torch.fft.irfftn(torch.fft.rfftn(probe.to(key)), s=(3, 4)).cpu()
            _FFT_WORKS[key] = bool(torch.allclose(back, probe, atol=1e-4))
        except (RuntimeError, NotImplementedError, TypeError):
            _FFT_WORKS[key] = False
    return _FFT_WORKS[key]


def fft_device(device: torch.device | str) -> torch.device:
    """Where the FFTs of tensors on ``device`` run: there, or the CPU where ``fft_works`` says
    no, with a ``DeblurNote`` (``FFT_ON_CPU``) the first time. Callers move their tensors with
    ``.to()`` (a no-op on the same device) and the results back."""
    device = torch.device(device)
    if fft_works(device):
        return device
    if str(device) not in _FFT_SAID:
        _FFT_SAID.add(str(device))
        warnings.warn(FFT_ON_CPU.format(version=torch.__version__, device=device), DeblurNote,
                      stacklevel=3)
    return torch.device("cpu")


def release_cached(device: torch.device) -> None:
    """Give the memory torch's allocator holds but no tensor uses back to ``device`` (CUDA,
    MPS), e.g. after an out-of-memory attempt. Call it once the attempt's tensors are gone: an
    ``except`` block's traceback still holds the failed frames, so nothing is freed there."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        empty = getattr(getattr(torch, "mps", None), "empty_cache", None)
        if empty is not None:  # torch >= 2.0 on macOS
            empty()
