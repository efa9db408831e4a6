"""Arrays given to the Python API (fixes of 2026-12-21): a float16 result of
output_dtype='input' clipped to float16's range and counted (it held +inf), torch tensors in
focus scoring and evaluate taken as deblur takes them, a refused array named by its public
type, evaluate's axis check before its constant check, and focus scores of tiny or huge
planes."""

import warnings

import numpy as np
import pytest
import torch
from scipy import ndimage

import napari_microdeblur as md
from napari_microdeblur.core import focus, tiling
from napari_microdeblur.core.degrade import degrade
from napari_microdeblur.core.focus import focus_score, focus_scores, structure_tiles
from napari_microdeblur.core.metrics import evaluate, psnr
from napari_microdeblur.core.notes import DeblurNote, DeblurWarning


def _spots(scale=65000.0, dtype=np.float16) -> np.ndarray:
    """Blurred bright blocks at ``scale``: deconvolution overshoots their tops."""
    x = np.zeros((48, 48))
    x[10:20, 12:30] = 1.0
    x[28:40, 20:26] = 0.6
    x[33, 8] = 1.0
    x = ndimage.gaussian_filter(x, 1.5)
    return (x / x.max() * scale).astype(dtype)


def _texture(seed=0, shape=(64, 64)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.random(shape), 2.0).astype(np.float32)


# ----------------------------------------------------------------------------- float16 output


@pytest.mark.parametrize("kw", [dict(method="wiener", balance=0.01),
                                dict(method="richardson_lucy", iterations=10)])
def test_float16_input_keeps_finite_values_and_says_what_was_clipped(kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = md.deblur(_spots(), psf="gaussian:1.5", output_dtype="input", **kw)
    assert out.dtype == np.float16
    assert np.isfinite(out).all() and float(out.max()) == 65504.0
    said = [str(w.message) for w in caught if w.category is DeblurWarning
            and "clipped" in str(w.message)]
    assert len(said) == 1 and "float16 output" in said[0] and "above 65504" in said[0], said
    assert not any(w.category is RuntimeWarning for w in caught)  # numpy's overflow, gone


def test_map_in_pieces_clips_float16_counts_both_sides_and_notes_no_rounding():
    x = np.array([[1e5, -1e5, 1.5, np.nan]], np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = tiling.map_in_pieces(x, np.float16, lambda p: p, np.float32)
    assert out.dtype == np.float16
    np.testing.assert_array_equal(out, np.array([[65504, -65504, 1.5, np.nan]], np.float16))
    messages = [str(w.message) for w in caught]
    assert [w.category for w in caught] == [DeblurWarning], messages
    assert "2 of 4 values" in messages[0] and "1 above 65504, 1 below -65504" in messages[0]
    assert not any(w.category is DeblurNote for w in caught)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_and_float64_outputs_are_not_clipped_and_stay_bit_identical(dtype):
    x = np.array([[1e5, -1e5, 1.5, 1e30, np.nan]], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing counted, nothing said
        for work in (np.float32, np.float64):
            out = tiling.map_in_pieces(x, dtype, lambda p: np.multiply(p, 2, out=p), work)
            expected = (x.astype(work) * 2).astype(dtype)
            assert out.dtype == dtype and out.tobytes() == expected.tobytes()


@pytest.mark.filterwarnings("ignore::napari_microdeblur.core.notes.DeblurNote")
def test_a_float32_result_kept_as_the_input_type_is_the_float32_result_bit_for_bit():
    image = _spots(dtype=np.float32)
    kw = dict(method="wiener", psf="gaussian:1.5", balance=0.01)
    same = md.deblur(image, output_dtype="input", **kw)
    assert same.tobytes() == md.deblur(image, output_dtype="float32", **kw).tobytes()


# ----------------------------------------------------------------------------- torch tensors


def test_focus_scores_a_cpu_tensor_as_its_numpy_array_and_refuses_others_in_one_line():
    image = _texture()
    tensor = torch.from_numpy(image)
    assert focus_score(tensor) == focus_score(image)
    assert focus_score(torch.zeros(64, 64)) == 0.0
    np.testing.assert_array_equal(focus_score(tensor, tile=32), focus_score(image, tile=32))
    np.testing.assert_array_equal(structure_tiles(tensor, tile=32), structure_tiles(image, tile=32))
    stack = np.stack([image, image * 2])
    np.testing.assert_array_equal(focus_scores(torch.from_numpy(stack)), focus_scores(stack))
    with pytest.raises(TypeError, match=r"^image is a torch tensor on the meta device, which "):
        focus_score(torch.empty((64, 64), device="meta"))
    with pytest.raises(TypeError, match="bfloat16 tensor, which numpy cannot hold"):
        focus_score(tensor.bfloat16())


def test_evaluate_refuses_a_meta_tensor_and_scores_bfloat16_as_float32():
    reference = _texture(1) * 1000
    prediction = torch.from_numpy(reference * 1.01 + 3)
    with pytest.raises(TypeError, match="prediction is a torch tensor on the meta device"):
        evaluate(torch.empty((64, 64), device="meta"), reference)
    with pytest.raises(TypeError, match="ref is a torch tensor on the meta device"):
        psnr(reference, torch.empty((64, 64), device="meta"), data_range=1.0)
    half = prediction.bfloat16()
    assert evaluate(half, reference) == evaluate(half.float(), reference)
    assert psnr(half, reference, data_range=1000) == psnr(half.float(), reference,
                                                          data_range=1000)


# ----------------------------------------------------------------------------- wording


def test_degrade_names_a_refused_array_by_its_public_type_and_says_how_to_convert():
    da = pytest.importorskip("dask.array")
    with pytest.raises(TypeError, match=r"image is a dask\.array\.Array; accepted: a "
                                        r"numpy\.ndarray \(convert it: np\.asarray\(image\)\)"):
        degrade(da.zeros((64, 64)), "A")
    with pytest.raises(TypeError, match=r"torch\.Tensor.*image\.detach\(\)\.cpu\(\)\.numpy\(\)"):
        degrade(torch.zeros(64, 64), "A")
    with pytest.raises(TypeError, match="image is a list;"):
        degrade([[0.0]], "A")


@pytest.mark.parametrize("shape", [(), (1,), (64,)])
def test_evaluate_says_an_image_without_two_axes_has_too_few_not_that_it_is_constant(shape):
    with pytest.raises(ValueError, match="at least two spatial axes"):
        evaluate(np.full(shape, 5.0), np.full(shape, 5.0))


# ----------------------------------------------------------------------------- focus scale


@pytest.mark.parametrize("scale", [1e-12, 1e-20, 1e-30, 1e20])
def test_focus_score_does_not_depend_on_tiny_or_huge_intensities(scale):
    image = _texture(2)
    scaled = image * np.float32(scale)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # float32 overflow in the tile path was inf / NaN
        assert focus_score(scaled) == pytest.approx(focus_score(image), rel=1e-4)
        np.testing.assert_allclose(focus_score(scaled, tile=32), focus_score(image, tile=32),
                                   rtol=1e-4)
    # by a power of two it is exact
    assert focus_score(image * np.float32(2.0**-80)) == focus_score(image)


def _formula_scores(image, tile, pad=0) -> float | np.ndarray:
    """Scores by their formula (not the steps focus_score takes): the band-pass energy over
    the squared mean of the scored pixels, averaged over them, or per ``tile`` px square (0
    for one with none). ``pad``: a constant border that width, not scored with the DoG's
    reach (BORDER_MARGIN px) next to it."""
    plane = np.asarray(image, np.float32)
    energy = focus.band_pass_energy_map(torch.from_numpy(plane)[None])[0].double().numpy()
    valid = np.zeros(plane.shape, bool)
    cut = pad + int(focus.BORDER_MARGIN) if pad else 0
    valid[cut:plane.shape[0] - cut, cut:plane.shape[1] - cut] = True
    # the map is over the whole plane's mean^2: rescale to the scored pixels' mean^2
    energy *= (plane.mean(dtype=np.float64) / plane[valid].mean(dtype=np.float64)) ** 2
    energy[~valid] = np.nan
    if tile is None:
        return float(np.nanmean(energy))
    ny, nx = -(-plane.shape[0] // tile), -(-plane.shape[1] // tile)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a tile with no scored pixel
        means = np.array([[np.nanmean(energy[r * tile:(r + 1) * tile, c * tile:(c + 1) * tile])
                           for c in range(nx)] for r in range(ny)])
    return np.nan_to_num(means, nan=0.0)


@pytest.mark.parametrize(("image", "pad"), [
    ((_texture(3) * 255).astype(np.uint8), 0),
    ((_texture(4) * 4000 + 100).astype(np.uint16), 0),
    (_texture(5), 0),
    (_texture(6) * 1e4 - 0.3, 0),
    (np.pad(_texture(7), 20), 20),  # a constant border: the region path
])
@pytest.mark.parametrize("tile", [None, 32])
def test_ordinary_planes_are_scored_as_before(image, pad, tile):
    expected = _formula_scores(image, tile, pad)
    if tile is not None and pad:  # 4 x 4 tiles: the outer ones lie in the border
        assert np.all(expected[1:3, 1:3] > 0) and np.count_nonzero(expected) == 4
    np.testing.assert_allclose(focus_score(image, tile=tile), expected, rtol=1e-4)
