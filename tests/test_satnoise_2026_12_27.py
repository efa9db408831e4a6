"""The PSF-aware network's noise estimate on images with clipped (saturated) plateaus.

``wiener_unet.noise_sigma`` takes the larger of the whole image's and its brightest 2 x 2
blocks' diagonal-Haar median. A plateau clipped at the image's maximum is flat (no Haar
detail) and the brightest part of the image, so it stood for the bright signal's noise: 1.3 %
clipped took a 12-bit nuclei image's estimate from 61 to 20 counts and the result under the
blurred input. Blocks touching the maximum are now left out wherever one lies flat at it;
images without such a block are estimated as before, bit for bit.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy.ndimage import binary_dilation, gaussian_filter

from napari_microdeblur.core.archs import wiener_unet
from napari_microdeblur.core.archs.wiener_unet import noise_sigma

BLUR = 1.6


def _nuclei(seed: int, gain: float, size: int = 192):
    """(sharp counts, unclipped camera image, the same clipped at 4095): bright discs on a dark
    background, blurred, shot and read noise, offset 100."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    sharp = np.zeros((size, size))
    for _ in range(14):
        cy, cx = rng.uniform(16, size - 16, 2)
        r = rng.uniform(6, 12)
        disc = np.clip(1.0 - ((yy - cy) ** 2 + (xx - cx) ** 2) / r**2, 0, None) ** 0.5
        sharp += disc * rng.uniform(0.5, 1.0)
    sharp *= 3000.0 * gain / sharp.max()
    noisy = rng.poisson(gaussian_filter(sharp, BLUR)) + 100 + rng.normal(0, 1.5, sharp.shape)
    raw = np.round(noisy)
    return sharp, raw.astype(np.float32), np.clip(raw, 0, 4095).astype(np.uint16)


def _smear(seed: int, white: float, size: int = 192):
    """(sharp RGB, unclipped, clipped to uint8): dark stained cells on a bright background of
    ``white`` (above 255: blown out), blurred, Gaussian noise 2."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    sharp = np.ones((size, size, 3)) * white
    for _ in range(10):
        cy, cx = rng.uniform(20, size - 20, 2)
        r = rng.uniform(10, 18)
        inside = np.clip(1.0 - ((yy - cy) ** 2 + (xx - cx) ** 2) / r**2, 0, None) ** 0.3
        stain = np.array([0.35, 0.6, 0.45]) * rng.uniform(0.8, 1.0)
        sharp *= 1.0 - inside[..., None] * stain
    blurred = np.stack([gaussian_filter(sharp[..., c], BLUR) for c in range(3)], -1)
    raw = blurred + rng.normal(0, 2.0, sharp.shape)
    return sharp, raw.astype(np.float32), np.clip(np.round(raw), 0, 255).astype(np.uint8)


def _far_from(clipped: np.ndarray, distance: int, border: int = 16) -> np.ndarray:
    far = ~binary_dilation(clipped, iterations=distance)
    far[:border], far[-border:], far[:, :border], far[:, -border:] = False, False, False, False
    return far


def _psnr(out, truth, where, peak):
    return 10 * np.log10(peak**2 / np.mean((out[where] - truth[where]) ** 2))


def _deblur(image, axes):
    from napari_microdeblur.core.inference import deblur

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return deblur(image, method="auto", psf=f"gaussian:{BLUR}", axes=axes).astype(np.float64)


def _pre_fix_estimate(x: torch.Tensor) -> torch.Tensor:
    """noise_sigma as it was before clipped plateaus were left out (BLOCKED_OTF unset)."""
    h, w = (x.shape[-2] // 2) * 2, (x.shape[-1] // 2) * 2
    x = x[..., :h, :w]
    a, b, c, e = x[..., 0::2, 0::2], x[..., 0::2, 1::2], x[..., 1::2, 0::2], x[..., 1::2, 1::2]
    d = ((a - b - c + e) / 2).abs().flatten(1)
    sigma = d.median(dim=1).values
    mean = (a + b + c + e).flatten(1)
    n = mean.shape[1]
    k = max(1, min(round(wiener_unet.BRIGHT_QUANTILE * n), n - wiener_unet.MIN_BRIGHT_BLOCKS + 1))
    level = mean.topk(n - k + 1, dim=1).values[:, -1:]
    bright = torch.stack([di[mi >= li].median() for di, mi, li in zip(d, mean, level)])
    sigma = torch.maximum(sigma, bright) * (1.0 / 0.6745)
    return sigma.clamp_min(1e-3).reshape(-1, 1, 1, 1)


def _tensor(image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, dtype=np.float32))[None, None]


def test_clipped_nuclei_keep_the_noise_level_of_their_unclipped_selves():
    # 1.8 % of the pixels clipped at 4095: the estimate fell to 2 counts (unclipped: 56)
    _, raw, clipped = _nuclei(0, 2.6)
    assert (clipped == 4095).mean() > 0.01
    unclipped_level = float(noise_sigma(_tensor(raw)))
    level = float(noise_sigma(_tensor(clipped)))
    assert level == pytest.approx(unclipped_level, rel=0.2)


def test_blown_out_background_keeps_the_noise_level():
    # a smear's green channel, its background more than half clipped to 255: the whole-image
    # median fell as well, not only the brightest blocks' (left out of the latter alone, 0.6 of
    # the unclipped level; before, 0.3)
    _, raw, clipped = _smear(1, 256.0)
    assert (clipped[..., 1] == 255).mean() > 0.5
    unclipped_level = float(noise_sigma(_tensor(raw[..., 1])))
    level = float(noise_sigma(_tensor(clipped[..., 1])))
    assert level == pytest.approx(unclipped_level, rel=0.25)


def test_deblur_of_saturated_nuclei_scores_as_unclipped_far_from_the_plateaus():
    sharp, raw, clipped = _nuclei(0, 2.6)
    far = _far_from(clipped == 4095, 20)
    unclipped = _psnr(_deblur(raw, "YX") - 100, sharp, far, sharp.max())
    result = _psnr(_deblur(clipped, "YX") - 100, sharp, far, sharp.max())
    # before: 2 dB under the unclipped run
    assert result > unclipped - 0.3


def test_deblur_of_blown_out_smear_scores_as_unclipped_far_from_the_white():
    sharp, raw, clipped = _smear(1, 258.0)  # two thirds of the pixels white in all colours
    far = _far_from((clipped == 255).any(-1), 10)
    unclipped = _psnr(_deblur(raw, "YXS"), sharp, far, 255.0)
    result = _psnr(_deblur(clipped, "YXS"), sharp, far, 255.0)
    assert result > unclipped - 0.5  # before: 10 dB under it, 5 dB under the input


def test_images_without_a_clipped_plateau_are_estimated_as_before_bit_for_bit():
    rng = np.random.default_rng(3)
    _, fluorescence, _ = _nuclei(2, 1.0)  # peak 3000 + noise: nothing near 4095
    # 8-bit EM-like: quantised texture, large flat patches below the maximum
    em = np.round(gaussian_filter(rng.normal(120, 30, (160, 160)), 1.2))
    em[40:90, 30:110] = 77
    em[5, 5] = em.max() + 3  # the maximum on one pixel, not a flat block
    odd = rng.normal(50, 4, (131, 97)).astype(np.float32)  # odd sides: the last row, column out
    for image in (fluorescence, em.astype(np.float32), odd):
        x = _tensor(image)
        assert torch.equal(noise_sigma(x), _pre_fix_estimate(x))
    batch = torch.cat([_tensor(fluorescence[:128, :128]), _tensor(em[:128, :128])])
    assert torch.equal(noise_sigma(batch), _pre_fix_estimate(batch))


def test_a_batch_estimates_each_image_on_its_own():
    _, raw, clipped = _nuclei(0, 2.6, size=128)
    batch = torch.cat([_tensor(raw), _tensor(clipped)])
    levels = noise_sigma(batch).flatten()
    assert levels[0] == noise_sigma(_tensor(raw)).flatten()[0]  # as before, untouched
    assert levels[1] == noise_sigma(_tensor(clipped)).flatten()[0]
    assert levels[1] > 0.5 * levels[0]  # before: under 0.1 of it


def test_blocks_at_the_maximum_count_only_where_one_lies_flat_there():
    x = _tensor(np.arange(64, dtype=np.float32).reshape(8, 8))
    assert wiener_unet.clipped_blocks(x) is None  # the maximum on one pixel
    em = np.full((8, 8), 77.0, np.float32)  # quantised: flat blocks, but below the maximum
    em[0, 0] = 90.0
    assert wiener_unet.clipped_blocks(_tensor(em)) is None
    x[..., 6:8, 6:8] = 63.0
    x[..., 0, 7] = 63.0  # a block with one pixel at the maximum: the plateau's rim
    blocks = wiener_unet.clipped_blocks(x)
    assert blocks.shape == (1, 16)
    assert blocks[0].nonzero().flatten().tolist() == [3, 15]
    # an image all at one value: nothing left to measure, the floor as before
    flat = torch.full((1, 1, 8, 8), 5.0)
    assert float(noise_sigma(flat)) == pytest.approx(1e-3)
