"""Tiling edges (2026-12-22 tiling walkthrough):

- a network's tile just above its overlap stepped 2 px, off its size divisor's grid: the PSF-aware
  network at tile=128 (overlap 126) differed from the whole image by 0.75 % of the range and cut
  a 301 x 317 image into 8633 tiles;
- a 3D tile was checked on every axis against the PSF's widest reach: (8, 48, 48) under a
  7 x 11 x 11 PSF was refused, advising 'at least 64' for a 28-plane stack;
- float32 values worked in float64 past float32's range were cast to inf, with numpy's overflow
  warning alone (float16 was already clipped and counted).
"""

import re
import warnings

import numpy as np
import pytest
import torch.nn.functional as F

from napari_microdeblur.core import tiling
from napari_microdeblur.core.axes import Layout
from napari_microdeblur.core.inference import deblur
from napari_microdeblur.core.method import Method, classical_method
from napari_microdeblur.core.notes import DeblurWarning
from napari_microdeblur.core.tile_options import tile_options
from napari_microdeblur.core.tiling_spec import TilingSpec


def _blocky(halo: int = 15) -> Method:
    """A network that sees the image on an 8 px grid, as one that downsamples by 8 does: the
    mean of each 8 x 8 block. A tile off that grid averages other blocks."""
    def forward(x):
        return F.interpolate(F.avg_pool2d(x, 8), scale_factor=8, mode="nearest")

    return Method(name="blocky", forward=forward, halo=halo, size_divisor=8)


# ----------------------------------------------------------------------------- issue 1: grid


def test_a_plan_just_above_its_overlap_steps_on_the_divisor_grid():
    """tile 128 under an overlap of 126 (the walkthrough's): starts on the 8 px grid, 16 tiles
    and not 169 (a 2 px step)."""
    plan = tiling.plan_tiles((150, 150), 128, 126, size_divisor=8)
    assert all(s % 8 == 0 for axis in plan.starts for s in axis), plan.starts
    assert plan.overlap == (120, 120) and len(plan) == 16


def test_a_tile_just_above_the_default_overlap_runs_it_trimmed_and_exact():
    """tile 32 against a default overlap of 30: the overlap is trimmed to 24 (said by the low
    overlap warning), every tile starts on the grid and the result is the whole image's."""
    image = np.random.default_rng(0).random((64, 64), dtype=np.float32)
    method = _blocky()
    layout = Layout.for_method("YX", image.shape, method)
    with pytest.warns(DeblurWarning, match="leaves room for an overlap of 24 px, below the 30"):
        options = tile_options(method, layout, TilingSpec(tile=32, device="cpu"))
    assert options.overlap == (24, 24)
    whole = deblur(image, method=method, tile=64, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeblurWarning)
        tiled = deblur(image, method=method, tile=32, device="cpu")
    np.testing.assert_allclose(tiled, whole, rtol=0, atol=1e-5)


def test_a_given_overlap_that_leaves_no_grid_step_is_refused_with_both_fixes():
    method = _blocky(halo=60)
    layout = Layout.for_method("YX", (150, 150), method)
    with pytest.raises(ValueError) as info:
        tile_options(method, layout, TilingSpec(tile=128, overlap=126, device="cpu"))
    message = str(info.value)
    assert "step of 2 px, under the 8 px grid" in message and "\n" not in message
    assert "give overlap= at most 120, or a tile of at least 136 px" in message
    # both fixes run: no refusal
    for tile, overlap in ((128, 120), (136, 126)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeblurWarning)
            ran = tile_options(method, layout, TilingSpec(tile=tile, overlap=overlap,
                                                          device="cpu"))
        assert ran.overlap == (overlap, overlap)


# ----------------------------------------------------------------------------- issue 2: 3D


def _psf_7x11x11() -> np.ndarray:
    z, y, x = np.mgrid[-3:4, -5:6, -5:6]
    psf = np.exp(-(z**2 / (2 * 1.2**2) + (y**2 + x**2) / (2 * 1.5**2))).astype(np.float32)
    return psf / psf.sum()


def test_a_3d_tile_is_checked_per_axis_against_the_psf():
    """Z = 8 planes holds a 7-plane PSF's reach (3 each side): not refused, and it runs."""
    method = classical_method("richardson_lucy", _psf_7x11x11(), iterations=2)
    stack = np.random.default_rng(1).random((28, 64, 64), dtype=np.float32) + 0.1
    layout = Layout.for_method("ZYX", stack.shape, method)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeblurWarning)  # the overlap below 32: seams, said
        options = tile_options(method, layout, TilingSpec(tile=(8, 48, 48), device="cpu"))
        out = deblur(stack, axes="ZYX", method="richardson_lucy", psf=_psf_7x11x11(),
                     iterations=2, tile=(8, 48, 48), device="cpu")
    assert options.tile == (8, 48, 48) and options.overlap[0] < 8
    assert out.shape == stack.shape and np.isfinite(out).all()


def test_a_3d_refusal_names_the_axis_and_advises_no_more_than_the_stack():
    method = classical_method("richardson_lucy", _psf_7x11x11(), iterations=2)
    shape = (28, 96, 96)
    layout = Layout.for_method("ZYX", shape, method)
    with pytest.raises(ValueError) as info:
        tile_options(method, layout, TilingSpec(tile=(4, 48, 48), device="cpu"))
    message = str(info.value)
    assert "receptive field of 'richardson_lucy' along Z (7 px)" in message
    advised = re.search(r"use a tile of at least \(([\d, ]+)\)$", message)
    assert advised, message
    tile = tuple(int(v) for v in advised.group(1).split(","))
    assert all(t <= n for t, n in zip(tile, shape)) and tile[0] == 28, tile
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeblurWarning)
        tile_options(method, layout, TilingSpec(tile=tile, device="cpu"))  # runs


# ----------------------------------------------------------------------------- issue 3: float32


def test_float32_worked_in_float64_past_its_range_is_clipped_and_counted():
    x = np.array([[1.0, 2.0, -3.0, 1e-3]], np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("error", RuntimeWarning)  # numpy's 'overflow in cast' was all
        out = tiling.map_in_pieces(x, np.float32, lambda p: np.multiply(p, 1e300, out=p),
                                   np.float64)
    top = np.finfo(np.float32).max
    np.testing.assert_array_equal(out, np.array([[top, top, -top, top]], np.float32))
    said = [str(w.message) for w in caught if issubclass(w.category, DeblurWarning)]
    assert len(said) == 1, said
    assert "4 of 4 values (100 %) clipped to the range -3.40282e+38 to 3.40282e+38 for " \
           "float32 output (3 above 3.40282e+38, 1 below -3.40282e+38)" in said[0]
    assert "set the output dtype to input" in said[0]


def test_a_constant_past_float32_s_range_works_in_float64():
    """The normalisation of a float64 image of 1e300 made float32 work multiply by inf."""
    assert tiling.work_type(np.float32, 1e300, 0.0) is np.float64
    assert tiling.work_type(np.float32, 1e3, -5.0) is np.float32
    assert tiling.work_type(np.uint32) is np.float64  # as before


def test_float32_from_float32_work_is_left_bit_for_bit_and_unsaid():
    x = np.random.default_rng(2).random((3, 5), dtype=np.float32) * 1e38
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = tiling.map_in_pieces(x, np.float32, lambda p: np.multiply(p, 2, out=p),
                                   np.float32)
    np.testing.assert_array_equal(out, x * np.float32(2))


def test_a_network_on_an_image_beyond_float32_gives_finite_float32_with_a_count():
    """A float64 image above float32's range (x 1e300) came out all inf from a network,
    with only numpy's 'overflow encountered in cast'; now clipped and counted, as float16."""
    import warnings

    from napari_microdeblur.core.inference import deblur
    from napari_microdeblur.core.notes import DeblurWarning

    image = np.random.default_rng(0).random((48, 48)) * 1e300
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = deblur(image, method="gran.em_v1", device="cpu", axes="YX")
    assert out.dtype == np.float32 and np.isfinite(out).all()
    said = [str(w.message) for w in caught if issubclass(w.category, DeblurWarning)]
    assert any("for float32 output" in line for line in said), said
    assert not any(issubclass(w.category, RuntimeWarning) for w in caught)
