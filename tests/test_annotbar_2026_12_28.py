"""A burned-in white scale bar (a flat plateau at the image's maximum that steps from the image
next to it) no longer wrecks the PSF estimate or balance 'auto' with the true PSF; images with
no such plateau get the same estimate as before."""

import warnings

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from napari_microdeblur.core import psf_estimate
from napari_microdeblur.core.psf import gaussian_psf
from napari_microdeblur.core.psf_estimate import estimate_psf, gcv_balance_read

SIGMA = 2.0


def _blurred(seed: int = 0, side: int = 192) -> np.ndarray:
    """8-bit blobs blurred by a Gaussian of ``SIGMA`` px, with noise (1 grey level)."""
    rng = np.random.default_rng(seed)
    scene = gaussian_filter(rng.random((side, side)), 3.0)
    scene = (scene - scene.min()) / np.ptp(scene) * 180 + 10
    blurred = gaussian_filter(scene, SIGMA) + rng.normal(0, 1.0, scene.shape)
    return np.clip(np.round(blurred), 0, 255)


def _with_scale_bar(plane: np.ndarray) -> np.ndarray:
    """``plane`` with a white bar and a label's strokes burned in at 255 after the blur."""
    out = plane.copy()
    out[170:176, 120:176] = 255  # the bar
    for x0 in (120, 130, 140, 150):  # the label's strokes
        out[150:158, x0 : x0 + 2] = 255
    return out


def _estimate(plane):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimate_psf(plane)


def test_scale_bar_keeps_the_estimate_near_the_blur():
    plain, barred = _blurred(), _with_scale_bar(_blurred())
    without, with_bar = _estimate(plain), _estimate(barred)
    assert without.sigma_major > 1.5  # the image itself is estimable
    # before: the bar's step read as an unblurred edge (about 0.5 px for a 2 px blur)
    assert with_bar.sigma_major > 1.5
    assert abs(with_bar.sigma_major - without.sigma_major) < 0.4


def test_scale_bar_does_not_blame_the_true_psf_in_balance_auto():
    barred = _with_scale_bar(_blurred(1))
    balance, _, at_floor = gcv_balance_read(barred, gaussian_psf(SIGMA))
    assert not at_floor  # before: FLOOR_NOTE, "the PSF looks wider than the image's blur"
    assert balance > psf_estimate.GCV_BALANCES[0]


def test_saturated_plateau_and_plain_image_are_left_as_they_were(monkeypatch):
    plain = _blurred(2)
    clipped = np.minimum(plain, np.percentile(plain, 98))  # blurred light clipped: no step
    from napari_microdeblur.core.plateaus import stepped_plateaus

    assert stepped_plateaus(plain) is None
    assert stepped_plateaus(clipped) is None
    mask = stepped_plateaus(_with_scale_bar(plain))
    assert mask is not None and mask[172, 150] and mask[154, 121] and not mask[100, 100]
    # and with no stepped plateau the estimate is the one found without the plateau search
    found = [_estimate(plain), _estimate(clipped)]
    monkeypatch.setattr(psf_estimate, "stepped_plateaus", lambda plane: None)
    assert found == [_estimate(plain), _estimate(clipped)]


@pytest.mark.parametrize("value", [0.0, 255.0])
def test_black_or_white_mask_patch_is_continued(value):
    plain = _blurred(3)
    masked = plain.copy()
    masked[60:100, 60:100] = value  # a mask patch inside the image, at its min or max
    assert _estimate(masked).sigma_major > 1.5


def test_plateau_note_allows_for_an_annotation():
    from napari_microdeblur.core.plateaus import plateau_note

    said = plateau_note(_with_scale_bar(_blurred(4)).astype(np.uint8), "YX", "Wiener")
    assert "flat plateaus" in said and "scale bar" in said


def test_photon_counts_sea_of_zeros_is_not_an_annotation():
    """At 0.3 photons a pixel most pixels are 0, a plateau at the minimum stepping by one
    count to a rest spread over two: read as a black mask, it was continued and Wiener's
    balance 'auto' changed (its total after rounding went 4857 -> 19404)."""
    from napari_microdeblur.core.plateaus import stepped_plateaus

    rng = np.random.default_rng(0)
    sharp = gaussian_filter(rng.random((128, 128)), 3) ** 4  # sparse bright structures
    counts = rng.poisson(gaussian_filter(sharp * (0.3 / sharp.mean()), 1.7)).astype(np.uint16)
    assert stepped_plateaus(counts) is None
    # the same sea of zeros with a white bar burned in at 255 is still found
    counts[110:116, 20:80] = 255
    found = stepped_plateaus(counts)
    assert found is not None and found[112, 50] and not found[5, 5]
