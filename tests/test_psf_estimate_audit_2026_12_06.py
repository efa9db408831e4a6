"""Audit of the PSF estimated from the image (core.psf_estimate) on what first images hold:
EM scan lines and row offsets, hot camera pixels."""

import numpy as np
import pytest
from scipy import ndimage, signal

from napari_microdeblur.core.inference import deblur
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.psf import gaussian_psf
from napari_microdeblur.core.psf_estimate import estimate_psf, gcv_balance


def _texture(seed: int = 5, side: int = 256) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = sum(ndimage.gaussian_filter(rng.random((side, side)), s) * s for s in (1, 3, 8))
    return (x - x.min()) / np.ptp(x)


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    padded = np.pad(x, 40, mode="symmetric")
    return signal.fftconvolve(padded, gaussian_psf(sigma), mode="same")[40:-40, 40:-40]


def _rmse(a, b) -> float:
    return float(np.sqrt(np.mean((a[16:-16, 16:-16] - b[16:-16, 16:-16]) ** 2)))


def _stripes(kind: str) -> np.ndarray:
    if kind == "rows":  # an EM scan's line-to-line offsets
        return np.random.default_rng(9).normal(0, 0.03, (256, 1))
    return 0.05 * (np.arange(256) % 4 < 2)[:, None]  # scan lines, period 4 px


@pytest.mark.parametrize("kind", ["rows", "lines"])
def test_scan_lines_are_not_read_as_blur(kind):
    # before: row offsets gave astig:1.89,0.26,0 and period-4 lines astig:2.72,1.86,0 for 1.5
    image = _blur(_texture(), 1.5) + _stripes(kind)
    image = image + np.random.default_rng(1).normal(0, 0.01, image.shape)
    est = estimate_psf(image)
    assert abs(np.sqrt(est.sigma_major * est.sigma_minor) - 1.5) < 0.2
    assert est.sigma_minor > 0.8 * est.sigma_major


def test_auto_on_an_em_image_with_scan_lines_is_no_worse_than_the_input():
    # before: the estimate astig:2.85,1.86,0 made auto 1.8x further from the truth than the input
    truth = _texture() + _stripes("lines")
    image = _blur(_texture(), 1.5) + _stripes("lines")
    image = (image + np.random.default_rng(9).normal(0, 0.01, image.shape)).astype(np.float32)
    with pytest.warns(UserWarning, match="estimated from the image"):
        out = deblur(image, method=MethodSpec("auto", modality="em"), device="cpu")
    assert _rmse(out, truth) < _rmse(image, truth)


def test_wiener_balance_auto_is_not_fooled_by_row_offsets():
    # before: the balance fell to 2.5e-6 and Wiener's output was 28x further from the truth
    truth = _texture() + _stripes("rows")
    image = _blur(_texture(), 1.0) + _stripes("rows")
    image = (image + np.random.default_rng(9).normal(0, 0.01, image.shape)).astype(np.float32)
    balance = gcv_balance(image, gaussian_psf(1.0))
    out = deblur(image, method="wiener", psf="gaussian:1.0", balance=balance)
    assert _rmse(out, truth) < 1.5 * _rmse(image, truth)


def test_hot_pixels_do_not_widen_the_estimate():
    # before: 25 hot pixels of a uint16 camera image turned 1.46 px into astig:6.60,4.62
    rng = np.random.default_rng(0)
    image = rng.poisson(_blur(_texture(0), 1.5) * 3000 + 300).astype(np.uint16)
    clean = estimate_psf(image)
    image[rng.integers(0, 256, 25), rng.integers(0, 256, 25)] = 65535
    image[0, 100] = 65535  # on the border too
    hot = estimate_psf(image)
    assert abs(hot.sigma_major - clean.sigma_major) < 0.15 * clean.sigma_major
    assert abs(hot.sigma_minor - clean.sigma_minor) < 0.15 * clean.sigma_minor


def test_sharp_fluorescent_points_are_not_taken_for_hot_pixels():
    from napari_microdeblur.core.psf_estimate import _without_spikes

    points = np.zeros((64, 64))
    points[np.arange(8, 60, 8), np.arange(8, 60, 8)] = 1000.0
    blurred = _blur(points, 0.7)
    np.testing.assert_array_equal(_without_spikes(blurred), blurred)
