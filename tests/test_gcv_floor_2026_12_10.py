"""Wiener's balance 'auto' where GCV's minimum is the smallest balance searched (a PSF wider
than the image's blur, an unblurred image): the fixed balance and one line saying why, not
1e-6 (a sharp EM crop deblurred with gaussian:1.6 came out -5743..5634 on 0-255 data)."""

import warnings

import numpy as np
import pytest
from scipy import ndimage

from napari_microdeblur.core.inference import deblur
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.options import FIXED_BALANCE
from napari_microdeblur.core.psf import gaussian_psf
from napari_microdeblur.core.psf_estimate import GCV_BALANCES, gcv_balance

FLOOR_LINE = "GCV found no noise to regularise"


def _discs(blur: float, seed: int = 3) -> np.ndarray:
    """8-bit cells (discs of random brightness) blurred by ``blur`` px, noise 2 levels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:256, :256]
    img = np.full((256, 256), 60.0)
    for _ in range(80):
        cy, cx, r, v = rng.uniform(0, 256), rng.uniform(0, 256), rng.uniform(3, 15), \
            rng.uniform(80, 250)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = v
    img = ndimage.gaussian_filter(img, blur)
    return np.clip(img + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("scale, dtype", [(1, np.uint8), (257, np.uint16)])
def test_a_psf_wider_than_the_blur_takes_the_fixed_balance_with_a_line(scale, dtype):
    image = _discs(0.8).astype(dtype) * dtype(scale)  # blurred 0.8 px, deblurred with 2.5
    psf = gaussian_psf(2.5)
    with pytest.warns(UserWarning, match=f"{FLOOR_LINE} .*smallest balance searched, 1e-06\\)"
                      ": the PSF looks wider than the image's blur, or the image is not "
                      "blurred; took the fixed balance 0.01 instead. Give a narrower PSF"):
        assert gcv_balance(image, psf) == FIXED_BALANCE
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = deblur(image, method=MethodSpec("wiener", psf=psf, balance="auto"), axes="YX",
                     device="cpu")
    lines = [str(w.message) for w in caught]
    assert sum(FLOOR_LINE in line for line in lines) == 1, lines
    assert any(line.startswith(f"wiener: balance {FIXED_BALANCE:g} ") for line in lines), lines
    # at 1e-6: -7856..5634 (x scale), 78 % of pixels outside the data's range; at 0.01: 13 %
    top = 255.0 * scale
    assert np.abs(out).max() < 4 * top
    assert np.mean((out < 0) | (out > top)) < 0.2


def test_a_matching_psf_keeps_the_gcv_balance_and_says_nothing_more():
    image = _discs(1.6)
    psf = gaussian_psf(1.6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no floor line
        balance = gcv_balance(image, psf)
    assert GCV_BALANCES[0] < balance < FIXED_BALANCE  # its own choice (0.0025), not the fallback


def test_a_3d_psf_takes_the_fixed_balance_with_a_line_not_a_numpy_error():
    """Wiener 'auto' with a 3D PSF on a z-stack said "the fixed value; could not broadcast
    input array from shape (23,21,21) into shape (23,21)" (a bead walkthrough, 2026-12-10)."""
    rng = np.random.default_rng(0)
    stack = rng.random((12, 64, 64)).astype(np.float32)
    zz, yy, xx = np.mgrid[-3:4, -5:6, -5:6]
    psf = np.exp(-(xx ** 2 + yy ** 2) / 4.0 - zz ** 2 / 2.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        deblur(stack, method=MethodSpec("wiener", psf=psf, balance="auto"), axes="ZYX",
               device="cpu")
    lines = [str(w.message) for w in caught if str(w.message).startswith("wiener: balance")]
    assert lines == [f"wiener: balance {FIXED_BALANCE:g} (balance 'auto': the fixed value; GCV "
                     "judges a 2D PSF and this one has 7 planes: give a number to set it)"], lines
