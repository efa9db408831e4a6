"""Classical 'auto' settings from the 'classic' walkthrough (2026-12-05): Wiener's balance
'auto' with a PSF wider than the blur one grid step above GCV's floor, on an image too small
for GCV, and the quantisation floor of float data; tv_weight's cap."""

import warnings

import numpy as np
import pytest
from scipy import ndimage

from napari_microdeblur.core.image_settings import balance_for
from napari_microdeblur.core.inference import deblur
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.options import FIXED_BALANCE
from napari_microdeblur.core.psf import gaussian_psf
from napari_microdeblur.core.psf_estimate import GCV_BALANCES, gcv_balance


def _discs(seed: int = 3) -> np.ndarray:
    """Cells (discs of random brightness, 0.1-1), slightly soft, float."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:256, :256]
    img = np.full((256, 256), 0.1)
    for _ in range(80):
        cy, cx, r, v = rng.uniform(0, 256), rng.uniform(0, 256), rng.uniform(3, 15), \
            rng.uniform(0.3, 1)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = v
    return ndimage.gaussian_filter(img, 0.7)


def _blurred(truth, sigma, noise, seed=1):
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(truth, sigma) + noise * rng.standard_normal(truth.shape)


def _psnr(out, truth):
    return 10 * np.log10(1 / np.mean((out[16:-16, 16:-16] - truth[16:-16, 16:-16]) ** 2))


def test_a_wider_psf_above_the_floor_takes_the_fixed_balance_with_a_line():
    """Blur 2 px, PSF gaussian:3, noise 0.01: GCV chose 1.6e-5 (above its floor, 1e-6), and
    the output fell to 8 dB (input 24); the range the filter gives the crop now sends it to
    the fixed balance, as the floor does."""
    truth = _discs()
    image = _blurred(truth, 2.0, 0.01).astype(np.float32)
    with pytest.warns(UserWarning, match="GCV found no noise to regularise"):
        assert gcv_balance(image, gaussian_psf(3.0)) == FIXED_BALANCE
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = deblur(image, method=MethodSpec("wiener", psf=gaussian_psf(3.0), balance="auto"),
                     axes="YX", device="cpu")
    lines = [str(w.message) for w in caught if "GCV found no noise" in str(w.message)]
    assert len(lines) == 1 and lines[0].startswith(f"wiener: balance {FIXED_BALANCE:g} ")
    assert _psnr(np.asarray(out, np.float64), truth) > 15  # 8.1 dB at 1.6e-5; 18.8 at 0.01


def test_a_matching_psf_at_low_noise_keeps_gcv_own_small_balance():
    truth = _discs()
    image = _blurred(truth, 2.0, 0.002).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        balance = gcv_balance(image, gaussian_psf(2.0))
    assert GCV_BALANCES[0] < balance < FIXED_BALANCE


def test_wiener_auto_on_an_image_too_small_for_gcv_takes_the_fixed_balance():
    """32 x 32 px with a 25 x 25 PSF: GCV chose 4e-5-1.6e-4, 1.5-8 dB below the fixed value."""
    truth = _discs()[100:132, 100:132]
    psf = gaussian_psf(4.0)
    c = psf.shape[0] // 2
    psf = psf[c - 12 : c + 13, c - 12 : c + 13]
    image = _blurred(truth, 4.0, 0.01).astype(np.float32)
    with pytest.warns(UserWarning, match="the image is too small for GCV") as record:
        spec = balance_for(MethodSpec("wiener", psf=psf, balance="auto"), image, "YX")
    assert spec.balance == FIXED_BALANCE
    assert any(str(w.message).startswith(f"wiener: balance {FIXED_BALANCE:g} (balance 'auto': "
                                         "the fixed value; the image is too small")
               for w in record)
    with pytest.raises(ValueError, match="too small"):
        gcv_balance(image, psf)


def test_float_data_are_not_given_an_8_bit_noise_floor():
    """Noise 0.0005 on float data, matched PSF: the 8-bit floor chose 2.5e-5 (30.9 dB on an
    ISBI crop), the data's own floor 1e-5 (32.0). A 16-bit copy (range 4000) chooses as the
    float data; an 8-bit copy keeps the 8-bit floor and regularises more."""
    truth = _discs()
    image = _blurred(truth, 2.0, 0.0005, seed=2)
    psf = gaussian_psf(2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        as_float = gcv_balance(image.astype(np.float32), psf)
        as_16 = gcv_balance(np.round(image * 4000).astype(np.uint16), psf)
        as_8 = gcv_balance(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8), psf)
    assert as_16 == as_float
    assert as_8 > 4 * as_float, (as_8, as_float)  # the 8-bit floor gave float data about as_8


@pytest.mark.parametrize("weight", [0.2, 0.249])
def test_tv_weight_above_the_cap_is_refused_before_the_run(weight):
    """0.2 gave 24.4 dB on a crop whose input had 34.2 (output TV 4.3x the truth's)."""
    from napari_microdeblur.core.options import TV_WEIGHT_MAX

    with pytest.raises(ValueError, match=f"tv_weight={weight} must be a number from 0 to "
                                         f"{TV_WEIGHT_MAX:g}"):
        MethodSpec("richardson_lucy", psf="gaussian:2", iterations=5, tv_weight=weight).check()


def test_tv_weight_at_the_cap_runs():
    from napari_microdeblur.core.options import TV_WEIGHT_MAX

    image = _blurred(_discs(), 2.0, 0.01).astype(np.float32)[:64, :64]
    out = deblur(image, method=MethodSpec("richardson_lucy", psf="gaussian:2", iterations=3,
                                          tv_weight=TV_WEIGHT_MAX), axes="YX", device="cpu")
    assert np.isfinite(np.asarray(out)).all()


def test_iterations_auto_at_its_cap_warns_of_a_psf_wider_than_the_blur():
    """A gaussian:3 PSF on a sigma-2 blur: the held-out check never sees noise fitted, runs to
    the cap and said only a note (2.4-5.3 dB below the input in the walkthrough); at the cap
    the line is a DeblurWarning naming the likely cause. A matched PSF stays a note."""
    from napari_microdeblur.core.image_settings import AUTO_ITERATIONS_MAX, iterations_for
    from napari_microdeblur.core.notes import DeblurNote, DeblurWarning

    truth = _discs()
    image = _blurred(truth, 2.0, 0.0005).astype(np.float32)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        spec = iterations_for(MethodSpec("richardson_lucy", psf="gaussian:3",
                                         iterations="auto"), image, "YX")
    assert spec.iterations == AUTO_ITERATIONS_MAX
    (line,) = [w for w in said if "richardson_lucy:" in str(w.message)]
    assert issubclass(line.category, DeblurWarning)
    assert "the PSF may be wider than the image's blur" in str(line.message)
    noisy = _blurred(truth, 2.0, 0.03).astype(np.float32)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        spec = iterations_for(MethodSpec("richardson_lucy", psf="gaussian:2",
                                         iterations="auto"), noisy, "YX")
    assert spec.iterations < AUTO_ITERATIONS_MAX
    (line,) = [w for w in said if "richardson_lucy:" in str(w.message)]
    assert line.category is DeblurNote
