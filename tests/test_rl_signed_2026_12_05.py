"""Richardson-Lucy on images holding values below 0 (background-subtracted float, int16).

RL needs intensities >= 0. The pipeline used to clamp the negatives to 0, which raised the
mean silently (colleague's case: 53.3 -> 63.9); it now shifts the image by its minimum before
RL and back after (``compute_normalization``, kind 'scale') and says so in one line.
"""

import warnings

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from napari_microdeblur.core.classical import held_out_iterations
from napari_microdeblur.core.inference import Normalization, compute_normalization, deblur
from napari_microdeblur.core.psf import parse_psf

RL = dict(method="richardson_lucy", psf="gaussian:2", iterations=20)
NOTE = "richardson_lucy needs intensities >= 0"


@pytest.fixture(scope="module")
def spots():
    """Blurred spots on a background of 100 with noise of 3: every pixel > 0."""
    rng = np.random.default_rng(0)
    img = np.zeros((128, 128), np.float32)
    for _ in range(40):
        y, x = rng.integers(10, 118, 2)
        img[y, x] = 1000
    img = gaussian_filter(img, 3) * 30 + 100 + rng.normal(0, 3, img.shape)
    return img.astype(np.float32)


def quiet_deblur(image, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return deblur(image, **kwargs)


@pytest.mark.parametrize("offset", [-100, -120])
def test_rl_keeps_the_mean_of_an_image_below_zero(spots, offset):
    # -100: background near 0 (half the noise below 0); -120: background at -20
    image = spots + offset
    assert (image < 0).mean() > 0.2
    out = quiet_deblur(image, **RL)
    # clamping at 0 gave means 73.7 and 63.9 for 73.3 and 53.3
    assert abs(float(out.mean()) - float(image.mean())) < 0.05


def test_rl_is_shift_equivariant_once_below_zero(spots):
    # whatever background was subtracted, the same deblur comes back, shifted by as much
    results = [quiet_deblur(spots + offset, **RL) - offset for offset in (-100, -120, -300)]
    for other in results[1:]:
        assert np.abs(other - results[0]).max() < 1e-2  # clamping: 127 apart


@pytest.mark.parametrize("output_dtype", ["float32", "input"])
def test_rl_keeps_the_mean_of_a_signed_int16_image(output_dtype):
    image = np.random.default_rng(1).integers(-1000, 1001, (96, 96)).astype(np.int16)
    out = quiet_deblur(image, output_dtype=output_dtype, **RL)
    assert out.dtype == (np.int16 if output_dtype == "input" else np.float32)
    assert out.min() < 0
    assert abs(float(out.mean()) - float(image.mean())) < 0.5  # clamping: 3.8 -> 253.7


def test_rl_on_an_image_below_zero_says_what_it_assumed(spots):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        deblur(spots - 120, **RL)
    notes = [str(w.message) for w in caught if NOTE in str(w.message)]
    assert len(notes) == 1
    assert "\n" not in notes[0] and "clip" in notes[0]
    least = float((spots - 120).min())
    assert f"{least:.4g}" in notes[0]


@pytest.mark.parametrize(("offset", "kwargs"), [
    (0.0, RL),
    (-120.0, dict(method="wiener", psf="gaussian:2", balance=0.01)),
])
def test_no_note_for_a_non_negative_rl_input_or_for_wiener(spots, offset, kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        deblur(spots + offset, **kwargs)
    assert not [w for w in caught if NOTE in str(w.message)]


def test_scale_normalization_shifts_only_an_image_below_zero(spots):
    # non-negative: unchanged (offset 0, the maximum), so the benchmarks' numbers do not move
    assert compute_normalization(spots, "YX", "scale") == Normalization(
        0.0, float(spots.max()), kind="scale", low=0.0, high=100.0)
    lowered = spots - 120
    norm = compute_normalization(lowered, "YX", "scale")
    assert norm.offset == pytest.approx(float(lowered.min()))
    model = norm.apply(lowered)
    assert model.min() == pytest.approx(0.0, abs=1e-6)
    assert model.max() == pytest.approx(1.0, abs=1e-6)
    assert np.abs(norm.undo(model) - lowered).max() < 1e-3


def test_auto_iterations_do_not_depend_on_the_subtracted_background(spots):
    psf = parse_psf("gaussian:2")
    counts = {offset: held_out_iterations(spots + offset, psf, max_iterations=200)
              for offset in (-100, -120, -200)}
    # clamping at 0 chose 102, 11 and 17
    assert len(set(counts.values())) == 1, counts


@pytest.mark.parametrize("kwargs", [
    dict(method="wiener", psf="gaussian:2", balance=0.01),
    dict(method="wiener", psf="astig:2.5,0.8,30", balance=0.01),
    dict(method="wiener", psf="gaussian:2"),  # balance 'auto'
])
def test_wiener_is_shift_equivariant(spots, kwargs):
    base = quiet_deblur(spots, **kwargs)
    for offset in (-100, -120):
        assert np.abs(quiet_deblur(spots + offset, **kwargs) - offset - base).max() < 5e-3


def test_a_network_is_shift_equivariant(spots):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(4, 1, 3, padding=1))
    base = quiet_deblur(spots, method=net, precision="float32")
    for offset in (-100, -120):
        shifted = quiet_deblur(spots + offset, method=net, precision="float32")
        assert np.abs(shifted - offset - base).max() < 1e-3
