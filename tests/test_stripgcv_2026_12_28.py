"""Wiener's balance 'auto' (GCV) on strips: it judged a square of the short side at the centre
(47 x 47 of a 47 x 1024 fluorescence strip, mostly background), chose balance 10 where the
image the strip was cut from chose 0.25, and the output came out 2.2 dB below the input."""

import warnings

import numpy as np
import pytest
from scipy import ndimage

from napari_microdeblur.core.inference import deblur
from napari_microdeblur.core.psf import gaussian_psf
from napari_microdeblur.core.psf_estimate import gcv_balance_read

PSF = gaussian_psf(1.6)


def _speckles(ny: int, nx: int, empty_centre: int = 0, seed: int = 5):
    """(sharp, blurred) 12-bit speckles on a dark background (as h2ax foci), none within
    ``empty_centre`` px of the middle column; blurred 1.6 px over the whole field, noise."""
    rng = np.random.default_rng(seed)
    sharp = np.full((ny, nx), 100.0)
    spots = rng.integers(0, [ny, nx], size=(ny * nx // 60, 2))
    spots = spots[np.abs(spots[:, 1] - nx // 2) > empty_centre]
    sharp[spots[:, 0], spots[:, 1]] += rng.uniform(500, 3500, len(spots))
    sharp = ndimage.gaussian_filter(sharp, 0.7)
    blurred = ndimage.gaussian_filter(sharp, 1.6, mode="reflect")
    blurred = blurred + rng.normal(0, 0.005 * sharp.max(), blurred.shape)
    return sharp, np.clip(np.round(blurred), 0, 4095).astype(np.uint16)


def _psnr(x, ref):
    mse = np.mean(((x.astype(float) - ref.astype(float)) / float(ref.max())) ** 2)
    return 10 * np.log10(1 / mse)


def test_a_strip_gets_about_its_parent_balance_and_is_not_made_worse():
    sharp, blurred = _speckles(256, 1024, empty_centre=40)
    parent, _, _ = gcv_balance_read(blurred.astype(float), PSF)
    strip_sharp, strip = sharp[104:151], blurred[104:151]  # 47 x 1024, the centre empty
    balance, _, at_floor = gcv_balance_read(strip.astype(float), PSF)
    assert not at_floor
    assert parent / 6 <= balance <= parent * 6, (balance, parent)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = deblur(strip, method="wiener", psf="gaussian:1.6", balance="auto",
                     output_dtype="float32")
    assert _psnr(out, strip_sharp) > _psnr(strip, strip_sharp) + 1.0


def test_the_run_line_names_the_strip_balance():
    _, blurred = _speckles(256, 1024, empty_centre=40)
    strip = blurred[104:151]
    with pytest.warns(UserWarning, match=r"wiener: balance (\S+) \(balance 'auto'") as record:
        deblur(strip, method="wiener", psf="gaussian:1.6", balance="auto")
    line = next(str(w.message) for w in record if "wiener: balance" in str(w.message))
    assert float(line.split()[2]) < 1.0, line


@pytest.mark.parametrize("side", [256, 512])
def test_a_square_of_the_crop_or_larger_reads_the_same_spectrum_as_before(side):
    from napari_microdeblur.core.psf_estimate import _Spectrum, balance_crop_sides

    _, blurred = _speckles(side, side, seed=side)
    plane = blurred.astype(float)
    assert balance_crop_sides(side, side, 256) == (256, 256)
    square, rectangle = _Spectrum(plane, 256, data_floor=True), \
        _Spectrum(plane, (256, 256), data_floor=True)
    assert np.array_equal(square.weighted_power, rectangle.weighted_power)
    assert np.array_equal(square.lap2, rectangle.lap2)


@pytest.mark.parametrize("shape, sides", [((47, 1024), (47, 1024)), ((30, 4000), (30, 2184)),
                                          ((1024, 64), (1024, 64)), ((100, 100), (100, 100)),
                                          ((300, 700), (256, 256))])
def test_gcv_reads_the_long_side_of_a_strip(shape, sides):
    from napari_microdeblur.core.psf_estimate import balance_crop_sides

    assert balance_crop_sides(*shape, 256) == sides
