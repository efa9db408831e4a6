"""core.beads audit 2026-12-05: beads on a bright uneven background, lightly clipped beads."""

import numpy as np
import pytest
from test_beads import bead_image, gaussian, ncc, on_grid

from napari_microdeblur.core.beads import fwhm, psf_from_beads

TRUE_FWHM = 2 * np.sqrt(2 * np.log(2)) * 1.5  # 3.53 px: Gaussian sigma 1.5 px


def beads_on(background, *, peak=3000.0, seed=0, shape=(256, 256)):
    """Poisson-noisy beads (sigma 1.5 px, peak ``peak``) on the ``background`` image."""
    rng = np.random.default_rng(seed)
    clean = background.astype(np.float64).copy()
    centres = on_grid(shape, 40, 24, rng)
    for c in centres:
        clean += peak * gaussian(shape, c, (1.5, 1.5))
    return rng.poisson(clean).astype(np.uint16), centres


def illumination(kind, level, shape=(256, 256)):
    y, x = np.indices(shape, dtype=np.float64)
    if kind == "gaussian":  # a bright centre falling off: widefield illumination
        return 100 + level * np.exp(-((y - 128) ** 2 + (x - 128) ** 2) / (2 * 90.0**2))
    return 100 + level * x / shape[1]  # a ramp across the field


@pytest.mark.parametrize("kind", ["gaussian", "ramp"])
@pytest.mark.parametrize("level", [3000.0, 10000.0])
def test_beads_on_a_bright_uneven_background_are_found(kind, level):
    """The noise and level came from the whole image, so the background's spread (thousands)
    set an 8-sigma threshold above the beads' peak of 3000: 'has no bead'. Beads are now
    found above the local background and give back the Gaussian."""
    image, centres = beads_on(illumination(kind, level))
    psf, report = psf_from_beads(image)
    assert report.used == report.candidates == len(centres)
    for got in fwhm(psf):
        assert got == pytest.approx(TRUE_FWHM, rel=0.03)
    truth = gaussian(psf.shape, [s // 2 for s in psf.shape], (1.5, 1.5))
    assert ncc(psf, truth) > 0.99
    found = np.array(report.positions)
    errors = np.linalg.norm(found[:, None] - centres[None], axis=-1).min(axis=0)
    assert errors.mean() < 0.1  # single beads are noisier than on a dark background


def test_threshold_is_height_above_the_local_background():
    """Beads of peak 1500 (about 1040 once lightly smoothed) on a ramp to 6100: threshold 600
    finds exactly them (the old code compared with the whole image's median, 3100, and took
    the ramp's bright half for beads), threshold 1500 none."""
    image, centres = beads_on(illumination("ramp", 6000.0), peak=1500.0)
    _, report = psf_from_beads(image, threshold=600)
    assert report.candidates == len(centres)
    with pytest.raises(ValueError, match="has no bead"):
        psf_from_beads(image, threshold=1500)


def lightly_clipped(top):
    """36 beads of peak 2000-4600 on 100 (in 12-bit units, scaled to ``top``), clipped at
    ``top``: the brightest lose 1-4 pixels."""
    rng = np.random.default_rng(0)
    shape = (256, 256)
    clean = np.full(shape, 100.0)
    for c in on_grid(shape, 40, 24, rng):
        clean += rng.uniform(2000, 4600) * gaussian(shape, c, (1.5, 1.5))
    return np.minimum(rng.poisson(clean * top / 4095), top)


@pytest.mark.parametrize("dtype, top", [(np.uint16, 4095), (np.uint16, 65535), (np.uint8, 255)])
def test_lightly_clipped_beads_are_left_out(dtype, top):
    """Beads clipped at 1-4 pixels (at most 2**ndim at the maximum) were averaged in and widened
    the PSF (3.62 px instead of 3.53 for a 12-bit camera); with the camera clipping (the dtype's
    maximum, or a camera ceiling held by several beads) they are now saturated."""
    image = lightly_clipped(top).astype(dtype)
    touching = int(np.count_nonzero(image == top))
    assert touching >= 2
    psf, report = psf_from_beads(image)
    assert report.rejected["saturated"] >= 2 and report.used == 36 - report.rejected["saturated"]
    for y, x in np.round(report.positions).astype(int):  # no bead used touches the ceiling
        assert image[y - 2 : y + 3, x - 2 : x + 3].max() < top
    if top > 255:  # 8 bits: 280-count beads are too coarse for a 1.5 % width check
        for got in fwhm(psf):
            assert got == pytest.approx(TRUE_FWHM, rel=0.015)


def test_noise_free_identical_beads_are_not_called_saturated():
    """A noise-free simulation of identical beads, peaks at the image's maximum (also the
    uint16 maximum, and a 12-bit ceiling): the maximum is their common peak, all are used."""
    shape = (200, 200)
    clean = np.zeros(shape)
    for y in range(30, 171, 35):
        for x in range(30, 171, 35):
            clean += gaussian(shape, (y + 0.5, x + 0.5), (1.5, 1.5))
    for image in (clean, np.round(clean / clean.max() * 65535).astype(np.uint16),
                  np.round(clean / clean.max() * 4095).astype(np.uint16)):
        psf, report = psf_from_beads(image)
        assert report.used == report.candidates == 25 and report.rejected["saturated"] == 0
    # one noisy unclipped bead image whose maximum is not a ceiling: nothing saturated
    image, _ = bead_image((256, 256), (1.5, 1.5), seed=5)
    assert psf_from_beads(image)[1].rejected["saturated"] == 0
