"""A 3D bead stack of a widefield-like PSF (2026-12-10 walkthrough): the PSF box holds the light
the beads show beyond the 2D rule's 2.5 FWHM, faint ring maxima are not counted as beads, and
the dock's PSF layer keeps the bead file's voxel size."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from test_beads import gaussian
from test_widgets import _clean_session, dock, wait_idle  # noqa: F401 - autouse fixture

from napari_microdeblur.core.beads import psf_from_beads

SHAPE = (31, 128, 128)


def widefield_like(shape=(31, 65, 65), sigma=1.2, spread=0.6):
    """A PSF whose every plane holds the same light (as a widefield PSF's does), a Gaussian
    widening with defocus: sigma**2 + (spread * dz)**2."""
    c = [n // 2 for n in shape]
    psf = np.empty(shape)
    for z in range(shape[0]):
        s = np.hypot(sigma, spread * (z - c[0]))
        plane = gaussian(shape[1:], c[1:], (s, s))
        psf[z] = plane / plane.sum()
    return psf / psf.sum()


def bead_stack(psf, centres, amplitudes, seed=0):
    """Beads of ``psf`` (peak ``amplitude`` counts) at integer ``centres``, Poisson noise."""
    clean = np.full(SHAPE, 100.0)
    h = [n // 2 for n in psf.shape]
    for (z, y, x), a in zip(centres, amplitudes):
        box = tuple(slice(c - r, c + r + 1) for c, r in zip((z, y, x), h))
        clean[box] += a * psf / psf.max()
    return np.random.default_rng(seed).poisson(clean).astype(np.uint16)


def light_inside(psf, radius):
    c = [n // 2 for n in psf.shape]
    return float(psf[tuple(slice(m - r, m + r + 1) for m, r in zip(c, radius))].sum())


def test_a_widefield_stack_gets_a_box_that_holds_its_light():
    # was: (13, 9, 9) px by 2.5 x FWHM, 54 % of the PSF's light in the stack's reach
    psf = widefield_like()
    centres = [(15, y, x) for y in (34, 94) for x in (34, 94)]
    _, report = psf_from_beads(bead_stack(psf, centres, [3000] * 4))
    assert report.used == 4
    assert light_inside(psf, report.radius) > 0.8
    summary = report.summary()
    # a percentage of the light measured around the beads, or (where the box is all the room
    # measured: it said "100 %") that the light reaches past it
    assert ("% of the beads' measured light" in summary
            or "the PSF reaches further" in summary), summary


def test_a_given_radius_says_how_little_light_it_holds():
    psf = widefield_like()
    centres = [(15, y, x) for y in (34, 94) for x in (34, 94)]
    _, report = psf_from_beads(bead_stack(psf, centres, [3000] * 4), radius=(3, 4, 4))
    assert report.radius == (3, 4, 4)
    assert report.light is not None and report.light < 0.8
    assert "warning: the box holds only" in report.summary()


def test_faint_peaks_are_not_counted_as_beads():
    # was: "4 of 12 beads averaged (rejected: 8 near the border)": specks at 2 % of a bead
    psf = widefield_like()
    centres = [(15, y, x) for y in (34, 94) for x in (34, 94)]
    image = bead_stack(psf, centres, [3000] * 4).astype(np.float64)
    for y, x in [(3, 3), (3, 64), (3, 124), (64, 3), (64, 124), (124, 3), (124, 64),
                 (124, 124)]:
        image += 60 * gaussian(SHAPE, (15, y, x), (1.2, 1.2, 1.2))
    _, report = psf_from_beads(image.astype(np.uint16))
    assert report.candidates == 4 and report.used == 4
    assert report.faint >= 4  # the others lie in a bead's reach: its satellites, as before
    assert f"{report.faint} faint peaks left out (under 5 % of the typical bead's height)" \
        in report.summary()


def test_2d_beads_keep_their_box():
    image = np.full((128, 128), 100.0)
    for y in (34, 94):
        for x in (34, 94):
            image += 3000 * gaussian(image.shape, (y, x), (1.5, 1.5))
    _, report = psf_from_beads(np.random.default_rng(0).poisson(image).astype(np.uint16))
    assert report.radius == (11, 11) and report.light is None
    assert "measured light" not in report.summary()


@pytest.mark.usefixtures("_clean_session")
def test_the_dock_psf_layer_takes_the_bead_files_voxel_size(make_napari_viewer, qtbot,
                                                            tmp_path):
    # was: scale (1, 1, 1) from napari's reader, so the PSF-vs-image size checks never fired
    psf = widefield_like()
    centres = [(15, y, x) for y in (34, 94) for x in (34, 94)]
    path = tmp_path / "beads.tif"
    tifffile.imwrite(path, bead_stack(psf, centres, [3000] * 4), imagej=True,
                     resolution=(10.0, 10.0), metadata={"spacing": 0.2, "unit": "micron",
                                                        "axes": "ZYX"})
    viewer = make_napari_viewer()
    w = dock(viewer, "Deblur")
    beads = viewer.open(str(path))[0]
    assert tuple(beads.scale) == (1.0, 1.0, 1.0)
    w.psf_from_beads(beads)
    wait_idle(qtbot, w)
    layer = viewer.layers["PSF from beads"]
    np.testing.assert_allclose(layer.scale, (0.2, 0.1, 0.1), rtol=1e-6)
    assert layer.metadata["microdeblur"]["pixel_size"] == pytest.approx(
        {"Z": 0.2, "Y": 0.1, "X": 0.1})
