"""glibc allocator tuning for the command line (see ``tune_allocator``)."""

from __future__ import annotations

import os
import sys

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


def tune_allocator() -> bool:
    """Keep freed tile buffers in the process instead of returning them to the kernel.

    glibc serves big blocks with mmap and trims the heap on free, so every tile's buffers are
    page-faulted in afresh: 800k-965k minor faults for a 2048 x 2048 image with gran.em_v1 here.
    No mmap and no trimming (as ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=...`` would do)
    cut that to ~52k and the run time by 20 % (``benchmarks/malloc_env.py``). Only on glibc,
    and not when the user set either variable or ``MICRODEBLUR_MALLOC_TUNING=0``.
    Returns whether it was applied.
    """
    if os.environ.get("MICRODEBLUR_MALLOC_TUNING", "1") == "0":
        return False
    if "MALLOC_MMAP_MAX_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
