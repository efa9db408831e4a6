"""PSF audit 2026-12-05: bead z-stacks shorter than the default Z radius needs, confocal 3D PSFs
in seconds, and 3D optics PSFs centred on their source."""

import time

import numpy as np
import pytest
from test_beads import gaussian

from napari_microdeblur.core.beads import fwhm, psf_from_beads
from napari_microdeblur.core.psf import parse_psf

Z_SIGMA = 2.5  # planes: Z FWHM 5.9, default Z radius 16 once lightly smoothed


def bead_stack(planes, *, z=None, seed=0):
    """Poisson-noisy Gaussian beads (sigma 2.5 planes x 1.5 px) on a 4 x 4 grid in YX, in plane
    ``z`` (default: the middle one) of a ``planes``-plane stack."""
    rng = np.random.default_rng(seed)
    shape = (planes, 128, 128)
    clean = np.full(shape, 100.0)
    middle = (planes - 1) / 2 if z is None else z
    for y in range(20, 120, 30):
        for x in range(20, 120, 30):
            centre = (middle + rng.uniform(-0.4, 0.4), y + rng.uniform(0, 1), x + rng.uniform(0, 1))
            clean += rng.uniform(2000, 6000) * gaussian(shape, centre, (Z_SIGMA, 1.5, 1.5))
    return rng.poisson(clean).astype(np.uint16)


def test_a_short_bead_stack_gets_a_z_radius_it_can_hold():
    """32 planes: the default Z radius (16) left no bead 17 planes from both ends, so every bead
    was refused as near the border. Z is now limited to what the stack holds, and says so."""
    image = bead_stack(32)
    psf, report = psf_from_beads(image)
    assert report.used == report.candidates == 16
    assert report.radius[0] < 16 and report.radius[1:] == (11, 11)  # Y and X as before
    assert "Z radius limited to" in report.summary() and "32 planes" in report.summary()
    assert psf.shape[0] >= 2 * fwhm(psf)[0]  # still holds the core
    truth = gaussian(psf.shape, [s // 2 for s in psf.shape], (Z_SIGMA, 1.5, 1.5))
    for got, expected in zip(fwhm(psf), fwhm(truth)):
        assert got == pytest.approx(expected, rel=0.05)


def test_a_long_bead_stack_keeps_the_default_z_radius():
    _, report = psf_from_beads(bead_stack(48))
    assert report.radius[0] >= 16 and report.note == "" and "limited" not in report.summary()


def test_a_stack_too_short_for_the_psf_core_is_still_refused_naming_radius():
    """12 planes hold a Z radius of 4 at most, under the Z FWHM (6): no silent truncation."""
    with pytest.raises(ValueError, match="near the border.*radius="):
        psf_from_beads(bead_stack(12))


# ----------------------------------------------------------------------------------- optics


def test_confocal_3d_psf_takes_seconds_and_matches_psfmodels():
    """psfmodels convolved the emission PSF directly with a pinhole disk as wide as the field:
    a 31-plane confocal PSF took about a minute (the CLI looked hung)."""
    psfmodels = pytest.importorskip("psfmodels")
    from napari_microdeblur.core.optics import confocal_psf

    start = time.perf_counter()
    stack = confocal_psf(1.4, 0.52, 0.065, nz=31, dz=0.2)
    assert time.perf_counter() - start < 20  # about 1 s; a minute before
    assert stack.shape[0] == 31 and abs(float(stack.sum(dtype=np.float64)) - 1) < 1e-5
    for pinhole, depth, ns in [(1.0, 0.0, None), (0.3, 0.0, None), (3.0, 10.0, 1.33)]:
        # centred on the source's nominal depth, as psfmodels is given it (by default a
        # mismatched PSF is centred on its brightest plane: tests/test_optics_audit_2026_12_06)
        got = confocal_psf(1.4, 0.52, 0.065, excitation_wavelength=0.488, pinhole=pinhole,
                           depth=depth, ns=ns, nz=3, dz=0.4, size=33, centre="source")
        reference = psfmodels.confocal_psf(
            [depth - 0.4, depth, depth + 0.4], 33, pinhole_au=pinhole, dxy=0.065, pz=depth,
            NA=1.4, ex_wvl=0.488, em_wvl=0.52, ns=ns or 1.515, ni=1.515, ni0=1.515,
            normalize=False, model="vectorial")
        np.testing.assert_allclose(got, reference / reference.sum(), rtol=0, atol=1e-6 * got.max())


@pytest.mark.parametrize("defocus", [1.0, -0.6])
def test_a_3d_optics_psf_with_defocus_is_refused_in_one_line(defocus):
    """The stack was centred on the focal plane: its source sat defocus / dz planes off the
    middle (5 planes for 1 um at 0.2), and a 3D deconvolution moved the whole stack by that."""
    pytest.importorskip("psfmodels")
    spec = f"widefield:na=1.4,wavelength=0.52,pixel=0.065,nz=31,dz=0.2,defocus={defocus}"
    with pytest.raises(ValueError, match=r"defocus=0 for a 3D PSF.*shift") as error:
        parse_psf(spec)
    assert "\n" not in str(error.value)
    # a 2D defocused PSF and an in-focus 3D one are still made, centred
    assert parse_psf(spec.replace(",nz=31,dz=0.2", "")).ndim == 2
    stack = parse_psf(spec.replace(f",defocus={defocus}", ""))
    assert np.unravel_index(stack.argmax(), stack.shape) == tuple(s // 2 for s in stack.shape)
