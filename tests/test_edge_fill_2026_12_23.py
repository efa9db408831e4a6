"""Edge fill (the black border of an aligned or stitched image) passed through a deblur, the
PSF estimate not following its edge, and plateaus at the minimum noted (core.edge_fill)."""

import warnings

import numpy as np
import pytest
from scipy import ndimage

from napari_microdeblur.core import plateaus
from napari_microdeblur.core.inference import deblur
from napari_microdeblur.core.psf_estimate import estimate_psf


def _blurred(n=128, sigma=1.6, seed=0):
    rng = np.random.default_rng(seed)
    sharp = ndimage.gaussian_filter(rng.random((n, n)), 1.0)
    sharp = (sharp - sharp.min()) / np.ptp(sharp)
    x = ndimage.gaussian_filter(sharp, sigma) * 200 + 30 + rng.normal(0, 1.0, (n, n))
    return np.clip(np.rint(x), 1, 255).astype(np.uint8)


def _wedge(x):
    yy, xx = np.mgrid[: x.shape[0], : x.shape[1]]
    out = x.copy()
    out[yy < (xx - 48) * 0.6] = 0  # a slanted black wedge at the top right
    return out, out == 0


def _run(x, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = deblur(x, axes="YX", **kw)
    return y, [str(w.message) for w in caught]


@pytest.mark.parametrize("method,kw", [("wiener", {"balance": 0.05}),
                                       ("richardson_lucy", {"iterations": 10})])
def test_an_edge_fill_comes_back_exactly_and_is_noted_once(method, kw):
    x, fill = _wedge(_blurred())
    y, said = _run(x, method=method, psf="gaussian:1.6", **kw)
    assert np.array_equal(y[fill], np.zeros(np.count_nonzero(fill), np.float32))
    assert sum("edge fill" in s for s in said) == 1
    # the image next to the fill rings no more than far from it
    band = ~fill & (ndimage.distance_transform_edt(~fill) <= 4)
    ref, _ = _run(_blurred(), method=method, psf="gaussian:1.6", **kw)
    assert np.abs(y - ref)[band].mean() < 3.0


def test_the_psf_estimate_does_not_follow_the_wedge():
    x = _blurred(seed=3)
    wedged, _ = _wedge(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain, cut = estimate_psf(x.astype(float)), estimate_psf(wedged.astype(float))
    # measured: equal to 0.1 px here; before, the wedge's edge made it astigmatic along it
    assert abs(cut.sigma_major - plain.sigma_major) < 0.3
    assert abs(cut.sigma_minor - plain.sigma_minor) < 0.3


def test_a_plane_without_fill_deblurs_as_before():
    from napari_microdeblur.core import edge_fill

    x = _blurred(seed=5)
    assert edge_fill.edge_fill_mask(x) is None
    y, said = _run(x, method="wiener", psf="gaussian:1.6", balance=0.05)
    assert not any("edge fill" in s for s in said)
    # the same numbers as the plane run with the edge fill turned off
    off = edge_fill.MIN_SHARE
    try:
        edge_fill.MIN_SHARE = 2.0
        z, _ = _run(x, method="wiener", psf="gaussian:1.6", balance=0.05)
    finally:
        edge_fill.MIN_SHARE = off
    assert np.array_equal(y, z)


def test_plateaus_at_the_minimum_are_noted_but_not_an_edge_fill():
    x = _blurred(seed=7).astype(np.float32)
    low = np.maximum(x, np.percentile(x, 5))  # 5 % clipped dark, inside the image
    note = plateaus.plateau_note(low, "YX", "wiener")
    assert "minimum" in note and "clipped dark" in note
    wedged, _ = _wedge(_blurred(seed=7))
    assert "minimum" not in plateaus.plateau_note(wedged, "YX", "wiener")
