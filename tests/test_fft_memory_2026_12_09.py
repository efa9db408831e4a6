"""The classical planner's memory estimate against what a tile really holds, and its budget
following the memory available (walkthrough: an 8192 px plane peaked above the 2 GiB budget)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import napari_microdeblur
from napari_microdeblur.core import classical, fft_domain

_PROC_PEAK = Path("/proc/self/clear_refs")

# Each classical call in a fresh process: one interpreter imports torch and the package once,
# then forks a child per case (its memory as a fresh interpreter's after the imports). Each
# child prints its peak resident memory above the level before its input existed (Linux:
# clear_refs resets the peak to the current size) and the planner's estimate for that tile.
_CHILD = """
import os, re, sys
import numpy as np, torch
from napari_microdeblur.core import classical
def status(key):
    return int(re.search(key + r":\\s+(\\d+)", open("/proc/self/status").read()).group(1)) * 1024
def measure(method, n, shift):
    r = np.arange(-6, 7)
    g = np.exp(-(r - shift) ** 2 / (2 * 1.6 ** 2))
    psf = np.outer(g, g)  # shifted: not mirror-symmetric, so the padded FFT path
    torch.manual_seed(0)
    base = status("VmRSS")
    open("/proc/self/clear_refs", "w").write("5")
    x = torch.rand(1, 1, n, n)
    if method == "wiener":
        classical.wiener(x, psf, balance=0.01)
    else:
        classical.richardson_lucy(x, psf, iterations=2,
                                  tv_weight=0.05 if method == "rl_tv" else 0)
    return status("VmHWM") - base, classical.fft_working_bytes((n, n), psf.shape)
n = int(sys.argv[1])
for case in sys.argv[2:]:
    method, shift = case.split(":")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        code = 0
        try:
            os.write(write, ("%d %d" % measure(method, n, float(shift))).encode())
        except BaseException as error:
            print(case, repr(error), file=sys.stderr, flush=True)
            code = 1
        os._exit(code)
    os.close(write)
    with os.fdopen(read) as pipe:
        reply = pipe.read()
    if os.waitpid(pid, 0)[1]:
        sys.exit(1)
    print(case, reply, flush=True)
"""


def _child_env() -> dict:
    # the child imports the same package as this test (old or new source alike)
    src = str(Path(napari_microdeblur.__file__).resolve().parents[1])
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    return env


CASES = [("wiener", 0.7), ("rl", 0.7), ("rl_tv", 0.7), ("rl_tv", 0.0)]


@pytest.fixture(scope="module")
def measured_peaks() -> dict:
    """(peak, estimate) per ``method:shift`` of CASES, measured in one child interpreter."""
    if not _PROC_PEAK.exists():
        pytest.skip("needs Linux /proc/self/clear_refs")
    # 3072 px: every array is above glibc's largest mmap threshold (32 MB), so freed arrays
    # leave the resident set and the peak is what was held at once
    cases = [f"{method}:{shift}" for method, shift in CASES]
    done = subprocess.run([sys.executable, "-c", _CHILD, "3072", *cases], capture_output=True,
                          text=True, env=_child_env(), timeout=240)
    if done.returncode and "clear_refs" in done.stderr:
        pytest.skip("this kernel does not let a process reset its peak memory")
    assert done.returncode == 0, done.stderr
    lines = (line.split() for line in done.stdout.splitlines() if line.strip())
    return {case: (int(peak), int(estimate)) for case, peak, estimate in lines}


@pytest.mark.parametrize("method, shift", CASES)
def test_the_planners_estimate_bounds_the_measured_peak_of_one_tile(measured_peaks, method,
                                                                     shift):
    peak, estimate = measured_peaks[f"{method}:{shift}"]
    assert peak > 5 * 4 * 3072**2  # the measurement saw the tile's arrays
    assert peak <= estimate, (
        f"{method}: peak {peak / 2**20:.0f} MB above the planner's {estimate / 2**20:.0f} MB")


def test_the_budget_follows_the_memory_available(monkeypatch):
    image, psf = (8192, 8192), (13, 13)
    monkeypatch.setattr(fft_domain, "host_available_bytes", lambda: 64 * 2**30)
    assert fft_domain.fft_memory_budget() == fft_domain.FFT_MEMORY_BUDGET
    roomy = classical.plan_fft_tile(image, psf)
    assert roomy == classical.plan_fft_tile(image, psf, budget_bytes=2 * 2**30)

    # (1 GB free no longer binds: the side cap, FFT_TILE_SIDE, already keeps tiles under it)
    monkeypatch.setattr(fft_domain, "host_available_bytes", lambda: 2**29)
    assert fft_domain.fft_memory_budget() == 2**29 // 4
    small = classical.plan_fft_tile(image, psf)
    assert all(s <= r for s, r in zip(small, roomy)) and small != roomy
    assert classical.fft_working_bytes(small, psf) <= 2**29 // 4

    # a system that cannot say keeps the fixed budget
    monkeypatch.setattr(fft_domain, "host_available_bytes", lambda: None)
    assert fft_domain.fft_memory_budget() == fft_domain.FFT_MEMORY_BUDGET
    assert classical.plan_fft_tile(image, psf) == roomy


def test_tiles_are_fast_lengths_where_the_padded_fft_is_no_longer():
    # the DCT path (symmetric PSF, CPU) transforms the tile itself: the halves of an 8192 px
    # plane were 4153 px, a prime
    tile = classical.plan_fft_tile((8192, 8192), (13, 13), budget_bytes=2 * 2**30)
    assert tile[0] < 8192
    for t in tile:
        assert classical.fast_length(t) == t
    # the padded path's FFT is as long as the old tile's was
    old_length = 4153 + sum(classical.extension_plan((4153, 8192), (13, 13))[0][:2])
    assert sum(classical.extension_plan(tile, (13, 13))[0][:2]) + tile[0] <= old_length


def test_a_cached_transfer_evicted_by_another_thread_mid_lookup_is_no_key_error():
    """``TransferCache.get`` tested membership, then read the entry: another thread's
    eviction between the two raised KeyError. The interleaving is played by an entry table
    that loses the key right after the membership test."""
    import torch

    from napari_microdeblur.core.fft_domain import TransferCache

    class EvictedAfterTest(dict):
        def __contains__(self, key):
            found = super().__contains__(key)
            self.pop(key, None)  # the other thread's eviction lands here
            return found

        def move_to_end(self, key):
            pass

    cache = TransferCache()
    cache._entries = EvictedAfterTest({("k",): torch.ones(2)})
    value = cache.get(("k",), lambda: torch.zeros(2))
    assert value.shape == (2,)
