"""Planes of one value pass through every method bit for bit with one DeblurNote
(``core.flat_planes``); an image clipped in plateaus at its maximum gets one DeblurNote naming
the clipping (``core.plateaus``), an image with a few hot pixels or none does not."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import ndimage

from napari_microdeblur.core.inference import deblur
from napari_microdeblur.core.notes import DeblurNote

METHODS = [("auto", {}), ("wiener", {"psf": "gaussian:2"}),
           ("richardson_lucy", {"psf": "gaussian:2"}), ("auto", {"psf": "gaussian:2"})]


def _run(image, axes, method, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = deblur(image, method=method, axes=axes, **kw)
    return out, caught


def _lines(caught, word):
    return [w for w in caught if word in str(w.message)]


def _sample(seed=0, shape=(3, 64, 64)):
    return ndimage.gaussian_filter(np.random.default_rng(seed).random(shape), 1).astype(
        np.float32) * 100


@pytest.mark.parametrize("method,kw", METHODS)
def test_an_empty_plane_of_a_stack_comes_back_as_it_was(method, kw):
    stack = _sample()
    stack[1] = 0
    out, caught = _run(stack, "ZYX", method, **kw)
    assert np.array_equal(out[1], stack[1])  # bit for bit: no network bias
    assert not np.array_equal(out[0], stack[0])  # the others were deblurred
    said = _lines(caught, "single value")
    assert len(said) == 1 and said[0].category is DeblurNote
    assert "1 of 3 planes" in str(said[0].message)


@pytest.mark.parametrize("method,kw", METHODS)
@pytest.mark.parametrize("image", [np.full((64, 64), 7.25, np.float32),
                                   np.full((64, 64), 300, np.uint16)], ids=["f32", "u16"])
def test_an_image_of_one_value_comes_back_as_it_was(image, method, kw):
    for dtype in ("float32", "input"):
        out, caught = _run(image, "YX", method, output_dtype=dtype, **kw)
        assert np.array_equal(out, image.astype(out.dtype))
        assert len(_lines(caught, "single value")) == 1


@pytest.mark.parametrize("method,kw", METHODS)
def test_an_rgb_image_of_one_colour_comes_back_as_it_was(method, kw):
    rgb = np.broadcast_to(np.array([10, 200, 30], np.uint8), (64, 64, 3)).copy()
    out, caught = _run(rgb, "YXS", method, **kw)
    assert np.array_equal(out, rgb.astype(np.float32))
    assert len(_lines(caught, "single value")) == 1


def test_a_plane_flat_only_in_its_first_rows_is_deblurred():
    stack = _sample(shape=(2, 160, 48))
    stack[1, :64] = 0  # its first strip read (``flat_planes.STRIP_ROWS``) flat, not the rest
    out, caught = _run(stack, "ZYX", "wiener", psf="gaussian:2")
    assert not _lines(caught, "single value")


def _share(image, axes="YX"):
    from napari_microdeblur.core import plateaus  # here: the flat tests run without it

    return plateaus.plateau_share(image, axes)[0], plateaus.PLATEAU_SHARE


def _clipped(share, seed=3):
    """A blurred, noisy uint16 image clipped at 4095 with ``share`` of its pixels at the top
    (as a 12-bit camera saturates)."""
    rng = np.random.default_rng(seed)
    sharp = np.zeros((192, 192))
    sharp[rng.integers(8, 184, 40), rng.integers(8, 184, 40)] = 1
    blurred = ndimage.gaussian_filter(ndimage.gaussian_filter(sharp, 3) * 3e5, 2) + 200
    blurred += rng.normal(0, 5, blurred.shape)
    level = np.quantile(blurred, 1 - share)
    return np.round(np.minimum(blurred, level) * 4095 / level).astype(np.uint16)


@pytest.mark.parametrize("method,kw", METHODS[:3])
def test_saturated_plateaus_get_one_note(method, kw):
    image = _clipped(0.01)
    assert 0.008 < _share(image)[0] < 0.012
    before = image.copy()
    _, caught = _run(image, "YX", method, **kw)
    said = _lines(caught, "flat plateaus")
    assert len(said) == 1 and said[0].category is DeblurNote
    assert "4095" in str(said[0].message) and "PSF" in str(said[0].message)
    assert np.array_equal(image, before)  # the input is untouched


def test_no_note_below_the_threshold_or_for_hot_pixels():
    image = _clipped(0.0005)
    share, threshold = _share(image)
    assert share < threshold
    _, caught = _run(image, "YX", "wiener", psf="gaussian:2")
    assert not _lines(caught, "flat plateaus")
    hot = _clipped(0.0)
    hot.ravel()[np.random.default_rng(1).choice(hot.size, 400, replace=False)] = 65535
    assert _share(hot)[0] == 0.0  # isolated pixels are no plateau
    _, caught = _run(hot, "YX", "wiener", psf="gaussian:2")
    assert not _lines(caught, "flat plateaus")


def test_plateaus_are_counted_per_plane():
    stack = np.zeros((2, 32, 32), np.uint8)
    stack[0, 10:12, 10:12] = 255  # 4 px: under PLATEAU_PIXELS
    stack[1, 10:12, 10] = 255  # 2 px above it in the next plane: not joined
    assert _share(stack, "ZYX")[0] == 0.0
    stack[0, 12, 10] = 255
    assert _share(stack, "ZYX")[0] == pytest.approx(5 / stack.size)
