"""The PSF-aware network's image border on shot-noise images (core/psf_aware.py, BORDER_PAD).

With 16 px of mirror around the U-Net's input, the zero padding of its convolutions (reaching
about 55 px inward) put a bump at the image edge on shot-noise images, and the data-consistency
step turned it into a dark-then-bright band along every edge (row 0 about -90 photons, rows 3-6
+40..+60 on the image below, a background of 10 photons)."""

import warnings

import numpy as np
import pytest
import torch
from _shot_noise import psf_aware_model, shot_noise_nuclei

from napari_microdeblur.core.bundled import BUNDLED_WEIGHTS
from napari_microdeblur.core.inference import compute_normalization, deblur
from napari_microdeblur.core.psf import gaussian_psf
from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE, plane_kernel, psf_aware_method

pytestmark = pytest.mark.skipif(DEFAULT_PSF_AWARE not in BUNDLED_WEIGHTS,
                                reason="the bundled PSF-aware weights are not installed")






def test_shot_noise_edge_rows_stay_unbiased():
    """`deblur --psf gaussian:1.6` (method auto) on a Poisson image: the 9 outer rows and
    columns, background, keep their mean (old: row 0 -91 photons, rows 3-6 up to +49) and the
    10-photon background in the corners stays 10 photons."""
    img = shot_noise_nuclei()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = deblur(img, axes="YX", method="auto", psf="gaussian:1.6").astype(np.float64)
    diff = out - img
    # row k from each of the four edges, averaged along the edge: background there, which a
    # deblur leaves as it is (Wiener and Richardson-Lucy: within 1 photon)
    band = np.stack([diff[:9].mean(1), diff[-9:][::-1].mean(1),
                     diff[:, :9].mean(0), diff[:, -9:][:, ::-1].mean(0)])
    assert np.abs(band.mean(0)).max() < 5.0, np.round(band.mean(0), 1)
    assert np.abs(band).max() < 20.0, np.round(band, 1)
    for corner in (out[:8, :8], out[:8, -8:], out[-8:, :8], out[-8:, -8:]):
        assert abs(corner.mean() - 10.0) < 3.0
    assert out.min() > -40.0  # old: -217 photons on a background of 10


def test_the_unet_mirror_reaches_past_its_zero_padding():
    """The Method's result equals the network's with a far wider mirror (96 px) at the image
    border: the mirror covers the U-Net's reach (old 16 px: 0.1 of the range apart)."""
    img = shot_noise_nuclei(n=128, seed=1, margin=44)
    lo, hi = np.percentile(img, [0.1, 99.9])
    x01 = ((img - lo) / (hi - lo)).astype(np.float32)
    model = psf_aware_model()
    kernel, _ = plane_kernel("gaussian:1.6")
    method = psf_aware_method(model, "gaussian:1.6", precision="float32", safeguard=False)
    out = deblur(x01, method=method, device="cpu",
                 normalization=compute_normalization(x01, "YX", "none"))
    with torch.no_grad():
        wide = model(torch.from_numpy(x01)[None, None], torch.from_numpy(kernel),
                     unet_pad=96)[0, 0].numpy()
    assert np.abs(out - wide).max() < 2e-3


def test_a_small_tile_gets_the_widest_mirror_it_holds():
    """A plane narrower than BORDER_PAD is mirrored by its side less one (a reflection must be
    shorter than the side), and one of 16 px replicated by 16 as before."""
    model = psf_aware_model()
    kernel = np.asarray(gaussian_psf(1.0, size=7), np.float32)
    for side, pad in ((40, 39), (16, 16)):
        x01 = np.random.default_rng(side).uniform(0.2, 0.8, (side, side)).astype(np.float32)
        method = psf_aware_method(model, kernel, precision="float32", safeguard=False)
        out = deblur(x01, method=method, device="cpu",
                     normalization=compute_normalization(x01, "YX", "none"))
        with torch.no_grad():
            direct = model(torch.from_numpy(x01)[None, None], torch.from_numpy(kernel),
                           unet_pad=pad)[0, 0].numpy()
        np.testing.assert_allclose(out, direct, atol=1e-4, err_msg=f"{side} px")


def test_a_strip_keeps_the_full_mirror_along_its_length():
    """Review of 297f524: one pad from the shorter side gave a 24 x 240 strip a 23 px mirror
    along its length too, and the band came back there (+49 photons in column 0). Axis by
    axis, the strip's ends match a far wider mirror along X."""
    img = shot_noise_nuclei(n=240, seed=2, margin=44)[108:132]  # 24 x 240, nuclei mid-strip
    lo, hi = np.percentile(img, [0.1, 99.9])
    x01 = ((img - lo) / (hi - lo)).astype(np.float32)
    model = psf_aware_model()
    kernel, _ = plane_kernel("gaussian:1.6")
    method = psf_aware_method(model, "gaussian:1.6", precision="float32", safeguard=False)
    out = deblur(x01, method=method, device="cpu",
                 normalization=compute_normalization(x01, "YX", "none"))
    ends = (out - x01)[:, np.r_[0:3, -3:0]].mean(0)  # background columns at the strip's ends
    assert np.abs(ends).max() < 5e-3, np.round(ends * (hi - lo), 1)  # old: +49 photons
    with torch.no_grad():
        wide = model(torch.from_numpy(x01)[None, None], torch.from_numpy(kernel),
                     unet_pad=(23, 96))[0, 0].numpy()
    assert np.abs(out - wide).max() < 2e-3


def test_clipped_blocks_takes_odd_sides():
    """Review of 828c241: an odd side raised a size mismatch (noise_sigma crops first)."""
    from napari_microdeblur.core.archs.wiener_unet import clipped_blocks

    x = torch.zeros(1, 1, 9, 8)
    x[..., :2, :2] = 1.0  # a flat block at the maximum
    found = clipped_blocks(x)
    assert found is not None and found.shape == (1, 16) and int(found.sum()) == 1
