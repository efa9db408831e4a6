"""Shared by the PSF-aware border and safeguard tests: a shot-noise image and the network."""

import numpy as np
from scipy import ndimage

from napari_microdeblur.core.psf import gaussian_psf
from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE


def shot_noise_nuclei(n=96, seed=0, margin=36) -> np.ndarray:
    """Nuclei of 1500-3000 photons away from the edges on a 10-photon background, blurred by
    gaussian:1.6 and Poisson-sampled (float32 photon counts)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n]
    sharp = np.full((n, n), 10.0)
    for _ in range(6):
        cy, cx = rng.uniform(margin, n - margin, 2)
        radius, peak = rng.uniform(4, 8), rng.uniform(1500, 3000)
        sharp += peak / (1 + np.exp(np.hypot(yy - cy, xx - cx) - radius))
    blurred = ndimage.convolve(sharp, np.asarray(gaussian_psf(1.6), float), mode="reflect")
    return np.random.default_rng(seed + 10).poisson(blurred).astype(np.float32)


def psf_aware_model():
    """The bundled PSF-aware network, in eval mode."""
    from napari_microdeblur.core.checkpoint import load_model

    model, _ = load_model(DEFAULT_PSF_AWARE)
    return model.eval()
