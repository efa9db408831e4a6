"""Metrics agree with scikit-image and follow EVALUATION.md's intensity-scale rules."""

from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from napari_microdeblur.core import metrics
from napari_microdeblur.core.degrade import degrade

DATA = Path(__file__).parent / "data"

# (file, channel_axis): 2D gray uint8, 2D gray uint16, RGB uint8, ZYX uint16 stack.
CROPS = [
    ("fluo_ht29_dna_u8.tif", None),
    ("fluo_dsb2018_nuclei_u16.tif", None),
    ("he_kather_tumor_rgb_u8.tif", -1),
    ("lightsheet_mito_focus_stack_u16.tif", None),
]


def load(name):
    return tifffile.imread(DATA / name)


def sk_ssim(x, ref, channel_axis=None):
    return structural_similarity(
        x, ref, data_range=1.0, gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False, channel_axis=channel_axis,
    )


@pytest.fixture(scope="module")
def pairs():
    """(reference01, degraded01, channel_axis) per crop, on the reference's scale."""
    out = {}
    for name, ca in CROPS:
        ref = load(name)
        deg = degrade(ref, "A", seed=3, channel_axis=ca)
        deg01, ref01 = metrics.to_reference_scale(deg, ref)
        out[name] = (ref01.astype(np.float64), deg01.astype(np.float64), ca)
    return out


@pytest.mark.parametrize("name", [c[0] for c in CROPS])
def test_ssim_and_psnr_match_skimage_on_real_crops(pairs, name):
    ref01, deg01, ca = pairs[name]
    # The 3D stack is a volume here: the Gaussian window runs over Z, Y and X as in skimage.
    # Moments are filtered in float32: the result still agrees with float64 skimage to 1e-6.
    assert metrics.ssim(deg01, ref01, data_range=1.0, channel_axis=ca) == pytest.approx(
        sk_ssim(deg01, ref01, ca), abs=1e-6
    )
    assert metrics.psnr(deg01, ref01, data_range=1.0) == pytest.approx(
        peak_signal_noise_ratio(ref01, deg01, data_range=1.0), abs=1e-4
    )
    # The blurred image is clearly not the reference, so agreement is not a trivial 1.0.
    assert sk_ssim(deg01, ref01, ca) < 0.99


def test_ssim_on_raw_8bit_values_with_data_range_255(pairs):
    ref01, deg01, _ = pairs["fluo_ht29_dna_u8.tif"]
    ref, deg = np.round(ref01 * 255), np.round(deg01 * 255)
    expected = structural_similarity(
        deg, ref, data_range=255.0, gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False,
    )
    assert metrics.ssim(deg, ref, data_range=255.0) == pytest.approx(expected, abs=1e-6)


def test_ssim_identical_is_one_and_psnr_infinite(pairs):
    ref01 = pairs["fluo_ht29_dna_u8.tif"][0]
    assert metrics.ssim(ref01, ref01, data_range=1.0) == pytest.approx(1.0, abs=1e-12)
    assert metrics.psnr(ref01, ref01, data_range=1.0) == float("inf")


@pytest.mark.parametrize("name", ["fluo_ht29_dna_u8.tif", "he_kather_tumor_rgb_u8.tif"])
def test_ssim_many_equals_one_ssim_per_image(pairs, name):
    ref01, deg01, _ = pairs[name]
    ca = -1 if ref01.ndim == 3 else None
    other = np.clip(deg01 * 0.9 + 0.05, 0, 1)
    many = metrics.ssim_many([deg01, other], ref01, data_range=1.0, channel_axis=ca)
    assert many == [
        metrics.ssim(deg01, ref01, data_range=1.0, channel_axis=ca),
        metrics.ssim(other, ref01, data_range=1.0, channel_axis=ca),
    ]
    assert many[0] != many[1]
    assert metrics.ssim_many([], ref01, data_range=1.0) == []
    with pytest.raises(ValueError, match=r"xs\[1\] has shape"):
        metrics.ssim_many([deg01, deg01[:-1]], ref01, data_range=1.0, channel_axis=ca)


def test_threaded_filter_gives_the_single_thread_numbers(pairs, monkeypatch):
    ref01, deg01, _ = pairs["lightsheet_mito_focus_stack_u16.tif"]
    other = np.clip(deg01 * 0.9 + 0.05, 0, 1)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = metrics.ssim_many([deg01, other], ref01, data_range=1.0)
        one_z = metrics.ssim_per_slice(deg01, ref01, data_range=1.0)
        monkeypatch.setattr(metrics, "_THREADED_FILTER_MIN_SIZE", 0)
        torch.set_num_threads(2)
        assert metrics.ssim_many([deg01, other], ref01, data_range=1.0) == one
        np.testing.assert_array_equal(metrics.ssim_per_slice(deg01, ref01, data_range=1.0), one_z)
    finally:
        torch.set_num_threads(threads)


def test_tensor_inputs_give_the_numpy_result(pairs):
    ref01, deg01, _ = pairs["fluo_ht29_dna_u8.tif"]
    expected = metrics.ssim(deg01, ref01, data_range=1.0)
    got = metrics.ssim(torch.from_numpy(deg01).float(), torch.from_numpy(ref01), data_range=1.0)
    assert got == pytest.approx(expected, abs=1e-6)
    assert isinstance(got, float)


def test_per_slice_metrics_match_skimage_plane_by_plane(pairs):
    ref01, deg01, _ = pairs["lightsheet_mito_focus_stack_u16.tif"]
    p = metrics.psnr_per_slice(deg01, ref01, data_range=1.0)
    s = metrics.ssim_per_slice(deg01, ref01, data_range=1.0)
    assert p.shape == s.shape == (14,)
    for z in (0, 7, 13):
        assert p[z] == pytest.approx(peak_signal_noise_ratio(ref01[z], deg01[z], data_range=1.0))
        assert s[z] == pytest.approx(sk_ssim(deg01[z], ref01[z]), abs=1e-4)
    # Slicing along X instead of Z gives 96 planes of Z x Y.
    s_x = metrics.ssim_per_slice(deg01, ref01, data_range=1.0, axis=2)
    assert s_x.shape == (96,)
    assert s_x[40] == pytest.approx(sk_ssim(deg01[:, :, 40], ref01[:, :, 40]), abs=1e-4)


def test_ssim_per_slice_with_channels(pairs):
    ref01, deg01, _ = pairs["he_kather_tumor_rgb_u8.tif"]
    stack_ref, stack_deg = np.stack([ref01, ref01[::-1]]), np.stack([deg01, deg01[::-1]])
    s = metrics.ssim_per_slice(stack_deg, stack_ref, data_range=1.0, channel_axis=-1)
    assert s[0] == pytest.approx(sk_ssim(deg01, ref01, -1), abs=1e-4)
    assert s[1] == pytest.approx(sk_ssim(deg01[::-1], ref01[::-1], -1), abs=1e-4)


def test_reference_scale_rules():
    u8, u16 = load("fluo_ht29_dna_u8.tif"), load("fluo_dsb2018_nuclei_u16.tif")
    assert metrics.reference_scale(u8) == (0.0, 255.0)
    assert metrics.reference_scale(u16) == (0.0, float(u16.max()))
    assert metrics.reference_scale(torch.from_numpy(u16.astype(np.int32))) == (
        0.0, float(u16.max())
    )
    f = u16.astype(np.float32) + 7.0
    assert metrics.reference_scale(f) == pytest.approx((u16.min() + 7.0, np.ptp(u16)))
    with pytest.raises(ValueError, match="constant"):
        metrics.reference_scale(np.full((8, 8), 3.0))
    with pytest.raises(ValueError, match="maximum"):
        metrics.reference_scale(np.zeros((8, 8), np.uint16))
    with pytest.raises(TypeError, match="bool"):
        metrics.reference_scale(np.zeros((8, 8), bool))


def test_to_reference_scale_uses_the_reference_numbers_only():
    ref = load("fluo_dsb2018_nuclei_u16.tif")
    x = ref.astype(np.float32) * 2.0  # twice as bright: must stay twice as bright
    x01, ref01 = metrics.to_reference_scale(x, ref)
    assert x01.dtype == ref01.dtype == np.float32
    assert ref01.max() == pytest.approx(1.0)
    np.testing.assert_allclose(x01, 2.0 * ref01, rtol=1e-6)


def test_evaluate_2d_border_and_whole_match_skimage():
    ref = load("fluo_ht29_dna_u8.tif")
    deg = degrade(ref, "A", seed=0)
    before = deg.copy()
    res = metrics.evaluate(deg, ref)
    np.testing.assert_array_equal(deg, before)  # input untouched
    d01, r01 = deg / 255.0, ref / 255.0
    inner = (slice(16, -16), slice(16, -16))
    assert res["psnr"] == pytest.approx(
        peak_signal_noise_ratio(r01[inner], d01[inner], data_range=1.0), abs=1e-6
    )
    assert res["ssim"] == pytest.approx(sk_ssim(d01[inner], r01[inner]), abs=1e-4)
    assert res["psnr_whole"] == pytest.approx(
        peak_signal_noise_ratio(r01, d01, data_range=1.0), abs=1e-6
    )
    assert res["ssim_whole"] == pytest.approx(sk_ssim(d01, r01), abs=1e-4)
    assert res["psnr"] != res["psnr_whole"]
    assert "psnr_per_slice" not in res


def test_evaluate_rgb_and_stack():
    rgb = load("he_kather_tumor_rgb_u8.tif")
    deg = degrade(rgb, "C", seed=1, channel_axis=-1)
    res = metrics.evaluate(deg, rgb, channel_axis=-1)
    inner = (slice(16, -16), slice(16, -16))
    assert res["ssim"] == pytest.approx(sk_ssim(deg[inner] / 255, rgb[inner] / 255, -1), abs=1e-4)

    stack = load("lightsheet_mito_focus_stack_u16.tif")
    deg = degrade(stack, "B", seed=1)
    res = metrics.evaluate(deg, stack, border=8)
    assert len(res["psnr_per_slice"]) == len(res["ssim_per_slice"]) == 14
    assert res["psnr"] == pytest.approx(np.mean(res["psnr_per_slice"]))
    assert res["ssim"] == pytest.approx(np.mean(res["ssim_per_slice"]))
    scale = float(stack.max())  # the stack's own maximum, not each plane's
    z = 5
    expected = peak_signal_noise_ratio(
        stack[z, 8:-8, 8:-8] / scale, deg[z, 8:-8, 8:-8] / scale, data_range=1.0
    )
    assert res["psnr_per_slice"][z] == pytest.approx(expected, abs=1e-6)


def test_bad_inputs_raise_clear_errors():
    ref = load("fluo_ht29_dna_u8.tif")
    with pytest.raises(ValueError, match=r"\(128, 128\).*\(96, 96\)"):
        metrics.psnr(ref, ref[:96, :96], data_range=255)
    with pytest.raises(ValueError, match=r"prediction.*\(128, 127\).*reference.*\(128, 128\)"):
        metrics.evaluate(ref[:, :127], ref)
    with pytest.raises(TypeError):
        metrics.psnr(ref, ref)  # data_range is required
    for bad in (np.nan, np.inf):
        pred = ref.astype(np.float32)
        pred[5, 7] = bad
        with pytest.raises(ValueError, match="prediction holds NaN or Inf"):
            metrics.evaluate(pred, ref)
        with pytest.raises(ValueError, match="prediction holds NaN or Inf"):
            metrics.evaluate(torch.from_numpy(pred), torch.from_numpy(ref))
    with pytest.raises(ValueError, match="data_range"):
        metrics.ssim(ref, ref, data_range=0)
    with pytest.raises(TypeError, match="list"):
        metrics.ssim(ref.tolist(), ref, data_range=255)
    with pytest.raises(ValueError, match="border=60"):
        metrics.evaluate(ref, ref, border=60)
    with pytest.raises(ValueError, match="11"):
        metrics.ssim(ref[:8], ref[:8], data_range=255)
