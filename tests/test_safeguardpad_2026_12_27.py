"""The ratio fine-tuning and self-adaptation record for the safeguard (psf_safeguard.held_out_ratio)
is the one a deblur meets: the network runs with the deblur's U-Net mirror.

Unmirrored, the U-Net's zero-padded border put energy where the PSF blocks: on the 96 px
shot-noise image below 7.7 against 1.1 with the deblur's 48 px mirror, so a fine-tuned card
would have loosened the per-tile limit from 8 to 15.5."""

import warnings

import numpy as np
import pytest
import torch
from _shot_noise import psf_aware_model, shot_noise_nuclei

from napari_microdeblur.core.bundled import BUNDLED_WEIGHTS
from napari_microdeblur.core.inference import compute_normalization, deblur
from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE, plane_kernel, psf_aware_method
from napari_microdeblur.core.psf_safeguard import blocked_correction_ratio, held_out_ratio

pytestmark = pytest.mark.skipif(DEFAULT_PSF_AWARE not in BUNDLED_WEIGHTS,
                                reason="the bundled PSF-aware weights are not installed")

SPEC = "gaussian:1.6"






def _unit_range(img: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(img, [0.1, 99.9])
    return ((img - lo) / (hi - lo)).astype(np.float32)


def _deblur_ratio(model, x01: np.ndarray, kernel: np.ndarray, noise_scale: float = 1.0) -> float:
    """The safeguard's ratio of the result a deblur gives (the Method, safeguard off)."""
    method = psf_aware_method(model, SPEC, precision="float32", safeguard=False,
                              noise_scale=noise_scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = deblur(x01, method=method, device="cpu",
                     normalization=compute_normalization(x01, "YX", "none"))
    x = torch.from_numpy(x01)[None, None]
    return float(blocked_correction_ratio(x, torch.from_numpy(out)[None, None],
                                          torch.from_numpy(kernel))[0])


def test_held_out_ratio_is_the_one_a_deblur_meets():
    """On a 96 px shot-noise image held_out_ratio equals the deblur's ratio (1.14) and is far
    below the unmirrored network's (7.7, what it recorded before)."""
    x01 = _unit_range(shot_noise_nuclei())
    kernel, _ = plane_kernel(SPEC)
    model, psf = psf_aware_model(), torch.from_numpy(kernel)
    x = torch.from_numpy(x01)[None, None]
    with torch.no_grad():
        unmirrored = float(blocked_correction_ratio(x, model(x, psf), psf)[0])
    recorded = held_out_ratio(model, [x], psf)
    assert recorded == pytest.approx(_deblur_ratio(model, x01, kernel), abs=2e-3)
    assert recorded < 0.5 * unmirrored, (recorded, unmirrored)
    print(f'held_out_ratio {recorded}, unmirrored {unmirrored:.3f}')


def test_held_out_ratio_at_a_noise_scale_mirrors_too():
    """Fine-tuning records the ratio at its calibrated noise scale: with ``noise_scale`` the
    network runs as a deblur at that scale runs it, mirror included."""
    x01 = _unit_range(shot_noise_nuclei(seed=2))
    kernel, _ = plane_kernel(SPEC)
    model, psf = psf_aware_model(), torch.from_numpy(kernel)
    x = torch.from_numpy(x01)[None, None]
    recorded = held_out_ratio(model, [x], psf, noise_scale=1.5)
    assert recorded == pytest.approx(_deblur_ratio(model, x01, kernel, 1.5), abs=2e-3)
