"""JPEG-compressed input (most slide scans): the PSF estimate and Wiener's balance 'auto' read
only the frequencies JPEG leaves its noise in (psf_estimate.JPEG_BAND) on a plane that shows
the 8x8 block grid (core.jpeg_blocks). Before, a Gaussian blur of 1.6 px estimated as 0.3 px
and the balance took GCV's lower bound, 1e-6 (output 10 dB below the input)."""

import io

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from napari_microdeblur.core.psf import gaussian_psf

SIGMA = 1.6


def _cells(seed: int, n: int = 256) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n]
    image = np.full((n, n), 0.8)
    for _ in range(120):
        cy, cx, r = rng.uniform(0, n), rng.uniform(0, n), rng.uniform(3, 14)
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.uniform(0.1, 0.7)
    return image


def _blurred_u8(seed: int) -> np.ndarray:
    b = ndimage.gaussian_filter(_cells(seed), SIGMA, mode="reflect")
    b = b + np.random.default_rng(seed + 1).normal(0, 2 / 255, b.shape)
    return np.round(np.clip(b, 0, 1) * 255).astype(np.uint8)


def _jpeg(u8: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(u8).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return np.asarray(Image.open(buffer))


# each quality on one of the two images (each pair ran before: 4 estimates of ~1.5 s); all
# four take the same path, the whole-band estimate collapsing to 0.3 px, the band's 1.4-1.7
@pytest.mark.parametrize("quality,seed", [(75, 0), (85, 1)])
def test_estimate_on_jpeg_input_is_near_the_true_blur(quality, seed):
    from napari_microdeblur.core.psf_estimate import estimate_psf

    est = estimate_psf(_jpeg(_blurred_u8(seed), quality).astype(np.float64))
    assert abs(est.sigma_major - SIGMA) < 0.4 and abs(est.sigma_minor - SIGMA) < 0.4, est
    assert est.jpeg_like
    assert "JPEG's 8x8 blocks" in est.describe()


def test_lossless_estimate_unchanged(monkeypatch):
    import napari_microdeblur.core.psf_estimate as pe

    planes = [_blurred_u8(seed).astype(np.float64) for seed in (0, 1)]
    new = [pe.estimate_psf(p) for p in planes]
    assert not any(e.jpeg_like for e in new)
    monkeypatch.setattr(pe, "looks_jpeg", lambda plane: False)  # the rule switched off
    assert new == [pe.estimate_psf(p) for p in planes]
    assert "JPEG" not in new[0].describe()


def test_blockiness_finds_the_grid_off_its_phase_and_not_on_lossless():
    from napari_microdeblur.core.jpeg_blocks import looks_jpeg

    u8 = _blurred_u8(2)
    jpeg = _jpeg(u8, 95)
    for dy, dx in ((0, 0), (3, 5), (7, 1)):  # a crop that starts off the 8 px grid
        assert looks_jpeg(jpeg[dy:, dx:].astype(float))
        assert not looks_jpeg(u8[dy:, dx:].astype(float))
    assert not looks_jpeg(np.zeros((64, 64)))  # no second difference at all
    assert not looks_jpeg(np.ones((20, 20)))  # too small to tell


def test_auto_balance_on_jpeg_input_is_not_the_lower_bound():
    from napari_microdeblur.core.classical import wiener
    from napari_microdeblur.core.psf_estimate import GCV_BALANCES, gcv_balance

    torch = pytest.importorskip("torch")
    sharp = _cells(0)
    image = _jpeg(_blurred_u8(0), 85)
    balance = gcv_balance(image.astype(np.float64), gaussian_psf(SIGMA))
    assert balance > GCV_BALANCES[0] * 100
    x = torch.from_numpy(image.astype(np.float32) / 255)[None, None]
    out = wiener(x, gaussian_psf(SIGMA), balance=balance)[0, 0].numpy()
    inner = (slice(16, -16), slice(16, -16))

    def psnr(a):
        return -10 * np.log10(np.mean((a[inner] - sharp[inner]) ** 2))

    assert psnr(out) > psnr(image.astype(np.float64) / 255)


def test_balance_line_names_jpeg_and_the_lower_bound(monkeypatch):
    import napari_microdeblur.core.psf_estimate as pe
    from napari_microdeblur.core.image_settings import balance_for
    from napari_microdeblur.core.method import MethodSpec

    spec = MethodSpec("wiener", psf="gaussian:1.6", balance="auto")
    with pytest.warns(UserWarning, match="JPEG's 8x8 blocks") as record:
        balance_for(spec, _jpeg(_blurred_u8(0), 85), "YX")
    assert "smallest balance" not in str(record[0].message)
    # GCV at its lower bound (as it was on JPEG input): the line says so
    monkeypatch.setattr(pe, "gcv_balance_read",
                        lambda plane, psf: (pe.FIXED_BALANCE, False, True))
    with pytest.warns(UserWarning, match="the smallest balance searched") as record:
        balance_for(spec, _blurred_u8(0), "YX")
    assert "JPEG" not in str(record[0].message)


def test_blocky_content_that_is_no_jpeg_keeps_its_whole_band_estimate():
    """An 8-px calibration grid looks blocky; its estimate did not collapse, so the band is not
    used (it had given 3.9 x 0.2 px for a blur of 1.2, the whole band 1.8)."""
    import napari_microdeblur.core.psf_estimate as pe

    yy, xx = np.mgrid[:256, :256]
    grid = np.where((yy % 8 == 0) | (xx % 8 == 0), 1.0, 0.2)
    blurred = ndimage.gaussian_filter(grid, 1.2, mode="wrap")
    blurred = blurred + np.random.default_rng(0).normal(0, 0.01, blurred.shape)
    est = pe.estimate_psf(blurred)
    assert not est.jpeg_like and "JPEG" not in est.describe()
    assert est.sigma_major > pe.COLLAPSED_SIGMA
