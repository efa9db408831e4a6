"""Audit of the degradation protocols A, B, C (docs/evaluation.md section 3) and their helpers:
the PSFs and noise levels measured against the spec, the order blur -> noise -> clip, the
border, seeds, dtypes, colour and stacks; plus the fixes of 2026-12-06."""

import math

import numpy as np
import pytest
from scipy import signal

from napari_microdeblur.core.degradations import DegradationRanges
from napari_microdeblur.core.degrade import degrade, degrade01, protocol_psf
from napari_microdeblur.core.noise import estimate_noise


def _moments(psf):
    """(sigma_major, sigma_minor, angle of the major axis in degrees from +X towards +Y)."""
    p = psf.astype(np.float64) / psf.sum()
    y, x = np.mgrid[: p.shape[0], : p.shape[1]]
    cy, cx = (p * y).sum(), (p * x).sum()
    cov = np.array([[(p * (x - cx) ** 2).sum(), (p * (x - cx) * (y - cy)).sum()],
                    [(p * (x - cx) * (y - cy)).sum(), (p * (y - cy) ** 2).sum()]])
    w, v = np.linalg.eigh(cov)
    return math.sqrt(w[1]), math.sqrt(w[0]), math.degrees(math.atan2(v[1, 1], v[0, 1])) % 180


def test_protocol_psfs_are_the_specified_ones():
    a, b, c = (protocol_psf(p) for p in "ABC")
    assert a.shape == (25, 25) and _moments(a)[:2] == pytest.approx((1.6, 1.6), abs=1e-3)
    assert 1 / b.max() == pytest.approx(math.pi * 9, rel=0.01)  # a disk of radius 3 (area)
    assert (b > 0).sum() == 37 and b.shape == (7, 7)
    assert _moments(c) == pytest.approx((2.5, 0.8, 30.0), abs=1e-3)
    for k in (a, b, c):
        assert k.sum() == pytest.approx(1.0, abs=1e-6)


def _symmetric_blur(x, psf):
    r = psf.shape[0] // 2
    return signal.fftconvolve(np.pad(x, r, mode="symmetric"), psf.astype(np.float64), "valid")


@pytest.mark.parametrize("protocol", ["A", "C"])
def test_gaussian_protocols_are_blur_then_noise_then_clip_with_symmetric_border(protocol):
    x = np.random.default_rng(1).uniform(0.0, 1.0, (40, 48))
    noise = np.random.default_rng(9).normal(0.0, 2 / 255, x.shape)  # the generator degrade uses
    expected = np.clip(_symmetric_blur(x, protocol_psf(protocol)) + noise, 0, 1)
    np.testing.assert_allclose(degrade01(x, protocol, seed=9), expected, atol=1e-6)


def test_protocol_b_is_poisson_200_plus_read_noise_after_blur():
    x = np.random.default_rng(1).uniform(0.0, 1.0, (40, 48))
    blurred = _symmetric_blur(x, protocol_psf("B"))
    rng = np.random.default_rng(4)
    photons = rng.poisson(np.clip(blurred, 0, None) * 200.0)
    expected = np.clip(photons / 200.0 + rng.normal(0.0, 0.01, x.shape), 0, 1)
    out = degrade01(x, "B", seed=4)
    # a rounding-level difference in the blur may move a rare Poisson draw by one photon
    assert np.mean(np.abs(out - expected) < 1e-6) > 0.999


@pytest.mark.parametrize("protocol,level", [("A", 0.5), ("C", 0.2), ("B", 0.5), ("B", 0.1)])
def test_realised_noise_level_matches_the_spec(protocol, level):
    out = degrade01(np.full((256, 256), level), protocol, seed=1).astype(np.float64)
    expected = 2 / 255 if protocol != "B" else math.sqrt(level / 200 + 0.01**2)
    assert out.std() == pytest.approx(expected, rel=0.03)
    assert out.mean() == pytest.approx(level, abs=1e-3)


def test_seed_alone_fixes_the_output():
    x = (np.random.default_rng(0).uniform(0, 1, (48, 48)) * 255).astype(np.uint8)
    first = degrade(x, "B", seed=7)
    np.random.seed(123)  # the global generator plays no part
    np.random.random(10)
    assert np.array_equal(first, degrade(x, "B", seed=7))
    assert not np.array_equal(first, degrade(x, "B", seed=8))


@pytest.mark.parametrize("dtype,peak", [(np.uint8, 255), (np.uint16, 4095), (np.float32, 3.5)])
def test_output_is_float32_in_the_input_units(dtype, peak):
    x = (np.random.default_rng(0).uniform(0.05, 1, (48, 48)) * peak).astype(dtype)
    out = degrade(x, "A", seed=0)
    assert out.dtype == np.float32
    hi = 255 if dtype == np.uint8 else float(x.max())
    lo = float(x.min()) if dtype == np.float32 else 0.0
    assert lo <= out.min() and out.max() <= hi + 1e-3
    assert abs(out.mean() - x.astype(np.float64).mean()) < 0.01 * hi


def test_rgb_same_blur_per_channel_independent_noise():
    grey = np.random.default_rng(2).uniform(0.1, 0.9, (40, 40))
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    out = degrade01(rgb, "A", seed=3, channel_axis=-1).astype(np.float64)
    noise = out - _symmetric_blur(grey, protocol_psf("A"))[..., None]
    assert np.abs(noise).max() < 6 * 2 / 255  # no channel blurred differently
    corr = np.corrcoef(noise.reshape(-1, 3).T)
    assert np.abs(corr[np.triu_indices(3, 1)]).max() < 0.1


def test_stack_is_blurred_plane_by_plane():
    z = np.full((3, 40, 40), 0.5)
    z[1, 20, 20] = 1.0
    out = degrade01(z, "A", seed=0).astype(np.float64)
    noise = np.random.default_rng(0).normal(0.0, 2 / 255, z.shape)
    np.testing.assert_allclose(out[0], np.clip(0.5 + noise[0], 0, 1), atol=1e-6)
    assert out[1, 20, 20] > 0.5 + 0.5 * protocol_psf("A").max() - 5 * 2 / 255


def test_nan_and_tiny_images_are_refused():
    x = np.random.default_rng(0).uniform(0, 1, (48, 48))
    x[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        degrade(x, "A")
    with pytest.raises(ValueError, match="PSF"):
        degrade(np.ones((24, 24), np.uint8), "A")


def test_rgb_without_channel_axis_is_told_to_pass_it():
    rgb = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(ValueError, match="channel_axis=-1"):
        degrade(rgb, "A")


def test_covers_needs_gaussian_only_draws_for_protocols_a_and_c():
    ranges = DegradationRanges(p_poisson=1.0)  # every ranged draw carries Poisson noise
    assert not ranges.covers("A") and not ranges.covers("C")
    assert ranges.covers("B")
    assert all(DegradationRanges().covers(p) for p in "ABC")


def test_covers_counts_exact_protocol_draws():
    narrow = DegradationRanges(gaussian_sigma=(2.0, 3.0), p_protocol=0.2)
    assert narrow.covers("A")  # drawn exactly one time in 15
    only_a = DegradationRanges(p_protocol=1.0, protocol_weights=(1.0, 0.0, 0.0))
    assert only_a.covers("A") and not only_a.covers("B") and not only_a.covers("C")


@pytest.mark.parametrize("plane", [np.zeros((1, 64)), np.zeros((2, 64, 64)),
                                   np.where(np.eye(32) > 0, np.nan, 0.5)])
def test_estimate_noise_refuses_what_it_cannot_measure(plane):
    with pytest.raises(ValueError, match="plane"):
        estimate_noise(plane)


def test_estimate_noise_measures_the_protocol_noise():
    yy, xx = np.mgrid[:256, :256] / 255.0
    ramp = 0.1 + 0.4 * (xx + yy)
    gain, variance = estimate_noise(degrade01(ramp, "A", seed=0))
    assert gain == pytest.approx(0.0, abs=1e-5) and variance == pytest.approx((2 / 255) ** 2,
                                                                               rel=0.1)
    gain, _ = estimate_noise(degrade01(ramp, "B", seed=0))
    assert gain == pytest.approx(1 / 200, rel=0.15)
