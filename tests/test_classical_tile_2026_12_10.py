"""The default tile of classical deconvolution (walkthrough: a 16384 px uint8 plane ran Wiener
in 5506 x 8232 tiles, 25.4 s and 2165 MB, against 11.0 s and 743 MB in 1024 px tiles).

The planner cut tiles as large as a 2 GiB working set allows; larger FFT tiles are slower per
pixel (out of the CPU caches, and fresh pages for every array) and the merge band spans a
whole tile of rows. Now a blurred axis longer than ``FFT_TILE_SIDE`` plus twice the halo is
cut into tiles of at most that, of fast lengths, in as few tiles as that side allows; an image
within it still runs whole (benchmark crops do not move).

Measured on this project's 2-core machine (medians of 2 runs alternated old/new, load 1.2-1.4,
memmapped input and out=, peak private RSS; RL 10 iterations, Wiener balance 0.01, PSF
gaussian:1.6):

    plane, threads        old tile      s     MB  | new tile      s     MB
    Wiener 4096 u8, 1     whole        1.0   398  | 2100 x 2100  0.8   330
    Wiener 8192 u8, 1     4200 x 8192  4.9  1248  | 2100 x 2100  2.5   544
    Wiener 8192 u8, 2     4200 x 8192  3.8  1247  | 2100 x 2100  2.1   540
    Wiener 16384 u8, 2    5506 x 8232 26.1  2010  | 2100 x 2100 11.7   838
    RL 4096 f32, 1        whole        6.1   370  | 2100 x 2100  4.6   297
    RL 8192 u8, 1         4200 x 8192 32.2  1117  | 2100 x 2100 18.5   519
    RL 8192 u8, 2         4200 x 8192 17.2  1118  | 2100 x 2100 12.6   514

1080 px tiles (FFT_TILE_SIDE 1024) were faster still at 1 thread (RL 8192: 12.5 s, 0.3 GB),
but with 2 threads beside another busy process slower than the old tiles (37 s against 32 s;
2100 px: 23 s): small FFTs pay for every thread a busy core delays."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

import napari_microdeblur
from napari_microdeblur.core import classical, fft_domain, tiling
from napari_microdeblur.core.inference import iter_deblur
from napari_microdeblur.core.progress import drive

PSF = (15, 15)  # gaussian:1.6
TWO_GIB = 2 * 2**30


@pytest.mark.parametrize("n", [4096, 8192, 16384])
def test_a_plane_wider_than_the_side_is_cut_into_fast_tiles_of_at_most_it(n):
    halo = max(classical.psf_halo(PSF))
    tile = classical.plan_fft_tile((n, n), PSF, budget_bytes=TWO_GIB)
    side = fft_domain.FFT_TILE_SIDE
    assert max(tile) <= side + 2 * halo  # was (4200, 8192) at 8192 px, the whole at 4096
    for t in tile:
        assert classical.fast_length(t) == t  # the DCT path transforms the tile itself
    # as few tiles as the side allows: a power-of-two plane in side-wide strips
    plan = tiling.plan_tiles((n, n), tile, halo)
    assert plan.starts[0] == plan.starts[1] and len(plan.starts[0]) == math.ceil(n / side)


@pytest.mark.parametrize("shape, psf", [
    ((1024, 1024), PSF),
    ((2048, 2048), PSF),  # a common camera frame
    ((2112, 724), PSF),  # 2048 plus the overlap on both ends
    ((64, 512, 512), (17, 25, 25)),
    # a stack under a per-plane PSF: Z is not transformed, so the side does not bound it
    ((40, 1024, 1024), (1, 15, 15)),
])
def test_an_image_within_the_side_and_the_budget_runs_whole(shape, psf):
    assert classical.plan_fft_tile(shape, psf, budget_bytes=TWO_GIB) == shape


def test_the_tile_is_a_fast_length_where_its_padded_fft_is_a_little_longer():
    # 4096 px in two tiles of at most 2112: 2100 (padded to 2187), not 2067 = 3 x 13 x 53
    # (padded to 2160), whose unpadded DCT is slow
    assert classical.plan_fft_tile((4096, 4096), PSF, budget_bytes=TWO_GIB,
                                   side=2048) == (2100, 2100)
    # the budget-only plan (no side) keeps fast lengths too
    big = classical.plan_fft_tile((8192, 8192), (13, 13), budget_bytes=TWO_GIB, side=8192)
    assert big[1] == 8192 and classical.fast_length(big[0]) == big[0]
    with pytest.raises(ValueError, match="side"):
        classical.plan_fft_tile((4096, 4096), PSF, side=0)


def _texture(shape, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sharp = ndimage.zoom(rng.random((shape[0] // 8 + 1, shape[1] // 8 + 1)), 8, order=1)
    blurred = ndimage.gaussian_filter(sharp[: shape[0], : shape[1]], 1.6)
    return (200 * blurred + rng.poisson(5, shape)).astype(np.float32)


@pytest.mark.parametrize("method, options", [
    ("wiener", {"balance": 0.01}),
    ("richardson_lucy", {"iterations": 10}),
])
def test_the_default_tiles_give_the_whole_image_result(monkeypatch, method, options):
    # a small side stands in for 1024+ px so the test stays fast; the tiler is the same
    monkeypatch.setattr(fft_domain, "FFT_TILE_SIDE", 192)
    image = _texture((520, 470))
    run = dict(method=method, psf="gaussian:1.6", device="cpu", **options)
    tiled = drive(iter_deblur(image, **run))
    assert max(tiled.tile) <= 192 + 64
    whole = drive(iter_deblur(image, tile=image.shape, **run))
    assert whole.tile == image.shape
    # within the seam error psf_halo allows (4e-4 and 1.2e-4 of the range measured here)
    assert np.abs(tiled.image - whole.image).max() / float(image.max()) < 1e-3


# the child runs the default path with FFT_TILE_SIDE at 1024 on a 4096 px plane: the old
# planner ran it whole (4096 px fits the 2 GiB budget, as 4200 x 8192 tiles cut 8192 px), in
# a quarter of the 8192 px run's time; the default side's tile is bounded in-process below
_CHILD = """
import re, sys
import numpy as np
from napari_microdeblur.core import fft_domain
from napari_microdeblur.core.inference import deblur
def status(key):
    return int(re.search(key + r":\\s+(\\d+)", open("/proc/self/status").read()).group(1)) * 1024
n, fft_domain.FFT_TILE_SIDE = int(sys.argv[1]), int(sys.argv[2])
block = np.random.default_rng(0).integers(0, 251, (512, 512), dtype=np.uint8)
image = np.tile(block, (n // 512, n // 512))
out = np.zeros((n, n), np.float32); out[:] = 1  # the result's pages, counted before
base = status("VmRSS")
open("/proc/self/clear_refs", "w").write("5")
deblur(image, method="wiener", psf="gaussian:1.6", balance=0.01, axes="YX", device="cpu",
       out=out)
print(status("VmHWM") - base)
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(),
                    reason="needs Linux /proc/self/clear_refs")
def test_the_default_tiling_of_an_8192_px_plane_holds_far_less_than_the_budget():
    # the default side's tile of an 8192 px plane: 2100 x 2100 (209 MB of FFT working set),
    # was 4200 x 8192 (1164 MB, measured 1.25 GB of peak)
    tile = classical.plan_fft_tile((8192, 8192), PSF)
    assert fft_domain.fft_working_bytes(tile, PSF) < 400 * 2**20, tile
    src = str(Path(napari_microdeblur.__file__).resolve().parents[1])
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", _CHILD, "4096", "1024"], capture_output=True,
                          text=True, env=env, timeout=300)
    if done.returncode and "clear_refs" in done.stderr:
        pytest.skip("this kernel does not let a process reset its peak memory")
    assert done.returncode == 0, done.stderr
    peak = int(done.stdout.split()[-1])
    # measured 396 MB whole (the old planner's tile here); the side's tiles 170 MB
    assert peak < 280 * 2**20, f"peak {peak / 2**20:.0f} MB"


def test_the_docks_auto_tile_of_a_classical_method_is_the_planners_side(monkeypatch):
    """'auto' sized classical tiles by memory alone: 2048 px, which cut a 4096 px plane into
    3 x 3 tiles (2.25x the pixels) and ran slower than the whole plane."""
    from napari_microdeblur.core import memory
    from napari_microdeblur.core.method import classical_method

    monkeypatch.setattr(memory, "free_memory_bytes", lambda device: 16 * 2**30)
    method = classical_method("wiener", "gaussian:1.6")
    side = memory.auto_tile_size(method, "cpu")
    limit = fft_domain.FFT_TILE_SIDE
    assert side <= limit + 2 * method.overlap and classical.fast_length(side) == side
    for n in (2048, 4096, 8192):
        plan = tiling.plan_tiles((n, n), side, method.overlap)
        assert len(plan.starts[0]) == max(1, n // limit)
