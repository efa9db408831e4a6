"""Edge fill (the black border of an aligned or stitched image) passed through a deblur, the
PSF estimate not following its edge (core.edge_fill)."""

import warnings

import numpy as np
import pytest
from scipy import ndimage

from napari_microdeblur.core import plateaus
from napari_microdeblur.core.edge_fill import edge_fill_mask
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


def test_a_white_edge_fill_is_not_called_saturated():
    """Review 2026-12-23: a wedge at 255 got the saturation note ('re-acquire with lower
    gain') beside the edge-fill note."""
    x, fill = _wedge(_blurred(seed=7))
    white = np.where(fill, 255, np.minimum(x, 250)).astype(np.uint8)
    assert "saturated" not in plateaus.plateau_note(white, "YX", "wiener")
    series = np.stack([white, white])  # an aligned series: each plane's fill (review 2)
    assert "saturated" not in plateaus.plateau_note(series, "TYX", "wiener")
    clipped = np.minimum(_blurred(seed=7), np.percentile(_blurred(seed=7), 95)).astype(np.uint8)
    assert "saturated" in plateaus.plateau_note(clipped, "YX", "wiener")  # still said


def test_a_specimen_edge_against_a_clipped_background_is_no_fill():
    """Review 2026-12-23: cells on the left, a saturated white background on the right (a
    straight edge, no step at it) were taken for fill and lost 1-3 dB at that edge."""
    x = _blurred(seed=3).astype(np.float32)
    x[:, 80:] = 255.0  # the background, clipped
    x = ndimage.gaussian_filter(x, 1.6)  # blurred with the cells: no step at the edge
    x = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    x[:, 90:] = 255  # clipped again by the camera
    assert edge_fill_mask(x) is None
    wedged, fill = _wedge(_blurred(seed=3))
    assert np.array_equal(edge_fill_mask(wedged), fill)  # a cut-in fill still is one


def test_a_plane_of_fill_and_one_value_is_not_continued_flat():
    """Review 2026-12-23: stripes at 0 and 255 around a middle at 128 came back all 128."""
    x = np.full((128, 128), 128, np.uint8)
    x[:, :30], x[:, -30:] = 0, 255
    assert edge_fill_mask(x) is None
    y, said = _run(x, method="wiener", psf="gaussian:1.6", balance=0.05)
    assert not any("edge fill" in s for s in said)
    assert y[:, :20].max() < 64 and y[:, -20:].min() > 192  # the stripes kept, not made 128


def test_fill_does_not_spread_into_content_at_the_other_extreme():
    """Review 2026-12-23: a black wedge on a plane clipped at its top took the top pixels
    touching it as fill ('a constant border at 0 and 254')."""
    x, fill = _wedge(_blurred(seed=5))
    x = np.where(fill, 0, np.minimum(x, np.percentile(x[~fill], 90))).astype(np.uint8)
    assert np.array_equal(edge_fill_mask(x), fill)


def test_a_bool_plane_and_a_rest_of_one_value_but_a_few_pixels_are_no_fill():
    """Review 2026-12-23: a bool plane raised in the step test; stripes at 0 and 255 around
    128 with two noise pixels were still taken for fill."""
    x = np.zeros((64, 64), bool)
    x[:, :20] = True
    assert edge_fill_mask(x) is None
    y = np.full((128, 128), 128, np.uint8)
    y[:, :30], y[:, -30:] = 0, 255
    y[60, 60], y[61, 61] = 127, 129
    assert edge_fill_mask(y) is None
