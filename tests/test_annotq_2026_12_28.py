"""Balance 'auto' (``gcv_balance_read``) on images whose plateaus or edge are continued first:
the data floor is the quantisation of the crop before the fill (a fill's values lie off the
data's grid, and the floor had read 0), and an edge fill is continued as ``estimate_psf`` and
the run do (EM with 40 px of zeros at the edge had hit the floor with the true PSF)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from napari_microdeblur.core import psf_estimate as pe
from napari_microdeblur.core.psf import gaussian_psf


def _blobs(seed: int, side: int, smooth: float, noise: float):
    """(the sharp scene, its 8-bit blur by sigma 2 with ``noise``)."""
    rng = np.random.default_rng(seed)
    scene = gaussian_filter(rng.random((side, side)), smooth)
    scene = (scene - scene.min()) / np.ptp(scene) * 255 * 0.7 + 255 * 0.05
    blurred = gaussian_filter(scene, 2.0) + rng.normal(0, noise, scene.shape)
    return scene, np.clip(np.round(blurred), 0, 255)


def _with_bar(image: np.ndarray) -> np.ndarray:
    """A white scale bar and four label strokes burned in after the blur."""
    barred = image.copy()
    barred[170:176, 120:176] = 255
    for x0 in (120, 130, 140, 150):
        barred[150:158, x0 : x0 + 2] = 255
    return barred


@pytest.mark.parametrize(("noise", "least_balance", "least_db"), [(0.0, 3e-4, 40.5),
                                                                  (0.3, 8e-4, 41.5)])
def test_bar_keeps_the_data_floor(noise, least_balance, least_db):
    # before: the filled crop's values lay off the integer grid, _quantisation read 0 and the
    # floor added nothing: 0.000158 / 38.4 dB (noise 0), 0.000398 / 38.9 dB (noise 0.3);
    # now 0.000398 / 41.3 dB and 0.001 / 42.2 dB (no bar: 0.000631, 0.00158)
    from napari_microdeblur.core.inference import deblur

    scene, blurred = _blobs(0, 192, 3.0, noise)
    barred = _with_bar(blurred)
    balance, _, at_floor = pe.gcv_balance_read(barred, gaussian_psf(2.0))
    assert not at_floor and balance >= least_balance
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = deblur(barred.astype(np.float32), method="wiener", psf="gaussian:2",
                     balance=balance, device="cpu")
    error = (out - scene)[20:140, 20:172]  # away from the bar
    assert 10 * np.log10((255 * 0.7) ** 2 / np.mean(error**2)) >= least_db


def test_floor_reads_the_unfilled_grid():
    # the spectrum of a barred crop carries the 8-bit grid's floor, not 0
    _, blurred = _blobs(0, 192, 3.0, 0.0)
    barred = _with_bar(blurred)
    with_floor = pe._Spectrum(barred, data_floor=True)
    without = pe._Spectrum(barred)
    assert with_floor.blocky == without.blocky
    step = pe._quantisation(barred[0:192, 0:192])
    assert step > 0.5
    extra = (with_floor.weighted_power - with_floor.weight * np.abs(with_floor.periodic) ** 2)
    expected = with_floor.weight * barred.size * step**2 / 12
    np.testing.assert_allclose(extra, expected, rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize(("seed", "smooth", "noise"), [(0, 1.5, 1.0), (0, 3.0, 2.0)])
def test_edge_fill_is_continued_for_the_balance(seed, smooth, noise):
    # 40 px of zeros at the left edge: before 0.01 at the floor (FIXED_BALANCE) and 0.0158
    # where the plain images chose 0.001 and 0.0398; now the plain image's balance
    _, blurred = _blobs(seed, 256, smooth, noise)
    padded = blurred.copy()
    padded[:, :40] = 0
    plain = pe.gcv_balance_read(blurred, gaussian_psf(2.0))
    got = pe.gcv_balance_read(padded, gaussian_psf(2.0))
    assert not got[2]
    assert got == plain


def test_plain_image_balance_unchanged():
    # no plateau, no edge fill: nothing is filled and the floor is the crop's own (pinned)
    _, blurred = _blobs(0, 192, 3.0, 0.0)
    assert pe.gcv_balance_read(blurred, gaussian_psf(2.0)) == (
        pytest.approx(6.309573444801936e-4, rel=1e-9), False, False)
