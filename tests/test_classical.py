"""Richardson-Lucy and Wiener in torch: agreement with scikit-image, borders, 3D, tiling."""

from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from scipy import ndimage
from skimage import restoration

from napari_microdeblur.core import classical, metrics
from napari_microdeblur.core.degrade import degrade, protocol_psf
from napari_microdeblur.core.psf import gaussian_psf

DATA = Path(__file__).parent / "data"
INNER = (slice(16, -16), slice(16, -16))

# Agreement with scikit-image in the interior (16-px border excluded), on the [0, 1] scale.
# Measured on the HT29 crop under protocol A: RL 30 iterations max |diff| 4.4e-4 (89.8 dB),
# Wiener balance 0.01 max |diff| 7.3e-4 (84.4 dB). The remainder is skimage's zero-padded
# border ('same' convolution, circular Wiener) leaking inwards, not arithmetic.
AGREE_MAX_ABS = 2e-3
AGREE_MIN_PSNR = 75.0


def as_nchw(a):
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None, None]


@pytest.fixture(scope="module")
def ht29():
    """(clean uint8, degraded under protocol A on the [0, 1] scale, PSF)."""
    clean = tifffile.imread(DATA / "fluo_ht29_dna_u8.tif")
    deg01 = degrade(clean, "A", seed=0) / 255.0
    return clean, deg01.astype(np.float32), protocol_psf("A")


def test_richardson_lucy_agrees_with_skimage_in_the_interior(ht29):
    _, deg01, psf = ht29
    ours = classical.richardson_lucy(as_nchw(deg01), psf, iterations=30)[0, 0].numpy()
    ref = restoration.richardson_lucy(
        deg01.astype(np.float64), psf.astype(np.float64), num_iter=30, clip=False
    )
    diff = np.abs(ours - ref)[INNER]
    assert diff.max() < AGREE_MAX_ABS
    assert metrics.psnr(ours[INNER], ref[INNER], data_range=1.0) > AGREE_MIN_PSNR
    # Both really deconvolved: the result is far from the blurred input.
    assert metrics.psnr(ours, deg01, data_range=1.0) < 45


def test_wiener_agrees_with_skimage_in_the_interior(ht29):
    _, deg01, psf = ht29
    ours = classical.wiener(as_nchw(deg01), psf, balance=0.01)[0, 0].numpy()
    ref = restoration.wiener(deg01.astype(np.float64), psf.astype(np.float64), 0.01, clip=False)
    diff = np.abs(ours - ref)[INNER]
    assert diff.max() < AGREE_MAX_ABS
    assert metrics.psnr(ours[INNER], ref[INNER], data_range=1.0) > AGREE_MIN_PSNR
    assert metrics.psnr(ours, deg01, data_range=1.0) < 45


def test_border_is_restored_as_well_as_the_interior(ht29):
    """Whole-image PSNR is not dragged down by the border, unlike skimage's unpadded RL.

    One-sided on purpose: this crop's border is darker than its centre, so even the degraded
    input scores 0.9 dB higher on the whole image than in the interior.
    """
    clean, deg01, psf = ht29
    x = as_nchw(deg01)
    outs = {
        "rl10": classical.richardson_lucy(x, psf, iterations=10),
        "rl30": classical.richardson_lucy(x, psf, iterations=30),
        "wiener": classical.wiener(x, psf, balance=0.01),
    }
    degraded = metrics.evaluate(deg01 * 255, clean)
    for name, out in outs.items():
        res = metrics.evaluate(out[0, 0].numpy() * 255, clean)
        assert res["psnr_whole"] >= res["psnr"] - 0.3, name
    assert metrics.evaluate(outs["rl10"][0, 0].numpy() * 255, clean)["psnr"] > (
        degraded["psnr"] + 3.0
    )
    sk = restoration.richardson_lucy(deg01.astype(np.float64), psf, num_iter=10, clip=False)
    sk_res = metrics.evaluate(sk * 255, clean)
    assert sk_res["psnr_whole"] < sk_res["psnr"] - 3.0  # the failure this padding prevents


def test_total_variation_regularises_noise(ht29):
    clean, deg01, psf = ht29
    x = as_nchw(deg01)
    plain = classical.richardson_lucy(x, psf, iterations=30)[0, 0].numpy()
    tv = classical.richardson_lucy(x, psf, iterations=30, tv_weight=0.01)[0, 0].numpy()

    def total_variation(u):
        return np.abs(np.diff(u, axis=0)).sum() + np.abs(np.diff(u, axis=1)).sum()

    assert total_variation(tv) < 0.8 * total_variation(plain)
    assert metrics.evaluate(tv * 255, clean)["psnr"] > metrics.evaluate(plain * 255, clean)["psnr"]


def test_shapes_dtypes_batches_and_units(ht29):
    _, deg01, psf = ht29
    before = deg01.copy()
    x = torch.from_numpy(np.stack([deg01, deg01[::-1].copy()]))[:, None].double()  # (2,1,Y,X)
    x_before = x.clone()
    for out in (
        classical.richardson_lucy(x, psf, iterations=5),
        classical.wiener(x, psf, balance=0.01),
    ):
        assert out.shape == x.shape and out.dtype == torch.float64
    torch.testing.assert_close(x, x_before)
    np.testing.assert_array_equal(deg01, before)
    # Items of a batch are independent, and intensities keep their units (RL and Wiener are
    # scale-equivariant, so deconvolving in 8-bit grey levels is the same as on [0, 1]).
    rl = classical.richardson_lucy(x, psf, iterations=5)
    single = classical.richardson_lucy(x[1:2], psf, iterations=5)
    torch.testing.assert_close(rl[1:2], single, rtol=1e-9, atol=1e-12)
    rl255 = classical.richardson_lucy(x * 255, psf, iterations=5)
    torch.testing.assert_close(rl255, rl * 255, rtol=1e-6, atol=1e-6)
    w16 = classical.wiener(x.half().float(), psf, balance=0.01)
    assert w16.dtype == torch.float32
    # RL clamps negative input (e.g. after background subtraction) and stays non-negative.
    neg = classical.richardson_lucy(as_nchw(deg01 - 0.1), psf, iterations=5)
    assert neg.min() >= 0


def test_3d_deconvolution_and_its_2d_equivalent():
    stack = tifffile.imread(DATA / "lightsheet_mito_focus_stack_u16.tif")[:, 24:72, 24:72]
    stack = stack.astype(np.float32)
    psf3 = gaussian_psf((1.0, 1.6, 1.6), ndim=3)
    blurred = ndimage.convolve(stack, psf3, mode="reflect")
    x = torch.from_numpy(blurred)[None, None]
    out = classical.richardson_lucy(x, psf3, iterations=10)
    assert out.shape == x.shape
    scale = float(stack.max())
    gain = metrics.psnr(out[0, 0].numpy(), stack, data_range=scale) - metrics.psnr(
        blurred, stack, data_range=scale
    )
    assert gain > 1.0

    # A (1, Y, X) PSF on ZYX data deconvolves each plane: the same as folding Z into N.
    psf2 = protocol_psf("B")
    folded_x = torch.from_numpy(blurred)[:, None]
    for method in (
        lambda t, p: classical.wiener(t, p, balance=0.01),
        lambda t, p: classical.richardson_lucy(t, p, iterations=5),
    ):
        per_plane = method(x, psf2[None])[0, 0]
        folded = method(folded_x, psf2)[:, 0]
        torch.testing.assert_close(per_plane, folded, rtol=1e-4, atol=1e-2)  # grey levels
    # Nor does the TV prior couple planes: changing plane 0 (same maximum) leaves the others.
    # float64, because TV amplifies float32 FFT round-off (~1e-4 grey levels) differently.
    x64 = x.double()
    changed = x64.clone()
    changed[0, 0, 0] = changed[0, 0, 0].flip(-1)
    for tv_weight in (0.0, 0.01):
        a = classical.richardson_lucy(x64, psf2[None], iterations=5, tv_weight=tv_weight)
        b = classical.richardson_lucy(changed, psf2[None], iterations=5, tv_weight=tv_weight)
        torch.testing.assert_close(a[0, 0, 1:], b[0, 0, 1:], rtol=1e-9, atol=1e-8)
        assert (a[0, 0, 0] - b[0, 0, 0]).abs().max() > 1.0


@pytest.mark.parametrize("protocol", ["A", "B", "C"])
def test_tiles_with_psf_halo_match_the_whole_image(ht29, protocol):
    clean = ht29[0]
    psf = protocol_psf(protocol)
    x = as_nchw(degrade(clean, protocol, seed=0) / 255.0)
    halo = classical.psf_halo(psf)[1]
    for method in (
        lambda t: classical.richardson_lucy(t, psf, iterations=30),
        lambda t: classical.wiener(t, psf, balance=0.01),
    ):
        whole = method(x)
        left = method(x[..., : 64 + halo])[..., :64]
        right = method(x[..., 64 - halo :])[..., halo:]
        diff = (torch.cat([left, right], dim=-1) - whole).abs().max().item()
        assert diff < 1e-3
        # Without the halo the seam shows: the halo is what makes the match.
        bare = torch.cat([method(x[..., :64]), method(x[..., 64:])], dim=-1)
        assert (bare - whole).abs().max().item() > 5 * diff


def test_psf_halo_values():
    assert classical.psf_halo(protocol_psf("A")) == (32, 32)
    assert classical.psf_halo(protocol_psf("B")) == (32, 32)
    assert classical.psf_halo(np.ones((1, 81, 81))) == (0, 80, 80)


def test_small_image_needs_more_padding_than_it_has(ht29):
    _, deg01, psf = ht29
    small = as_nchw(deg01[:30, :30])  # smaller than twice the 25 x 25 PSF
    out = classical.richardson_lucy(small, psf, iterations=5)
    assert out.shape == small.shape and torch.isfinite(out).all()


def test_bad_inputs_raise_clear_errors(ht29):
    _, deg01, psf = ht29
    x = as_nchw(deg01)
    with pytest.raises(ValueError, match=r"psf shape \(25, 25\).*\(20, 20\)"):
        classical.wiener(x[..., :20, :20], psf)
    with pytest.raises(ValueError, match="3D PSF"):
        classical.richardson_lucy(x[:, :, None].expand(1, 1, 30, 128, 128), psf)
    with pytest.raises(ValueError, match=r"\(N, C, Y, X\)"):
        classical.wiener(x[0], psf)
    with pytest.raises(TypeError, match="ndarray"):
        classical.richardson_lucy(deg01, psf)
    with pytest.raises(TypeError, match="floating"):
        classical.richardson_lucy(x.to(torch.int32), psf)
    with pytest.raises(ValueError, match="tv_weight"):
        classical.richardson_lucy(x, psf, tv_weight=0.3)
    with pytest.raises(ValueError, match="iterations"):
        classical.richardson_lucy(x, psf, iterations=0)
    with pytest.raises(ValueError, match="balance"):
        classical.wiener(x, psf, balance=0)
    with pytest.raises(ValueError, match="sums to 0"):
        classical.wiener(x, np.zeros((5, 5)))


# ----------------------------------------------------------------------------- FFT paths


def _blur_with(conv_cls, x, psf):
    p = classical._psf_tensor(psf, x, x.ndim - 2)
    blur = conv_cls(p, x)
    y = blur.extend(x.clone())
    out = torch.empty_like(y)
    blur(y, out=out)
    return blur.crop(out)


@pytest.mark.parametrize("ndim", [2, 3])
def test_both_convolutions_equal_the_mirror_boundary_convolution(ndim):
    """K of either path is scipy.ndimage.convolve with mode='reflect', border included: the
    DCT exactly (it assumes the mirror), the padded FFT because its mirror margin is wider
    than the PSF, so the cross-fade beyond it never reaches the image."""
    rng = np.random.default_rng(1)
    if ndim == 2:
        image, psf = rng.random((45, 70)), gaussian_psf(2.0)
    else:
        image, psf = rng.random((9, 40, 33)), gaussian_psf((1.0, 1.5, 1.5), ndim=3)
    x = torch.from_numpy(image.astype(np.float32))[None, None]
    expected = ndimage.convolve(image, psf / psf.sum(), mode="reflect")
    for conv in (classical._MirrorConvolution, classical._PaddedConvolution):
        got = _blur_with(conv, x, psf)[0, 0].double().numpy()
        np.testing.assert_allclose(got, expected, atol=2e-6, err_msg=conv.__name__)


def test_extension_uses_fast_lengths_and_a_mirror_margin_of_the_halo():
    plan = classical.extension_plan((64, 512, 509), (17, 25, 1))
    assert plan[2] == (0, 0, 0)  # an axis the PSF does not blur is not transformed
    for n, e, halo in zip((64, 512), plan, classical.psf_halo((17, 25, 1))):
        assert e.margin == halo and e.before >= halo and e.after >= halo
        assert classical.fast_length(n + e.before + e.after) == n + e.before + e.after
    assert classical.fast_length(8193) == 8232  # 2^3 * 3 * 7^3
    with pytest.raises(ValueError, match="n is 0"):
        classical.fast_length(0)


def test_padded_fft_path_gives_the_mirror_result(ht29, monkeypatch):
    """The padded FFT (any PSF, any device) against the DCT (symmetric PSFs on the CPU), which
    equals the former FFT on whole mirror periods: within 1e-4 on the [0, 1] scale (measured
    2e-5 for Wiener under protocol B, below 2e-6 otherwise)."""
    _, deg01, psf = ht29
    x = as_nchw(deg01)
    results = {}
    for name, conv in (("dct", classical._MirrorConvolution),
                       ("fft", classical._PaddedConvolution)):
        monkeypatch.setattr(classical, "_convolution", lambda p, t, conv=conv: conv(p, t))
        results[name] = (classical.richardson_lucy(x, psf, iterations=30),
                         classical.wiener(x, psf, balance=0.01))
    for dct, fft in zip(results["dct"], results["fft"]):
        assert (dct - fft).abs().max().item() < 1e-4


def test_transfer_function_is_computed_once_per_psf_and_shape(ht29):
    _, deg01, psf = ht29
    classical.transfer_cache.clear()
    tiles = [as_nchw(deg01[:64, :96]), as_nchw(deg01[64:, :96])]  # two tiles, one shape
    for tile in tiles:
        classical.richardson_lucy(tile, psf, iterations=2)
    assert (classical.transfer_cache.misses, classical.transfer_cache.hits) == (1, 1)
    classical.richardson_lucy(as_nchw(deg01[:64, :80]), psf, iterations=2)  # a new shape
    classical.richardson_lucy(tiles[0], psf[::-1].copy() ** 2, iterations=2)  # a new PSF
    assert (classical.transfer_cache.misses, classical.transfer_cache.hits) == (3, 1)
    # the asymmetric PSF takes the padded FFT path: its transfer function and Wiener filter
    # are built for the first tile and reused for the second
    asym = protocol_psf("C")
    for tile in tiles:
        classical.wiener(tile, asym, balance=0.01)
    assert (classical.transfer_cache.misses, classical.transfer_cache.hits) == (5, 3)


def test_plan_fft_tile_runs_whole_within_the_budget_and_tiles_beyond_it():
    psf = (17, 25, 25)
    whole = (64, 512, 512)
    assert classical.plan_fft_tile(whole, psf) == whole
    budget = classical.fft_working_bytes(whole, psf) // 4
    tile = classical.plan_fft_tile(whole, psf, budget_bytes=budget)
    assert tile != whole and all(t <= n for t, n in zip(tile, whole))
    assert classical.fft_working_bytes(tile, psf) <= budget
    with pytest.raises(ValueError, match="budget_bytes"):
        classical.plan_fft_tile(whole, psf, budget_bytes=0)


def test_deblur_runs_whole_by_default_and_tiles_agree(ht29):
    from napari_microdeblur.core.inference import iter_deblur
    from napari_microdeblur.core.progress import drive

    _, deg01, psf = ht29
    result = drive(iter_deblur(deg01, method="richardson_lucy", psf=psf, iterations=10,
                               device="cpu"))
    assert result.tile == deg01.shape  # the whole image in one FFT: no seams
    direct = classical.richardson_lucy(as_nchw(deg01 / deg01.max()), psf, iterations=10)
    np.testing.assert_allclose(result.image / deg01.max(), direct[0, 0].numpy(), atol=1e-5)
    tiled = drive(iter_deblur(deg01, method="richardson_lucy", psf=psf, iterations=10,
                              device="cpu", tile=96))
    assert tiled.tile == (96, 96)
    assert np.abs(tiled.image - result.image).max() < 1e-3
