"""Which compute device runs (``resolve_device``), and what a device lacks that the code must
ask about.

Apple MPS has no float64: a float64 tensor on it (``.double()``, ``torch.arange(...,
dtype=torch.float64, device=mps)``) raises. Code that runs on the compute device asks
``wide_dtype`` for its accumulators; small constants that want float64 (window ramps, cosine
tables) are computed on the host with numpy and moved over in the working dtype.

``cpu_runs_bf16`` says whether this CPU computes bfloat16 in hardware: oneDNN accepts bf16 on
any AVX-512 x86 CPU, but without avx512_bf16 or AMX it emulates it, slower than float32.
"""

from __future__ import annotations

import platform
import warnings

import torch

__all__ = [
    "FLOAT16_OVERFLOWS", "cpu_runs_bf16", "float16_overflows", "forward_in", "has_float64",
    "resolve_device", "wide_dtype",
]

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


def forward_in(model: torch.nn.Module, x: torch.Tensor, precision: str) -> torch.Tensor:
    """``model(x)`` in ``precision`` (float32, or autocast to bfloat16 / float16). A float16
    result holding inf or NaN where ``x`` is finite (an overflow: float16 stops at 65504) is
    computed again in float32, with one warning line, rather than returned as a blank tile."""
    if precision == "float32":
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
