"""glibc allocator tuning through ``mallopt`` (Linux with glibc only; elsewhere nothing).

glibc serves big blocks with mmap and hands them back on free, so a run's many same-sized
arrays are page-faulted in afresh each time. Two settings are used:

* ``CLI_SETTINGS`` (``tune_allocator``, the command line): no mmap and no trimming, as
  ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=...`` would do; a one-run process can keep its
  high-water mark.
* ``WORKER_SETTINGS`` (``tune_dask_worker``, cluster tasks): dask's nanny starts every worker
  with ``MALLOC_TRIM_THRESHOLD_=65536`` so that freed memory goes back to the OS, and setting
  that variable also stops glibc raising its mmap threshold (128 KiB) as it sees big blocks
  freed: every array of the EM default's PSF estimate was mmapped, faulted in and unmapped, ten
  times slower (``benchmarks/cluster_allocator.py``). A raised mmap threshold and a moderate
  trim threshold keep the speed, and ``release_memory`` after each task gives the rest back.
"""

from __future__ import annotations

import ctypes
import os
import sys
from functools import lru_cache

__all__ = ["CLI_SETTINGS", "DASK_TRIM_DEFAULT", "WORKER_SETTINGS", "apply_settings",
           "release_memory", "tune_allocator", "tune_dask_worker"]

# glibc mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_MMAP_MAX = -4

#: what the command line sets: no mmap, never trim
CLI_SETTINGS = {M_MMAP_MAX: 0, M_TRIM_THRESHOLD: 2**31 - 1}
#: what a dask worker's tasks set: blocks up to 32 MiB (glibc's largest mmap threshold on
#: 64-bit) from the heap, and a heap top over 64 MiB free handed back
WORKER_SETTINGS = {M_MMAP_THRESHOLD: 32 * 2**20, M_TRIM_THRESHOLD: 64 * 2**20}
#: the value of ``distributed.nanny.pre-spawn-environ``'s MALLOC_TRIM_THRESHOLD_ as dask ships it
DASK_TRIM_DEFAULT = "65536"
#: glibc's own variables: where the user set one, the command line leaves the allocator alone
USER_VARIABLES = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")
#: set to 0 to leave glibc's allocator as it is (command line and cluster tasks)
OPT_OUT = "MICRODEBLUR_MALLOC_TUNING"


@lru_cache(maxsize=1)
def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        if not all(hasattr(libc, name) for name in ("mallopt", "malloc_trim")):
            return None  # musl and others have no mallopt
    except OSError:
        return None
    return libc


def apply_settings(settings: dict[int, int]) -> bool:
    """``mallopt`` each (parameter, value) in this process; whether all were taken."""
    libc = _libc()
    if libc is None:
        return False
    return all([bool(libc.mallopt(param, value)) for param, value in settings.items()])


def release_memory() -> bool:
    """Hand the free pages of every arena back to the OS (``malloc_trim(0)``); whether any
    were. A no-op off glibc."""
    libc = _libc()
    return libc is not None and bool(libc.malloc_trim(0))


def tune_allocator() -> bool:
    """The command line's tuning: keep freed tile buffers in the process instead of returning
    them to the kernel (800k-965k minor faults down to ~52k for a 2048 x 2048 image with
    gran.em_v1, 20 % faster; ``benchmarks/malloc_env.py``). Not when the user set
    ``MALLOC_MMAP_MAX_``, ``MALLOC_TRIM_THRESHOLD_`` or ``MALLOC_MMAP_THRESHOLD_`` (the
    README's way to a lower peak: no mmap would override it), or
    ``MICRODEBLUR_MALLOC_TUNING=0``. Returns whether it was applied."""
    if os.environ.get(OPT_OUT, "1") == "0":
        return False
    if any(name in os.environ for name in USER_VARIABLES):
        return False
    return apply_settings(CLI_SETTINGS)


def _started_with(name: str) -> str | None:
    """The value ``name`` had when this process started (what glibc read), not as changed
    since: a nanny sets dask's variables in its own process too, after glibc read them."""
    try:
        with open("/proc/self/environ", "rb") as f:
            entries = f.read().split(b"\0")
    except OSError:
        return None
    prefix = name.encode() + b"="
    for entry in entries:
        if entry.startswith(prefix):
            return entry[len(prefix):].decode(errors="replace")
    return None


def tune_dask_worker() -> bool:
    """In a dask worker process started with dask's own ``MALLOC_TRIM_THRESHOLD_=65536``, set
    ``WORKER_SETTINGS`` (module docstring). Not when the user set ``MALLOC_MMAP_MAX_`` or
    ``MALLOC_MMAP_THRESHOLD_``, gave the trim threshold another value, or set
    ``MICRODEBLUR_MALLOC_TUNING=0`` (a user who wants dask's 65536 as it is sets that).
    Whether the settings are in force; cheap to call for every task (mallopt is process-wide)."""
    if os.environ.get(OPT_OUT, "1") == "0":
        return False
    if _started_with("MALLOC_TRIM_THRESHOLD_") != DASK_TRIM_DEFAULT:
        return False
    if any(_started_with(n) is not None for n in ("MALLOC_MMAP_MAX_", "MALLOC_MMAP_THRESHOLD_")):
        return False
    return apply_settings(WORKER_SETTINGS)
