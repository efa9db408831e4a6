"""The PSF-aware method's safeguard (core/psf_safeguard.py, used by core/psf_aware.py)."""

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from napari_microdeblur.core import psf_safeguard
from napari_microdeblur.core.archs.wiener_unet import batched_wiener
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
    assert method.parameters["fallback_from"] == "ringing"
    assert psf_aware_method(_Ringing(), gaussian_psf(16.0), safeguard=False).name != "wiener"


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
    expected = batched_wiener(x, k / k.sum(), torch.tensor([[0.2]]))[0, 0].numpy()
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
