"""How much memory a device has free, a tile side that fits in a share of it, and the memory
layout networks train fastest in."""

from __future__ import annotations

import math
import os

import torch

#: bytes assumed free when the device cannot say (2 GiB: a 590 px tile for a 48-wide network)
UNKNOWN_FREE = 2 << 30


def free_memory_bytes(device) -> int:
    """Free memory of a torch device (host RAM for the CPU); a conservative guess if unknown."""
    device = torch.device(device)
    if device.type == "cuda":
        try:
            free, _total = torch.cuda.mem_get_info(device)
            # blocks torch's allocator holds but no tensor uses are free to this process
            cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
            return int(free + max(0, cached))
        except (AttributeError, RuntimeError):  # the driver cannot say: host RAM is no guide
            return UNKNOWN_FREE
    if device.type == "mps":
        try:
            return int(torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory())
        except (AttributeError, RuntimeError):
            pass
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return UNKNOWN_FREE


def host_available_bytes() -> int | None:
    """Host RAM this process can still take without swapping; None where the system cannot
    say (``free_memory_bytes``' guess would refuse large work for no reason)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


#: the command line's output for a result past memory: written chunk by chunk, and napari
#: opens a Zarr lazily where its reader reads a TIFF whole into memory
ZARR_OUTPUT = ("microdeblur deblur IMAGE -o OUT.zarr (an OME-Zarr, which napari opens without "
               "reading it whole, unlike -o OUT.tif)")
#: what each front end says to do about a result too large for memory (``check_result_fits``)
RESULT_REMEDIES = {
    "python": "give out= a writable array on disk (np.lib.format.open_memmap(PATH, mode='w+', "
              "shape=..., dtype=...) or a zarr array) or deblur part of it",
    "cli": "write it to a file (microdeblur deblur IMAGE -o OUT.tif or OUT.zarr)",
    "dock": "deblur part of it (the Deblur dock's Scope 'current slice') or write it to a file "
            f"on the command line: {ZARR_OUTPUT}",
}
#: the remedy of a caller that does not say who it is (the dock's run, a .png output): every
#: front end's, briefly
ANY_REMEDY = ("write it to disk: from Python out= (a np.memmap or zarr array), on the command "
              f"line {ZARR_OUTPUT}, in the Deblur dock Scope 'current slice'")


def check_result_fits(shape, dtype, *, caller: str | None = None) -> None:
    """ValueError, before any work, where an in-memory result of ``shape`` and ``dtype`` is
    larger than the host memory available: the array would be allocated lazily and filled
    tile by tile until the system kills the process (a whole 5D stack read lazily, 50 GB of
    uint16, is 100 GB of float32). ``caller`` ('python', 'cli', 'dock'; None: not known)
    picks the remedy the message names (``RESULT_REMEDIES``)."""
    import numpy as np

    nbytes = math.prod(int(n) for n in shape) * np.dtype(dtype).itemsize
    free = host_available_bytes()
    if free is None or nbytes <= free:
        return
    remedy = ANY_REMEDY if caller is None else RESULT_REMEDIES[caller]
    raise ValueError(
        f"the result ({' x '.join(map(str, shape))} {np.dtype(dtype)}) needs "
        f"{nbytes / 2**30:.1f} GiB of memory but {free / 2**30:.1f} GiB are available; "
        + remedy)


def auto_tile_size(method, device, channels: int = 1) -> int:
    """A square tile side that fits a quarter of the free memory of ``device``.

    A rough model, not a measurement: a network keeps about 8 float32 feature maps of its
    widest layer alive per pixel (its config's ``n_feats``/``features``/``width``, 64 if not
    stated); a classical method about 16 float32 values per pixel (FFT buffers). The side is
    clamped to [64, 2048], a multiple of the method's size divisor, and at least
    4 x its receptive field; a classical method's at most ``fft_domain.FFT_TILE_SIDE`` plus its
    overlap on both ends, a fast FFT length (larger FFT tiles are slower too).
    """
    card = (method.parameters or {}).get("card") or {}
    config = card.get("config", {}) if isinstance(card, dict) else {}
    widths = [
        int(v) for k, v in config.items()
        if isinstance(v, int) and not isinstance(v, bool)
        and any(w in k for w in ("feat", "width", "channels_base", "base_channels"))
    ]
    width = max(widths) if widths else (4 if card == {} and method.normalization == "scale" else 64)
    per_pixel = 4 * 8 * width * max(1, channels)
    budget = free_memory_bytes(device) / 4
    side = int(math.sqrt(max(budget, 1) / per_pixel))
    side = max(64, min(_largest_side(method), side), 4 * method.halo)
    div = max(1, int(method.size_divisor))
    return max(div, (side // div) * div)


def _largest_side(method) -> int:
    """2048 px; for a classical method (one with a ``tile_for`` plan), the FFT planner's side
    plus the overlap on both ends, down to a fast FFT length (2112 -> 2100: a 4096 px plane
    in 2 x 2 tiles, where 2048 px tiles overlapping by 32 px needed 3 x 3)."""
    if getattr(method, "tile_for", None) is None:  # duck-typed methods may not have it
        return 2048
    from .fft_domain import FFT_TILE_SIDE, fast_length

    cap = FFT_TILE_SIDE + 2 * method.default_overlap
    while fast_length(cap) != cap:
        cap -= 1
    return cap


def fast_layout(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``model`` on ``device``, its 4-D (2D convolution) weights channels-last in place: training
    steps 1.08-1.45x faster on CPU (benchmarks/train_step_layout.py). Left as they are: 3D
    weights (Module.to(memory_format) refuses them), MPS, ``trains_channels_last = False``."""
    model.to(device)
    if device.type in ("cpu", "cuda") and getattr(model, "trains_channels_last", True):
        with torch.no_grad():  # .data: optimisers made before keep the same Parameters
            for t in [*model.parameters(), *model.buffers()]:
                if t.dim() == 4:
                    t.data = t.data.contiguous(memory_format=torch.channels_last)
    return model
