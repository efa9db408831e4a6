"""Audit of 2026-12-05: bead PSFs next to a touching neighbour, and the held-out check of
Richardson-Lucy's iterations='auto' on a stack with a one-plane PSF."""

import numpy as np
import pytest
from scipy import ndimage

from napari_microdeblur.core.beads import fwhm, psf_from_beads
from napari_microdeblur.core.classical import held_out_iterations
from napari_microdeblur.core.psf import gaussian_psf


def _gaussian(shape, centre, sigma):
    grids = np.indices(shape, dtype=np.float64)
    return np.exp(-sum((g - c) ** 2 for g, c in zip(grids, centre)) / (2 * sigma * sigma))


def _beads_with_a_pair(singles, gap, seed=0, shape=(256, 256)):
    """``singles`` beads (sigma 1.5 px) at random positions at least 30 px apart, the first
    with a second bead ``gap`` px to its right; Poisson noise on a background of 100."""
    rng = np.random.default_rng(seed)
    clean = np.full(shape, 100.0)
    centres = []
    while len(centres) < singles:
        c = rng.uniform(20, np.array(shape) - 20)
        if all(np.linalg.norm(c - d) > 30 for d in centres):
            centres.append(c)
    for c in centres + [centres[0] + (0.0, gap)]:
        clean += 3000 * _gaussian(shape, c, 1.5)
    return rng.poisson(clean).astype(np.uint16)


TRUE_FWHM = 2 * np.sqrt(2 * np.log(2)) * 1.5


def test_a_touching_pair_does_not_widen_the_bead_psf():
    """Two beads, one of them a pair 3.5 px apart (one blob): the pair was averaged in (with
    fewer than 3 beads none was judged an outlier) and the PSF came out 5.45 px wide along
    the pair instead of 3.54; the wider of two beads is now left out."""
    psf, report = psf_from_beads(_beads_with_a_pair(2, 3.5))
    assert report.used == 1 and report.rejected["merged or outlier"] == 1
    for width in fwhm(psf):
        assert width == pytest.approx(TRUE_FWHM, rel=0.05)
    # two like beads are both kept, as before
    psf, report = psf_from_beads(_beads_with_a_pair(2, 60.0))
    assert report.used == 3


def test_a_neighbours_light_does_not_set_the_psf_radius():
    """A bead with a neighbour 5 px away measured 2-3x too wide, and among few beads that set
    the crop radius (17 px instead of 11): isolated beads 30 px apart were then refused as
    'not isolated' and, with two singles, the user got 'none usable'."""
    psf, report = psf_from_beads(_beads_with_a_pair(2, 5.0))
    assert report.radius == (11, 11) and report.used == 1
    for width in fwhm(psf):
        assert width == pytest.approx(TRUE_FWHM, rel=0.05)
    _, report = psf_from_beads(_beads_with_a_pair(3, 5.0))
    assert report.radius == (11, 11) and report.used == 2
    # only crowded beads: their width still decides, and the error says why they are refused
    rng = np.random.default_rng(1)
    clean = np.full((96, 96), 100.0)
    for c in ((40, 40), (40, 46), (70, 70), (70, 76.5)):
        clean += 3000 * _gaussian(clean.shape, c, 1.5)
    with pytest.raises(ValueError, match=r"none usable \(4 not isolated"):
        psf_from_beads(rng.poisson(clean).astype(np.uint16))


def test_the_held_out_check_on_a_stack_scores_its_central_planes():
    """With a one-plane PSF the planes are independent: the check scores the central planes
    holding HELD_OUT_STACK_PIXELS (8 of 256 x 256), not every plane of the stack (it took up
    to 12x a run of 20 iterations on 32 x 256 x 256). Noisy outer planes, clean central ones:
    the count is the central planes' count, which scoring every plane did not give."""
    from napari_microdeblur.core.classical import HELD_OUT_STACK_PIXELS

    psf = gaussian_psf(2.0, size=15)
    rng = np.random.default_rng(0)
    sharp = ndimage.gaussian_filter(rng.random((12, 256, 256)), (0, 1.5, 1.5))
    sharp = (sharp - sharp.min()) / np.ptp(sharp)
    blurred = np.stack([ndimage.gaussian_filter(p, 2.0) for p in sharp])
    stack = blurred.copy()
    for z in (0, 1, 10, 11):
        stack[z] = rng.poisson(blurred[z] * 5) / 5
    assert HELD_OUT_STACK_PIXELS == 8 * 256 * 256
    central = held_out_iterations(stack[2:10], psf[None], max_iterations=30)
    assert central == 30  # clean planes keep improving
    assert held_out_iterations(stack, psf[None], max_iterations=30) == central
    # a 2D image is scored whole, as before (3D PSFs: tests/test_classical_auto.py)
    assert held_out_iterations(stack[0], psf, max_iterations=30) < 30
