"""The PSF-aware method's safeguard (core/psf_safeguard.py, used by core/psf_aware.py)."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from napari_microdeblur.core import psf_safeguard
from napari_microdeblur.core.bundled import BUNDLED_WEIGHTS
from napari_microdeblur.core.degrade import degrade, protocol_psf
from napari_microdeblur.core.inference import deblur
from napari_microdeblur.core.psf import gaussian_psf
from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE, load_psf_aware, psf_aware_method

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
HELD_OUT = SHARED / "fluorescence_cellprofiler_examples_extra" / "test" / "sbs_transfluor_gfp"
BUNDLED = DEFAULT_PSF_AWARE in BUNDLED_WEIGHTS


class _Ringing(nn.Module):
    """A stand-in PSF-aware network whose result adds a checkerboard: energy at frequencies a
    Gaussian PSF blocks, as the real network's ringing on real defocus."""

    needs_psf = True
    receptive_field = 1
    size_divisor = 1

    def forward(self, x, psf):
        yy, xx = torch.meshgrid(torch.arange(x.shape[-2]), torch.arange(x.shape[-1]),
                                indexing="ij")
        return x + 0.5 * ((yy + xx) % 2).float().to(x.device) - 0.25


def _spots(n=96, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n].astype(np.float32)
    img = np.zeros((n, n), np.float32)
    for _ in range(8):
        cy, cx, s = rng.uniform(8, n - 8), rng.uniform(8, n - 8), rng.uniform(2, 5)
        img += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    return img / img.max()


def test_half_max_width_of_a_gaussian_is_its_fwhm():
    assert psf_safeguard.half_max_width(gaussian_psf(3.0)) == pytest.approx(2.3548 * 3.0, rel=0.1)


def test_psf_wider_than_trained_falls_back_to_wiener_with_one_warning():
    assert psf_safeguard.untrained_psf_reason(protocol_psf("A"), None) is None
    assert psf_safeguard.untrained_psf_reason(gaussian_psf(5.0), None) is None
    with pytest.warns(UserWarning, match="half-maximum width") as record:
        method = psf_aware_method(_Ringing(), gaussian_psf(16.0), name="ringing")
    assert len(record) == 1
    assert method.name == "wiener"
    assert method.parameters["balance"] == psf_safeguard.FALLBACK_BALANCE
    assert method.parameters["flat"] == psf_safeguard.FALLBACK_FLAT
    assert method.parameters["fallback_from"] == "ringing"
    img = degrade(_spots(192), "A", seed=0)
    x = torch.from_numpy(img / img.max())[None, None].float()
    expected = psf_safeguard.conservative_wiener(x, torch.from_numpy(gaussian_psf(16.0)))
    np.testing.assert_allclose(deblur(img, method=method, device="cpu"),
                               expected[0, 0].numpy() * img.max(), atol=1e-4 * img.max())
    assert psf_aware_method(_Ringing(), gaussian_psf(16.0), safeguard=False).name != "wiener"


def _card(**degradation):
    from types import SimpleNamespace

    ranges = {"gaussian_sigma": [0.6, 3.0], "disk_radius": [1.0, 4.0],
              "astig_sigma_major": [1.0, 3.5]}
    return SimpleNamespace(degradation=json.dumps({"psf_ranges": ranges, **degradation}),
                           metrics={}, normalization=None)


def test_trained_width_counts_the_aberrated_optics_psfs_a_network_saw():
    parametric = psf_safeguard.trained_half_max_width(_card())
    assert parametric == pytest.approx(2.3548 * 3.5, rel=1e-3)  # the astigmatic range
    assert psf_safeguard.trained_half_max_width(_card(psf_side=33, p_aberrated=0.0)) == parametric
    # aberrated optics PSFs filled the square they were cropped to: 37.2 px on 33 px
    assert psf_safeguard.trained_half_max_width(
        _card(psf_side=33, p_aberrated=0.3)) == pytest.approx(37.2, abs=0.1)
    # a weight average: the widest of its members
    soup = _card(members=[{"degradation": {"psf_side": 33, "p_aberrated": 0.3}},
                          {"degradation": {"psf_side": 49, "p_aberrated": 0.4}}])
    assert psf_safeguard.trained_half_max_width(soup) == pytest.approx(55.3, abs=0.1)
    wide = gaussian_psf(8.0)  # half-maximum width 18.8 px: beyond psf_v1, inside the soup
    assert psf_safeguard.untrained_psf_reason(wide, _card()) is not None
    assert psf_safeguard.untrained_psf_reason(wide, soup) is None


def test_fallback_wiener_holds_where_the_psf_otf_vanishes_at_low_frequencies():
    """A 2 um defocused widefield PSF: the Laplacian-only Wiener at the fallback balance falls
    below the input (the border's error amplified where the OTF crosses zero), the fallback's
    regulariser with its flat term does not."""
    pytest.importorskip("psfmodels")
    from scipy import ndimage, signal

    from napari_microdeblur.core.archs.wiener_unet import batched_wiener
    from napari_microdeblur.core.psf import parse_psf

    k = parse_psf("widefield:na=1.2,wavelength=0.5,pixel=0.08,ni=1.33,defocus=2.0,size=49")
    k = (k / k.sum()).astype(np.float32)
    rng = np.random.default_rng(0)
    big = ndimage.gaussian_filter(rng.random((228, 228)), 3)
    big = (big - big.min()) / np.ptp(big)
    sharp = big[50:-50, 50:-50]
    blurred = signal.fftconvolve(big, k, mode="same")[50:-50, 50:-50]
    blurred = (blurred + rng.normal(0, 2 / 255, blurred.shape)).astype(np.float32)
    x, kt = torch.from_numpy(blurred)[None, None], torch.from_numpy(k)

    def gain(out):
        err = lambda a: np.mean((a - sharp)[16:-16, 16:-16] ** 2)  # noqa: E731
        return 10 * np.log10(err(blurred) / err(out))

    laplacian = batched_wiener(x, kt[None], torch.tensor([[psf_safeguard.FALLBACK_BALANCE]]))
    assert gain(laplacian[0, 0].numpy()) < -1.0
    assert gain(psf_safeguard.conservative_wiener(x, kt)[0, 0].numpy()) > 0.3


def test_result_the_psf_cannot_explain_is_replaced_by_a_conservative_wiener():
    psf = gaussian_psf(2.0)
    img = degrade(_spots(), "A", seed=0)
    method = psf_aware_method(_Ringing(), psf, precision="float32", name="ringing")
    with pytest.warns(UserWarning, match="conservative Wiener") as record:
        out = deblur(img, method=method, tile=96, device="cpu")
    assert len(record) == 1
    assert method.forward.model.fallback_tiles == 1
    lo, hi = np.percentile(img, [0.1, 99.9])
    x = torch.from_numpy((img - lo) / (hi - lo))[None, None].float()
    k = torch.from_numpy(psf)[None]
    expected = psf_safeguard.conservative_wiener(x, k[0])[0, 0].numpy()
    np.testing.assert_allclose(out, expected * (hi - lo) + lo, atol=1e-3 * (hi - lo))
    raw = psf_aware_method(_Ringing(), psf, precision="float32", safeguard=False)
    assert np.abs(deblur(img, method=raw, tile=96, device="cpu") - out).max() > 0.1 * (hi - lo)


def test_weights_validated_with_more_blocked_energy_get_a_higher_limit():
    from types import SimpleNamespace

    psf = gaussian_psf(2.0)
    img = degrade(_spots(), "A", seed=0)
    lo, hi = np.percentile(img, [0.1, 99.9])
    x = torch.from_numpy((img - lo) / (hi - lo))[None, None].float()
    ratio = float(psf_safeguard.blocked_correction_ratio(x, _Ringing()(x, None),
                                                         torch.from_numpy(psf)))
    assert ratio > psf_safeguard.CORRECTION_LIMIT  # the default limit replaces this tile
    assert psf_safeguard.correction_limit(None) == psf_safeguard.CORRECTION_LIMIT
    # fine-tuned weights whose held-out band showed about this much keep their result
    card = SimpleNamespace(metrics={"blocked_correction_ratio": 0.6 * ratio},
                           normalization=None, degradation=None)
    assert psf_safeguard.correction_limit(card) == pytest.approx(1.2 * ratio)
    method = psf_aware_method(_Ringing(), psf, card, precision="float32", name="ringing")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kept = deblur(img, method=method, tile=96, device="cpu")
    raw = psf_aware_method(_Ringing(), psf, precision="float32", safeguard=False)
    np.testing.assert_array_equal(kept, deblur(img, method=raw, tile=96, device="cpu"))
    # a lower validated ratio leaves the default limit, which replaces the tile
    low = SimpleNamespace(metrics={"blocked_correction_ratio": 1.0}, normalization=None,
                          degradation=None)
    assert psf_safeguard.correction_limit(low) == psf_safeguard.CORRECTION_LIMIT
    with pytest.warns(UserWarning, match="conservative Wiener"):
        deblur(img, method=psf_aware_method(_Ringing(), psf, low, name="r"), tile=96,
               device="cpu")


def test_network_share_falls_from_one_at_the_limit_to_zero_at_the_soft_band():
    limit, band = 8.0, psf_safeguard.SOFT_BAND
    ratios = torch.tensor([0.0, 4.0, limit, limit * band**0.5, limit * band, 10 * limit * band])
    share = psf_safeguard.network_share(ratios, limit)
    np.testing.assert_allclose(share.numpy(), [1, 1, 1, 0.5, 0, 0], atol=1e-6)
    # continuous just over the limit: no jump between tiles either side of it
    assert float(psf_safeguard.network_share(torch.tensor([limit * 1.001]), limit)) > 0.99


def test_tile_just_over_the_limit_is_blended_toward_the_conservative_wiener():
    from types import SimpleNamespace

    psf = gaussian_psf(2.0)
    img = degrade(_spots(), "A", seed=0)
    lo, hi = np.percentile(img, [0.1, 99.9])
    x = torch.from_numpy((img - lo) / (hi - lo))[None, None].float()
    k = torch.from_numpy(psf)
    ratio = float(psf_safeguard.blocked_correction_ratio(x, _Ringing()(x, None), k))
    # validated weights whose limit puts this tile at 1.4 x it: it keeps 51 % of its result
    card = SimpleNamespace(metrics={"blocked_correction_ratio": ratio / 1.4 / 2.0},
                           normalization=None, degradation=None)
    limit = psf_safeguard.correction_limit(card)
    assert limit == pytest.approx(ratio / 1.4) and limit > psf_safeguard.CORRECTION_LIMIT
    share = float(psf_safeguard.network_share(torch.tensor([ratio]), limit))
    assert 0.4 < share < 0.6
    method = psf_aware_method(_Ringing(), psf, card, precision="float32", name="ringing")
    with pytest.warns(UserWarning, match="blended its result toward a conservative Wiener"):
        out = deblur(img, method=method, tile=96, device="cpu")
    assert method.forward.model.fallback_tiles == 1
    raw = psf_aware_method(_Ringing(), psf, precision="float32", safeguard=False)
    raw_out = deblur(img, method=raw, tile=96, device="cpu")
    wiener = psf_safeguard.conservative_wiener(x, k)[0, 0].numpy() * (hi - lo) + lo
    np.testing.assert_allclose(out, share * raw_out + (1 - share) * wiener,
                               atol=1e-3 * (hi - lo))


@pytest.mark.skipif(not BUNDLED, reason=f"{DEFAULT_PSF_AWARE} is not bundled")
@pytest.mark.skipif(not HELD_OUT.is_dir(), reason="needs ../shared/data (held-out set)")
def test_safeguard_does_not_fire_on_a_protocol_a_image():
    import tifffile

    sharp = tifffile.imread(sorted(HELD_OUT.glob("*.TIF"))[0])[128:320, 128:320]
    blurred = degrade(sharp, "A", seed=0)
    method = load_psf_aware(protocol_psf("A"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        guarded = deblur(blurred, method=method, device="cpu")
    assert method.forward.model.fallback_tiles == 0
    raw = deblur(blurred, method=load_psf_aware(protocol_psf("A"), safeguard=False), device="cpu")
    np.testing.assert_array_equal(guarded, raw)
