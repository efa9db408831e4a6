"""SSIM of a small signal on a large offset (a camera's dark level) with data_range the
signal's own range: the float32 moments E[x^2] - E[x]^2 were taken about zero and cancelled
(uint16 at 60000 with data_range 100 scored -1.2 where scikit-image gives 0.355; uint32 near
4e9 scored 836746). And the metric functions refused a dask array the user holds."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from skimage.metrics import structural_similarity

from napari_microdeblur.core import metrics

SK = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)


def _spots(shape=(128, 128), seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:shape[0], :shape[1]]
    sig = sum(np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 30)
              for cy, cx in rng.uniform(0, shape, (8, 2)))
    return sig / sig.max(), rng


def _pair(offset, amp, dtype, seed=0):
    sig, rng = _spots(seed=seed)
    ref = (offset + amp * sig).astype(dtype)
    noisy = offset + amp * sig + rng.normal(0, amp * 0.05, sig.shape)
    return np.clip(noisy, 0, np.iinfo(dtype).max).astype(dtype), ref


def _skimage(x, ref, data_range, **kw):
    return structural_similarity(np.asarray(ref, float), np.asarray(x, float),
                                 data_range=data_range, **SK, **kw)


@pytest.mark.parametrize("offset, amp", [(1000, 50), (2000, 20), (60000, 100)])
def test_ssim_of_a_small_signal_on_a_large_uint16_offset_matches_skimage(offset, amp):
    x, ref = _pair(offset, amp, np.uint16)
    dr = float(ref.max()) - float(ref.min())
    want = _skimage(x, ref, dr)
    assert metrics.ssim(x, ref, data_range=dr) == pytest.approx(want, abs=1e-4)
    per = metrics.ssim_per_slice(np.stack([x, x]), np.stack([ref, ref]), data_range=dr)
    assert per == pytest.approx([want, want], abs=1e-4)
    assert metrics.ssim_many([x, ref], ref, data_range=dr) == pytest.approx([want, 1.0],
                                                                           abs=1e-4)


def _float64_ssim(x, ref, dr):
    """SSIM as scikit-image defines it, in float64 with the moments about the reference's mean
    (scikit-image's own float64 moments cancel near 4e9: ~0.46 here)."""
    x, ref = np.asarray(x, np.float64), np.asarray(ref, np.float64)
    c = ref.mean()

    def g(a):
        return gaussian_filter(a, 1.5, truncate=3.5, mode="reflect")

    xc, yc = x - c, ref - c
    ux, uy = g(xc), g(yc)
    vx, vy, cxy = g(xc * xc) - ux * ux, g(yc * yc) - uy * uy, g(xc * yc) - ux * uy
    c1, c2 = (0.01 * dr) ** 2, (0.03 * dr) ** 2
    lum = (2 * (ux + c) * (uy + c) + c1) / ((ux + c) ** 2 + (uy + c) ** 2 + c1)
    return float((lum * (2 * cxy + c2) / (vx + vy + c2))[5:-5, 5:-5].mean())


def test_ssim_of_uint32_near_its_top_is_a_score_not_836746():
    x, ref = _pair(4_000_000_000, 1000, np.uint32)
    got = metrics.ssim(x, ref, data_range=1000.0)
    assert got == pytest.approx(_float64_ssim(x, ref, 1000.0), abs=1e-4)
    assert -1 <= got <= 1


def test_ssim_of_a_volume_and_of_colours_on_an_offset_matches_skimage():
    """The unbanded path (3D windows) and the channel path had the same cancellation."""
    rng = np.random.default_rng(1)
    vol = gaussian_filter(rng.random((16, 40, 40)), 1.0)
    vol = (vol - vol.min()) / np.ptp(vol)
    ref = (60000 + 100 * vol).astype(np.uint16)
    x = np.clip(ref + rng.normal(0, 5, ref.shape), 0, 65535).astype(np.uint16)
    assert metrics.ssim(x, ref, data_range=100.0) == pytest.approx(_skimage(x, ref, 100.0),
                                                                   abs=1e-4)
    rgb, xr = np.moveaxis(ref[:3], 0, -1), np.moveaxis(x[:3], 0, -1)
    assert metrics.ssim(xr, rgb, data_range=100.0, channel_axis=-1) == pytest.approx(
        _skimage(xr, rgb, 100.0, channel_axis=-1), abs=1e-4)


def test_ssim_with_a_float_offset_of_a_million_matches_skimage():
    sig, rng = _spots(seed=3)
    ref = 1e6 + 100 * sig
    x = ref + rng.normal(0, 5, ref.shape)
    assert metrics.ssim(x, ref, data_range=100.0) == pytest.approx(_skimage(x, ref, 100.0),
                                                                   abs=1e-4)


def test_the_metrics_score_a_dask_array_as_its_pixels():
    da = pytest.importorskip("dask.array")
    x, ref = _pair(100, 1000, np.uint16, seed=2)
    lx, lref = da.from_array(x, chunks=64), da.from_array(ref, chunks=64)
    assert metrics.psnr(lx, lref, data_range=1000.0) == metrics.psnr(x, ref, data_range=1000.0)
    assert metrics.ssim(lx, lref, data_range=1000.0) == metrics.ssim(x, ref, data_range=1000.0)
    stack, rstack = np.stack([x, ref]), np.stack([ref, ref])
    np.testing.assert_array_equal(
        metrics.ssim_per_slice(da.from_array(stack), da.from_array(rstack), data_range=1000.0),
        metrics.ssim_per_slice(stack, rstack, data_range=1000.0))
    np.testing.assert_array_equal(
        metrics.psnr_per_slice(da.from_array(stack), da.from_array(rstack), data_range=1000.0),
        metrics.psnr_per_slice(stack, rstack, data_range=1000.0))
    assert metrics.evaluate(lx, lref) == metrics.evaluate(x, ref)
    assert metrics.reference_scale(lref) == metrics.reference_scale(ref)


def test_a_list_is_still_refused_in_a_line_naming_what_is_accepted():
    ref = np.zeros((16, 16))
    with pytest.raises(TypeError, match=r"x is a list; accepted: .*dask"):
        metrics.psnr(ref.tolist(), ref, data_range=1.0)
    with pytest.raises(TypeError, match=r"has dtype bool"):
        metrics.ssim(np.zeros((16, 16), bool), ref, data_range=1.0)
