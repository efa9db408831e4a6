"""What a compute device lacks that the code must ask about.

Apple MPS has no float64: a float64 tensor on it (``.double()``, ``torch.arange(...,
dtype=torch.float64, device=mps)``) raises. Code that runs on the compute device asks
``wide_dtype`` for its accumulators; small constants that want float64 (window ramps, cosine
tables) are computed on the host with numpy and moved over in the working dtype.
"""

from __future__ import annotations

import torch

__all__ = ["has_float64", "wide_dtype"]


def has_float64(device: torch.device | str) -> bool:
    """Whether ``device`` computes in float64 (CPU and CUDA do; Apple MPS does not)."""
    return torch.device(device).type != "mps"


def wide_dtype(device: torch.device | str) -> torch.dtype:
    """float64 where ``device`` has it, else float32: for sums and accumulators."""
    return torch.float64 if has_float64(device) else torch.float32
